"""Reading users' JSON Lines within the limits: size by stat, UTF-8 with the line of a bad byte,
each line's length before it is parsed, nesting bombs reported as bad JSON, every problem kept."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from judge.errors import InputError, Problem
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


def read_text(path: Path) -> str:
    """The file as text, if it is a regular file within the size limit and valid UTF-8 (a leading byte-order mark,
    as spreadsheet programs write, is dropped)."""
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
            problems.append(Problem(path, n, None, f"bad JSON: {err.msg} at column {err.colno}"))
            continue
        item, errs = parse(record, path, n)
        problems += errs
        if item is not None:
            out.append(item)
    return out, problems


def checked_items(path: Path, items: list[L], problems: list[Problem], noun: str) -> list[L]:
    """The items of one file, unless it has a problem, repeats an id or has none: then every problem is raised."""
    seen: dict[str, int] = {}
    for item in items:
        if item.id in seen:
            problems.append(Problem(path, item.line, "id", f"duplicate id {item.id!r} (first on line {seen[item.id]})"))
        seen.setdefault(item.id, item.line)
    if not items and not problems:
        problems.append(Problem(path, None, None, f"no {noun} in file"))
    if problems:
        raise InputError(problems)
    return items
