"""Issue 20, leaderboard side, through the real `leaderboard` CLI on files written the way users have them:
secrets refused, user text never read as markup, finished endpoint runs need no role-player, one build per
store, partial submissions left out of the ranks, progress lines off a terminal, exit 2 outside a checkout."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, make_submission
from leaderboard.esc.run import DEFAULT_ROLEPLAYER
from leaderboard.runner.backends import Sampling, describe_backend
from leaderboard.store import Store
from roleplay_support import openai_server, write_cards, write_submission

LEADERBOARD = [sys.executable, "-c", "from leaderboard.cli import main; main()"]


def leaderboard(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*LEADERBOARD, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def build_args(project: Path, bundle: Path, *extra: str) -> list[str]:
    (project / "build").mkdir(exist_ok=True)  # outputs named on the command line go into existing folders
    return ["build", "--submissions", str(project / "submissions"), "--store", str(project / "build/lb.duckdb"),
            "--docs", str(project / "site"), "--site", str(project / "build/site"),
            "--mkdocs-config", str(project / "mkdocs.yml"), "--judge", str(bundle), "--allow-test-judge", *extra]


SECRETS = {  # kind -> (file, field, planted text, the secret part that must never be echoed)
    "openai key in notes": ("submission.yaml", "notes", "notes: |\n  my key sk-proj-4fQx9Lm2ZpR7tV1wYb8KcD3eHs6NjU0aGi5Ok9Pl2Qm7Rn\n",
                            "4fQx9Lm2ZpR7"),
    "aws key in notes": ("submission.yaml", "notes", "notes: |\n  deploy with AKIAIOSFODNN7EXAMPLF please\n", "IOSFODNN7"),
    "github token in notes": ("submission.yaml", "notes", "notes: |\n  ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R\n",
                              "1a2B3c4D5e6F"),
    "private key in a transcript": ("transcripts/en.jsonl", "messages[1].content",
                                    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1x\n-----END RSA PRIVATE KEY-----",
                                    "MIIEpAIBAAKCAQEA1x"),
    "bearer token in a transcript": ("transcripts/en.jsonl", "messages[1].content",
                                     "my curl: -H 'Authorization: Bearer 8f4Kq2ZxT9mLw3RbV7nYc1HsJ6dPe0Ua5GiXo4QtNr'",
                                     "8f4Kq2ZxT9mL"),
    "bare token in a transcript": ("transcripts/en.jsonl", "messages[1].content",
                                   "the token is 8f4Kq2ZxT9mLw3RbV7nYc1HsJ6dPe0Ua5GiXo4QtNr ok?", "8f4Kq2ZxT9mL"),
}


@pytest.mark.parametrize("kind", SECRETS)
def test_a_planted_secret_is_refused_and_nothing_is_stored(project: Path, tiny_bundle: Path, kind: str) -> None:
    file, field, text, secret = SECRETS[kind]
    folder = make_submission(project / "submissions", "acme__leaky", n=2)
    if file == "submission.yaml":
        with (folder / file).open("a") as fh:
            fh.write(text)
        line = (folder / file).read_text().splitlines().index("notes: |") + 1
    else:
        path = folder / file
        records = [json.loads(raw) for raw in path.read_text().splitlines()]
        records[1]["messages"][1]["content"] = text
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        line = 2
    done = leaderboard(*build_args(project, tiny_bundle))
    assert done.returncode == 2, done.stderr
    assert any(f"{folder / file}:{n}: {field}: this looks like a secret: remove it and rotate it" in done.stderr
               for n in (line, line + 1)), done.stderr  # the key's line, or the line of the block holding it
    assert secret not in done.stderr  # the secret itself is never echoed
    assert not (project / "build/lb.duckdb").exists() and not (project / "build/site").exists()


def test_ordinary_submissions_and_role_cards_pass_the_scan(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "submissions", tmp_path / "submissions")
    for lang in ("en", "zh"):  # role-card text quoted in a transcript is ordinary text too
        cards = [json.loads(raw)["card"] for raw in (ROOT / f"leaderboard/esc/data/role_cards/{lang}.jsonl").read_text().splitlines()]
        path = tmp_path / f"submissions/google__gemma-3-270m/transcripts/{lang}.jsonl"
        record = json.loads(path.read_text().splitlines()[0])
        record["messages"][1]["content"] = " ".join(cards)
        path.write_text("\n".join([json.dumps(record, ensure_ascii=False), *path.read_text().splitlines()[1:]]) + "\n")
    done = leaderboard("validate", str(tmp_path / "submissions"))
    assert done.returncode == 0, done.stderr


def test_markup_in_user_text_and_no_git_are_one_line_each(tmp_path: Path) -> None:
    folder = make_submission(tmp_path / "submissions", "acme__markup", n=2)
    path = folder / "transcripts/en.jsonl"
    record = json.loads(path.read_text().splitlines()[0]) | {"id": "[/x]"}
    path.write_text(json.dumps(record) + "\n" + json.dumps(record) + "\n")
    done = leaderboard("validate", str(tmp_path / "submissions"))
    assert done.returncode == 2 and "duplicate id '[/x]'" in done.stderr and "Traceback" not in done.stderr
    outside = leaderboard("check-pr", cwd=tmp_path)
    assert outside.returncode == 2 and "Traceback" not in outside.stderr
    assert outside.stderr.strip().splitlines() == [
        "error .: not a git checkout: run check-pr in the repository, or name the submission folders to check"]


def test_outside_a_checkout_and_missing_output_folders_exit_2(tmp_path: Path, tiny_bundle: Path) -> None:
    outside = leaderboard("build", cwd=tmp_path)
    assert outside.returncode == 2 and "no such submissions folder" in outside.stderr
    assert len(outside.stderr.strip().splitlines()) == 1
    for option in ("--site", "--store"):
        missing = leaderboard("build", option, str(tmp_path / "nowhere" / "out"))
        assert missing.returncode == 2, missing.stderr
        assert missing.stderr.strip() == f"error {tmp_path / 'nowhere' / 'out'}: {option[2:]}: cannot write: no folder {tmp_path / 'nowhere'}"


def test_finished_endpoint_submission_builds_without_a_role_player(project: Path, tiny_bundle: Path) -> None:
    """Played once against servers, then built with no server and no local role-player installed: nothing to play."""
    cards = write_cards(project / "cards.jsonl", 3)
    folder = project / "submissions" / "acme__served"
    with openai_server() as url:
        write_submission(folder, [url])
        played = leaderboard("run", str(folder), "--cards", str(cards), "--roleplayer", url, "--roleplayer-model", "esc-role")
        assert played.returncode == 0, played.stderr
    assert "playing acme__served: 0/3 after" in played.stderr and "playing acme__served: 3/3 after" in played.stderr  # plain lines
    # as played with the built-in local role-player (run's default) on a machine that has it; this one has not
    log = folder / "roleplay-runs.jsonl"
    lines = [json.loads(raw) for raw in log.read_text().splitlines()]
    lines[0]["settings"]["roleplayer"] = describe_backend(DEFAULT_ROLEPLAYER, Sampling(0.7, 256))
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = leaderboard(*build_args(project, tiny_bundle, "--role-cards", str(cards), "--no-site"))
    assert done.returncode == 0, done.stderr
    assert "judging acme__served: 3/3" in done.stderr
    assert "playing acme__served" not in done.stderr and [json.loads(raw) for raw in log.read_text().splitlines()] == lines  # nothing played
    with Store(project / "build/lb.duckdb", read_only=True) as store:
        assert store.coverage("esc") == {"acme__served": {"en": (3, 3)}}


def test_build_takes_the_role_player_options_of_run() -> None:
    helps = [leaderboard(command, "--help").stdout for command in ("run", "build")]
    for option in ("--roleplayer ", "--roleplayer-model", "--roleplayer-key-env", "--roleplayer-temperature",
                   "--roleplayer-max-tokens", "--concurrency", "--timeout", "--retries", "--threads"):
        assert all(option in text for text in helps), option


def test_a_second_build_waits_for_the_first(project: Path, tiny_bundle: Path) -> None:
    for i in range(2):
        make_submission(project / "submissions", f"acme__m{i}", n=20, langs=("en", "zh"), seed=i)
    args = [*LEADERBOARD, *build_args(project, tiny_bundle)]
    first = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert first.stderr is not None
    while "judging" not in first.stderr.readline():  # the first build holds the lock once it judges
        assert first.poll() is None
    impatient = leaderboard(*build_args(project, tiny_bundle, "--wait", "0"))
    second = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.wait(timeout=600) == 0, first.stderr.read()
    assert impatient.returncode == 2 and "another build has been using this store" in impatient.stderr
    assert len(impatient.stderr.strip().splitlines()) == 2  # the waiting line, then the one error
    assert second.returncode == 0, second.stderr
    assert "waiting up to" in second.stderr or "0 scored now, 80 from the cache" in second.stderr


def test_partial_endpoint_submission_is_shown_not_ranked(project: Path, tiny_bundle: Path) -> None:
    """3 of 40 dialogues played, languages [en, zh], no Chinese: shown as partial, left out of every rank."""
    make_submission(project / "submissions", "acme__complete", n=3)
    partial = make_submission(project / "submissions", "acme__partial", n=3)
    meta = yaml.safe_load((partial / "submission.yaml").read_text())
    meta |= {"kind": "endpoint", "languages": ["en", "zh"],
             "endpoint": {"base_urls": ["http://127.0.0.1:9/v1"], "model": "m"}}
    (partial / "submission.yaml").write_text(yaml.safe_dump(meta))
    log = json.loads((partial / "roleplay-runs.jsonl").read_text())
    log["settings"]["cards"] |= {"langs": ["en", "zh"], "sample": None}
    (partial / "roleplay-runs.jsonl").write_text(json.dumps(log) + "\n")
    done = leaderboard(*build_args(project, tiny_bundle, "--no-run", "--json"))
    assert done.returncode == 0, done.stderr
    with Store(project / "build/lb.duckdb", read_only=True) as store:
        assert store.coverage("esc")["acme__partial"] == {"en": (3, 20), "zh": (0, 20)}
    rows = json.loads((project / "site/board/downloads/leaderboard.json").read_text())["rows"]
    assert {r["model"] for r in rows} == {"acme__complete"}
    overview = (project / "build/site/index.html").read_text()
    assert "Partial, not ranked" in overview and "English 3 of 20, Chinese (中文) 0 of 20" in overview
    page = (project / "build/site/board/models/acme__partial.html").read_text()
    assert "not ranked" in page
