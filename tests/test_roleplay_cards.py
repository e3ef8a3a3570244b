"""Role cards: the embedded set, ESC-Eval's files, and seeded selection."""
from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from judge.errors import InputError
from leaderboard.esc.rolecards import (TOPICS, RoleCard, embedded_cards, load_card_file, load_cards, read_card_file,
                                       read_card_files, recorded_files, select_cards)

ESC_EVAL_CARDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "esc-eval" / "role_cards"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_embedded_cards_cover_every_topic(lang: str) -> None:
    cards = embedded_cards(lang)  # type: ignore[arg-type]
    assert len(cards) >= 20
    assert {c.lang for c in cards} == {lang}
    assert set(Counter(c.topic for c in cards)) == set(TOPICS)
    assert len({c.id for c in cards}) == len(cards)
    if lang == "zh":
        assert all("问题：" in c.text for c in cards)
    else:
        assert all("Problem:" in c.text for c in cards)


@pytest.mark.skipif(not ESC_EVAL_CARDS.is_dir(), reason="../shared/data/esc-eval is absent (only on developer machines and CI)")
def test_reads_esc_eval_card_files() -> None:
    en = load_card_file(ESC_EVAL_CARDS / "card_high_en.json")
    zh = load_card_file(ESC_EVAL_CARDS / "card_high_zh.json")
    assert (len(en), len(zh)) == (331, 324)
    assert {c.lang for c in en} == {"en"} and {c.lang for c in zh} == {"zh"}
    assert Counter(c.topic for c in en) == {"family": 172, "work_study": 87, "society_other": 72}
    assert en[0].id == "32025" and en[0].text.startswith("Age:") and en[0].source == "esc-eval/ESconv"


def test_esc_eval_format_errors_name_the_item(tmp_path: Path) -> None:
    path = tmp_path / "cards.json"
    path.write_text(json.dumps([{"id": 1, "base": "x", "res": "家庭生活", "language": "english"},
                                {"id": 2, "base": "y", "res": "未知", "language": "english"},
                                {"id": 3, "base": "z"}]), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_card_file(path)
    fields = [p.field for p in err.value.problems]
    assert fields == ["[1].res", "[2]"]


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "cards.jsonl"
    path.write_text('{"id": "a", "lang": "en", "topic": "family", "card": "x"}\n{"id": "b", "lang": "fr", '
                    '"topic": "family", "card": "x"}\nnot json\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_card_file(path)
    assert [p.line for p in err.value.problems] == [2, 3]


def _cards(n: int) -> list[RoleCard]:
    return [RoleCard(f"{i:03d}", "en", TOPICS[i % 3], f"card {i}", "test") for i in range(n)] + \
        [RoleCard(f"{i:03d}", "zh", TOPICS[i % 3], f"卡 {i}", "test") for i in range(n)]


def test_selection_is_seeded_and_independent_of_file_order() -> None:
    cards = _cards(30)
    first = select_cards(cards, "en", sample=10, seed=7)
    shuffled = cards[:]
    random.Random(1).shuffle(shuffled)
    assert select_cards(shuffled, "en", sample=10, seed=7) == first
    assert len(first) == 10 and {c.lang for c in first} == {"en"}
    assert [c.id for c in first] == sorted(c.id for c in first)
    assert select_cards(cards, "en", sample=10, seed=8) != first


def test_selection_by_topic_and_whole_pool() -> None:
    cards = _cards(30)
    family = select_cards(cards, "zh", topics=["family"])
    assert len(family) == 10 and {c.topic for c in family} == {"family"}
    assert len(select_cards(cards, "en", sample=100)) == 30


def test_load_cards_defaults_to_embedded() -> None:
    cards = load_cards([], ["zh"])
    assert cards == embedded_cards("zh")


def test_sample_is_stratified_by_topic() -> None:
    skewed = [RoleCard(f"{i:03d}", "en", "family" if i < 60 else TOPICS[1 + i % 2], "x", "test") for i in range(100)]
    for seed in range(5):
        picked = Counter(c.topic for c in select_cards(skewed, "en", sample=10, seed=seed))
        assert picked == {"family": 6, "work_study": 2, "society_other": 2}
    assert Counter(c.topic for c in select_cards(embedded_cards("en"), "en", sample=5)) == \
        {"family": 2, "work_study": 2, "society_other": 1}


def test_recorded_card_files_are_found_by_sha256_whatever_their_name(tmp_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    a.write_text('{"id": "a1", "lang": "en", "topic": "family", "card": "Problem: x"}\n', encoding="utf-8")
    b = tmp_path / "b.jsonl"
    b.write_text('{"id": "b1", "lang": "en", "topic": "family", "card": "Problem: y"}\n', encoding="utf-8")
    renamed = tmp_path / "renamed.jsonl"
    renamed.write_bytes(a.read_bytes())
    log = tmp_path / "roleplay-runs.jsonl"
    given = read_card_files([b, renamed])
    found, problems = recorded_files([read_card_file(a).record()], given, log, 3)
    assert [f.path for f in found] == [renamed] and problems == []
    _, problems = recorded_files([read_card_file(a).record() | {"name": "b.jsonl"}, str(a)], read_card_files([b]), log, 3)
    assert [(p.file, p.line, p.field) for p in problems] == [(log, 3, "settings.cards.files[0]"), (log, 3, "settings.cards.files[1]")]
    assert "'b.jsonl'" in problems[0].message and "--role-cards FILE" in problems[0].message
    assert f"the given {b} has sha256 {read_card_file(b).sha256[:12]}" in problems[0].message
    assert "leaderboard run --restart --cards FILE" in problems[1].message


def test_a_card_in_two_files_is_refused(tmp_path: Path) -> None:
    line = '{"id": "a1", "lang": "en", "topic": "family", "card": "Problem: x"}\n'
    first, second = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    first.write_text(line, encoding="utf-8")
    second.write_text(line.replace("x", "z"), encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_card_files([first, second])
    assert [(p.file, p.field) for p in err.value.problems] == [(second, "id")] and str(first) in err.value.problems[0].message
