"""How often the leaderboard's intervals hold the true mean on integer 0-4 scores, and how often the paired test
separates two models that are the same, by n: what judge.stats' interval and MIN_PAIRS rest on.

Simulated judges' scores (three shapes of 0-4 distribution: spread, peaked at 3, piled at 0), shown x 25 as on the
board. For a mean: coverage and width of judge.stats.bootstrap_mean against a plain percentile bootstrap. For the
paired test: the share of "separated" verdicts when A and B draw from the same distribution (5% is right), for the
percentile bootstrap the compare page runs, at every n including those below MIN_PAIRS, where judge.stats gives none.

    python benchmarks/interval_coverage.py --trials 400 --out build/interval_coverage.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from judge.stats import CONFIDENCE, MIN_PAIRS, RESAMPLES, bootstrap_mean

SHAPES = {"spread": [0.05, 0.15, 0.4, 0.3, 0.1], "peaked": [0, 0, 0.1, 0.85, 0.05], "floor": [0.9, 0.1, 0, 0, 0]}
SIZES = (1, 2, 3, 5, 8, 10, 20, 50)
SCALE = 25.0


def percentile_interval(x: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    means = x[rng.integers(0, x.size, (RESAMPLES, x.size))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--smoke", action="store_true", help="5 trials: seconds")
    args = ap.parse_args()
    if args.smoke:
        args.trials = 5
    rng = np.random.default_rng(0)
    report: dict[str, dict] = {"min_pairs": MIN_PAIRS, "mean": {}}
    print(f"{'shape':8} {'n':>3}  coverage: judge.stats / percentile   width   | paired test, equal models separated")
    for name, p in SHAPES.items():
        truth = float(np.dot(np.arange(5), p)) * SCALE
        for n in SIZES:
            hits, width, plain_hits, plain_width, false = 0, 0.0, 0, 0.0, 0
            for t in range(args.trials):
                x = rng.choice(5, n, p=p) * SCALE
                e = bootstrap_mean(x, name, str(n), str(t))
                low, high = percentile_interval(x, rng)
                hits += e.low <= truth <= e.high
                width += e.high - e.low
                plain_hits += low <= truth <= high
                plain_width += high - low
                diffs = x - rng.choice(5, n, p=p) * SCALE
                d_low, d_high = percentile_interval(diffs, rng)
                false += d_low > 0 or d_high < 0
            row = {"coverage": hits / args.trials, "width": width / args.trials,
                   "percentile_coverage": plain_hits / args.trials, "percentile_width": plain_width / args.trials,
                   "false_verdicts": false / args.trials}
            report["mean"].setdefault(name, {})[n] = row
            print(f"{name:8} {n:>3}  {row['coverage']:.3f} / {row['percentile_coverage']:.3f}   "
                  f"{row['width']:5.1f} / {row['percentile_width']:5.1f}   | {row['false_verdicts']:.3f}"
                  f"{'' if n >= MIN_PAIRS else '  (no verdict given)'}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
