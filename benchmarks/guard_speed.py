"""Responses per second of safety judge bundles on held-out (prompt, response) pairs, and `judge score`'s peak memory.

The speed targets are for ESC dialogues (benchmarks/judge_speed.py); this records what the safety judge's extra
depth costs. Every bundle runs the same items through the runtime, one after the other in one run. Needs ../shared.

    python benchmarks/guard_speed.py --compare old-guard-lite/ --out build/guard_speed.json
"""
from __future__ import annotations

import argparse
from pathlib import Path

from judge_speed import machine, peak_memory_mb, report, timed

ROOT = Path(__file__).resolve().parents[1]
RESPONSES = ROOT / "submissions" / "HuggingFaceTB__SmolLM2-135M-Instruct-blind" / "responses"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=ROOT / "judge" / "bundles" / "guard-lite")
    ap.add_argument("--compare", type=Path, nargs="*", default=[], help="further bundle folders to time the same way")
    ap.add_argument("--items", type=int, default=500, help="held-out safety pairs (every 5th of the split)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--smoke", action="store_true", help="20 responses, one timing, no memory run: seconds")
    args = ap.parse_args()
    if args.smoke:
        args.items, args.compare = 20, []

    from judge.bundle import JudgeBundle
    from judge.runtime import OnnxJudge
    from judge.train import data as D
    from judge.train.recipe import safety_segments

    held = [it for it in D.load_safety() if it.split == "dev"][::5][: args.items]
    result: dict = {"machine": machine(), "threads": args.threads, "responses": len(held), "bundles": {}}
    for folder in [args.bundle, *args.compare]:
        bundle = JudgeBundle.load(folder)
        judge = OnnxJudge(bundle, providers=["CPUExecutionProvider"], threads=args.threads)
        items = [safety_segments(it, bundle.manifest.input.template) for it in held]
        judge.predict(items[:20])  # warm-up
        seconds = timed(lambda: judge.predict(items), rounds=1 if args.smoke else 3)
        result["bundles"][str(folder)] = {"name": bundle.manifest.name, "responses_per_s": round(len(items) / seconds, 1)}
    if not args.smoke:
        result["judge_score_peak_rss_mb"] = round(peak_memory_mb(args.bundle, RESPONSES), 1)
    report(result, args.out)


if __name__ == "__main__":
    main()
