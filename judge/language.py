"""Which of the two languages a text is in, for the countable rubrics, the degradation suite and `lang` detection.

The leaderboard has two languages, English and Chinese, so a share of CJK characters decides it; no model is needed.
A `lang` field names one in any case, with or without a region (`EN`, `en-US`, `zh-CN` are en and zh).
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

Lang = Literal["en", "zh"]
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
ZH_SHARE = 0.2  # a fifth of the letters being CJK characters already means a Chinese text (Chinese uses far fewer letters per word)


def language(text: str) -> Lang:
    """"zh" when a fifth or more of the letters are CJK characters, else "en"."""
    letters = [c for c in text if c.isalpha()]
    return "zh" if letters and sum(bool(CJK.match(c)) for c in letters) / len(letters) >= ZH_SHARE else "en"


def language_code(value: Any) -> Any:
    """A language tag's primary subtag in any case ("EN", "en-US", "zh_CN", "zh-Hans"); other values are left for the
    schema to refuse."""
    if isinstance(value, str):
        primary = re.split(r"[-_]", value.strip(), maxsplit=1)[0].lower()
        if primary in ("en", "zh"):
            return primary
    return value


LangTag = Annotated[Lang, BeforeValidator(language_code)]
"""A `lang` field as files write it: en or zh, in any case, with or without a region or script."""
