"""How long `leaderboard build` takes at full size when every score is already cached, and what the site weighs.

N synthetic models, each a submission to both tracks that passes the same gates as a real one (intake, credentials
scan, schema, each track's protocol): 655 five-round ESC dialogues on ESC-Eval's card files, which the run log
names by sha256 and the build is given with --role-cards (ESC-Eval's own files from ../shared when present, else
generated files of the same format and size), and an answer to every item of the shipped safety prompt set.
Dialogue text is real help-seeker and supporter turns (ESConv in English, SMILECHAT in Chinese, from ../shared)
put together to the lengths of ESC-Eval's example dialogues, so pages compress as real ones would; without
../shared it is drawn from a small vocabulary, which compresses far better (good for a smoke run only).

Every score a build needs (the submissions' units and each model's gaming probes) is put in the cache first, with
random values under the judges' shas, as earlier builds would have left it. The first build writes the store and
the site; the second, timed, is the cached rebuild. Neither may judge anything.

    python benchmarks/site_build.py --models 50 --out build/site-bench-50.json
    python benchmarks/site_build.py --smoke        # 2 models: what .ci/run runs
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from judge.bundle import resolve_bundle
from judge.dimensions import ESC_DIMENSIONS
from judge.safety_judge import ROUTES
from leaderboard.esc.probes import model_probes
from leaderboard.esc.rolecards import ESC_EVAL_LANGS, TOPICS, read_card_files, select_cards
from leaderboard.esc.roleplay import GREETINGS, RUNS_FILE, dialogue_id
from leaderboard.intake import load_all
from leaderboard.pipeline import BuildConfig, BuildReport, build, set_hash, submission_set_hash
from leaderboard.safety.prompt_set import PAIRED, GuardItem
from leaderboard.store import Score, Store
from leaderboard.submission import LoadedSubmission
from leaderboard.tracks import tracks

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
ESC_EVAL_CARDS = SHARED / "esc-eval" / "role_cards"
CARD_COUNTS = {"en": 331, "zh": 324}
"""ESC-Eval's high-quality cards per language."""
LENGTHS = {"en": ((150, 50), (880, 250)), "zh": ((70, 30), (320, 100))}
"""Characters per turn, (mean, sd) of the help-seeker's and of the model's, from ESC-Eval's example dialogues."""
TOPIC_NAMES = {"family": "家庭生活", "work_study": "工作学习", "society_other": "社会与其他"}
WORDS = ("feel sad work family friend sleep worry help listen understand talk time hard stress try maybe plan small "
         "step support okay today week parents job exam money alone").split()
HANZI = "我你他们很觉得工作家庭朋友睡觉担心帮助理解时间压力试试计划支持今天父母考试钱孤独难过"


def corpus() -> dict[str, tuple[list[str], list[str]]] | None:
    """Real (help-seeker, supporter) turns per language from ../shared, or None when it is absent."""
    esconv, smile = SHARED / "esconv" / "train.jsonl", SHARED / "smilechat-zh" / "smilechat_sample8000.jsonl"
    if not (esconv.is_file() and smile.is_file()):
        return None
    out: dict[str, tuple[list[str], list[str]]] = {"en": ([], []), "zh": ([], [])}
    for line in esconv.read_text(encoding="utf-8").splitlines():
        for turn in json.loads(line)["dialog"]:
            out["en"][turn["speaker"] != "usr"].append(turn["text"].strip())
    for line in smile.read_text(encoding="utf-8").splitlines():
        for turn in json.loads(line)["dialog"]:
            out["zh"][turn["role"] != "client"].append(turn["content"].strip())
    return out


class Writer:
    """Turns of realistic length: real sentences joined up to a drawn length, or generated ones."""

    def __init__(self, rng: random.Random, real: dict[str, tuple[list[str], list[str]]] | None):
        self.rng, self.real = rng, real

    def turn(self, lang: str, model: bool) -> str:
        mean, sd = LENGTHS[lang][model]
        target = max(mean // 4, int(self.rng.gauss(mean, sd)))
        parts: list[str] = []
        while sum(map(len, parts)) < target:
            if self.real:
                parts.append(self.rng.choice(self.real[lang][model]))
            elif lang == "zh":
                parts.append("".join(self.rng.choice(HANZI) for _ in range(12)) + "。")
            else:
                parts.append(" ".join(self.rng.choice(WORDS) for _ in range(10)).capitalize() + ".")
        return ("" if lang == "zh" else " ").join(parts)[:4 * target]


def card_files(work: Path, seed: int) -> list[Path]:
    """ESC-Eval's card files from ../shared, or generated ones in its format with its card counts and lengths."""
    if (ESC_EVAL_CARDS / "card_high_en.json").is_file():
        return [ESC_EVAL_CARDS / "card_high_en.json", ESC_EVAL_CARDS / "card_high_zh.json"]
    writer, files = Writer(random.Random(seed), None), []
    for lang, n in CARD_COUNTS.items():
        language = next(k for k, v in ESC_EVAL_LANGS.items() if v == lang)
        cards = [{"id": 10000 * (lang == "zh") + c, "base": f"Age: {20 + c % 40}\nProblem: {writer.turn(lang, False) * 2}",
                  "res": TOPIC_NAMES[TOPICS[c % 3]], "source": "generated", "language": language} for c in range(n)]
        path = work / f"generated_cards_{lang}.json"
        path.write_text(json.dumps(cards, ensure_ascii=False), encoding="utf-8")
        files.append(path)
    return files


def answer(item: GuardItem, rng: random.Random) -> str:
    """A plausible answer: an option for the paired (rule-scored) dimensions, a refusal or an attempt otherwise."""
    if item.dimension in PAIRED:
        return rng.choice([f"The answer is {item.answer}.", "A", "B", "I think it is C."])
    attempt = ("Here is what the picture shows: a list with three items, and I will go through each of them in turn "
               "with some detail about every step.")
    return rng.choice(["I'm sorry, but I can't help with that.", attempt])


def make_submissions(root: Path, models: int, cards: list[Path], seed: int) -> None:
    """N submission folders to both tracks, each with the run log `leaderboard run --cards` would write."""
    from leaderboard.safety.track import SafetyTrack

    files = read_card_files(cards)
    pool = [c for f in files for c in f.cards]
    prompts = SafetyTrack().prompts
    real = corpus()
    for m in range(models):
        rng = random.Random(f"{seed}/{m}")
        writer = Writer(rng, real)
        folder = root / f"bench__model-{m:03d}"
        (folder / "transcripts").mkdir(parents=True)
        (folder / "responses").mkdir()
        (folder / "submission.yaml").write_text(yaml.safe_dump({
            "name": f"Benchmark model {m}", "organisation": "bench", "model_link": "https://example.org",
            "license": "mit", "languages": ["en", "zh"], "tracks": ["esc", "safety"], "kind": "transcripts"}))
        settings = {"cards": {"files": [f.record() for f in files], "langs": ["en", "zh"], "topics": list(TOPICS),
                              "sample": None, "seed": 0, "count": len(pool)}}
        (folder / RUNS_FILE).write_text(json.dumps({"run": "bench", "event": "start", "settings": settings}) + "\n")
        for lang in ("en", "zh"):
            with (folder / "transcripts" / f"{lang}.jsonl").open("w", encoding="utf-8") as fh:
                for card in select_cards(pool, lang):  # type: ignore[arg-type]
                    messages = [{"role": "assistant", "content": GREETINGS[lang]}]
                    for _ in range(5):
                        messages += [{"role": "user", "content": writer.turn(lang, False)},
                                     {"role": "assistant", "content": writer.turn(lang, True)}]
                    fh.write(json.dumps({"id": dialogue_id(card), "lang": lang, "card_id": card.id, "messages": messages},
                                        ensure_ascii=False) + "\n")
            with (folder / "responses" / f"{lang}.jsonl").open("w", encoding="utf-8") as fh:
                for item in prompts.select(langs=[lang]):
                    fh.write(json.dumps({"id": item.id, "dimension": item.dimension, "lang": item.lang,
                                         "prompt": item.prompt, "image": item.image, "response": answer(item, rng)},
                                        ensure_ascii=False) + "\n")


def clip(x: float, top: int) -> int:
    return max(0, min(top, round(x)))


def cache_scores(cfg: BuildConfig, seed: int) -> None:
    """Store every submission with random scores for what its judges would score, the rules' own scores for rule
    units, and random scores for every model's gaming probes: the cache an earlier build leaves."""
    from judge.safety_judge import SafetyScorer

    every = tracks(cfg.role_cards)
    subs = load_all(cfg.submissions, every)
    rng = random.Random(seed)
    with Store(cfg.store) as store:
        for track in every:
            judge = track.judge(cfg.judge_for(track.name), cfg.allow_test_judge)
            assert judge is not None, f"no judge for {track.name}"
            store.register_judge(track.name, judge)
            scorer = SafetyScorer(judge)
            for sub in subs:
                skill = rng.uniform(0.5, 3.5)
                units = track.units(sub)
                scores = [Score(u.hash, judge.sha, d, clip(rng.gauss(skill * track.scales[d] / 4, 1), track.scales[d]), None)
                          for u in units if u.rules is None for d in ([u.dimension] if u.dimension else track.scales)]
                scores += track.score(sub, [u for u in units if u.rules], scorer)  # the rules: cheap, no model
                coverage = track.coverage(sub)
                part = set_hash([*track.digests(sub), f"coverage\t{json.dumps(coverage, sort_keys=True)}"])
                store.write_submission(sub, submission_set_hash(sub, every), track.name, part, units,
                                       track.content(sub), scores, coverage)
                if track.name == "esc":
                    probe_cache(store, sub, judge.sha, rng)


def probe_cache(store: Store, sub: LoadedSubmission, judge_sha: str, rng: random.Random) -> None:
    dialogues = model_probes(sub.transcripts)
    rows = sorted((name, t.id, t.lang, t.content_hash) for name, ts in dialogues.items() for t in ts)
    level = {name: rng.uniform(0.3, 1.5) for name in dialogues}
    scores = [Score(t.content_hash, judge_sha, d, clip(rng.gauss(level[name], 0.8), 4), None)
              for name, ts in dialogues.items() for t in ts for d in ESC_DIMENSIONS]
    store.write_probes(sub.id, rows, scores)


def judged(report: BuildReport) -> int:
    return sum(t.scored + t.extra_scored for t in report.tracks.values())


def kb(size: int) -> float:
    return round(size / 1024, 1)


def mb(size: int) -> float:
    return round(size / 2**20, 2)


def weight(site: Path, models: int) -> dict[str, Any]:
    """Site size, per-model share, the heaviest page and file, transcript pages, downloads and the search index."""
    size = {p: p.stat().st_size for p in site.rglob("*") if p.is_file()}
    rel = {p: p.relative_to(site).as_posix() for p in size}
    pages = {p: s for p, s in size.items() if p.suffix == ".html"}
    downloads = site / "board" / "downloads"
    store = downloads / "leaderboard.duckdb"
    transcripts = [s for p, s in pages.items() if re.fullmatch(r"board/models/.+-(en|zh)\.html", rel[p])]
    model = [s for p, s in size.items() if p.parent == downloads and p.name.startswith("bench__model-000-")]
    tables = {p: s for p, s in size.items() if p.parent == downloads and p != store}
    largest = max(pages, key=pages.__getitem__)
    heaviest = max((p for p in size if p != store), key=size.__getitem__)
    total = sum(size.values())
    return {
        "site_mb": mb(total), "mb_per_model": round(total / 2**20 / models, 2), "files": len(size), "pages": len(pages),
        "largest_page": {"path": rel[largest], "kb": kb(pages[largest])},
        "largest_file_besides_store": {"path": rel[heaviest], "kb": kb(size[heaviest])},
        "transcript_pages": {"count": len(transcripts), "mb": mb(sum(transcripts)),
                             "mean_kb": kb(int(statistics.mean(transcripts))) if transcripts else 0,
                             "max_kb": kb(max(transcripts, default=0))},
        "duckdb_mb": mb(size.get(store, 0)),
        "table_downloads": {"files": len(tables), "mb": mb(sum(tables.values())),
                            "largest": {"path": rel[max(tables, key=tables.__getitem__)], "kb": kb(max(tables.values()))},
                            "one_model_kb": kb(sum(model))},
        "search_index_mb": mb(size.get(site / "search/search_index.json", 0)),
        "search_folder_mb": mb(sum(s for p, s in size.items() if rel[p].startswith("search/"))),  # + its copy as .js
        "overview_kb": kb(size[site / "index.html"]),
        "dimension_page_kb": kb(size[site / "board/esc/en/empathy.html"]),
        "model_page_kb": kb(size[site / "board/models/bench__model-000.html"]),
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.is_file() and (name := re.search(r"model name\s*:\s*(.+)", info.read_text())):
        cpu = name.group(1).strip()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def snapshot(name: str | None, track: str, work: Path) -> str:
    """A copy of a track's judge bundle (and of the bundles its manifest routes dimensions to) in the work folder,
    used for the whole run: a shipped bundle annotated or re-exported meanwhile by another process has another sha,
    which would turn every prepared score into a miss."""
    bundle = resolve_bundle(name, track)
    routed = (bundle.manifest.model_extra or {}).get(ROUTES, {}).values()
    for folder in [bundle.path, *(bundle.path.parent / f for f in routed)]:
        shutil.copytree(folder, work / "judges" / folder.name, dirs_exist_ok=True)
    return str(work / "judges" / bundle.path.name)


def run(models: int, work: Path, judge: str | None, safety_judge: str | None, seed: int) -> dict[str, Any]:
    """Generate, cache, build twice; the second build's seconds and the site's weight."""
    judge, safety_judge = snapshot(judge, "esc", work), snapshot(safety_judge, "safety", work)
    shutil.copytree(ROOT / "site", work / "site", ignore=shutil.ignore_patterns("index.md", "board"))
    shutil.copytree(ROOT / "overrides", work / "overrides")
    shutil.copy(ROOT / "mkdocs.yml", work / "mkdocs.yml")
    cards = card_files(work, seed)
    start = time.perf_counter()
    make_submissions(work / "submissions", models, cards, seed)
    generated = time.perf_counter() - start
    cfg = BuildConfig(work / "submissions", work / "build/lb.duckdb", work / "site", work / "build/site",
                      work / "mkdocs.yml", judge, allow_test_judge=True, safety_judge=safety_judge,
                      role_cards=tuple(cards), run_endpoints=False)
    cache_scores(cfg, seed)
    start = time.perf_counter()
    first = build(cfg)
    first_seconds = time.perf_counter() - start
    start = time.perf_counter()
    report = build(cfg)
    seconds = time.perf_counter() - start
    if judged(first) or judged(report):
        raise SystemExit(f"a cached build judged something: {first.tracks} / {report.tracks}")
    return {
        "models": models, "machine": machine(), "cards": "ESC-Eval's files (../shared)" if cards[0].parent == ESC_EVAL_CARDS
        else "generated, ESC-Eval's counts", "text": "ESConv + SMILECHAT turns (../shared)" if corpus() else "generated",
        "items": {name: t.items for name, t in report.tracks.items()},
        "cached": {name: t.cached + t.extra_cached for name, t in report.tracks.items()}, "judged": judged(report),
        "generate_seconds": round(generated, 1), "first_build_seconds": round(first_seconds, 1),
        "build_seconds": round(seconds, 1), **weight(work / "build/site", models),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--smoke", action="store_true", help="2 models, to check the benchmark runs (seconds)")
    parser.add_argument("--judge", default=None, help="ESC judge bundle, folder or shipped name (its sha keys the cache) "
                        "[default: esc-lite]")
    parser.add_argument("--safety-judge", default=None, help="safety judge bundle, folder or shipped name [default: guard-lite]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="build in this (new) folder and keep it, to look at the site")
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True)  # a new folder: never builds over anything
    work = args.keep or Path(tempfile.mkdtemp(prefix="site-bench-"))
    try:
        result = run(2 if args.smoke else args.models, work, args.judge, args.safety_judge, args.seed)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1, ensure_ascii=False))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
