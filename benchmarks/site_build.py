"""How long `leaderboard build` takes at full size when every score is already cached, and page weight.

Generates N models x 655 dialogues (331 English + 324 Chinese, ESC-Eval's card counts, 5 rounds of
realistic length), stores them with random scores under the judge's sha (the cache), then times a
build that has nothing left to score (the second build): validate -> store -> statistics -> render -> mkdocs.

    python benchmarks/site_build.py --models 50 --judge judge/bundles/esc-lite
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from judge.dimensions import ESC_DIMENSIONS
from leaderboard.intake import load_all
from leaderboard.pipeline import BuildConfig, build, set_hash, submission_set_hash
from leaderboard.tracks import tracks
from leaderboard.esc.roleplay import GREETINGS
from leaderboard.store import Score, Store

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("feel sad work family friend sleep worry help listen understand talk time hard stress try "
         "maybe plan small step support okay today week parents job exam money alone").split()
HANZI = "我你他们很觉得工作家庭朋友睡觉担心帮助理解时间压力试试计划支持今天父母考试钱孤独难过"


def text(rng: random.Random, lang: str, n: int) -> str:
    if lang == "zh":
        return "".join(rng.choice(HANZI) for _ in range(n * 2)) + "。"
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


CARDS = {"en": 331, "zh": 324}
"""ESC-Eval's high-quality card counts per language."""


def make_cards(path: Path) -> Path:
    """A card file of ESC-Eval's size in the project's card format (the shipped set has 20 a language)."""
    topics = ["family", "work_study", "society_other"]
    with path.open("w", encoding="utf-8") as fh:
        for lang, n in CARDS.items():
            for c in range(n):
                fh.write(json.dumps({"id": f"b{c}", "lang": lang, "topic": topics[c % 3],
                                     "card": f"Age: {20 + c % 40}\nProblem: benchmark card {c}"}) + "\n")
    return path


def make(root: Path, models: int, seed: int) -> None:
    rng = random.Random(seed)
    for m in range(models):
        folder = root / "submissions" / f"bench__model-{m:02d}"
        (folder / "transcripts").mkdir(parents=True)
        (folder / "submission.yaml").write_text(yaml.safe_dump({
            "name": f"Benchmark model {m}", "organisation": "bench", "model_link": "https://example.org",
            "license": "mit", "languages": ["en", "zh"], "tracks": ["esc"], "kind": "transcripts"}))
        for lang, cards in CARDS.items():
            with (folder / "transcripts" / f"{lang}.jsonl").open("w", encoding="utf-8") as fh:
                for c in range(cards):
                    messages = [{"role": "assistant", "content": GREETINGS[lang]}]
                    for _ in range(5):
                        messages += [{"role": "user", "content": text(rng, lang, 30)},
                                     {"role": "assistant", "content": text(rng, lang, 70)}]
                    fh.write(json.dumps({"id": f"{lang}-b{c}", "lang": lang, "card_id": f"b{c}", "messages": messages},
                                        ensure_ascii=False) + "\n")


def cache_scores(cfg: BuildConfig, seed: int) -> None:
    """Store every submission with random scores, as a previous build would have."""
    every = tracks(cfg.role_cards)
    esc = next(t for t in every if t.name == "esc")
    judge = esc.judge(cfg.judge, cfg.allow_test_judge)
    assert judge is not None
    rng = random.Random(seed)
    with Store(cfg.store) as store:
        store.register_judge(esc.name, judge)
        for sub in load_all(cfg.submissions, every):
            skill = rng.uniform(0.5, 3.5)
            scores = [Score(t.content_hash, judge.sha, d, max(0, min(4, round(rng.gauss(skill, 1)))), 0.0)
                      for t in sub.transcripts for d in ESC_DIMENSIONS]
            store.write_submission(sub, submission_set_hash(sub, every), esc.name, set_hash(esc.digests(sub)),
                                   esc.units(sub), esc.content(sub), scores, esc.coverage(sub))


def weight(site: Path) -> dict[str, float]:
    pages = {p: p.stat().st_size for p in site.rglob("*.html")}
    def kb(path: str) -> float:
        return round((site / path).stat().st_size / 1024, 1)
    return {
        "pages": len(pages),
        "site_mb": round(sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / 2**20, 1),
        "overview_kb": kb("index.html"),
        "dimension_page_kb": kb("board/esc/en/empathy.html"),
        "model_page_kb": kb("board/models/bench__model-00.html"),
        "transcript_page_kb": kb("board/models/bench__model-00-en.html"),
        "largest_page_kb": round(max(pages.values()) / 1024, 1),
        "search_index_mb": round((site / "search/search_index.json").stat().st_size / 2**20, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--judge", default=None, help="judge bundle (its sha keys the cache) [default: esc-lite]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="site-bench-"))
    try:
        shutil.copytree(ROOT / "site", work / "site", ignore=shutil.ignore_patterns("index.md", "board"))
        shutil.copytree(ROOT / "overrides", work / "overrides")
        shutil.copy(ROOT / "mkdocs.yml", work / "mkdocs.yml")
        make(work, args.models, args.seed)
        cfg = BuildConfig(work / "submissions", work / "build/lb.duckdb", work / "site", work / "build/site",
                          work / "mkdocs.yml", args.judge, allow_test_judge=True,
                          role_cards=(make_cards(work / "cards.jsonl"),))
        cache_scores(cfg, args.seed)
        build(cfg)  # the first build scores the gaming probes once; from then on everything is cached
        start = time.perf_counter()
        report = build(cfg)
        seconds = time.perf_counter() - start
        result = {
            "models": args.models, "dialogues": report.tracks["esc"].items, "scored": report.tracks["esc"].scored, "cached": report.tracks["esc"].cached,
            "build_seconds": round(seconds, 1), **weight(work / "build/site"),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        }
        print(json.dumps(result, indent=1))
        if args.out:
            args.out.write_text(json.dumps(result, indent=1) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
