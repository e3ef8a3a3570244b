"""CSV as the project writes it: every table a person may open in a spreadsheet.

A text cell that starts with `=`, `+`, `-`, `@` (or a tab or carriage return) is run as a formula by spreadsheet
programs: a model named `=HYPERLINK(...)` would become a live link. Such a cell is written with a leading
apostrophe, which the spreadsheet shows as text; numbers (a negative score) are written as they are.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import IO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """The value, or the text with an apostrophe in front when a spreadsheet would run it as a formula."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def write_csv(fh: IO[str], header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A header and rows, every text cell made inert."""
    writer = csv.writer(fh)
    writer.writerow([cell(h) for h in header])
    writer.writerows([cell(v) for v in row] for row in rows)
