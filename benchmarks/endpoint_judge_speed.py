"""How fast the endpoint judge judges against a served model, one request at a time and 32 at once.

The judge talks to tests/openai_server.py (a real HTTP server process on loopback) answering every request
as a judge after a fixed latency, so the figure measures the client, the cache and the loop, not a model:
seven requests a dialogue (one per dimension), each judgement appended to the cache as it comes back.
Concurrency 1 is timed on `--sequential-sample` dialogues and scaled (its time per dialogue is flat).
Exits 1 if the speed-up is below `--target`. `--smoke` runs a tiny version in seconds.

    python benchmarks/endpoint_judge_speed.py            # 200 dialogues, 200 ms a request, concurrency 1 vs 32
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from roleplay_support import openai_server, server_stats  # noqa: E402

from judge.bundle import resolve_bundle  # noqa: E402
from judge.endpoint.judge import CACHE_ENV, EndpointScorer  # noqa: E402
from judge.transcript import Message, Transcript  # noqa: E402


def dialogues(n: int) -> list[Transcript]:
    turns = ("Hello, I am here to listen.", "I cannot sleep since I lost my job {i}.", "That sounds exhausting. What keeps you awake?",
             "I keep thinking about money.", "Worrying about money at night is common; shall we plan one small step?")
    return [Transcript(f"b{i:04d}", "en", None, tuple(Message("assistant" if k % 2 == 0 else "user", t.format(i=i))
                                                      for k, t in enumerate(turns)), Path("bench.jsonl"), i + 1)
            for i in range(n)]


def timed(url: str, items: list[Transcript], concurrency: int) -> tuple[float, int]:
    """Seconds to judge the items from an empty cache, and the most requests the server had in flight."""
    with tempfile.TemporaryDirectory() as cache:
        os.environ[CACHE_ENV] = cache
        scorer = EndpointScorer(resolve_bundle(f"openai:judge@{url}?concurrency={concurrency}", "esc"))  # type: ignore[arg-type]
        start = time.perf_counter()
        scored = scorer.score_transcripts(items)
        seconds = time.perf_counter() - start
    if len(scored) != len(items) or any(len(s.scores) + len(s.unscored) != 7 for s in scored):
        raise SystemExit("benchmark run incomplete")
    return seconds, server_stats(url).get("max_in_flight", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialogues", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2, help="Seconds the server waits before each answer.")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential-sample", type=int, default=10)
    parser.add_argument("--target", type=float, default=15.0)
    parser.add_argument("--smoke", action="store_true", help="20 dialogues, 20 ms, sample 2, target 5x: seconds.")
    args = parser.parse_args()
    if args.smoke:
        args.dialogues, args.latency, args.sequential_sample, args.target = 20, 0.02, 2, 5.0
    items = dialogues(args.dialogues)
    sample = items[: args.sequential_sample]
    with openai_server("--judge-replies", "--latency", str(args.latency), "--models", "judge",
                       max_seconds=120 + 7 * args.latency * (len(sample) + len(items))) as url:
        one, _ = timed(url, sample, 1)
        one_by_one = one * len(items) / len(sample)
        concurrent, in_flight = timed(url, items, args.concurrency)
    requests = 7 * len(items)
    speedup = one_by_one / concurrent
    print(f"{len(items)} dialogues x 7 dimensions ({requests} requests), {args.latency * 1000:.0f} ms per request")
    print(f"concurrency 1 : {one_by_one:8.1f} s  ({len(items) / one_by_one:6.2f} dialogues/s)"
          + ("" if len(sample) == len(items) else f"  (timed on {len(sample)}, scaled)"))
    print(f"concurrency {args.concurrency:<2}: {concurrent:8.1f} s  ({len(items) / concurrent:6.2f} dialogues/s, "
          f"{requests / concurrent:.0f} requests/s, at most {in_flight} in flight)")
    print(f"speed-up      : {speedup:8.1f}x  (target {args.target:g}x)")
    if speedup < args.target:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
