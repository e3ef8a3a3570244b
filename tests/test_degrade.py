"""The degradations behind the ESC discrimination suite and the judge's negatives: varied, one kind at a time,
and with nothing shared between the training and the evaluation side."""
from __future__ import annotations

import pytest

from judge.language import language
from judge.measures import expression, fluency
from judge.train.degrade import KINDS, PHRASES, TARGET, Degrader, kinds_for

ROUNDS = [("I lost my job last week and I feel useless.", "Losing a job is a real blow. What happened?"),
          ("They said my position was cut. I keep thinking it was my fault.", "It sounds like you are blaming yourself a lot."),
          ("Yes, I can't sleep and I avoid my friends.", "That is a heavy load to carry alone. Who could you talk to?")]
ZH_ROUNDS = [("我最近工作压力很大，晚上睡不着。", "听起来你真的很辛苦，是什么让你压力这么大？"),
             ("老板总是批评我，我觉得自己什么都做不好。", "被一直批评确实会让人怀疑自己。你愿意说说发生了什么吗？")]
OTHERS = {"en": ["Have you tried going for a walk in the evening?", "Your sister sounds like a good listener."],
          "zh": ["你可以试着和家人聊一聊。", "考试前紧张是很常见的。"]}


def test_the_two_banks_share_no_phrase() -> None:
    for kind, banks in PHRASES.items():
        for lang in ("en", "zh"):
            train, held = set(banks["train"][lang]), set(banks["eval"][lang])
            assert len(train) >= 8 and len(held) >= 8, (kind, lang)  # many phrasings, not one string per kind
            assert not train & held, (kind, lang)
            assert all(language(p) == lang for p in train | held), (kind, lang)


@pytest.mark.parametrize("bank", ["train", "eval"])
def test_every_kind_replaces_every_reply_and_keeps_the_seeker(bank: str) -> None:
    degrade = Degrader(bank, OTHERS)
    for kind in KINDS:
        for rounds in (ROUNDS, ZH_ROUNDS):
            bad = degrade(kind, rounds, "k")
            assert [u for u, _ in bad] == [u for u, _ in rounds]
            if kind != "repeat":
                assert all(a != b for (_, a), (_, b) in zip(rounds, bad)), kind
            assert degrade(kind, rounds, "k") == bad  # seeded: the same dialogue degrades the same way
    assert [language(a) for _, a in degrade("wrong-language", ZH_ROUNDS, "k")] == ["en", "en"]
    assert len({a for _, a in degrade("generic", ROUNDS, "k")}) == 1
    assert len({degrade("generic", ROUNDS, f"k{i}")[0][1] for i in range(30)}) >= 5  # varied across dialogues


def test_train_and_eval_cuts_and_shuffles_differ() -> None:
    train, held = Degrader("train", OTHERS), Degrader("eval", OTHERS)
    assert train("broken", ROUNDS, "k") != held("broken", ROUNDS, "k")
    assert all(sorted(a.split()) == sorted(b.split()) for (_, a), (_, b) in zip(ROUNDS, held("broken", ROUNDS, "k")))


def test_kinds_name_a_dimension_and_skip_what_cannot_apply() -> None:
    assert set(TARGET) == set(KINDS) and set(TARGET.values()) <= {"fluency", "expression", "empathy", "information", "humanoid"}
    assert "repeat" not in kinds_for(ROUNDS[:1])
    english_to_chinese = [(u, a) for (u, _), (_, a) in zip(ZH_ROUNDS, ROUNDS)]
    assert "wrong-language" not in kinds_for(english_to_chinese)  # already in the wrong language


def test_countable_expression_and_fluency() -> None:
    degrade = Degrader("eval", OTHERS)
    assert expression(ROUNDS) == 4.0 and fluency(ROUNDS) == 4.0
    assert expression(degrade("repeat", ROUNDS, "k")) < 2.0
    assert expression(degrade("copy", ROUNDS, "k")) == 0.0
    assert fluency(degrade("wrong-language", ROUNDS, "k")) == 0.0
    assert fluency(degrade("wrong-language", ZH_ROUNDS, "k")) == 0.0
