"""Gaming probes: trivial supporters judged on every build, shown beside the board.

Each probe replays the help-seeker's turns of real dialogues (one per role card, taken from the
submissions) and answers with a fixed rule instead of a model. If a submission scores like a probe,
the judge cannot tell it from that trick, and the site flags it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from judge.transcript import Message, Transcript
from leaderboard.board import AVERAGE, Board
from leaderboard.submission import LoadedSubmission

CONSTANT = {
    "en": "I understand. Please tell me more about how you feel.",
    "zh": "我理解。请多跟我说说你的感受。",
}
FILLER = {
    "en": "It is completely understandable to feel this way, and many people go through something similar. ",
    "zh": "有这样的感受是完全可以理解的，很多人都经历过类似的事情。",
}

PROBES: dict[str, Callable[[str, str], str]] = {
    "constant-reply": lambda lang, user: CONSTANT[lang],
    "length-only": lambda lang, user: FILLER[lang] * 6,
    "copy-the-user": lambda lang, user: user,
}
"""Probe name -> reply rule (language, the seeker's last turn) -> reply."""


def seed_dialogues(subs: list[LoadedSubmission]) -> list[Transcript]:
    """One dialogue per (language, role card), from the first submission that played it."""
    chosen: dict[tuple[str, str], Transcript] = {}
    for sub in sorted(subs, key=lambda s: s.id):
        for t in sub.transcripts:
            chosen.setdefault((t.lang, t.card_id or t.id), t)
    return [chosen[k] for k in sorted(chosen)]


def probe_dialogues(name: str, seeds: list[Transcript]) -> list[Transcript]:
    """The seeds with every reply after the greeting replaced by the probe's rule."""
    rule = PROBES[name]
    out = []
    for t in seeds:
        messages = list(t.messages)
        for i in range(1, len(messages)):
            if messages[i].role == "assistant":
                user = messages[i - 1].content if messages[i - 1].role == "user" else ""
                messages[i] = Message("assistant", rule(t.lang, user))
        out.append(replace(t, messages=tuple(messages), meta=None))
    return out


def flags(board: Board, probes: Board) -> dict[tuple[str, str], list[str]]:
    """(model, language) -> the probes whose average-score CI overlaps the model's own."""
    out: dict[tuple[str, str], list[str]] = {}
    for lang in board.languages:
        for model in board.models(lang):
            if (cell := board.cell(model, lang, AVERAGE)) is None:
                continue
            mine = cell.estimate
            like = [p for p in probes.models(lang) if (c := probes.cell(p, lang, AVERAGE))
                    and c.estimate.low <= mine.high and mine.low <= c.estimate.high]
            if like:
                out[(model, lang)] = like
    return out
