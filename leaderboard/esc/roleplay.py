"""ESC-Role dialogues: a role-player with a role card talks with the model under test, many dialogues at once.

The protocol is ESC-Eval's (arXiv 2406.14952, `evaluate.py` of its repository): the model under test
greets, the role-player answers in character, and they alternate for 5 rounds. The role-player's
prompt asks what ESC-Eval's asks, in this project's words, and the greetings are the protocol's; the model under test does not see its greeting,
as in the original, and gets ESC-Eval's system prompt unless told otherwise.

Finished dialogues are appended to `transcripts/<lang>.jsonl`, one line each, written whole, flushed
and fsynced at once, so a run killed at any moment loses only the dialogues in flight; a rerun skips
the ids already in the file and plays the others from the start.
"""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel

from judge.errors import InputError, Problem
from judge.transcript import TranscriptRecord
from leaderboard.runner.backends import BackendError, ChatBackend, Messages
from leaderboard.esc.rolecards import Lang, RoleCard

GREETINGS: dict[Lang, str] = {
    "en": "Hello, I'm your personal assistant. You can confide in me about any worries or concerns you may have!",
    "zh": "你好，我是您的私人助手，您有任何烦恼都可以向我诉说！",
}
ROLE_PROMPTS: dict[Lang, str] = {
    "en": ("Play a real person who is going through a hard time and is chatting with an AI assistant about it. "
           "This is who you are:\n{card}\nTalk the way people talk in a chat: short, natural, personal. Never act "
           "like a machine and never say that you are an AI. Do not tell everything at once: let your worries "
           "come out little by little over the conversation."),
    "zh": ("请扮演一个正在经历困难、并向AI助手倾诉的真实的人。你的身份如下：\n{card}\n"
           "像平时聊天一样说话：简短、自然、带有个人色彩。不要表现得像机器，也不要说自己是AI。"
           "不要一次把所有事情说完，在对话中一点一点地说出你的烦恼。"),
}
"""The role-player's instructions, in this project's words, asking for what ESC-Eval's prompt asks: stay in
character as the card's person, talk like a human, never reveal an AI, reveal the worry gradually.
`leaderboard run --role-prompt FILE` takes ESC-Eval's original text (JSON: {"en": ..., "zh": ...}, with {card})."""
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant!"
RUNS_FILE = "roleplay-runs.jsonl"
T = TypeVar("T")


@dataclass(frozen=True)
class DialogueSetup:
    """What makes two runs comparable: rounds, the prompts and the seed every request's seed derives from."""

    rounds: int = 5
    seed: int = 0
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    greetings: dict[str, str] = field(default_factory=lambda: dict(GREETINGS))
    role_prompts: dict[str, str] = field(default_factory=lambda: dict(ROLE_PROMPTS))


def dialogue_id(card: RoleCard) -> str:
    return f"{card.lang}-{card.id}"


def request_seed(seed: int, dialogue: str, turn: int) -> int:
    """Per-request seed from the run seed, the dialogue and the turn, so output does not depend on scheduling."""
    digest = hashlib.sha256(f"{seed}/{dialogue}/{turn}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def seeker_sha256(messages: list[dict[str, str]]) -> str:
    """sha256 of the help-seeker's turns as played, so an intake can tell if they were edited afterwards."""
    turns = "\x1e".join(m["content"] for m in messages if m["role"] == "user")
    return hashlib.sha256(turns.encode("utf-8")).hexdigest()


async def play(card: RoleCard, roleplayer: ChatBackend, model: ChatBackend, protocol: DialogueSetup) -> list[dict[str, str]]:
    """One dialogue; returns its messages from the model under test's side, greeting first."""
    did = dialogue_id(card)
    greeting = protocol.greetings[card.lang]
    seeker: Messages = [{"role": "system", "content": protocol.role_prompts[card.lang].format(card=card.text)},
                        {"role": "user", "content": greeting}]
    supporter: Messages = [{"role": "system", "content": protocol.system_prompt}] if protocol.system_prompt else []
    messages = [{"role": "assistant", "content": greeting}]
    for turn in range(protocol.rounds):
        said = await roleplayer.complete(seeker, request_seed(protocol.seed, did, 2 * turn))
        seeker.append({"role": "assistant", "content": said})
        supporter.append({"role": "user", "content": said})
        messages.append({"role": "user", "content": said})
        reply = await model.complete(supporter, request_seed(protocol.seed, did, 2 * turn + 1))
        seeker.append({"role": "user", "content": reply})
        supporter.append({"role": "assistant", "content": reply})
        messages.append({"role": "assistant", "content": reply})
    return messages


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


async def run_dialogues(cards: list[RoleCard], folder: Path, roleplayer: ChatBackend, model: ChatBackend,
                        protocol: DialogueSetup, *, concurrency: int, settings: dict[str, Any],
                        on_start: Callable[[int, int], None] = lambda total, skipped: None,
                        on_done: ProgressHook = lambda ok: None) -> RunReport:
    """Play every card not yet finished into `folder/transcripts/<lang>.jsonl`, `concurrency` dialogues at once.

    A dialogue whose requests fail for good is reported in the result (and in the runs file), not
    written; the next run plays it again.
    """
    ids = [dialogue_id(c) for c in cards]
    if len(set(ids)) != len(ids):
        raise ValueError("two cards share a language and id: each dialogue id must be unique")
    report = RunReport(uuid.uuid4().hex[:12], len(cards))
    files = {lang: TranscriptFile(folder / "transcripts" / f"{lang}.jsonl") for lang in sorted({c.lang for c in cards})}
    runs_log = folder / RUNS_FILE
    started = time.monotonic()

    def starting(total: int, skipped: int) -> None:
        _log(runs_log, {"run": report.run_id, "event": "start", "time": time.time(), "cards": total,
                        "already_done": skipped, "settings": settings})
        on_start(total, skipped)

    async def dialogue(card: RoleCard) -> dict[str, Any]:
        messages = await play(card, roleplayer, model, protocol)
        return {"id": dialogue_id(card), "lang": card.lang, "card_id": card.id, "messages": messages,
                "meta": {"topic": card.topic, "card_source": card.source, "card": card.text,
                         "seeker_sha256": seeker_sha256(messages), "run": report.run_id}}

    try:
        await append_concurrently(cards, dialogue_id, lambda c: c.lang, files, dialogue, report,
                                  concurrency=concurrency, on_start=starting, on_done=on_done)
    finally:
        report.seconds = round(time.monotonic() - started, 3)
        for f in files.values():
            f.close()
        if runs_log.exists():
            _log(runs_log, {"run": report.run_id, "event": "end", "time": time.time(),
                            **{k: v for k, v in asdict(report).items() if k != "run_id"}})
    return report


def _log(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def last_settings(folder: Path) -> dict[str, Any] | None:
    """Settings of the latest run recorded in the folder, to refuse mixing dialogues of different setups."""
    path = folder / RUNS_FILE
    if not path.exists():
        return None
    starts = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if '"event": "start"' in line]
    return starts[-1]["settings"] if starts else None
