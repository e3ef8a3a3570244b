"""Issue 24, item 1: a submission on ESC-Eval's own role cards goes through `run` -> `validate` -> `check-pr` ->
`build`, the card file identified by the sha256 its run recorded; the CI workflows fetch exactly those files; the
submit page's examples validate as copied."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import yaml

from conftest import ROOT, make_submission, shared_or_skip
from leaderboard.esc.rolecards import ESC_EVAL_COMMIT, ESC_EVAL_FILES, esc_eval_url, read_card_file
from leaderboard.store import Store
from roleplay_support import openai_server, write_submission
from test_intake_issue20 import build_args, leaderboard

CARDS = ("data", "esc-eval", "role_cards")
EN_SHA = "2c63cf0f65cbe159b38837e0da368667201d34e42c6e5ea1bedbcf35cb7ab4e8"


def play(folder: Path, cards: Path, url: str, sample: int = 3) -> None:
    played = leaderboard("run", str(folder), "--cards", str(cards), "--sample", str(sample), "--roleplayer", url,
                         "--roleplayer-model", "esc-role", "--concurrency", "3")
    assert played.returncode == 0, played.stderr


def test_esc_eval_card_files_are_known_by_sha256() -> None:
    en = read_card_file(shared_or_skip(*CARDS, "card_high_en.json"))
    zh = read_card_file(shared_or_skip(*CARDS, "card_high_zh.json"))
    assert (ESC_EVAL_FILES[en.sha256], ESC_EVAL_FILES[zh.sha256]) == ("card_high_en.json", "card_high_ch.json")
    assert (len(en.cards), len(zh.cards)) == (331, 324) and en.sha256 == EN_SHA


def test_run_validate_check_pr_build_on_esc_eval_cards(project: Path, tiny_bundle: Path) -> None:
    cards = shared_or_skip(*CARDS, "card_high_en.json")
    folder = project / "submissions" / "acme__served"
    with openai_server() as url:
        write_submission(folder, [url])
        play(folder, cards, url)
    start = json.loads((folder / "roleplay-runs.jsonl").read_text().splitlines()[0])
    assert start["settings"]["cards"]["files"] == [{"name": "card_high_en.json", "sha256": EN_SHA}]
    played = {json.loads(line)["card_id"] for line in (folder / "transcripts/en.jsonl").read_text().splitlines()}
    assert len(played) == 3 and played <= {c.id for c in read_card_file(cards).cards}

    # without the file: one error naming the run log's line, the file and what to pass; no error per dialogue
    bare = leaderboard("validate", str(folder))
    assert bare.returncode == 2
    errors = bare.stderr.strip().splitlines()
    assert len(errors) == 1, bare.stderr
    assert f"{folder / 'roleplay-runs.jsonl'}:1: settings.cards.files[0]:" in errors[0]
    assert "card_high_en.json" in errors[0] and "--role-cards" in errors[0] and esc_eval_url("card_high_en.json") in errors[0]
    ok = leaderboard("validate", str(folder), "--role-cards", str(cards), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["submissions"][0]["dialogues"] == 3

    # check-pr: the same gate; its errors name the submission's own paths, and only options it has
    relative = Path("submissions") / folder.name
    refused = leaderboard("check-pr", str(relative), "--judge", str(tiny_bundle), "--allow-test-judge", cwd=project)
    assert refused.returncode == 2
    assert "check-pr-" not in refused.stderr and f"{relative / 'roleplay-runs.jsonl'}:1:" in refused.stderr
    options = set(re.findall(r"--[a-z-]+", leaderboard("check-pr", "--help").stdout))
    assert set(re.findall(r"--[a-z-]+", refused.stderr)) <= options, refused.stderr
    summary = project / "summary.md"
    checked = leaderboard("check-pr", str(relative), "--role-cards", str(cards), "--judge", str(tiny_bundle),
                          "--allow-test-judge", "--summary", str(summary), cwd=project)
    assert checked.returncode == 0, checked.stderr
    assert "Submission check passed" in summary.read_text() and "| English |" in summary.read_text()

    # build, without and with playing: the dialogues are judged, complete (3 of the 3-card sample) and ranked
    built = leaderboard(*build_args(project, tiny_bundle, "--no-run", "--role-cards", str(cards)))
    assert built.returncode == 0, built.stderr
    with Store(project / "build/lb.duckdb", read_only=True) as store:
        assert store.coverage("esc") == {"acme__served": {"en": (3, 3)}}
    rows = json.loads((project / "build/site/board/downloads/leaderboard.json").read_text())["rows"]
    assert {r["model"] for r in rows} == {"acme__served"} and all(r["rank"] for r in rows)
    again = leaderboard(*build_args(project, tiny_bundle, "--role-cards", str(cards), "--no-site"))
    assert again.returncode == 0, again.stderr  # nothing left to play: no role-player is needed

    # another version of the file under the same name is not taken for it
    other = project / "card_high_en.json"
    data = json.loads(cards.read_text(encoding="utf-8"))
    other.write_text(json.dumps(data[:-1], ensure_ascii=False, indent=4), encoding="utf-8")
    wrong = leaderboard("validate", str(folder), "--role-cards", str(other))
    assert wrong.returncode == 2 and f"the given {other} has sha256 {read_card_file(other).sha256[:12]}" in wrong.stderr


def test_chinese_cards_under_either_name(tmp_path: Path) -> None:
    """ESC-Eval's GitHub names the zh file card_high_ch.json, ../shared card_high_zh.json: the sha256 is what counts."""
    shared = shared_or_skip(*CARDS, "card_high_zh.json")
    renamed = tmp_path / "card_high_ch.json"
    shutil.copyfile(shared, renamed)
    folder = tmp_path / "submissions" / "acme__served"
    with openai_server() as url:
        write_submission(folder, [url], langs=("zh",))
        play(folder, shared, url, sample=2)
    start = json.loads((folder / "roleplay-runs.jsonl").read_text().splitlines()[0])
    assert start["settings"]["cards"]["files"] == [{"name": "card_high_zh.json", "sha256": read_card_file(shared).sha256}]
    bare = leaderboard("validate", str(folder))
    assert bare.returncode == 2 and "ESC-Eval's card_high_ch.json" in bare.stderr, bare.stderr
    assert esc_eval_url("card_high_ch.json") in bare.stderr
    ok = leaderboard("validate", str(folder), "--role-cards", str(renamed))
    assert ok.returncode == 0, ok.stderr


def test_hand_made_submission_declares_the_card_files_its_dialogues_use(project: Path, tiny_bundle: Path) -> None:
    """No run log: the declared set is the shipped cards its dialogues are on, not those plus ESC-Eval's 331 given
    to the build, so giving CI ESC-Eval's files leaves a complete hand-made submission ranked."""
    cards = shared_or_skip(*CARDS, "card_high_en.json")
    folder = make_submission(project / "submissions", "acme__handmade", n=20)
    (folder / "roleplay-runs.jsonl").unlink()
    built = leaderboard(*build_args(project, tiny_bundle, "--no-run", "--no-site", "--role-cards", str(cards)))
    assert built.returncode == 0, built.stderr
    with Store(project / "build/lb.duckdb", read_only=True) as store:
        assert store.coverage("esc") == {"acme__handmade": {"en": (20, 20)}}


def workflow_steps() -> dict[str, list[dict]]:
    return {path.name: yaml.safe_load(path.read_text())["jobs"][job]["steps"]
            for path, job in [(ROOT / ".github/workflows/submission.yml", "check"),
                              (ROOT / ".github/workflows/pages.yml", "build")]}


def test_workflows_fetch_the_pinned_card_files_and_pass_them(tmp_path: Path) -> None:
    """Both workflows download ESC-Eval's two files at the pinned commit, check their sha256 against the registry,
    and give them to check-pr / build. The download step is run here with curl reading ../shared instead."""
    en, zh = shared_or_skip(*CARDS, "card_high_en.json"), shared_or_skip(*CARDS, "card_high_zh.json")
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "curl").write_text(textwrap.dedent(f"""\
        #!/bin/sh
        # stands in for the network: -o FILE URL pairs are served from ../shared
        while [ $# -gt 0 ]; do
          case "$1" in
            -o) out="$2"; shift 2 ;;
            https://*) case "$1" in *card_high_en.json) cp "{en}" "$out" ;; *card_high_ch.json) cp "$SOURCE_ZH" "$out" ;;
                       *) exit 22 ;; esac; shift ;;
            *) shift ;;
          esac
        done
        """))
    (shim / "curl").chmod(0o755)
    for name, steps in workflow_steps().items():
        fetch = next(s for s in steps if "ESC-Eval" in s.get("name", ""))
        assert f"haidequanbu/ESC-Eval/{ESC_EVAL_COMMIT}/data" in fetch["run"], name
        for sha, file in ESC_EVAL_FILES.items():
            assert f"{sha}  {file}" in fetch["run"], (name, file)
        judged = next(s["run"] for s in steps if "leaderboard check-pr" in s.get("run", "") or "leaderboard build" in s.get("run", ""))
        for file in ESC_EVAL_FILES.values():
            assert f'--role-cards "$RUNNER_TEMP/esc-eval/{file}"' in judged, (name, file)
        for source, code in ((zh, 0), (en, 1)):  # the right files pass the check; a wrong one stops the job
            temp = tmp_path / f"{name}-{code}"
            temp.mkdir()
            env = os.environ | {"PATH": f"{shim}:{os.environ['PATH']}", "RUNNER_TEMP": str(temp), "SOURCE_ZH": str(source)}
            result = subprocess.run(["bash", "-e", "-c", fetch["run"]], env=env, capture_output=True, text=True, timeout=60)
            assert (result.returncode != 0) == bool(code), (name, result.stdout, result.stderr)
            if not code:
                assert {read_card_file(temp / "esc-eval" / f).sha256 for f in ESC_EVAL_FILES.values()} == set(ESC_EVAL_FILES)


def submit_page_files() -> dict[str, str]:
    """Every example on the submit page introduced by the path it goes to, as a user copies it into the fork."""
    page = (ROOT / "site/method/submit.md").read_text(encoding="utf-8")
    blocks = re.findall(r"`(submissions/[^`]+)`:\n\n( *)```\w*\n(.*?)\n\2```", page, re.DOTALL)
    return {path: textwrap.dedent(body) + "\n" for path, _, body in blocks}


def test_submit_page_examples_validate_as_copied(tmp_path: Path) -> None:
    files = submit_page_files()
    assert any(p.endswith("transcripts/en.jsonl") for p in files) and any(p.endswith("responses/en.jsonl") for p in files)
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    shutil.copyfile(shared_or_skip(*CARDS, "card_high_en.json"), tmp_path / "card_high_en.json")  # as downloaded
    page = (ROOT / "site/method/submit.md").read_text(encoding="utf-8")
    commands = re.findall(r"^ *(leaderboard validate .+)$", page, re.MULTILINE)
    folders = {str(Path(p).parents[-3]) for p in files}
    assert {c.split()[2] for c in commands} == folders, commands
    for command in commands:
        result = leaderboard(*command.split()[1:], cwd=tmp_path)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.startswith("ok  "), result.stdout
