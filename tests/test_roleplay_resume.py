"""A run killed with SIGKILL mid-way and started again ends with every dialogue exactly once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from roleplay_support import REPO, check_transcripts, openai_server, write_cards, write_submission


def test_sigkill_then_rerun_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    cards = write_cards(tmp_path / "cards.jsonl", 20)
    with openai_server("--latency", "0.1") as model:
        sub = write_submission(tmp_path / "org__model", [model])
        out = sub / "transcripts" / "en.jsonl"
        cmd = [sys.executable, "-c", "from leaderboard.cli import main; main()", "run", str(sub), "--cards", str(cards),
               "--rounds", "3", "--concurrency", "4", "--roleplayer", model, "--roleplayer-model", "esc-role"]
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 4):
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        survived = len(check_transcripts(out, cards, rounds=3))
        assert 4 <= survived < 20, f"the kill was not mid-run ({survived} done)"
        rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        assert f"{20 - survived} dialogues played, {survived} already done, 0 failed" in rerun.stderr
    records = check_transcripts(out, cards, rounds=3)
    assert sorted(r["id"] for r in records) == [f"en-c{i:03d}" for i in range(20)]
