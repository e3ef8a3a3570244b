"""Shared fixtures: a test-only judge bundle built by a real export, and submission folders.

Nothing here imports torch at collection: a fixture that needs it imports it when used, and skips (saying why)
where torch is not installed, so the torch-free tests run without the test extra."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
import yaml

from leaderboard.esc.rolecards import TOPICS, embedded_cards, select_cards
from leaderboard.esc.roleplay import GREETINGS, RUNS_FILE

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

SEEKER = ["I have been feeling low since I lost my job.", "My parents fight every night and I cannot focus.",
          "I am scared about my exams next week.", "我最近和室友闹矛盾，心里很难受。", "工作压力太大，我晚上睡不着。"]
REPLIES = ["That sounds really painful. Would you like to tell me more?", "I am sorry you are going through this.",
           "Have you thought about talking to someone you trust?", "听起来你真的很辛苦。", "你愿意多说一点吗？"]


def shared_or_skip(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/{'/'.join(parts)} (public data beside the checkout); absent here")
    return path


@pytest.fixture
def count_predictions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many items the ONNX judge is asked to score, call by call (what a cached build must not do)."""
    from judge.runtime import OnnxJudge

    calls: list[int] = []
    original = OnnxJudge.predict

    def counting(self, items, on_batch=None):
        calls.append(len(items))
        return original(self, items, on_batch)

    monkeypatch.setattr(OnnxJudge, "predict", counting)
    return calls


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch", reason="the tiny test judge is exported from a torch model: needs torch (the test extra)")
    from tiny_judge import build_tiny_bundle

    return build_tiny_bundle(tmp_path_factory.mktemp("judge") / "tiny-test")


def dialogue(i: int, lang: str, rng: random.Random, rounds: int = 5, sample: int | None = None) -> dict:
    """A protocol-conforming dialogue on the i-th shipped role card of lang (20 per language), or of the seeded
    sample of that many cards `leaderboard run --sample` draws."""
    card = select_cards(embedded_cards(lang), lang, sample=sample)[i]
    messages = [{"role": "assistant", "content": GREETINGS[lang]}]
    for _ in range(rounds):
        messages.append({"role": "user", "content": rng.choice(SEEKER)})
        messages.append({"role": "assistant", "content": " ".join(rng.sample(REPLIES, 2))})
    return {"id": f"{lang}-{card.id}", "lang": lang, "card_id": card.id, "messages": messages}


def declare_cards(folder: Path, langs: list[str], sample: int | None) -> None:
    """The run log `leaderboard run --sample N` writes, reduced to the card selection: the submission's declared card set."""
    cards = {"files": "embedded", "langs": langs, "topics": list(TOPICS), "sample": sample, "seed": 0}
    (folder / RUNS_FILE).write_text(json.dumps({"run": "r1", "event": "start", "settings": {"cards": cards}}) + "\n")


def make_submission(root: Path, name: str, n: int = 6, langs: tuple[str, ...] = ("en",), seed: int = 0,
                    display: str | None = None) -> Path:
    """A transcripts submission with a dialogue on every card of the n-card sample it declares per language."""
    folder = root / name
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "transcripts").mkdir(parents=True)
    meta = {"name": display or name.split("__")[1], "organisation": name.split("__")[0],
            "model_link": "https://example.org/model", "license": "apache-2.0", "languages": list(langs),
            "tracks": ["esc"], "kind": "transcripts"}
    (folder / "submission.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
    rng = random.Random(seed)
    for lang in langs:
        lines = [json.dumps(dialogue(i, lang, rng, sample=n), ensure_ascii=False) for i in range(n)]
        (folder / "transcripts" / f"{lang}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    declare_cards(folder, list(langs), n)
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch copy of the site sources and mkdocs.yml, with an empty submissions folder."""
    shutil.copytree(ROOT / "site", tmp_path / "site", ignore=shutil.ignore_patterns("index.md", "board"))
    shutil.copytree(ROOT / "overrides", tmp_path / "overrides")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    (tmp_path / "submissions").mkdir()
    return tmp_path
