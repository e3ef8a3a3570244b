"""Safety responses from a real OpenAI-compatible server process: images go as data URLs and are checked there."""
from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from leaderboard.runner.model import ModelOptions
from leaderboard.safety.prompt_set import read_prompt_set, shipped_set
from leaderboard.safety.run import run_safety
from leaderboard.submission import load_submission
from roleplay_support import openai_server, server_stats

DIMS = ["privacy", "noise-injection", "position-swapping"]


def endpoint_submission(folder: Path, base_url: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "submission.yaml").write_text(yaml.safe_dump({
        "name": "Scripted vision", "organisation": "Tests", "model_link": "https://example.org/scripted",
        "license": "MIT", "languages": ["en"], "tracks": ["safety"], "kind": "endpoint",
        "endpoint": {"base_urls": [base_url], "model": "scripted", "temperature": 0.0, "max_tokens": 32},
    }))
    return folder


def responses(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "responses/en.jsonl").read_text(encoding="utf-8").splitlines()]


def test_images_reach_the_server_as_data_urls_and_runs_resume(tmp_path: Path) -> None:
    prompts = read_prompt_set(shipped_set())
    items = {i.id: i for i in prompts.select(DIMS, ["en"])}
    with openai_server() as url:
        folder = endpoint_submission(tmp_path / "tests__scripted", url)
        report = run_safety(folder, ModelOptions(concurrency=4, retries=2, timeout=20), DIMS)
        assert (report.finished, report.skipped, report.failed) == (len(items), 0, {})
        stats = server_stats(url)
        assert stats["requests"] == len(items) and stats["images"] == len(items) and "bad_images" not in stats
        written = responses(folder)
        assert sorted(r["id"] for r in written) == sorted(items)
        for r in written:  # the server decoded each image and names its sha256: the very bytes of the prompt set
            item = items[r["id"]]
            assert r["response"].endswith(f"images: {hashlib.sha256(prompts.image_bytes(item)).hexdigest()[:12]}")
            assert (r["prompt"], r["image"], r["dimension"]) == (item.prompt, item.image, item.dimension)
        noised = next(r for r in written if r["id"].endswith("-noised"))
        original = next(r for r in written if r["id"] == noised["id"].removesuffix("-noised"))
        assert noised["response"].split("images: ")[1] != original["response"].split("images: ")[1]
        again = run_safety(folder, ModelOptions(concurrency=4), DIMS)
        assert (again.finished, again.skipped) == (0, len(items))
        assert server_stats(url)["requests"] == len(items)  # nothing asked twice
    assert len(load_submission(folder).responses) == len(items)  # the written file is a valid submission


def test_faults_are_retried_to_complete_answers(tmp_path: Path) -> None:
    with openai_server("--fault-rate", "0.3", "--faults", "500,429,drop,truncate", "--seed", "3") as url:
        folder = endpoint_submission(tmp_path / "tests__flaky", url)
        report = run_safety(folder, ModelOptions(concurrency=8, retries=8, timeout=10), ["noise-injection"])
        assert report.failed == {} and report.finished == 20
        stats = server_stats(url)
        assert stats["requests"] > 20 and stats["images"] >= 20
    assert len(responses(folder)) == 20 and all("images: " in r["response"] for r in responses(folder))


def test_server_rejects_an_image_that_is_not_one() -> None:
    with openai_server() as url:
        body = {"model": "scripted", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}}]}]}
        request = urllib.request.Request(url + "/chat/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=5)
        assert caught.value.code == 400 and b"not a png file" in caught.value.read()
        assert server_stats(url).get("bad_images") == 1
