"""Transcripts: the dialogues a judge scores, read from JSON Lines or from ESC-Eval's own format.

JSON Lines is the project's format, one dialogue a line, from the point of view of the model under
test (`assistant`) talking with a help-seeker (`user`). ESC-Eval publishes a JSON object instead,
id -> list of turns prefixed `AI assistant：` or `ESC-Role：`; it is detected and read as well.

Submissions are held to that format exactly (`read_transcripts`). `judge score` reads what users
have as well (`read_chat_logs`): OpenAI-style chat logs, whose system, developer and tool messages are
left out of what the judge reads, whose consecutive turns of one speaker are joined, and whose
language is detected when they do not give it; ShareGPT's `conversations` of `from`/`value` turns;
one JSON object holding one dialogue, or a JSON array of them; and CSV or Parquet tables of
(id, role, content) turns, one row a turn, in order.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from judge.errors import InputError, Problem, reason
from judge.jsonl import bad_json, check_file, checked_items, item_problems, loads, parse_array, parse_lines, read_text
from judge.language import LangTag, language
from judge.limits import MAX_MESSAGE_CHARS, MAX_MESSAGES

Role = Literal["assistant", "user"]
ChatRole = Literal["assistant", "user", "system", "developer", "tool", "function"]
"""Roles of a chat log; all but assistant and user are instructions or tool traffic, never read by the judge."""

ESC_EVAL_PREFIXES: dict[str, Role] = {"AI assistant": "assistant", "ESC-Role": "user"}
_PREFIX = re.compile(r"^\s*(AI assistant|ESC-Role)\s*[：:]\s?", re.S)
TABLE_SUFFIXES = (".csv", ".parquet")
TABLE_COLUMNS = ("id", "role", "content")
"""A CSV or Parquet transcript file: one row a turn, in order; `lang` and `card_id` columns are optional."""
NOT_A_TRANSCRIPT = ("not a transcript file: expected JSON Lines of dialogues (each with `messages`, or ShareGPT's "
                    "`conversations`), one JSON dialogue or a JSON array of them, ESC-Eval's JSON, or a CSV/Parquet "
                    "table of id, role, content turns")
DIALOGUE_KEYS = {"messages", "conversations"}
"""What makes a JSON object a dialogue: OpenAI-style `messages`, or ShareGPT's `conversations`."""
SHAREGPT_ROLES: dict[str, ChatRole] = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
    "bard": "assistant", "bing": "assistant", "model": "assistant", "system": "system", "tool": "tool",
    "function_call": "tool", "observation": "tool", "function": "function",
}
"""ShareGPT's `from` values as chat roles: the human is the help-seeker, the model (gpt...) the model under test."""


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
    id_given: bool = True
    """False when the file gave no id and `id` is the line number, which identifies nothing beyond the file."""

    @property
    def pairing_key(self) -> str:
        """What identifies the conversation across models (`judge compare`): its role card; else its id, when the
        file gave one; else its opening, the seeker's first message (hashed, spacing ignored)."""
        if self.card_id:
            return f"card:{self.card_id}"
        if self.id_given:
            return f"id:{self.id}"
        opening = " ".join(next((m.content for m in self.messages if m.role == "user"), "").split())
        return "opening:" + hashlib.sha256(opening.encode("utf-8")).hexdigest()[:16]

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


def int_as_text(value: Any) -> Any:
    """Ids and card ids written as numbers (ESC-Eval's, a CSV's) are read as the text they show."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class _MessageRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    role: Role
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS)]


class TranscriptRecord(BaseModel):
    """The published schema of one JSON Lines transcript."""

    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    lang: LangTag
    card_id: str | None = None
    messages: list[_MessageRecord] = Field(min_length=2, max_length=MAX_MESSAGES)
    meta: dict[str, Any] | None = None

    _card_id_as_text = field_validator("card_id", mode="before")(int_as_text)

    @field_validator("messages")
    @classmethod
    def _alternating(cls, messages: list[_MessageRecord]) -> list[_MessageRecord]:
        for i in range(1, len(messages)):
            if messages[i].role == messages[i - 1].role:
                raise ValueError(f"roles must alternate, but messages {i - 1} and {i} are both {messages[i].role!r}")
        if not any(m.role == "assistant" for m in messages):
            raise ValueError("no assistant message: nothing from the model under test to judge")
        return messages


class _ChatMessage(BaseModel):
    """One message of a chat log; its other fields (name, tool_calls, ...) are not the judge's business."""

    model_config = ConfigDict(extra="ignore")
    role: ChatRole
    content: str = ""

    @field_validator("content", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        """Plain text, the text parts of a list of content parts, or nothing (an assistant's tool call)."""
        if isinstance(value, list):
            value = "\n".join(p["text"] for p in value if isinstance(p, dict) and isinstance(p.get("text"), str))
        if value is not None and not isinstance(value, str):
            raise ValueError("must be text, a list of content parts or null")
        text = (value or "").strip()
        if len(text) > MAX_MESSAGE_CHARS:
            raise ValueError(f"{len(text):,} characters; the limit for one message is {MAX_MESSAGE_CHARS:,}")
        return text


class ChatLogRecord(BaseModel):
    """A dialogue as chat logs have it: any roles, one speaker several times in a row, no id or lang needed."""

    model_config = ConfigDict(extra="ignore")
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    lang: LangTag | None = None
    card_id: str | None = None
    messages: list[_ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    meta: dict[str, Any] | None = None

    _as_text = field_validator("id", "card_id", mode="before")(int_as_text)

    @model_validator(mode="before")
    @classmethod
    def _sharegpt(cls, data: Any) -> Any:
        """ShareGPT's `conversations` of {from, value} turns are the same dialogue as `messages` of {role, content}."""
        if not (isinstance(data, dict) and "messages" not in data and isinstance(data.get("conversations"), list)):
            return data
        turns = [{"role": SHAREGPT_ROLES.get(str(t.get("from", "")).lower(), t.get("from")), "content": t.get("value")}
                 if isinstance(t, dict) else t for t in data["conversations"]]
        return {**{k: v for k, v in data.items() if k != "conversations"}, "messages": turns}

    @field_validator("messages")
    @classmethod
    def _something_to_judge(cls, messages: list[_ChatMessage]) -> list[_ChatMessage]:
        if not any(m.role == "assistant" and m.content for m in messages):
            raise ValueError("no assistant message with text: nothing from the model under test to judge")
        return messages

    def turns(self) -> tuple[Message, ...]:
        """The dialogue the judge reads: assistant and user text only, a speaker's consecutive messages joined."""
        turns: list[Message] = []
        for m in self.messages:
            if m.role not in ("assistant", "user") or not m.content:
                continue
            if turns and turns[-1].role == m.role:
                turns[-1] = Message(m.role, f"{turns[-1].content}\n{m.content}")
            else:
                turns.append(Message(m.role, m.content))
        return tuple(turns)


Parse = Callable[[Any, Path, int], tuple[Transcript | None, list[Problem]]]


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(record)"


_SHAREGPT_NAMES = {"messages": "conversations", "role": "from", "content": "value"}


def _problems(err: ValidationError, path: Path, line: int, message_lines: list[int] | None = None,
              sharegpt: bool = False) -> list[Problem]:
    """Every validation error at its line: in a table, a turn's error at the turn's own row; in ShareGPT's shape,
    named by ShareGPT's fields."""
    def line_of(loc: tuple[Any, ...]) -> int:
        if message_lines and len(loc) > 1 and loc[0] == "messages" and isinstance(loc[1], int):
            return message_lines[loc[1]]
        return line

    def field_of(loc: tuple[Any, ...]) -> str:
        return _field(tuple(_SHAREGPT_NAMES.get(p, p) for p in loc) if sharegpt else loc)

    def message(e: Any) -> str:
        if sharegpt and e["loc"][-1] == "role":
            return f"{e['input']!r} is not a speaker ShareGPT files use: {', '.join(SHAREGPT_ROLES)}"
        return reason(e)
    return [Problem(path, line_of(tuple(e["loc"])), field_of(tuple(e["loc"])), message(e)) for e in err.errors()]


def _from_record(data: Any, path: Path, line: int) -> tuple[Transcript | None, list[Problem]]:
    try:
        rec = TranscriptRecord.model_validate(data)
    except ValidationError as err:
        return None, _problems(err, path, line)
    messages = tuple(Message(m.role, m.content) for m in rec.messages)
    return Transcript(rec.id, rec.lang, rec.card_id, messages, path, line, rec.meta), []


def _from_chat_log(data: Any, path: Path, line: int, lang: str | None = None,
                   message_lines: list[int] | None = None) -> tuple[Transcript | None, list[Problem]]:
    """A chat log's dialogue; its id is its line when it has none, its language lang, else its own, else detected."""
    try:
        rec = ChatLogRecord.model_validate(data)
    except ValidationError as err:
        sharegpt = isinstance(data, dict) and "messages" not in data and "conversations" in data
        return None, _problems(err, path, line, message_lines, sharegpt)
    turns = rec.turns()
    seeker = [m.content for m in turns if m.role == "user"] or [m.content for m in turns]
    detected = lang or rec.lang or language("\n".join(seeker))
    return Transcript(rec.id or str(line), detected, rec.card_id, turns, path, line, rec.meta, id_given=rec.id is not None), []


def _read_esc_eval(path: Path, text: str, obj: dict[str, Any], parse: Parse) -> tuple[list[Transcript], list[Problem]]:
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
        lang = language("\n".join(m["content"] for m in messages if m["role"] == "user"))  # the seeker's
        transcript, errs = parse({"id": key, "lang": lang, "messages": messages}, path, line)
        problems += [Problem(path, e.line, f"{key}.{e.field}", e.message) for e in errs]
        if transcript:
            out.append(transcript)
    return out, problems


def _is_esc_eval(obj: Any) -> bool:
    return (isinstance(obj, dict) and not DIALOGUE_KEYS & obj.keys() and bool(obj)
            and all(isinstance(v, list) for v in obj.values()))


def _is_dialogue(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(DIALOGUE_KEYS & obj.keys())


def _json_or_none(text: str) -> Any:
    try:
        return loads(text)
    except json.JSONDecodeError:
        return None


def transcript_file(path: Path) -> tuple[list[Transcript], list[Problem]]:
    """The dialogues of a file in the project's format or ESC-Eval's that pass, and every problem of the file, so a
    submission's checks can run on the rest of it in the same pass."""
    path = Path(path)
    text = read_text(path)
    whole = _json_or_none(text)
    transcripts, problems = (_read_esc_eval(path, text, whole, _from_record) if _is_esc_eval(whole)
                             else parse_lines(path, text, _from_record))
    return transcripts, problems + item_problems(path, transcripts, problems, "dialogues")


def read_transcripts(path: Path) -> list[Transcript]:
    """Read every dialogue of a file in the project's format or ESC-Eval's, or raise InputError listing every problem."""
    transcripts, problems = transcript_file(path)
    if problems:
        raise InputError(problems)
    return transcripts


def _table_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """The columns and the (line, row) pairs of a CSV file (a row's first line) or a Parquet file (its row number)."""
    if path.suffix.lower() == ".parquet":
        import duckdb  # here: only Parquet needs it, and every `judge` command would pay for its import

        check_file(path)
        try:
            result = duckdb.connect().execute("SELECT * FROM read_parquet(?)", [str(path)])
            columns = [d[0] for d in result.description]
            return columns, [(n, dict(zip(columns, row))) for n, row in enumerate(result.fetchall(), start=1)]
        except duckdb.Error as err:
            raise InputError([Problem(path, None, None, f"{NOT_A_TRANSCRIPT} ({str(err).splitlines()[0]})")]) from None
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        columns = list(reader.fieldnames or [])
        start = reader.line_num + 1
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as err:
        raise InputError([Problem(path, reader.line_num, None, f"bad CSV: {err}")]) from None
    return columns, rows


def _read_table(path: Path, lang: str | None) -> tuple[list[Transcript], list[Problem]]:
    """A table of turns, one dialogue per id in order of first appearance, each turn in row order."""
    columns, rows = _table_rows(path)
    missing = [c for c in TABLE_COLUMNS if c not in columns]
    if missing:
        raise InputError([Problem(path, None, None, f"{NOT_A_TRANSCRIPT} (no {', '.join(missing)} column; "
                                                    f"found {', '.join(map(str, columns)) or 'none'})")])
    dialogues: dict[str, tuple[dict[str, Any], list[int]]] = {}
    problems: list[Problem] = []
    for line, row in rows:
        if row["id"] in (None, ""):
            problems.append(Problem(path, line, "id", "empty: every turn names its dialogue"))
            continue
        record, lines = dialogues.setdefault(str(row["id"]), ({"id": row["id"], "messages": []}, []))
        for column in ("lang", "card_id"):
            if row.get(column) not in (None, ""):
                record.setdefault(column, row[column])
        record["messages"].append({"role": row["role"], "content": row["content"]})
        lines.append(line)
    transcripts: list[Transcript] = []
    for record, lines in dialogues.values():
        transcript, errs = _from_chat_log(record, path, lines[0], lang, lines)
        problems += errs
        transcripts += [transcript] if transcript else []
    return transcripts, problems


def read_chat_logs(path: Path, lang: str | None = None) -> list[Transcript]:
    """Read every dialogue of a file as users have them (see the module's docstring), or raise InputError listing
    every problem; lang, when given, is every dialogue's language instead of its own or the detected one."""
    path = Path(path)
    if path.suffix.lower() in TABLE_SUFFIXES:
        return checked_items(path, *_read_table(path, lang), "dialogues")
    parse = partial(_from_chat_log, lang=lang)
    text = read_text(path)
    whole = _json_or_none(text)
    if _is_esc_eval(whole):
        return checked_items(path, *_read_esc_eval(path, text, whole, parse), "dialogues")
    if _is_dialogue(whole):  # one dialogue, perhaps written over several lines
        transcript, problems = parse(whole, path, 1)
        return checked_items(path, [transcript] if transcript else [], problems, "dialogues")
    if whole is None and text.lstrip().startswith("["):
        try:
            loads(text)
        except json.JSONDecodeError as err:
            raise InputError([Problem(path, err.lineno, None, bad_json(err))]) from None
    if isinstance(whole, list):  # a JSON array of dialogues; their ids default to the line each starts on
        if not whole or not all(_is_dialogue(d) for d in whole):
            raise InputError([Problem(path, None, None, NOT_A_TRANSCRIPT)])
        return checked_items(path, *parse_array(path, text, parse), "dialogues")
    first = next((raw for raw in text.split("\n") if raw.strip()), "")
    head = _json_or_none(first)
    if first and (not first.lstrip().startswith("{") or (isinstance(head, dict) and not _is_dialogue(head))):
        raise InputError([Problem(path, None, None, NOT_A_TRANSCRIPT)])
    return checked_items(path, *parse_lines(path, text, parse), "dialogues")
