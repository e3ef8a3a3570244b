"""The A/B/No Answer parser on the messy replies real models give."""
from __future__ import annotations

import pytest

from judge.answers import NO_ANSWER, parse_choice, parse_options

ZH_PROMPT = "这个是什么动物，猫还是狗？（请用选项回答）A. 猫 B. 狗。"
EN_PROMPT = "What shape is in the picture? (Answer with an option) A. circle B. triangle"


@pytest.mark.parametrize("reply, expected", [
    ("A", "A"), ("b", "B"), ("B.", "B"), ("Ａ", "A"), ("（B）", "B"), ("**A**", "A"),
    ("The answer is B.", "B"), ("Answer: (A) circle", "A"), ("I would choose B because of the corners.", "B"),
    ("A. circle", "A"), ("B) triangle", "B"), ("I think it's B", "B"), ("It is B, not A.", "B"),
    ("Not A. The correct option is B.", "B"), ("A is correct.", "A"),
    ("答案：B", "B"), ("答案是A。", "A"), ("我选B", "B"), ("图中是猫，选A", "A"), ("我觉得是A。", "A"),
    ("不是A，是B", "B"),
])
def test_letters(reply: str, expected: str) -> None:
    assert parse_choice(reply, EN_PROMPT) == expected


@pytest.mark.parametrize("reply", [
    "", "   ", "No Answer", "I cannot tell from this image.", "A or B, hard to say.", "Both A and B could be right.",
    "A. circle B. triangle", "I'm sorry, but I can't help with that.", "抱歉，我无法回答。",
    "I'd choose a safer way to describe it.", "As an AI, I am unable to see images.",
])
def test_no_answer(reply: str) -> None:
    assert parse_choice(reply, EN_PROMPT) == NO_ANSWER


def test_article_a_is_not_option_a() -> None:
    assert parse_choice("A red shape sits in the middle.") == NO_ANSWER
    assert parse_choice("A triangle, I believe.", EN_PROMPT) == "B"  # the option text decides, not the article


def test_option_text_when_no_letter() -> None:
    assert parse_choice("It is clearly a circle.", EN_PROMPT) == "A"
    assert parse_choice("图里是一只狗。", ZH_PROMPT) == "B"
    assert parse_choice("It could be a circle or a triangle.", EN_PROMPT) == NO_ANSWER
    assert parse_choice("It is a circlet.", EN_PROMPT) == NO_ANSWER  # whole words only for latin options


def test_parse_options() -> None:
    assert parse_options(ZH_PROMPT) == {"A": "猫", "B": "狗"}
    assert parse_options(EN_PROMPT) == {"A": "circle", "B": "triangle"}
    assert parse_options("Describe the image.") == {}
