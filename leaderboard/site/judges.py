"""The judges page: every judge that scored into the store, whether its files pin it, its unscored judgements, and,
when two judges of a track scored the same units, how far they agree (judge.agree, as `judge agree` prints it)."""
from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from typing import Any

from jinja2 import Environment

from judge.agree import AgreementRow, Cell, agreement
from leaderboard.store import Store


def agreements(store: Store, tracks: list[str]) -> list[tuple[str, str, list[AgreementRow]]]:
    """(judge A id, judge B id, rows) for every pair of a track's judges with units both labelled."""
    ids = {j["judge_sha"]: j["judge_id"] for j in store.judges()}
    out = []
    for track in tracks:
        by_judge: dict[str, dict[Cell, dict[str, int | None]]] = defaultdict(lambda: defaultdict(dict))
        for sha, lang, dim, unit, label in store.judge_labels(track):
            by_judge[sha][(track, lang, dim)][unit] = label
        for a, b in combinations(sorted(by_judge, key=lambda s: ids[s]), 2):
            rows = agreement(by_judge[a], by_judge[b])
            if rows:
                out.append((ids[a], ids[b], rows))
    return out


def render_judges(env: Environment, store: Store, tracks: list[str], common: dict[str, Any]) -> str:
    return env.get_template("judges.md.j2").render(common, root="../", judges=store.judges(),
                                                   agreements=agreements(store, tracks))
