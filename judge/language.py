"""Which of the two languages a text is in, for the countable rubrics, the degradation suite and `lang` detection.

The leaderboard has two languages, English and Chinese, so a share of CJK characters decides it; no model is needed.
"""
from __future__ import annotations

import re
from typing import Literal

Lang = Literal["en", "zh"]
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
ZH_SHARE = 0.2  # a fifth of the letters being CJK characters already means a Chinese text (Chinese uses far fewer letters per word)


def language(text: str) -> Lang:
    """"zh" when a fifth or more of the letters are CJK characters, else "en"."""
    letters = [c for c in text if c.isalpha()]
    return "zh" if letters and sum(bool(CJK.match(c)) for c in letters) / len(letters) >= ZH_SHARE else "en"
