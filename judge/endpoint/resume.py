"""The resumable append loop: finished records appended whole and fsynced, so a killed run loses only what was in flight.

Shared by the leaderboard's runs (ESC-Role dialogues, safety responses; leaderboard.runner.records adds
their settings log) and by the endpoint judge (one judgement a record). A rerun skips the ids already in
the file.
"""
from __future__ import annotations

import asyncio
import fcntl
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel

from judge.endpoint.client import BackendError
from judge.errors import InputError, Problem
from judge.transcript import TranscriptRecord

T = TypeVar("T")


class TranscriptFile:
    """An append-only JSON Lines file of finished records (dialogues, safety responses, judgements), locked against a second writer."""

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
                raise InputError([Problem(self.path, n, None, "not a whole record (a JSON object with an id); fix or move the file")]) from None
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


