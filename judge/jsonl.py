"""Reading users' JSON Lines (and JSON arrays) within the limits: size by stat, UTF-8 with the line of a bad
byte, each line's length before it is parsed, nesting bombs reported as bad JSON, every problem kept.
The path `-` reads standard input, within the same limits."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

from judge.errors import STDIN, InputError, Problem
from judge.limits import MAX_LINE_BYTES, MAX_TRANSCRIPT_FILE_BYTES

T = TypeVar("T")


class Located(Protocol):
    """An item read from a line of a file, known by its id."""

    @property
    def id(self) -> str: ...

    @property
    def line(self) -> int: ...


L = TypeVar("L", bound=Located)


def loads(raw: str) -> Any:
    """json.loads that reports a nesting bomb as bad JSON instead of crashing."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", raw, 0) from None


def check_file(path: Path) -> None:
    """Raise InputError unless path is a regular file within the size limit."""
    try:
        if not path.is_file():
            raise InputError([Problem(path, None, None, "not a regular file")])
        size = path.stat().st_size
    except OSError as err:
        raise InputError([Problem(path, None, None, f"cannot read: {err.strerror}")]) from None
    if size > MAX_TRANSCRIPT_FILE_BYTES:
        raise InputError([Problem(path, None, None, f"file is {size:,} bytes; the limit is {MAX_TRANSCRIPT_FILE_BYTES:,}")])


@cache
def _stdin() -> bytes:
    """Standard input, read once (a file that is not what one reader expects is tried by another), within the limit."""
    data = sys.stdin.buffer.read(MAX_TRANSCRIPT_FILE_BYTES + 1)
    if len(data) > MAX_TRANSCRIPT_FILE_BYTES:
        raise InputError([Problem(STDIN, None, None, f"over {MAX_TRANSCRIPT_FILE_BYTES:,} bytes, the limit for a file")])
    return data


def read_text(path: Path) -> str:
    """The file (or, for `-`, standard input) as text, if it is a regular file within the size limit and valid UTF-8
    (a leading byte-order mark, as spreadsheet programs write, is dropped)."""
    if path == STDIN:
        data = _stdin()
    else:
        check_file(path)
        try:
            data = path.read_bytes()
        except OSError as err:
            raise InputError([Problem(path, None, None, f"cannot read: {err.strerror}")]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError([Problem(path, line, None, f"not UTF-8 text ({err.reason} at byte {err.start})")]) from None


def parse_lines(path: Path, text: str, parse: Callable[[Any, Path, int], tuple[T | None, list[Problem]]]
                ) -> tuple[list[T], list[Problem]]:
    """Every non-blank line parsed as JSON and then by parse(record, path, line)."""
    out: list[T] = []
    problems: list[Problem] = []
    for n, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        if len(raw.encode("utf-8")) > MAX_LINE_BYTES:
            problems.append(Problem(path, n, None, f"line is over {MAX_LINE_BYTES:,} bytes, the limit for one record"))
            continue
        try:
            record = loads(raw)
        except json.JSONDecodeError as err:
            problems.append(Problem(path, n, None, bad_json(err)))
            continue
        item, errs = parse(record, path, n)
        problems += errs
        if item is not None:
            out.append(item)
    return out, problems


def bad_json(err: json.JSONDecodeError) -> str:
    """json's message and where: some of its messages already end in "at" ("Unterminated string starting at")."""
    return f"bad JSON: {err.msg}{'' if err.msg.endswith(' at') else ' at'} column {err.colno}"


def parse_array(path: Path, text: str, parse: Callable[[Any, Path, int], tuple[T | None, list[Problem]]]
                ) -> tuple[list[T], list[Problem]]:
    """Every element of a JSON array (the whole text, already known to be one) parsed by parse(element, path, line),
    line being where the element starts."""
    decoder = json.JSONDecoder()
    out: list[T] = []
    problems: list[Problem] = []
    at = text.index("[") + 1
    line, counted = 1, 0  # lines counted up to `counted`, so a long array is read in one pass
    while True:
        while at < len(text) and text[at] in " \t\r\n,":
            at += 1
        if at >= len(text) or text[at] == "]":
            return out, problems
        element, end = decoder.raw_decode(text, at)
        line, counted = line + text.count("\n", counted, at), at
        item, errs = parse(element, path, line)
        problems += errs
        if item is not None:
            out.append(item)
        at = end


def item_problems(path: Path, items: list[L], problems: list[Problem], noun: str) -> list[Problem]:
    """What is wrong with a file's items together: a repeated id, or no item and no other problem."""
    seen: dict[str, int] = {}
    found: list[Problem] = []
    for item in items:
        if item.id in seen:
            found.append(Problem(path, item.line, "id", f"duplicate id {item.id!r} (first on line {seen[item.id]})"))
        seen.setdefault(item.id, item.line)
    if not items and not problems:
        found.append(Problem(path, None, None, f"no {noun} in file"))
    return found


def checked_items(path: Path, items: list[L], problems: list[Problem], noun: str) -> list[L]:
    """The items of one file, unless it has a problem, repeats an id or has none: then every problem is raised."""
    problems = problems + item_problems(path, items, problems, noun)
    if problems:
        raise InputError(problems)
    return items
