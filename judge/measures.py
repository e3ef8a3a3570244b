"""Countable parts of two ESC-Eval rubrics, measured on the text and blended with the learned heads.

ESC-Eval's humanoid rubric penalises replies that reveal an AI or read like a structured answer
(lists, headings); its information rubric counts concrete suggestions. Both are countable, so the
judge reports the mean of its learned head and this measurement (each on 0-4) for them.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

AI_REVEAL = re.compile(
    r"\b(as an ai|i am an ai|i'm an ai|ai (language )?model|language model|ai assistant|virtual assistant|"
    r"i am a (chat)?bot|i'm a (chat)?bot|i don't have (personal )?(feelings|emotions|experiences))\b"
    r"|作为(一个|一名)?(ai|人工智能|语言模型|虚拟助手|智能助手)|我是(一个|一名)?(ai|人工智能|语言模型|虚拟助手|智能助手|机器人)"
    r"|我没有(个人)?(情感|感情|经历)",
    re.IGNORECASE,
)
LIST_LINE = re.compile(r"^\s*(\d+[.)、]|[-*•·]|[一二三四五六七八九十]+、|#+\s|\*\*[^*]+\*\*[:：])", re.MULTILINE)
SUGGESTION = re.compile(
    r"\b(you (could|can|might|may) (try|consider|start|talk|reach|write|take|make|find|ask|set|join|look)|"
    r"try (to|and)|i (would )?(suggest|recommend)|how about|what about|it (might|may|could) help|consider|"
    r"maybe you (could|can)|why not|one (thing|way|option)|another (thing|way|option))\b"
    r"|建议|可以试试|试着|不妨|你可以|或许可以|也许可以|可以尝试|尝试",
    re.IGNORECASE,
)

MEASURED = {
    "humanoid": "mean of the learned head and 4 x (1 - share of replies that reveal an AI or contain a list/heading)",
    "information": "mean of the learned head and min(4, suggestions / 2), suggestions = suggestion phrases + list items over all replies",
}


def humanoid(replies: Sequence[str]) -> float:
    """4 when no reply reveals an AI or reads as a structured list, 0 when every reply does."""
    if not replies:
        return 0.0
    flagged = sum(bool(AI_REVEAL.search(r)) or len(LIST_LINE.findall(r)) >= 2 for r in replies)
    return 4.0 * (1.0 - flagged / len(replies))


def suggestion_count(replies: Sequence[str]) -> int:
    """Suggestion phrases plus list items (a list in a support reply is a list of suggestions)."""
    return sum(len(SUGGESTION.findall(r)) + len(LIST_LINE.findall(r)) for r in replies)


def information(replies: Sequence[str]) -> float:
    return min(4.0, suggestion_count(replies) / 2.0)


FUNCTIONS = {"humanoid": humanoid, "information": information}


def apply(dimensions: Sequence[str], measures: dict[str, str], replies: Sequence[Sequence[str]],
          scores: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blend each measured dimension declared in the manifest: expected = mean(head, measure)."""
    scores, expected = scores.copy(), expected.copy()
    for k, name in enumerate(dimensions):
        if name not in measures or name not in FUNCTIONS:
            continue
        measured = np.array([FUNCTIONS[name](r) for r in replies])
        expected[:, k] = (expected[:, k] + measured) / 2.0
        scores[:, k] = np.clip(np.rint(expected[:, k]), 0, 4).astype(scores.dtype)
    return scores, expected
