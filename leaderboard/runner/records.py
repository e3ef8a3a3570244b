"""The resumable append loop every runner shares (ESC-Role dialogues, safety responses).

Finished records are appended to `<folder>/<lang>.jsonl`, one line each, written whole, flushed and
fsynced at once, so a run killed at any moment loses only the requests in flight; a rerun skips the
ids already in the file. Each run's settings go to a runs log in the submission folder, so a rerun
with other settings (models, prompts, seed) is refused instead of mixing two setups in one file.
"""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel

from judge.errors import InputError, Problem
from judge.transcript import TranscriptRecord
from leaderboard.runner.backends import BackendError

T = TypeVar("T")
TRANSPORT_KEYS = {"base_urls", "timeout", "max_retries", "threads"}
"""Settings of a backend that may change between runs without changing what it answers."""


def request_seed(seed: int, dialogue: str, turn: int) -> int:
    """Per-request seed from the run seed, the dialogue and the turn, so output does not depend on scheduling."""
    digest = hashlib.sha256(f"{seed}/{dialogue}/{turn}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


class TranscriptFile:
    """An append-only JSON Lines file of finished records (dialogues, or safety responses), locked against a second writer."""

    def __init__(self, path: Path, schema: type[BaseModel] = TranscriptRecord):
        self.path = Path(path)
        self.schema = schema
        self._fh: IO[bytes] | None = None

    def open(self) -> set[str]:
        """Lock the file, cut a torn last line left by a crash, and return the ids already finished."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+b")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise InputError([Problem(self.path, None, None, "another run is writing this file")]) from None
        fh.seek(0)
        data = fh.read()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            fh.truncate(len(complete))
        ids: set[str] = set()
        for n, raw in enumerate(complete.decode("utf-8").splitlines(), 1):
            try:
                did = json.loads(raw)["id"]
            except (json.JSONDecodeError, KeyError, TypeError):
                fh.close()
                raise InputError([Problem(self.path, n, None, "not a transcript line; fix or move the file")]) from None
            if did in ids:
                fh.close()
                raise InputError([Problem(self.path, n, "id", f"duplicate id {did!r}")])
            ids.add(did)
        self._fh = fh
        return ids

    def append(self, record: dict[str, Any]) -> None:
        """Write one whole line and force it to disk before the dialogue counts as done."""
        assert self._fh is not None, "open() first"
        self.schema.model_validate(record)
        self._fh.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


@dataclass
class RunReport:
    run_id: str
    total: int
    skipped: int = 0
    finished: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


ProgressHook = Callable[[bool], None]


async def append_concurrently(items: Sequence[T], key: Callable[[T], str], lang_of: Callable[[T], str],
                              files: dict[str, TranscriptFile], produce: Callable[[T], Awaitable[dict[str, Any]]],
                              report: RunReport, *, concurrency: int,
                              on_start: Callable[[int, int], None] = lambda total, skipped: None,
                              on_done: ProgressHook = lambda ok: None) -> None:
    """Produce and append a record for every item whose key its file lacks, `concurrency` at once.

    Shared by the ESC-Role and the safety runs. Each record is appended whole by one writer per file;
    an item whose requests fail for good goes into report.failed, unwritten, and the next run retries it.
    """
    done: set[str] = set()
    for f in files.values():
        done |= f.open()
    pending = [i for i in items if key(i) not in done]
    report.skipped = len(items) - len(pending)
    on_start(len(items), report.skipped)
    gate = asyncio.Semaphore(concurrency)
    writing = {lang: asyncio.Lock() for lang in files}

    async def one(item: T) -> None:
        async with gate:
            try:
                record = await produce(item)
            except BackendError as err:
                report.failed[key(item)] = str(err)
                on_done(False)
                return
            async with writing[lang_of(item)]:  # fsync on a thread keeps the loop serving
                await asyncio.to_thread(files[lang_of(item)].append, record)
            report.finished += 1
            on_done(True)

    async with asyncio.TaskGroup() as group:
        for item in pending:
            group.create_task(one(item))


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


def last_settings(path: Path) -> dict[str, Any] | None:
    """Settings of the latest run recorded in a runs log, to refuse mixing records of different setups."""
    if not path.exists():
        return None
    starts = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if '"event": "start"' in line]
    return starts[-1]["settings"] if starts else None
