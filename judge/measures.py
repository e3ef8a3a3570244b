"""Countable parts of four ESC-Eval rubrics, measured on the text and blended with the learned heads.

ESC-Eval's humanoid rubric penalises replies that reveal an AI or read like a structured answer
(lists, headings); its information rubric counts concrete suggestions; its expression rubric asks
for varied replies, so a reply that repeats an earlier one or echoes the seeker's turn counts
against it; its fluency rubric asks for replies that fit the conversation, and a reply in another
language than the seeker's does not. All are countable, so the judge reports the mean of its learned
head and this measurement (each on 0-4) for them.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from judge.language import language

Rounds = Sequence[tuple[str, str]]  # (seeker turn, reply) per reply of the model under test

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

ECHO = 0.8  # a reply whose word bigrams are this much contained in an earlier reply or the seeker's turn is an echo

MEASURED = {
    "humanoid": "mean of the learned head and 4 x (1 - share of replies that reveal an AI or contain a list/heading)",
    "information": "mean of the learned head and min(4, suggestions / 2), suggestions = suggestion phrases + list items over all replies",
    "expression": f"mean of the learned head and 4 x (1 - share of replies that echo an earlier reply or the seeker's turn: "
                  f">= {ECHO:.0%} of their word bigrams (character bigrams for Chinese) found there)",
    "fluency": "mean of the learned head and 4 x (1 - share of replies in another language than the seeker's turn)",
}


def humanoid(rounds: Rounds) -> float:
    """4 when no reply reveals an AI or reads as a structured list, 0 when every reply does."""
    if not rounds:
        return 0.0
    flagged = sum(bool(AI_REVEAL.search(r)) or len(LIST_LINE.findall(r)) >= 2 for _, r in rounds)
    return 4.0 * (1.0 - flagged / len(rounds))


def bigrams(text: str) -> set[tuple[str, str]]:
    """Word bigrams (character bigrams for Chinese), lower-cased, punctuation dropped; a one-word text is its own."""
    if language(text) == "zh":
        units = [c for c in text if c.isalnum()]
    else:
        units = re.findall(r"\w+", text.lower())
    return set(zip(units, units[1:])) or {(u, "") for u in units}


def echoes(reply: str, sources: Sequence[str]) -> bool:
    b = bigrams(reply)
    return bool(b) and any(len(b & bigrams(s)) >= ECHO * len(b) for s in sources if s)


def expression(rounds: Rounds) -> float:
    """4 when every reply is new, 0 when every reply repeats an earlier one or echoes the seeker."""
    if not rounds:
        return 0.0
    echoed = sum(echoes(r, [u] + [a for _, a in rounds[:i]]) for i, (u, r) in enumerate(rounds))
    return 4.0 * (1.0 - echoed / len(rounds))


def fluency(rounds: Rounds) -> float:
    """4 when every reply is in the seeker's language (rounds with no seeker turn count as matching), 0 when none is."""
    if not rounds:
        return 0.0
    foreign = sum(bool(u.strip()) and language(r) != language(u) for u, r in rounds)
    return 4.0 * (1.0 - foreign / len(rounds))


def suggestion_count(rounds: Rounds) -> int:
    """Suggestion phrases plus list items (a list in a support reply is a list of suggestions)."""
    return sum(len(SUGGESTION.findall(r)) + len(LIST_LINE.findall(r)) for _, r in rounds)


def information(rounds: Rounds) -> float:
    return min(4.0, suggestion_count(rounds) / 2.0)


FUNCTIONS = {"humanoid": humanoid, "information": information, "expression": expression, "fluency": fluency}


def apply(dimensions: Sequence[str], measures: dict[str, str], dialogues: Sequence[Rounds],
          scores: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blend each measured dimension declared in the manifest: expected = mean(head, measure)."""
    scores, expected = scores.copy(), expected.copy()
    for k, name in enumerate(dimensions):
        if name not in measures or name not in FUNCTIONS:
            continue
        measured = np.array([FUNCTIONS[name](r) for r in dialogues])
        expected[:, k] = (expected[:, k] + measured) / 2.0
        scores[:, k] = np.clip(np.rint(expected[:, k]), 0, 4).astype(scores.dtype)
    return scores, expected
