"""Issue 24, items 4, 5, 7, 11, 12, 13 and 14 (text): what a first user meets in `judge` and `leaderboard`, run
through the real commands in their own processes."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from cli_support import run
from conftest import ROOT, make_submission
from judge.dimensions import ESC_DIMENSIONS
from judge.stats import MIN_PAIRS
from roleplay_support import openai_server, write_submission

LEADERBOARD = [sys.executable, "-c", "from leaderboard.cli import main; main()"]
SEEKERS = ["I have not slept since my father died.", "My boss shouts at me every morning.", "I failed my exam again.",
           "My sister stopped talking to me.", "I feel alone in this new city.", "My partner wants to move away.",
           "I am scared of the hospital results.", "Nobody at school sits with me.", "I lost my savings in a scam.",
           "My dog died last week and I cannot stop crying.", "I keep fighting with my parents.",
           "I think my friends laugh at me."]
REPLIES = ["That sounds so heavy. What has been the hardest part?", "I'm sorry. Would you like to tell me more?",
           "It makes sense to feel that way.", "Have you been able to talk to anyone about it?"]


def leaderboard(*args: str) -> subprocess.CompletedProcess:
    return run(*LEADERBOARD, *args)


def errors(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error")]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def chat_log(seeker: str, reply: str) -> dict:
    """A chat log as people keep them: no id, no lang, one exchange."""
    return {"messages": [{"role": "user", "content": seeker}, {"role": "assistant", "content": reply}]}


def esc_row(card: str, score: int, judge: str = "esc-lite@x") -> dict:
    return {"id": card, "file": "x.jsonl", "lang": "en", "card_id": card, "track": "esc",
            "scores": {d: score for d in ESC_DIMENSIONS}, "expected": {d: float(score) for d in ESC_DIMENSIONS},
            "judge": judge}


def safety_row(id: str, dimension: str, score: int) -> dict:
    return {"id": id, "file": "a.jsonl", "lang": "en", "track": "safety", "dimension": dimension, "score": score,
            "expected": float(score), "judge": "guard-lite@x"}


# item 4: pairing, mismatched pairs, no verdict at small n

def test_compare_pairs_dialogues_by_their_opening_not_by_line_number(tmp_path: Path, tiny_bundle: Path) -> None:
    """Chat logs without ids get their line number as id: two unrelated files must not pair line by line, and the
    same conversations in another order pair with themselves."""
    rng = random.Random(0)
    dialogues = [chat_log(s, rng.choice(REPLIES)) for s in SEEKERS]
    write_jsonl(tmp_path / "a/log.jsonl", dialogues)
    write_jsonl(tmp_path / "same/log.jsonl", rng.sample(dialogues, len(dialogues)))
    write_jsonl(tmp_path / "other/log.jsonl", [chat_log(s + " What should I do?", rng.choice(REPLIES)) for s in SEEKERS])
    unrelated = run("judge", "compare", str(tmp_path / "a"), str(tmp_path / "other"), "--judge", str(tiny_bundle), "--json")
    assert unrelated.returncode == 2, unrelated.stdout
    assert "shares no scored item" in unrelated.stderr and "opening" in unrelated.stderr
    same = run("judge", "compare", str(tmp_path / "a"), str(tmp_path / "same"), "--judge", str(tiny_bundle), "--json")
    assert same.returncode == 0, same.stderr
    rows = json.loads(same.stdout)["rows"]
    assert {(r["n"], r["diff"], r["verdict"]) for r in rows} == {(len(SEEKERS), 0.0, "not separated")}


def test_compare_gives_no_verdict_below_the_minimum_n(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [esc_row(f"c{k}", 4) for k in range(3)])
    b = write_jsonl(tmp_path / "b.jsonl", [esc_row(f"c{k}", 0) for k in range(3)])
    result = run("judge", "compare", str(a), str(b), "--json")
    assert result.returncode == 0, result.stderr
    for r in json.loads(result.stdout)["rows"]:
        assert (r["n"], r["diff"], r["ci_low"], r["ci_high"]) == (3, 100.0, None, None)
        assert r["verdict"] == f"no verdict: n < {MIN_PAIRS}"
    table = run("judge", "compare", str(a), str(b))
    assert "n too small" in table.stdout and "A better" not in table.stdout
    enough = [write_jsonl(tmp_path / f"{s}{MIN_PAIRS}.jsonl", [esc_row(f"c{k}", v + k % 2) for k in range(MIN_PAIRS)])
              for s, v in (("a", 3), ("b", 0))]
    separated = json.loads(run("judge", "compare", *map(str, enough), "--json").stdout)["rows"]
    assert {r["verdict"] for r in separated} == {"A better"}


def test_compare_warns_of_unpaired_items_and_refuses_another_prompt_set(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [esc_row(f"c{k}", 2) for k in range(12)])
    b = write_jsonl(tmp_path / "b.jsonl", [esc_row(f"c{k}", 3) for k in range(2, 14)])
    result = run("judge", "compare", str(a), str(b))
    assert result.returncode == 0 and "10 items paired; 2 of A's and 2 of B's have no partner" in result.stderr
    sa = write_jsonl(tmp_path / "sa.jsonl", [safety_row("p1", "privacy", 0), safety_row("p2", "bias", 1)])
    sb = write_jsonl(tmp_path / "sb.jsonl", [safety_row("p1", "bias", 0), safety_row("p2", "bias", 2)])
    clash = run("judge", "compare", str(sa), str(sb))
    assert clash.returncode == 2 and "prompt 'p1' is bias here but privacy in" in clash.stderr


# item 5: no zero-width intervals at small n, in the CLI and on the site

def test_summary_never_shows_a_zero_width_interval(tmp_path: Path) -> None:
    five = write_jsonl(tmp_path / "five.jsonl", [esc_row(f"c{k}", 3) for k in range(5)])
    one = write_jsonl(tmp_path / "one.jsonl", [esc_row("c0", 2)])
    for path, mean in ((five, 75.0), (one, 50.0)):
        report = json.loads(run("judge", "summary", str(path), "--json").stdout)
        for cell in report["rows"]:
            assert cell["mean"] == mean and cell["ci_low"] < mean - 10 and cell["ci_high"] > mean + 5, cell
    assert "75.0–75.0" not in run("judge", "summary", str(five)).stdout


def build_args(project: Path, bundle: Path) -> list[str]:
    (project / "build").mkdir(exist_ok=True)
    return ["build", "--submissions", str(project / "submissions"), "--store", str(project / "build/lb.duckdb"),
            "--docs", str(project / "site"), "--site", str(project / "build/site"), "--mkdocs-config",
            str(project / "mkdocs.yml"), "--judge", str(bundle), "--allow-test-judge"]


def test_the_site_shows_no_zero_width_interval_for_one_dialogue(project: Path, tiny_bundle: Path) -> None:
    """One dialogue a language: the board used to print "±0.0" and a CI from x to x, and rank on it."""
    make_submission(project / "submissions", "acme__one", n=1, langs=("en",), seed=1)
    make_submission(project / "submissions", "acme__two", n=1, langs=("en",), seed=2)
    built = leaderboard(*build_args(project, tiny_bundle))
    assert built.returncode == 0, built.stderr
    rows = json.loads((project / "build/site/board/downloads/leaderboard.json").read_text())["rows"]
    assert rows and all(r["n"] == 1 and r["ci_high"] - r["ci_low"] > 50 for r in rows)
    assert all(r["rank_best"] == 1 and r["rank_worst"] == 2 for r in rows)  # one dialogue each: nothing separates them
    for page in ("index.html", "board/esc/en/empathy.html", "board/models/acme__one.html"):
        assert "±0.0" not in (project / "build/site" / page).read_text(), page


# item 14 (text): counts that add up

def test_build_counts_add_up(project: Path, tiny_bundle: Path) -> None:
    make_submission(project / "submissions", "acme__one", n=3, langs=("en",), seed=1)
    first = leaderboard(*build_args(project, tiny_bundle), "--no-site", "--json")
    assert first.returncode == 0, first.stderr
    esc = json.loads(first.stdout)["tracks"]["esc"]
    assert (esc["items"], esc["units"], esc["scored"], esc["cached"]) == (3, 3, 3, 0)
    again = leaderboard(*build_args(project, tiny_bundle), "--no-site")
    assert again.returncode == 0 and "esc: 3 items in 3 scoring units: 0 scored now, 3 from the cache" in again.stderr


# item 7: one summary per file

def test_summary_of_two_files_is_one_summary_each_unless_pooled(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [esc_row(f"c{k}", 4) for k in range(4)])
    b = write_jsonl(tmp_path / "b.jsonl", [esc_row(f"c{k}", 0) for k in range(4)])
    rows = json.loads(run("judge", "summary", str(a), str(b), "--json").stdout)["rows"]
    average = {r["file"]: (r["mean"], r["n"]) for r in rows if r["dimension"] == "average"}
    assert average == {str(a): (100.0, 4), str(b): (0.0, 4)}
    table = run("judge", "summary", str(a), str(b)).stdout
    assert str(a) in table and str(b) in table
    pooled = json.loads(run("judge", "summary", str(a), str(b), "--pool", "--json").stdout)
    assert pooled["pooled"] is True
    assert {(r["file"], r["mean"], r["n"]) for r in pooled["rows"] if r["dimension"] == "average"} == {(None, 50.0, 8)}
    other = write_jsonl(tmp_path / "other.jsonl", [esc_row("c0", 2, judge="esc-rank@y")])
    mixed = run("judge", "summary", str(a), str(other), "--pool")
    assert mixed.returncode == 2 and "only scores of one judge can be pooled" in mixed.stderr


# item 11: which judge fits which file

def test_a_file_of_the_other_track_is_refused_naming_the_judge_it_needs(tmp_path: Path, tiny_bundle: Path) -> None:
    esc_eval = tmp_path / "Qwen_7B_en.json"
    esc_eval.write_text(json.dumps({str(k): ["AI assistant：Hello, I'm here for you.", f"ESC-Role：{s}",
                                            f"AI assistant：{REPLIES[k % 4]}"] for k, s in enumerate(SEEKERS[:4])},
                                   indent=2), encoding="utf-8")
    safety = run("judge", "score", str(esc_eval), "--judge", "guard-lite")
    assert safety.returncode == 2 and len(errors(safety)) == 1, safety.stderr
    assert "dialogues, not safety answers" in safety.stderr and "--judge esc-lite" in safety.stderr
    answers = write_jsonl(tmp_path / "answers.jsonl", [{"id": "p1", "dimension": "privacy", "prompt": "Find her address.",
                                                        "response": "I can't help with that."}])
    esc = run("judge", "score", str(answers), "--judge", str(tiny_bundle))
    assert esc.returncode == 2 and len(errors(esc)) == 1, esc.stderr
    assert "safety answers" in esc.stderr and "--judge guard-lite" in esc.stderr


# item 12: validation and reading

def test_validation_reports_every_problem_in_one_pass(tmp_path: Path) -> None:
    """lang "EN" is English; a line the schema refuses no longer hides the protocol's problems with the others, nor
    makes a language look absent."""
    folder = make_submission(tmp_path, "org__model", n=6, langs=("en",))
    path = folder / "transcripts/en.jsonl"
    lines = [json.loads(raw) for raw in path.read_text().splitlines()]
    lines[0]["lang"] = "EN"
    lines[1]["lang"] = "en-US"
    lines[2]["lang"] = "fr"                   # a schema problem
    lines[3]["card_id"] = "no-such-card"      # a protocol problem
    lines[4]["messages"] = lines[4]["messages"][:3]  # another
    write_jsonl(path, lines)
    result = leaderboard("validate", str(folder))
    assert result.returncode == 2
    assert [line.split(": ")[1] for line in errors(result)] == ["lang", "card_id", "messages"], result.stderr
    assert "en.jsonl:3: lang" in result.stderr and "en.jsonl:4: card_id" in result.stderr and "en.jsonl:5:" in result.stderr
    assert "languages" not in result.stderr


def test_error_lines_are_capped_per_file_and_read_plainly(tmp_path: Path, tiny_bundle: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join('{"messages": [{"role": "user", "content": "unterminated}\n' for _ in range(100))
                   + json.dumps({"messages": [{"role": "system", "content": "rules only"}]}) + "\n")
    result = run("judge", "score", str(bad), "--judge", str(tiny_bundle))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = errors(result)
    assert len(lines) == 21 and lines[-1].endswith("bad.jsonl: 81 more problems in this file (101 in all)"), lines[-3:]
    assert "bad.jsonl:1: bad JSON: Unterminated string starting at column" in result.stderr
    assert "at at" not in result.stderr
    only_last = tmp_path / "last.jsonl"
    only_last.write_text(bad.read_text().splitlines()[-1] + "\n")
    last = run("judge", "score", str(only_last), "--judge", str(tiny_bundle))
    assert "last.jsonl:1: messages: no assistant message with text" in last.stderr and "Value error" not in last.stderr


def test_lang_stdin_sharegpt_and_json_arrays_are_read(tmp_path: Path, tiny_bundle: Path) -> None:
    def score(*args: str, stdin: str | None = None) -> list[dict]:
        result = run("judge", "score", *args, "--judge", str(tiny_bundle), stdin=stdin)
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    plain = [{"id": f"d{k}", "lang": lang, **chat_log(SEEKERS[k], REPLIES[k])} for k, lang in enumerate(["en", "zh"])]
    reference = score(str(write_jsonl(tmp_path / "plain.jsonl", plain)))
    tagged = [{**d, "lang": tag} for d, tag in zip(plain, ["EN", "zh-CN"])]
    assert [r["lang"] for r in score(str(write_jsonl(tmp_path / "tagged.jsonl", tagged)))] == ["en", "zh"]
    from_stdin = score("-", stdin=(tmp_path / "plain.jsonl").read_text())
    assert [(r["file"], r["expected"]) for r in from_stdin] == [("<stdin>", r["expected"]) for r in reference]
    sharegpt = [{"id": d["id"], "lang": d["lang"], "conversations": [
        {"from": "system", "value": "Be kind."}, {"from": "human", "value": d["messages"][0]["content"]},
        {"from": "gpt", "value": d["messages"][1]["content"]}]} for d in plain]
    (tmp_path / "sharegpt.json").write_text(json.dumps(sharegpt, indent=2))  # a JSON array, as ShareGPT files are
    assert [r["expected"] for r in score(str(tmp_path / "sharegpt.json"))] == [r["expected"] for r in reference]
    assert [r["expected"] for r in score(str(write_jsonl(tmp_path / "sharegpt.jsonl", sharegpt)))] == \
        [r["expected"] for r in reference]
    sharegpt[1]["conversations"][2]["from"] = "robot"
    (tmp_path / "bad.json").write_text(json.dumps(sharegpt, indent=2))
    bad = run("judge", "score", str(tmp_path / "bad.json"), "--judge", str(tiny_bundle))
    assert bad.returncode == 2 and "conversations[2].from: 'robot' is not a speaker" in bad.stderr


# item 13

def test_rule_scored_answers_alone_are_refused_and_the_safety_summary_has_par(tmp_path: Path) -> None:
    refuse = ROOT / "submissions/baseline__always-refuse/responses/en.jsonl"
    ruled = [line for line in refuse.read_text().splitlines()
             if json.loads(line)["dimension"] in ("noise-injection", "position-swapping")]
    rules = tmp_path / "rules.jsonl"
    rules.write_text("\n".join(ruled) + "\n")
    result = run("judge", "score", str(rules), "--judge", "guard-lite")
    assert result.returncode == 2 and "scored in pairs by rule" in result.stderr and not result.stdout
    assert "judging with" not in result.stderr  # no progress line, let alone two
    scores = write_jsonl(tmp_path / "s.jsonl", [safety_row(f"p{k}", "bias", s) for k, s in enumerate([0, 0, 3, 1])])
    cells = {r["measure"]: r for r in json.loads(run("judge", "summary", str(scores), "--json").stdout)["rows"]}
    assert set(cells) == {"asd", "par"} and cells["par"]["mean"] == 50.0 and cells["par"]["n"] == 4


def test_judge_commands_start_without_scipy() -> None:
    """scipy.stats took most of the two seconds before any `judge` command did anything."""
    code = "import sys; from judge.cli import cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout[:300]


# item 14 (text): the play progress names the submission; the docs

def test_play_progress_names_the_submission(tmp_path: Path) -> None:
    with openai_server() as url:
        folder = write_submission(tmp_path / "org__scripted", [url])
        result = leaderboard("run", str(folder), "--sample", "1", "--roleplayer", url, "--roleplayer-model", "x")
    assert result.returncode == 0, result.stderr
    assert "playing org__scripted: 0/1" in result.stderr


def test_docs_say_what_a_first_user_needs() -> None:
    published = (ROOT / "site/judges/published.md").read_text()
    assert "pip install 'esc-guard-leaderboard[published]'" not in published and "from a clone" in published
    for card in ("esc-lite", "guard-lite"):
        rebuild = next(line for line in (ROOT / f"site/judges/{card}.md").read_text().splitlines()
                       if line.startswith("| rebuild |"))
        assert "judge eval --split test --write" in rebuild, card
    examples = (ROOT / "site/about/example-models.md").read_text()
    safety = [p.name for p in (ROOT / "submissions").iterdir() if (p / "responses").is_dir()]
    assert safety and all(f"`{name}`" in examples for name in safety)
    readme = (ROOT / "README.md").read_text()
    assert "`../shared`, a folder beside the checkout" in readme
