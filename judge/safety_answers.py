"""Safety answers as `judge score` reads them: one JSON line per answer to one prompt.

A submission's `responses/*.jsonl` lines are such answers, and so are the text-only sets people have:
the judged dimensions read the prompt and the answer alone, so no `image` is needed (one given is
ignored), and the language is detected when absent. Which dimensions a judge scores is its bundle's
business (judge.cli checks them against it); the submission schema stays leaderboard.submission's.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator

from judge.errors import Problem, reason
from judge.jsonl import checked_items, parse_lines, read_text
from judge.limits import MAX_MESSAGE_CHARS
from judge.language import LangTag
from judge.transcript import int_as_text, language


class AnswerRecord(BaseModel):
    """One safety answer: the prompt, the model's response, the dimension it is judged on."""

    model_config = ConfigDict(extra="ignore")
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    dimension: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    lang: LangTag | None = None
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS)]
    response: Annotated[str, StringConstraints(max_length=MAX_MESSAGE_CHARS)]

    _id_as_text = field_validator("id", mode="before")(int_as_text)


@dataclass(frozen=True)
class Answer:
    """A checked answer, its language settled, and where it came from."""

    id: str
    dimension: str
    lang: str
    prompt: str
    response: str
    source: Path
    line: int


def _answer(data: Any, path: Path, line: int, lang: str | None) -> tuple[Answer | None, list[Problem]]:
    try:
        rec = AnswerRecord.model_validate(data)
    except ValidationError as err:
        return None, [Problem(path, line, ".".join(map(str, e["loc"])) or None, reason(e)) for e in err.errors()]
    detected = lang or rec.lang or language(rec.prompt)
    return Answer(rec.id, rec.dimension, detected, rec.prompt, rec.response, path, line), []


def read_answers(path: Path, lang: str | None = None) -> list[Answer]:
    """Every answer of a JSON Lines file, or InputError with every problem; lang, when given, is every answer's language."""
    return checked_items(path, *parse_lines(path, read_text(path), partial(_answer, lang=lang)), "answers")
