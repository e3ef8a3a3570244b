"""A score is a function of the item and the judge: alone, in any batch mix, on 1 or 2 threads, it is the same.

The store caches scores by (content hash, judge sha); this is the promise behind that cache. Checked for
each shipped judge and the tiny test bundle, through the scorers `judge score` uses, to the 4 decimals
written and on the labels.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from judge.bundle import JudgeBundle, bundle_for_track
from judge.esc import score_transcripts
from judge.runtime import OnnxJudge
from judge.safety import judge_responses
from judge.transcript import read_transcripts

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT.parent / "shared" / "data" / "esc-eval" / "example_transcripts"


def dialogues() -> list:
    """The repo's own submissions' transcripts, and ESC-Eval's example dialogues when ../shared is here."""
    files = sorted(ROOT.glob("submissions/*/transcripts/*.jsonl")) + sorted(EXAMPLES.glob("*.json"))
    return [t for f in files for t in read_transcripts(f)]


def responses() -> list[tuple[str, str, str]]:
    rows = [json.loads(line) for f in sorted(ROOT.glob("submissions/*/responses/*.jsonl")) for line in f.open(encoding="utf-8")]
    judged = [r for r in rows if r.get("dimension") not in ("noise-injection", "position-swapping")]
    return [(r["dimension"], r["prompt"], r["response"]) for r in judged][:48]


def mixes(n: int) -> list[list[list[int]]]:
    """Ways to batch n items: one at a time, all together, and shuffled groups of 3 and of 7."""
    order = list(range(n))
    random.Random(0).shuffle(order)
    return [[[i] for i in range(n)], [list(range(n))]] + [[order[k : k + size] for k in range(0, n, size)] for size in (3, 7)]


def outputs(score, items: list, groups: list[list[int]]) -> list:
    """What the scorer writes for every item, scoring each group of items in one call."""
    out: dict[int, object] = {}
    for group in groups:
        out.update(zip(group, score([items[i] for i in group])))
    return [out[i] for i in range(len(items))]


def check(bundle: JudgeBundle, score_with, items: list) -> None:
    results = [outputs(lambda chunk, j=OnnxJudge(bundle, providers=["CPUExecutionProvider"], threads=threads): score_with(j, chunk),
                       items, groups)
               for threads in (1, 2) for groups in mixes(len(items))]
    assert len(items) >= 12
    for other in results[1:]:
        assert other == results[0]


@pytest.mark.parametrize("name", ["esc-lite", "tiny"])
def test_esc_scores_do_not_depend_on_the_batch(name: str, tiny_bundle: Path) -> None:
    bundle = JudgeBundle.load(tiny_bundle) if name == "tiny" else bundle_for_track(None, "esc")
    check(bundle, lambda judge, chunk: [s.to_json() for s in score_transcripts(judge, chunk)], dialogues())


def test_safety_scores_do_not_depend_on_the_batch() -> None:
    check(bundle_for_track(None, "safety"), lambda judge, chunk: judge_responses(judge, chunk), responses())
