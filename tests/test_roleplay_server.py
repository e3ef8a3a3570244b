"""Real dialogues against real OpenAI-compatible server processes on loopback, with and without injected faults."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from roleplay_support import REPO, check_transcripts, openai_server, server_stats, write_cards, write_submission


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`leaderboard run` in its own process, as a user would start it."""
    code = "from leaderboard.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, "run", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_fleet_dialogues_are_complete_and_spread(tmp_path: Path) -> None:
    cards = write_cards(tmp_path / "cards.jsonl", 8)
    with openai_server() as a, openai_server() as b, openai_server() as roleplayer:
        sub = write_submission(tmp_path / "org__model", [a, b])
        done = run_cli(str(sub), "--cards", str(cards), "--rounds", "3", "--concurrency", "4",
                       "--roleplayer", roleplayer, "--roleplayer-model", "esc-role")
        assert done.returncode == 0, done.stderr
        records = check_transcripts(sub / "transcripts" / "en.jsonl", cards, rounds=3)
        assert len(records) == 8
        served = server_stats(a)["requests"], server_stats(b)["requests"]
        assert sum(served) == 8 * 3 and min(served) >= 6, served
        assert server_stats(roleplayer)["requests"] == 8 * 3
    runs = [json.loads(line) for line in (sub / "roleplay-runs.jsonl").read_text().splitlines()]
    settings = runs[0]["settings"]
    assert settings["model"]["base_urls"] == [a, b] and settings["roleplayer"]["model"] == "esc-role"
    assert settings["protocol"]["rounds"] == 3 and settings["versions"]["openai"]
    assert runs[1]["finished"] == 8


def test_faults_end_in_complete_or_reported_dialogues(tmp_path: Path) -> None:
    cards = write_cards(tmp_path / "cards.jsonl", 12, poisoned=(3, 7))
    faulty = ["--fault-rate", "0.4", "--slow", "1.5", "--seed", "3"]
    # the card text reaches the role-player only, so its server is the one failing the poisoned cards for good
    with openai_server(*faulty) as model, openai_server(*faulty, "--seed", "4", "--fail-marker", "POISON") as roleplayer:
        sub = write_submission(tmp_path / "org__model", [model])
        args = [str(sub), "--cards", str(cards), "--rounds", "2", "--concurrency", "6", "--roleplayer", roleplayer,
                "--roleplayer-model", "esc-role", "--timeout", "1", "--retries", "2"]
        first = run_cli(*args)
        assert first.returncode == 1, first.stderr
        assert "10 dialogues played, 0 already done, 2 failed" in first.stderr
        assert "failed en-c003" in first.stderr and "failed en-c007" in first.stderr
        records = check_transcripts(sub / "transcripts" / "en.jsonl", cards, rounds=2)
        assert {r["id"] for r in records} == {f"en-c{i:03d}" for i in range(12)} - {"en-c003", "en-c007"}
        injected = server_stats(model) | {f"roleplayer {k}": v for k, v in server_stats(roleplayer).items()}
        for kind in ("500", "429", "drop", "truncate", "slow"):
            assert injected.get(kind, 0) > 0 and injected.get(f"roleplayer {kind}", 0) > 0, injected
    with openai_server("--fault-rate", "0.4", "--seed", "5") as model, openai_server() as roleplayer:
        sub_yaml = write_submission(sub, [model])
        again = run_cli(str(sub_yaml), "--cards", str(cards), "--rounds", "2", "--concurrency", "6",
                        "--roleplayer", roleplayer, "--roleplayer-model", "esc-role")
        assert again.returncode == 0, again.stderr
        assert "2 dialogues played, 10 already done, 0 failed" in again.stderr
    assert len(check_transcripts(sub / "transcripts" / "en.jsonl", cards, rounds=2)) == 12


def test_other_settings_are_not_mixed_into_one_file(tmp_path: Path) -> None:
    cards = write_cards(tmp_path / "cards.jsonl", 2)
    with openai_server() as model:
        sub = write_submission(tmp_path / "org__model", [model])
        base = [str(sub), "--cards", str(cards), "--rounds", "1", "--roleplayer", model, "--roleplayer-model", "x"]
        assert run_cli(*base).returncode == 0
        again = run_cli(*base)  # same settings, nothing left: all done
        assert again.returncode == 0 and "0 dialogues played, 2 already done" in again.stderr, again.stderr
        refused = run_cli(*base, "--seed", "9")  # refused even with nothing left to play
        assert refused.returncode == 2 and "--restart" in refused.stderr
        restarted = run_cli(*base, "--seed", "9", "--restart")
        assert restarted.returncode == 0, restarted.stderr
    assert len(list((sub / "transcripts").glob("en.jsonl.*.bak"))) == 1
    assert len(check_transcripts(sub / "transcripts" / "en.jsonl", cards, rounds=1)) == 2


def test_dead_url_in_a_fleet_is_routed_around(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    cards = write_cards(tmp_path / "cards.jsonl", 6)
    with openai_server() as live:
        sub = write_submission(tmp_path / "org__model", [dead, live])
        done = run_cli(str(sub), "--cards", str(cards), "--rounds", "2", "--concurrency", "3", "--retries", "1",
                       "--roleplayer", live, "--roleplayer-model", "esc-role")
        assert done.returncode == 0, done.stderr
        assert server_stats(live)["requests"] == 6 * 2 * 2
    assert len(check_transcripts(sub / "transcripts" / "en.jsonl", cards, rounds=2)) == 6
