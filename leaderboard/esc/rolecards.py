"""Role cards: who the role-player pretends to be. ESC-Eval's card files or the project's own set.

ESC-Eval publishes its cards as a JSON list (`card_high_en.json`, `card_high_ch.json` in the `data/`
folder of github.com/haidequanbu/ESC-Eval), each `{"id", "base", "base_biaozhu", "res", "source",
"language"}` with the topic `res` in Chinese. The project ships 20 cards a language of its own, as
JSON Lines `{"id", "lang", "topic", "card"}`, so a run works without downloading anything.
"""
from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from judge.errors import InputError, Problem

Lang = Literal["en", "zh"]
Topic = Literal["family", "work_study", "society_other"]
LANGS: tuple[Lang, ...] = get_args(Lang)
TOPICS: tuple[Topic, ...] = get_args(Topic)
ESC_EVAL_TOPICS: dict[str, Topic] = {"家庭生活": "family", "工作学习": "work_study", "社会与其他": "society_other"}
ESC_EVAL_LANGS: dict[str, Lang] = {"english": "en", "chinese": "zh"}
ESC_EVAL_CARDS_URL = "https://github.com/haidequanbu/ESC-Eval/tree/main/data"
EMBEDDED_DIR = Path(__file__).parent / "data" / "role_cards"


@dataclass(frozen=True)
class RoleCard:
    """A troubled person to play: the card text goes into the role-player's system prompt."""

    id: str
    lang: Lang
    topic: Topic
    text: str
    source: str


def _esc_eval_card(item: Any, path: Path, index: int) -> tuple[RoleCard | None, list[Problem]]:
    where = f"[{index}]"
    if not isinstance(item, dict):
        return None, [Problem(path, None, where, "expected an object with 'id', 'base', 'res', 'language'")]
    missing = [k for k in ("id", "base", "res", "language") if k not in item]
    if missing:
        return None, [Problem(path, None, where, f"missing {', '.join(missing)}")]
    topic, lang = ESC_EVAL_TOPICS.get(item["res"]), ESC_EVAL_LANGS.get(item["language"])
    if topic is None or lang is None:
        bad = "res" if topic is None else "language"
        return None, [Problem(path, None, f"{where}.{bad}", f"unknown value {item[bad]!r}")]
    source = f"esc-eval/{item.get('source', 'unknown')}"
    return RoleCard(str(item["id"]), lang, topic, str(item["base"]).strip(), source), []


def _own_card(raw: str, path: Path, line: int) -> tuple[RoleCard | None, list[Problem]]:
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as err:
        return None, [Problem(path, line, None, f"bad JSON: {err.msg}")]
    if not isinstance(item, dict) or not {"id", "lang", "topic", "card"} <= item.keys():
        return None, [Problem(path, line, None, "expected an object with 'id', 'lang', 'topic', 'card'")]
    if item["lang"] not in LANGS or item["topic"] not in TOPICS:
        return None, [Problem(path, line, "lang/topic", f"lang must be one of {LANGS}, topic one of {TOPICS}")]
    if not str(item["card"]).strip():
        return None, [Problem(path, line, "card", "empty card")]
    return RoleCard(str(item["id"]), item["lang"], item["topic"], str(item["card"]).strip(), f"file/{path.name}"), []


def _parse(text: str, path: Path) -> list[RoleCard]:
    problems: list[Problem] = []
    cards: list[RoleCard] = []
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError([Problem(path, err.lineno, None, f"bad JSON: {err.msg}")]) from None
        parsed = [_esc_eval_card(item, path, i) for i, item in enumerate(items)]
    else:
        parsed = [_own_card(raw, path, n) for n, raw in enumerate(text.splitlines(), 1) if raw.strip()]
    for card, errs in parsed:
        problems += errs
        if card:
            cards.append(card)
    seen: set[tuple[str, str]] = set()
    for card in cards:
        if (card.lang, card.id) in seen:
            problems.append(Problem(path, None, "id", f"duplicate card id {card.id!r} ({card.lang})"))
        seen.add((card.lang, card.id))
    if not cards and not problems:
        problems.append(Problem(path, None, None, "no role cards in file"))
    if problems:
        raise InputError(problems)
    return cards


def load_card_file(path: Path) -> list[RoleCard]:
    """Read an ESC-Eval card file (JSON list) or a file in the project's JSON Lines card format."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError([Problem(path, None, None, f"cannot read role cards: {err}")]) from None
    return _parse(text, path)


def embedded_cards(lang: Lang) -> list[RoleCard]:
    """The project's own cards for a language, shipped inside the package."""
    return load_card_file(EMBEDDED_DIR / f"{lang}.jsonl")


def load_cards(files: Sequence[Path], langs: Iterable[Lang]) -> list[RoleCard]:
    """Cards from the given files, or the embedded ones when no file is given."""
    if not files:
        return [card for lang in langs for card in embedded_cards(lang)]
    problems: list[Problem] = []
    cards: list[RoleCard] = []
    for path in files:
        try:
            cards += load_card_file(path)
        except InputError as err:
            problems += err.problems
    seen: dict[tuple[str, str], str] = {}
    for card in cards:
        first = seen.setdefault((card.lang, card.id), card.source)
        if first != card.source:
            problems.append(Problem(Path(card.source.removeprefix("file/")), None, "id",
                                    f"card {card.id!r} ({card.lang}) is also in {first}"))
    if problems:
        raise InputError(problems)
    return cards


def card_set(files: Sequence[Path] = ()) -> dict[tuple[str, str], RoleCard]:
    """Every card the leaderboard knows, by (language, id): the shipped ones plus any given files."""
    cards = [c for lang in LANGS for c in embedded_cards(lang)] + (load_cards(files, LANGS) if files else [])
    return {(c.lang, c.id): c for c in cards}


def card_set_hash(cards: dict[tuple[str, str], RoleCard]) -> str:
    """One hash for a card set, recorded with every run so a row says which cards its dialogues claim."""
    body = json.dumps(sorted([c.lang, c.id, c.topic, c.text] for c in cards.values()), ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def select_cards(cards: Sequence[RoleCard], lang: Lang, topics: Iterable[Topic] | None = None,
                 sample: int | None = None, seed: int = 0) -> list[RoleCard]:
    """The cards of one language and the given topics; a seeded sample of them if `sample` is set.

    The sample is stratified by topic in proportion to the pool (largest remainders get the odd
    cards), so a small sample still covers every topic the pool has in about its share. It is drawn
    from the cards sorted by id, so it depends on the seed only, not on file order, and is returned
    in that order.
    """
    wanted = set(topics or TOPICS)
    pool = sorted((c for c in cards if c.lang == lang and c.topic in wanted), key=lambda c: (c.source, c.id))
    if sample is None or sample >= len(pool):
        return pool
    rng = random.Random(f"{seed}/{lang}")
    by_topic = {t: [c for c in pool if c.topic == t] for t in TOPICS if any(c.topic == t for c in pool)}
    shares = {t: sample * len(group) / len(pool) for t, group in by_topic.items()}
    quota = {t: int(share) for t, share in shares.items()}
    for t in sorted(shares, key=lambda t: shares[t] - quota[t], reverse=True)[: sample - sum(quota.values())]:
        quota[t] += 1
    chosen = {id(c) for t, group in by_topic.items() for c in rng.sample(group, quota[t])}
    return [c for c in pool if id(c) in chosen]
