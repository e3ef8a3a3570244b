"""How much faster concurrent role-play is than ESC-Eval's one-dialogue-at-a-time loop.

Both sides talk to tests/openai_server.py (a real HTTP server process on loopback) answering every
request after a fixed latency, so the figure measures the client and the dialogue loop, not a model.
One-at-a-time is timed on `--sequential-sample` dialogues and scaled to the whole set (its time per
dialogue is flat: same requests, same latency); pass `--sequential-sample` equal to `--dialogues`
to time it in full. Exits 1 if the speed-up is below `--target`.

    python benchmarks/roleplay_speed.py            # 200 dialogues, 5 rounds, 200 ms, concurrency 32
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from roleplay_support import openai_server  # noqa: E402

from leaderboard.runner.backends import OpenAIBackend, Sampling  # noqa: E402
from leaderboard.esc.rolecards import TOPICS, RoleCard  # noqa: E402
from leaderboard.esc.roleplay import DialogueSetup, run_dialogues  # noqa: E402


async def timed(cards: list[RoleCard], url: str, concurrency: int, rounds: int) -> float:
    sampling = Sampling(0.7, 64)
    roleplayer = OpenAIBackend([url], "esc-role", sampling)
    model = OpenAIBackend([url], "model-under-test", sampling)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        report = await run_dialogues(cards, Path(folder), roleplayer, model, DialogueSetup(rounds=rounds),
                                     concurrency=concurrency, settings={})
        seconds = time.perf_counter() - start
    await roleplayer.aclose()
    await model.aclose()
    if report.failed or report.finished != len(cards):
        raise SystemExit(f"benchmark run incomplete: {report}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogues", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.2, help="Seconds the server waits before each answer.")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential-sample", type=int, default=20)
    parser.add_argument("--target", type=float, default=15.0)
    parser.add_argument("--smoke", action="store_true", help="20 dialogues, 2 rounds, 20 ms, sample 2, target 1x: seconds")
    args = parser.parse_args()
    if args.smoke:
        args.dialogues, args.rounds, args.latency, args.sequential_sample, args.target = 20, 2, 0.02, 2, 1.0
    cards = [RoleCard(f"b{i:04d}", "en", TOPICS[i % 3], f"Problem: benchmark worry {i}", "bench") for i in range(args.dialogues)]
    sample = cards[: args.sequential_sample]
    budget = 60 + 2 * args.rounds * args.latency * (len(sample) + len(cards))  # both runs, with room to spare
    with openai_server("--latency", str(args.latency), max_seconds=budget) as url:
        one_by_one = asyncio.run(timed(sample, url, 1, args.rounds)) * len(cards) / len(sample)
        concurrent = asyncio.run(timed(cards, url, args.concurrency, args.rounds))
    speedup = one_by_one / concurrent
    requests = len(cards) * 2 * args.rounds
    print(f"{len(cards)} dialogues x {args.rounds} rounds ({requests} requests), {args.latency * 1000:.0f} ms per request")
    print(f"one at a time : {one_by_one:8.1f} s" + ("" if len(sample) == len(cards) else f"  (timed on {len(sample)}, scaled)"))
    print(f"concurrency {args.concurrency:<2}: {concurrent:8.1f} s  ({requests / concurrent:.0f} requests/s)")
    print(f"speed-up      : {speedup:8.1f}x  (target {args.target:g}x)")
    if speedup < args.target:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
