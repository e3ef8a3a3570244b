"""Transcripts: the dialogues a judge scores, read from JSON Lines or from ESC-Eval's own format.

JSON Lines is the project's format, one dialogue a line, from the point of view of the model under
test (`assistant`) talking with a help-seeker (`user`). ESC-Eval publishes a JSON object instead,
id -> list of turns prefixed `AI assistant：` or `ESC-Role：`; it is detected and read as well.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from judge.errors import InputError, Problem
from judge.jsonl import loads, parse_lines, read_text
from judge.limits import MAX_MESSAGE_CHARS, MAX_MESSAGES

Role = Literal["assistant", "user"]

ESC_EVAL_PREFIXES: dict[str, Role] = {"AI assistant": "assistant", "ESC-Role": "user"}
_PREFIX = re.compile(r"^\s*(AI assistant|ESC-Role)\s*[：:]\s?", re.S)
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Transcript:
    """One dialogue between the model under test and a help-seeker."""

    id: str
    lang: str
    card_id: str | None
    messages: tuple[Message, ...]
    source: Path
    line: int
    meta: dict[str, Any] | None = None

    @cached_property
    def content_hash(self) -> str:
        """What the judge sees, hashed: the cache key for scores, independent of ids and files."""
        body = json.dumps(
            [self.lang, [[m.role, m.content] for m in self.messages]], ensure_ascii=False
        )
        return hashlib.sha256(body.encode("utf-8")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id,
            "lang": self.lang,
            "card_id": self.card_id,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
        }
        if self.meta:
            record["meta"] = self.meta
        return record


class _MessageRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    role: Role
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS)]


class TranscriptRecord(BaseModel):
    """The published schema of one JSON Lines transcript."""

    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    lang: Literal["en", "zh"]
    card_id: str | None = None
    messages: list[_MessageRecord] = Field(min_length=2, max_length=MAX_MESSAGES)
    meta: dict[str, Any] | None = None

    @field_validator("card_id", mode="before")
    @classmethod
    def _card_id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("messages")
    @classmethod
    def _alternating(cls, messages: list[_MessageRecord]) -> list[_MessageRecord]:
        for i in range(1, len(messages)):
            if messages[i].role == messages[i - 1].role:
                raise ValueError(f"roles must alternate, but messages {i - 1} and {i} are both {messages[i].role!r}")
        if not any(m.role == "assistant" for m in messages):
            raise ValueError("no assistant message: nothing from the model under test to judge")
        return messages


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(record)"


def _from_record(data: Any, path: Path, line: int) -> tuple[Transcript | None, list[Problem]]:
    try:
        rec = TranscriptRecord.model_validate(data)
    except ValidationError as err:
        return None, [Problem(path, line, _field(e["loc"]), e["msg"]) for e in err.errors()]
    messages = tuple(Message(m.role, m.content) for m in rec.messages)
    return Transcript(rec.id, rec.lang, rec.card_id, messages, path, line, rec.meta), []


def _detect_lang(texts: list[str]) -> str:
    joined = "".join(texts)
    return "zh" if joined and len(_CJK.findall(joined)) / len(joined) > 0.1 else "en"


def _read_esc_eval(path: Path, text: str, obj: dict[str, Any]) -> tuple[list[Transcript], list[Problem]]:
    lines = text.splitlines()
    line_of = {}
    for n, raw in enumerate(lines, start=1):
        m = re.match(r'\s*"((?:[^"\\]|\\.)*)"\s*:', raw)
        if m and m.group(1) not in line_of:
            line_of[m.group(1)] = n
    out: list[Transcript] = []
    problems: list[Problem] = []
    for key, turns in obj.items():
        line = line_of.get(key, 1)
        if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
            problems.append(Problem(path, line, key, "expected a list of turns (strings)"))
            continue
        messages = []
        for i, turn in enumerate(turns):
            m = _PREFIX.match(turn)
            if not m:
                problems.append(Problem(path, line, f"{key}[{i}]", "turn must start with 'AI assistant：' or 'ESC-Role：'"))
                continue
            messages.append({"role": ESC_EVAL_PREFIXES[m.group(1)], "content": turn[m.end():].strip()})
        lang = _detect_lang([m["content"] for m in messages if m["role"] == "user"])  # the seeker's language
        transcript, errs = _from_record({"id": key, "lang": lang, "messages": messages}, path, line)
        problems += [Problem(path, e.line, f"{key}.{e.field}", e.message) for e in errs]
        if transcript:
            out.append(transcript)
    return out, problems


def _is_esc_eval(obj: Any) -> bool:
    return isinstance(obj, dict) and "messages" not in obj and all(isinstance(v, list) for v in obj.values())


def read_transcripts(path: Path) -> list[Transcript]:
    """Read every dialogue of a file, in either format, or raise InputError listing every problem."""
    path = Path(path)
    text = read_text(path)
    try:
        whole = loads(text)
    except json.JSONDecodeError:
        whole = None
    if _is_esc_eval(whole):
        transcripts, problems = _read_esc_eval(path, text, whole)
    else:
        transcripts, problems = parse_lines(path, text, _from_record)
    seen: dict[str, int] = {}
    for t in transcripts:
        if t.id in seen:
            problems.append(Problem(path, t.line, "id", f"duplicate id {t.id!r} (first on line {seen[t.id]})"))
        seen.setdefault(t.id, t.line)
    if not transcripts and not problems:
        problems.append(Problem(path, None, None, "no dialogues in file"))
    if problems:
        raise InputError(problems)
    return transcripts
