"""Do a submission's dialogues follow the protocol they claim? Checked before anything is scored.

Every dialogue must name a role card the leaderboard knows, open with ESC-Eval's greeting, run the
full number of rounds, appear once per card, and (when the runner recorded them) keep the card text
and the help-seeker's turns exactly as played. Transcripts that fail are rejected, never scored.
"""
from __future__ import annotations

from collections.abc import Mapping

from judge.errors import Problem
from judge.transcript import Transcript
from leaderboard.esc.roleplay import GREETINGS, seeker_sha256
from leaderboard.esc.rolecards import RoleCard

ROUNDS = 5


def check_dialogues(transcripts: list[Transcript], cards: Mapping[tuple[str, str], RoleCard],
                    rounds: int = ROUNDS, report_unknown: bool = True) -> list[Problem]:
    """Every way the dialogues break the protocol; `report_unknown=False` leaves out dialogues on cards not in
    `cards` (when the caller has already said which card file is missing)."""
    problems: list[Problem] = []
    by_card: dict[tuple[str, str], Transcript] = {}
    by_hash: dict[str, Transcript] = {}
    for t in transcripts:
        def problem(field: str, message: str) -> None:
            problems.append(Problem(t.source, t.line, field, message))

        card = cards.get((t.lang, t.card_id or ""))
        if card is None and report_unknown:
            problem("card_id", f"{t.card_id!r} is not a known {t.lang} role card (the shipped cards, or those of the files "
                    "given with --role-cards, e.g. ESC-Eval's card_high_en.json / card_high_ch.json)")
        meta = t.meta or {}
        if card is not None and "card" in meta and str(meta["card"]).strip() != card.text:
            problem("meta.card", f"the card text differs from role card {card.id}")
        if t.messages[0].role != "assistant" or t.messages[0].content != GREETINGS[t.lang]:
            problem("messages[0]", "a dialogue opens with ESC-Eval's greeting from the model under test")
        played = sum(m.role == "user" for m in t.messages)
        if played < rounds:
            problem("messages", f"{played} rounds; the protocol has {rounds}")
        if "seeker_sha256" in meta and meta["seeker_sha256"] != seeker_sha256(t.to_json()["messages"]):
            problem("messages", "the help-seeker's turns differ from those the role-player produced")
        key = (t.lang, t.card_id or "")
        if card is not None and key in by_card:
            problem("card_id", f"card {t.card_id} is already played in {by_card[key].source.name}:{by_card[key].line}")
        by_card.setdefault(key, t)
        if t.content_hash in by_hash:
            first = by_hash[t.content_hash]
            problem("messages", f"the same dialogue as {first.source.name}:{first.line}")
        by_hash.setdefault(t.content_hash, t)
    return problems
