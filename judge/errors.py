"""Errors that point at the exact place in a user's file, so a bad input is fixed in one look."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

STDIN = Path("-")
"""The path that stands for standard input (`judge score -`); shown as <stdin>."""


def shown_name(file: Path) -> str:
    return "<stdin>" if file == STDIN else str(file)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is and what is wrong."""

    file: Path
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        name = shown_name(self.file)
        where = f"{name}:{self.line}" if self.line else name
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class InputError(Exception):
    """Raised with every problem found in an input, never just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def reason(error: Any) -> str:
    """A pydantic error's message, without the "Value error, " pydantic puts before a validator's own sentence."""
    if error.get("type") == "value_error" and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])
    return error["msg"]
