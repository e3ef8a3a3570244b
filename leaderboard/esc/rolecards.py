"""Role cards: who the role-player pretends to be. ESC-Eval's card files or the project's own set.

ESC-Eval publishes its cards as a JSON list (`card_high_en.json`, `card_high_ch.json` in the `data/`
folder of github.com/haidequanbu/ESC-Eval), each `{"id", "base", "base_biaozhu", "res", "source",
"language"}` with the topic `res` in Chinese. The project ships 20 cards a language of its own, as
JSON Lines `{"id", "lang", "topic", "card"}`, so a run works without downloading anything.

A card file is identified by the sha256 of its bytes, not by its name or path: `leaderboard run --cards`
records it in the run log, and validation finds the recorded file among those it is given (`--role-cards`).
"""
from __future__ import annotations

import hashlib
import json
import random
import re
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
ESC_EVAL_REPO = "haidequanbu/ESC-Eval"
ESC_EVAL_COMMIT = "7f7ef78d891dd2dfa48a0c45babe8f1cf6883e75"
"""The commit of ESC-Eval's repository whose `data/` card files the registry below names (the CI workflows fetch it)."""
ESC_EVAL_FILES: dict[str, str] = {
    "2c63cf0f65cbe159b38837e0da368667201d34e42c6e5ea1bedbcf35cb7ab4e8": "card_high_en.json",
    "5579955ea5f74f20f9c8541a4370e387d2c58c575346db7c8c7c7ea9d2e6502d": "card_high_ch.json",
}
"""sha256 of ESC-Eval's two published card files -> their name in its `data/` folder (331 en, 324 zh cards)."""
EMBEDDED_DIR = Path(__file__).parent / "data" / "role_cards"


def esc_eval_url(name: str) -> str:
    """Where ESC-Eval's card file `name` is downloaded from, at the pinned commit."""
    return f"https://raw.githubusercontent.com/{ESC_EVAL_REPO}/{ESC_EVAL_COMMIT}/data/{name}"


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


@dataclass(frozen=True)
class CardFile:
    """A role card file as read: where it is, the sha256 of its bytes (its identity in run logs), its cards."""

    path: Path
    sha256: str
    cards: tuple[RoleCard, ...]

    def record(self) -> dict[str, str]:
        """How a run log names the file: its name, for people, and its sha256, which is what is checked."""
        return {"name": self.path.name, "sha256": self.sha256}


def read_card_file(path: Path) -> CardFile:
    """Read an ESC-Eval card file (JSON list) or a file in the project's JSON Lines card format."""
    path = Path(path)
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError([Problem(path, None, None, f"cannot read role cards: {err}")]) from None
    return CardFile(path, hashlib.sha256(data).hexdigest(), tuple(_parse(text, path)))


def load_card_file(path: Path) -> list[RoleCard]:
    return list(read_card_file(path).cards)


def embedded_cards(lang: Lang) -> list[RoleCard]:
    """The project's own cards for a language, shipped inside the package."""
    return load_card_file(EMBEDDED_DIR / f"{lang}.jsonl")


def read_card_files(paths: Sequence[Path]) -> list[CardFile]:
    """Every given file, all problems at once; a card (language and id) in two files is one of them."""
    problems: list[Problem] = []
    files: list[CardFile] = []
    for path in paths:
        try:
            files.append(read_card_file(path))
        except InputError as err:
            problems += err.problems
    seen: dict[tuple[str, str], Path] = {}
    for file in files:
        for card in file.cards:
            first = seen.setdefault((card.lang, card.id), file.path)
            if first != file.path:
                problems.append(Problem(file.path, None, "id", f"card {card.id!r} ({card.lang}) is also in {first}"))
    if problems:
        raise InputError(problems)
    return files


def load_cards(files: Sequence[Path], langs: Iterable[Lang]) -> list[RoleCard]:
    """Cards from the given files, or the embedded ones when no file is given."""
    if not files:
        return [card for lang in langs for card in embedded_cards(lang)]
    return [card for file in read_card_files(files) for card in file.cards]


def card_set(files: Sequence[CardFile] = ()) -> dict[tuple[str, str], RoleCard]:
    """Every card the leaderboard knows, by (language, id): the shipped ones plus those of the given files."""
    cards = [c for lang in LANGS for c in embedded_cards(lang)] + [c for f in files for c in f.cards]
    return {(c.lang, c.id): c for c in cards}


def recorded_files(recorded: Any, given: Sequence[CardFile], log: Path, line: int | None) -> tuple[list[CardFile], list[Problem]]:
    """The card files a run recorded (`[{"name", "sha256"}, ...]` in `log` at `line`), found among the given ones
    by sha256. One that is not given is a problem saying which file it is and what to pass; for ESC-Eval's
    published files, where to download it."""
    entries = recorded if isinstance(recorded, list) and recorded else [recorded]
    by_sha = {f.sha256: f for f in given}
    found: list[CardFile] = []
    problems: list[Problem] = []
    for i, entry in enumerate(entries):
        field = f"settings.cards.files[{i}]"
        name, sha = (entry.get("name"), entry.get("sha256")) if isinstance(entry, dict) else (None, None)
        if not isinstance(name, str) or not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
            problems.append(Problem(log, line, field, 'expected {"name": ..., "sha256": ...} of a role card file (a log '
                                    "from before card files were named by sha256: play again with "
                                    "`leaderboard run --restart --cards FILE`)"))
        elif sha in by_sha:
            found.append(by_sha[sha])
        else:
            known = ESC_EVAL_FILES.get(sha)
            what = f"ESC-Eval's {known}" if known else repr(name)
            message = f"the dialogues were played on {what} (sha256 {sha[:12]}…), which is not given: pass it with --role-cards FILE"
            if known:
                message += f" (download: {esc_eval_url(known)})"
            message += "".join(f"; the given {f.path} has sha256 {f.sha256[:12]}…, another file"
                               + (f" (ESC-Eval's {ESC_EVAL_FILES[f.sha256]})" if f.sha256 in ESC_EVAL_FILES else "")
                               for f in given if f.path.name == name)
            problems.append(Problem(log, line, field, message))
    return found, problems


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
