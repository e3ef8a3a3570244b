"""The ESC discrimination suite: does the judge score a real supporter above a trick?

Real dialogues (ESConv sessions and EPITOME pairs of one split, ESC-Eval's example LLM dialogues in
English and Chinese) against copies whose supporter turns are degraded one kind at a time
(judge.train.degrade, evaluation bank: phrasings the training side never saw). Per kind and group, the
share of dialogues whose real version scores higher on `overall` and on the dimension the kind should
hurt, with Wilson 95% intervals, and the mean `overall` of real and degraded LLM dialogues.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from judge.language import language
from judge.train import data as D
from judge.train.degrade import PHRASES, TARGET, Degrader, Rounds, dialogue_language, kinds_for

ESCONV_DIALOGUES = 100  # ESConv sessions of the split in the suite (seeded sample), EPITOME pairs below
EPITOME_PAIRS = 200
Score = Callable[[list[Rounds]], tuple[np.ndarray, np.ndarray]]  # rounds -> (labels, expected) [items, dimensions]


def wilson(k: int, n: int) -> list[float]:
    """Wilson 95% interval of a share k/n (suites have few items, so the share alone would say too much)."""
    if not n:
        return [float("nan"), float("nan")]
    ci = binomtest(k, n).proportion_ci(method="wilson")
    return [round(float(ci.low), 4), round(float(ci.high), 4)]


def share(wins: np.ndarray) -> dict:
    """Share of True with its Wilson 95% interval."""
    n, k = len(wins), int(np.sum(wins))
    return {"share": round(k / n, 4) if n else None, "ci95": wilson(k, n) if n else None}


def real_dialogues(split: str, seed: int, llm: list[Rounds], limit: int | None = None) -> list[tuple[str, str, Rounds]]:
    """(group, key, rounds): a seeded sample of the split's ESConv sessions and EPITOME pairs (at most `limit` of
    each for smoke runs), and every LLM dialogue."""
    rng = random.Random(seed)
    esconv = [it for it in D.load_esconv(seed=seed) if it.split == split]
    epitome = [it for it in D.load_epitome(seed=seed) if it.split == split]
    picked = ([("esconv", it.key, it.rounds) for it in rng.sample(esconv, min(limit or ESCONV_DIALOGUES, len(esconv)))]
              + [("epitome", it.key, it.rounds) for it in rng.sample(epitome, min(limit or EPITOME_PAIRS, len(epitome)))])
    return picked + [(f"llm-{dialogue_language(r)}", f"llm/{n}", r) for n, r in enumerate(llm)]


def evaluation_pool(real: list[tuple[str, str, Rounds]]) -> dict[str, list[str]]:
    """Other replies for "irrelevant" and "wrong-language": the suite's own real replies, by language, and the
    evaluation bank's Chinese phrases (the suite has only a few Chinese dialogues)."""
    pool: dict[str, list[str]] = {"en": [], "zh": []}
    for _, _, rounds in real:
        for _, reply in rounds:
            pool[language(reply)].append(reply)
    pool["zh"] += [p for kind in PHRASES.values() for p in kind["eval"]["zh"]]
    return pool


def run_suite(score: Score, dims: list[str], split: str, seed: int, llm: list[Rounds], limit: int | None = None) -> dict:
    """Score the real dialogues and every degraded copy; report per group and kind (see the module docstring)."""
    real = real_dialogues(split, seed, llm, limit)
    degrade = Degrader("eval", evaluation_pool(real), seed)
    copies = [(r, kind, degrade(kind, rounds, key)) for r, (_, key, rounds) in enumerate(real) for kind in kinds_for(rounds)]
    _, x_real = score([rounds for _, _, rounds in real])
    _, x_bad = score([rounds for _, _, rounds in copies])
    overall = dims.index("overall")
    groups = [g for g, _, _ in real]
    out: dict = {"split": split, "dialogues": {g: groups.count(g) for g in dict.fromkeys(groups)}, "kinds": {}, "llm_mean_overall": {}}
    for kind, target in TARGET.items():
        rows = [(r, j) for j, (r, k, _) in enumerate(copies) if k == kind]
        per: dict = {"targets": target}
        for group in list(dict.fromkeys(groups)) + ["all-en"]:
            sel = [(r, j) for r, j in rows if groups[r] == group or (group == "all-en" and not groups[r].endswith("zh"))]
            if not sel:
                continue
            r_idx, j_idx = np.array([r for r, _ in sel]), np.array([j for _, j in sel])
            per[group] = {"n": len(sel),
                          "overall": share(x_real[r_idx, overall] > x_bad[j_idx, overall]),
                          target: share(x_real[r_idx, dims.index(target)] > x_bad[j_idx, dims.index(target)])}
        out["kinds"][kind] = per
    for lang in ("en", "zh"):
        r_idx = [r for r, g in enumerate(groups) if g == f"llm-{lang}"]
        if not r_idx:
            continue
        means = {"real": round(float(x_real[r_idx, overall].mean()), 3)}
        for kind in TARGET:
            j_idx = [j for j, (r, k, _) in enumerate(copies) if k == kind and r in r_idx]
            if j_idx:
                means[kind] = round(float(x_bad[j_idx, overall].mean()), 3)
        out["llm_mean_overall"][lang] = means
    return out


GROUPS = {"esconv": "ESConv sessions", "epitome": "EPITOME pairs", "llm-en": "LLM, en", "llm-zh": "LLM, zh"}
CARD_START, CARD_END = "<!-- discrimination suite: written by judge eval --write --split test -->", "<!-- end of discrimination suite -->"


def pct(cell: dict) -> str:
    return f"{100 * cell['share']:.0f}%"


def markdown(result: dict) -> str:
    """The suite as the judge card's tables: per kind and group, real > degraded on overall / on the targeted dimension."""
    n = result["dialogues"]
    groups = [g for g in GROUPS if g in n]
    lines = ["| kind (dimension it should hurt) | " + " | ".join(f"{GROUPS[g]} (n = {n[g]})" for g in groups)
             + " | all English, overall (95% CI) |", "| --- |" + " --- |" * (len(groups) + 1)]
    for kind, per in result["kinds"].items():
        target = per["targets"]
        cells = [f"{pct(per[g]['overall'])} / {pct(per[g][target])}" if g in per else "n/a" for g in groups]
        whole = per["all-en"]["overall"]
        lines.append(f"| {kind} ({target}) | " + " | ".join(cells) + f" | {pct(whole)} ({100 * whole['ci95'][0]:.0f}–{100 * whole['ci95'][1]:.0f}%) |")
    kinds = list(result["kinds"])
    lines += ["", "| mean `overall` (0–4) of the LLM dialogues | real | " + " | ".join(kinds) + " |", "| --- |" + " --- |" * (len(kinds) + 1)]
    for lang, means in result["llm_mean_overall"].items():
        lines.append(f"| {lang} ({n.get(f'llm-{lang}', 0)} dialogues) | **{means['real']:.2f}** | "
                     + " | ".join(f"{means[k]:.2f}" if k in means else "n/a" for k in kinds) + " |")
    return "\n".join(lines)


def write_into_card(card: Path, result: dict) -> None:
    """Replace the card's suite block (between CARD_START and CARD_END) with the tables of `result`."""
    replace_block(card, CARD_START, CARD_END, markdown(result))


def replace_block(card: Path, start_marker: str, end_marker: str, body: str) -> None:
    """Replace what a judge card holds between two marker comments (written by `judge eval --write`)."""
    text = card.read_text(encoding="utf-8")
    start, end = text.index(start_marker) + len(start_marker), text.index(end_marker)
    card.write_text(text[:start] + "\n" + body + "\n" + text[end:], encoding="utf-8")
