"""What every runner (ESC-Role dialogues, safety responses) adds to the resumable append loop.

The loop itself (judge.endpoint.resume, shared with the endpoint judge) appends finished records to
`<folder>/<lang>.jsonl`, so a run killed at any moment loses only the requests in flight. Here: each run's
settings go to a runs log in the submission folder, so a rerun with other settings (models, prompts,
seed) is refused instead of mixing two setups in one file. A runs log comes with a submission, so it is
untrusted input like the rest: every line is read through the models below (the intake gate, leaderboard.intake).
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from judge.endpoint.resume import ProgressHook, RunReport, TranscriptFile, append_concurrently
from judge.errors import InputError, Problem, reason
from judge.jsonl import parse_lines, read_text

__all__ = ["ProgressHook", "RunReport", "TranscriptFile", "append_concurrently", "logged_run", "refuse_mixing",
           "request_seed", "finished_ids", "last_settings", "comparable", "read_runs", "last_start"]

T = TypeVar("T")
TRANSPORT_KEYS = {"base_urls", "timeout", "max_retries", "threads"}
"""Settings of a backend that may change between runs without changing what it answers."""


def request_seed(seed: int, dialogue: str, turn: int) -> int:
    """Per-request seed from the run seed, the dialogue and the turn, so output does not depend on scheduling."""
    digest = hashlib.sha256(f"{seed}/{dialogue}/{turn}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


async def logged_run(items: Sequence[T], key: Callable[[T], str], lang_of: Callable[[T], str],
                     files: dict[str, TranscriptFile], produce: Callable[[T], Awaitable[dict[str, Any]]],
                     report: RunReport, runs_log: Path, settings: dict[str, Any], *, concurrency: int,
                     on_start: Callable[[int, int], None] = lambda total, skipped: None,
                     on_done: ProgressHook = lambda ok: None) -> None:
    """append_concurrently, with the run's start (and settings) and end written to the runs log."""
    started = time.monotonic()

    def starting(total: int, skipped: int) -> None:
        _log(runs_log, {"run": report.run_id, "event": "start", "time": time.time(), "items": total,
                        "already_done": skipped, "settings": settings})
        on_start(total, skipped)

    try:
        await append_concurrently(items, key, lang_of, files, produce, report, concurrency=concurrency,
                                  on_start=starting, on_done=on_done)
    finally:
        report.seconds = round(time.monotonic() - started, 3)
        for f in files.values():
            f.close()
        if runs_log.exists():
            _log(runs_log, {"run": report.run_id, "event": "end", "time": time.time(),
                            **{k: v for k, v in asdict(report).items() if k != "run_id"}})


def comparable(settings: dict[str, Any]) -> dict[str, Any]:
    """The part of a run's settings that must match for records of two runs to sit in one file: every
    backend's settings but its transport, and the protocol."""
    return {k: ({n: x for n, x in v.items() if n not in TRANSPORT_KEYS} if isinstance(v, dict) and k != "protocol" else v)
            for k, v in settings.items() if k in ("roleplayer", "model", "protocol")}


def refuse_mixing(folder: Path, runs_file: str, settings: dict[str, Any], outputs: list[Path], restart: bool) -> None:
    """Set the outputs aside (*.bak) on restart; otherwise refuse to add to them under other settings than the last run's."""
    if restart:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for path in outputs:
            if path.exists():
                path.rename(path.with_name(f"{path.name}.{stamp}.bak"))
        return
    previous = last_settings(folder / runs_file)
    if previous and comparable(previous) != comparable(settings) and any(p.exists() for p in outputs):
        raise InputError([Problem(folder, None, None, "the records here come from a run with other models, prompts or "
                                  "seed; pass --restart to set them aside and start over")])


def _log(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def finished_ids(paths: list[Path]) -> set[str]:
    """Ids already in these record files, read without locking them (a torn or bad line is TranscriptFile.open's to report)."""
    ids: set[str] = set()
    for path in paths:
        for raw in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
            try:
                ids.add(json.loads(raw)["id"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return ids


class _Logged(BaseModel):
    """What the runners read back of a log line is typed; the rest of it (versions, timings) is kept as written."""

    model_config = ConfigDict(extra="allow", strict=True)


class Backend(_Logged):
    """A backend as describe_backend recorded it; a resumed ESC run takes its role-player from here."""

    kind: str | None = None
    model: str | None = None
    base_urls: list[str] = []
    temperature: float | None = None
    max_tokens: int | None = None

    @model_validator(mode="after")
    def _named(self) -> Backend:
        if self.kind == "local" and self.model is None:
            raise ValueError("a local backend names its model (`model`)")
        return self


class CardSelection(_Logged):
    """The role cards an ESC run played: the submission's declared card set (leaderboard.esc.track)."""

    files: str | list[Any] = "embedded"  # each entry {"name", "sha256"}: rolecards.recorded_files says what to pass
    langs: list[str] = []
    topics: list[str] | None = None
    sample: int | None = None
    seed: int = 0


class RunProtocol(_Logged):
    """The dialogue setup of an ESC run (rounds, seed, prompts) or a safety run's prompt set and seed."""

    seed: int = 0
    rounds: int | None = None
    system_prompt: str | None = None
    role_prompts: dict[str, str] | None = None


class RunSettings(_Logged):
    roleplayer: Backend | None = None
    model: Backend | None = None
    protocol: RunProtocol | None = None
    cards: CardSelection | None = None


class RunStart(_Logged):
    run: str
    event: Literal["start"]
    settings: RunSettings


class RunEnd(_Logged):
    run: str
    event: Literal["end"]


_LINE = TypeAdapter(Annotated[Union[RunStart, RunEnd], Field(discriminator="event")])


def _run_line(record: Any, path: Path, line: int) -> tuple[tuple[int, dict[str, Any]] | None, list[Problem]]:
    """A log line checked by its event's model; kept as written (line number, record), so what is compared with
    a new run's settings is what was logged."""
    try:
        _LINE.validate_python(record)
    except ValidationError as err:
        return None, [Problem(path, line, "event" if e["type"].startswith("union_tag") else ".".join(map(str, e["loc"][1:])) or None,
                              reason(e)) for e in err.errors()]
    return (line, record), []


def read_runs(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Every line of a runs log with its line number (none without a log); InputError names each bad line's field."""
    if not path.exists():
        return []
    lines, problems = parse_lines(path, read_text(path), _run_line)
    if problems:
        raise InputError(problems)
    return lines


def last_start(path: Path) -> tuple[int, dict[str, Any]] | None:
    """Line number and settings of the latest run recorded in a runs log, so a problem with them can name the line."""
    starts = [(n, record["settings"]) for n, record in read_runs(path) if record["event"] == "start"]
    return starts[-1] if starts else None


def last_settings(path: Path) -> dict[str, Any] | None:
    """Settings of the latest run recorded in a runs log, to refuse mixing records of different setups."""
    start = last_start(path)
    return start[1] if start else None
