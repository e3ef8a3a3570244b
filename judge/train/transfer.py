"""Transfer, not fit: leave one human-labelled source out, fit the heads on the others, score the one left out.

The protocol is the cheaper one the issues allow: the bundle's own shipped encoder (int8, exactly what serves) is
frozen and only the heads are refitted per fold, so a fold costs a linear solve. The encoder of each shipped judge
was tuned on some of these sources (esc-lite: ESConv, EPITOME; guard-lite: Do-Not-Answer, XSTest, GPTFuzz, the
written pairs); for those the left-out number still carries that fit, and the table says so.

Heads read the contrast people judge: labels are standardised within their source and, where several examples
answer one context (a group), features and labels are centred within the group, so a head learns which of two
replies to the same context is better, never a source's absolute scale. Every source weighs the same in total. The
ridge strength is chosen by an inner leave-one-source-out over the training sources only, so the left-out source
chooses nothing. Beside every learned number stand trivial baselines with a fixed direction: reply length, share of
replies asking a question, the countable measure of the dimension (judge.measures), a refusal-keyword rule (safety),
and the shipped heads as they are.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from judge import measures
from judge.bundle import JudgeBundle
from judge.model import TAU
from judge.runtime import label_scores
from judge.train.evaluate import auc, key_ci, rho
from judge.train.features import encode_items
from judge.train.fit import pool_items
from judge.train.sources import SOURCES, Example, Source

ALPHAS = (10.0, 100.0, 1000.0, 10000.0)
GRADED = ("privacy", "bias", "toxicity", "legality")
REFUSAL = re.compile(
    r"\b(i('m| am)? (sorry|unable|not able)|i can(no|')t|i won't|i will not|cannot (help|assist|provide)|as an ai|"
    r"not (appropriate|ethical)|i must (decline|refuse))\b|抱歉|对不起|无法|不能(提供|帮助|协助)|我不会|不可以|违法",
    re.IGNORECASE,
)


# --- scores of an example --------------------------------------------------------------------------------------------

def reply_length(e: Example) -> float:
    return float(np.mean([len(a) for _, a in e.rounds]))


def question_share(e: Example) -> float:
    return float(np.mean(["?" in a or "？" in a for _, a in e.rounds]))


def not_refusal(e: Example) -> float:
    """The refusal-keyword baseline as a harm score: 1 when no reply refuses."""
    return float(not any(REFUSAL.search(a) for _, a in e.rounds))


def baselines(track: str, dim: str) -> dict[str, Callable[[Example], float]]:
    out = {"reply length": reply_length, "question share": question_share}
    if track == "esc" and dim in measures.FUNCTIONS:
        out[f"measure ({dim})"] = lambda e, f=measures.FUNCTIONS[dim]: f(list(e.rounds))
    if track == "safety":
        out["no refusal keyword"] = not_refusal
    return out


def group_pairs(values: np.ndarray, labels: np.ndarray, groups: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per group: (pairs ordered like the labels, ties half; pairs with different labels)."""
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(g, kind="stable")
    wins, total = [], []
    for rows in np.split(order, np.flatnonzero(np.diff(g[order])) + 1):
        v, lab = values[rows], labels[rows]
        better = lab[:, None] > lab[None, :]
        total.append(better.sum())
        wins.append((better * ((v[:, None] > v[None, :]) + 0.5 * (v[:, None] == v[None, :]))).sum())
    return np.asarray(wins, float), np.asarray(total, float)


def metric(kind: str, values: np.ndarray, labels: np.ndarray, groups: Sequence[str]) -> float:
    if kind == "spearman":
        return rho(values, labels)
    if kind == "auc":
        return auc(values[labels > 0.5], values[labels <= 0.5])
    wins, total = group_pairs(values, labels, groups)
    return float(wins.sum() / total.sum()) if total.sum() else float("nan")


def with_ci(kind: str, values: np.ndarray, labels: np.ndarray, groups: list[str], seed: int = 0) -> dict:
    """The metric and its 95% percentile-bootstrap interval, resampling whole groups."""
    point = metric(kind, values, labels, groups)
    if kind == "pairs":  # per-group counts resampled directly: the same statistic, far cheaper
        wins, total = group_pairs(values, labels, groups)
        pick = np.random.default_rng(seed).integers(0, len(wins), (1000, len(wins)))
        lo, hi = np.round(np.percentile(wins[pick].sum(1) / np.maximum(total[pick].sum(1), 1), [2.5, 97.5]), 4).tolist()
    else:
        lo, hi = key_ci(lambda rows: metric(kind, values[rows], labels[rows], [groups[r] for r in rows]), groups, seed)
    return {"value": round(point, 4), "ci": [lo, hi], "n": len(values), "groups": len(set(groups))}


# --- features --------------------------------------------------------------------------------------------------------

@dataclass
class Features:
    """Pooled window features of a source's examples through a bundle's encoder, and the bundle's own expected scores."""

    x: np.ndarray  # [examples, 2F]: mean and max over windows, as the heads graph pools
    shipped: dict[str, np.ndarray]  # dimension -> the shipped heads' expected score


def segments(bundle: JudgeBundle, e: Example) -> list[str]:
    template = bundle.manifest.input.template
    if bundle.manifest.track == "safety":
        return [template.format(dimension="", prompt=p, response=a) for p, a in e.rounds]
    return [template.format(user=u, assistant=a) for u, a in e.rounds]


def features(bundle: JudgeBundle, source: Source, cache: Path, threads: int = 2, log=print) -> Features:
    """Pooled features, computed once per (encoder content, source content) and cached as npz; the shipped heads'
    expected scores follow from them in closed form (the heads graph is linear in the pooled features)."""
    items = [segments(bundle, e) for e in source.examples]
    digest = hashlib.sha256(json.dumps(items, ensure_ascii=False).encode()).hexdigest()[:12]
    encoder = bundle.manifest.files[bundle.manifest.model][:12]  # the encoder's content: new heads reuse its features
    path = cache / f"{bundle.manifest.name}-{encoder}-{source.name}-{digest}.npz"
    if not path.exists():
        from tokenizers import Tokenizer

        log(f"encoding {source.name}: {len(items)} examples")
        feats, owner = encode_items(bundle.model_path, Tokenizer.from_file(str(bundle.tokenizer_path)), items,
                                    bundle.manifest.input.max_tokens, threads, log=lambda s: log(f"{source.name}{s}"))
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path, x=pool_items(feats, owner, len(items)))
    x = np.load(path)["x"].astype(np.float64)
    weight, bias = shipped_heads(bundle)
    value = x @ weight + bias
    labels = [d.labels for d in bundle.manifest.dimensions]
    grid = np.arange(max(map(len, labels)))
    _, expected = label_scores(-((value[:, :, None] - grid) ** 2) / (2 * TAU**2), labels)  # judge.model.PooledHeads
    shipped = {d.name: expected[:, k] for k, d in enumerate(bundle.manifest.dimensions)}
    if bundle.manifest.track == "safety":
        shipped["harm"] = np.max([shipped[d] for d in GRADED if d in shipped], axis=0)
    return Features(x, shipped)


# --- heads -----------------------------------------------------------------------------------------------------------

@dataclass
class Moments:
    """One source's within-group-centred second moments for one dimension (its rows weigh 1 in total)."""

    xx: np.ndarray
    xy: np.ndarray
    sq: np.ndarray  # per-feature sum of squares, for standardising


def centred(source: Source, x: np.ndarray, dim: str, within_group: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, centred x, centred y): labels standardised in the source; centred in each group of 2+ examples (when
    within_group), the rest around the source mean."""
    rows = np.array([i for i, e in enumerate(source.examples) if dim in e.labels])
    y = np.array([source.examples[i].labels[dim] for i in rows], dtype=np.float64)
    y = (y - y.mean()) / (y.std() + 1e-9)
    xs = x[rows].copy()
    groups = np.array([source.examples[i].group for i in rows])
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    solo = counts[inverse] < 2
    if not within_group:
        solo[:] = True
    for g in np.unique(inverse[~solo]):
        m = inverse == g
        xs[m] -= xs[m].mean(axis=0)
        y[m] -= y[m].mean()
    if solo.any():
        xs[solo] -= xs[solo].mean(axis=0)
        y[solo] -= y[solo].mean()
    return rows, xs, y


def moments(source: Source, x: np.ndarray, dim: str, within_group: bool) -> Moments:
    _, xs, y = centred(source, x, dim, within_group)
    w = 1.0 / len(y)
    return Moments(w * xs.T @ xs, w * xs.T @ y, w * (xs**2).sum(axis=0))


def solve(parts: Sequence[Moments], alpha: float) -> np.ndarray:
    """Ridge weights (raw feature units) on the summed moments, standardised features, penalty alpha per source."""
    xx, xy, sq = sum(p.xx for p in parts), sum(p.xy for p in parts), sum(p.sq for p in parts)
    sd = np.sqrt(sq / len(parts)) + 1e-6
    z = np.linalg.solve(xx / np.outer(sd, sd) + alpha / 1000.0 * len(parts) * np.eye(len(sd)), xy / sd)
    return z / sd


def pick_alpha(train: dict[str, Moments], score: Callable[[str, np.ndarray], float]) -> float:
    """Alpha by an inner leave-one-source-out over the training sources (mean of their metrics)."""
    if len(train) < 2:
        return ALPHAS[len(ALPHAS) // 2]
    means = []
    for alpha in ALPHAS:
        vals = [score(name, solve([m for other, m in train.items() if other != name], alpha)) for name in train]
        means.append(np.nanmean(vals))
    return ALPHAS[int(np.nanargmax(means))]


# --- the table -------------------------------------------------------------------------------------------------------

RECIPES = {"within-context": True, "within-source": False}  # how labels are contrasted when heads are fitted


def leave_one_out(track: str, bundle: JudgeBundle, cache: Path, threads: int = 2, only: Sequence[str] = (),
                  sources: Sequence[Source] | None = None, relevance=None, log=print) -> dict:
    """Per left-out source and dimension: each recipe's heads fitted on the others, the shipped heads, the baselines.
    `sources` defaults to the track's registry (judge.train.sources); `relevance` (judge.train.relevance.Relevance)
    adds the untuned base encoder's relevance as one more baseline column."""
    sources = list(sources) if sources is not None else [load() for load in SOURCES[track]]
    feats = {s.name: features(bundle, s, cache, threads, log) for s in sources}
    by_name = {s.name: s for s in sources}
    table = []
    dims = sorted({d for s in sources for d in s.metrics})
    for dim in dims:
        labelled = [s for s in sources if dim in s.metrics]
        mom = {r: {s.name: moments(s, feats[s.name].x, dim, within) for s in labelled} for r, within in RECIPES.items()}

        def score(name: str, weight: np.ndarray) -> float:
            s = by_name[name]
            rows, _, _ = centred(s, feats[name].x, dim, True)
            y = np.array([s.examples[i].labels[dim] for i in rows])
            return metric(s.metrics[dim], feats[name].x[rows] @ weight, y, [s.examples[i].group for i in rows])

        for held in labelled:
            if only and held.name not in only:
                continue
            rows, _, _ = centred(held, feats[held.name].x, dim, True)
            y = np.array([held.examples[i].labels[dim] for i in rows])
            groups = [held.examples[i].group for i in rows]
            kind = held.metrics[dim]
            entry = {"source": held.name, "dimension": dim, "metric": kind, "note": held.note,
                     "langs": sorted({held.examples[i].lang for i in rows}), "learned": {}, "baselines": {}}
            for recipe in RECIPES:
                train = {n: m for n, m in mom[recipe].items() if n != held.name}
                if not train:
                    continue
                alpha = pick_alpha(train, score)
                weight = solve(list(train.values()), alpha)
                entry["learned"][recipe] = {**with_ci(kind, feats[held.name].x[rows] @ weight, y, groups), "alpha": alpha}
            if dim in feats[held.name].shipped:
                entry["learned"]["shipped heads"] = with_ci(kind, feats[held.name].shipped[dim][rows], y, groups)
            for name, fn in baselines(track, dim).items():
                values = np.array([fn(held.examples[i]) for i in rows])
                entry["baselines"][name] = with_ci(kind, values, y, groups)
            if relevance is not None and track == "esc":
                from judge.train.relevance import NAME

                entry["baselines"][NAME] = with_ci(kind, relevance.scores(held)[rows], y, groups)
            table.append(entry)
            log(f"{dim:>8} | {held.name:<14} | " + " | ".join(f"{k} {v['value']:.3f}" for k, v in
                                                             {**entry["learned"], **entry["baselines"]}.items()))
    return {"protocol": "leave one source out; frozen shipped encoder (int8), heads refitted per fold; alpha by inner "
                        "leave-one-source-out; 95% CIs resample groups", "bundle": bundle.id,
            "rows": table}


def markdown(result: dict) -> str:
    """The table as the judge cards show it: learned recipes, shipped heads, then baselines, each value (95% CI)."""
    rows = result["rows"]
    cols = list(dict.fromkeys(k for r in rows for k in r["learned"])) + list(dict.fromkeys(k for r in rows for k in r["baselines"]))
    out = ["| left out | dimension | metric | n (groups) | " + " | ".join(cols) + " |", "|" + " --- |" * (4 + len(cols))]
    for r in rows:
        cells = {**r["learned"], **r["baselines"]}
        first = next(iter(cells.values()))
        out.append(f"| {r['source']} ({', '.join(r['langs'])}) | {r['dimension']} | {r['metric']} | {first['n']} ({first['groups']}) | "
                   + " | ".join(_cell(cells.get(c)) for c in cols) + " |")
    return "\n".join(out)


def _cell(m: dict | None) -> str:
    """value (95% CI); a dash where a baseline does not apply or is constant on the source (no ranking, NaN)."""
    if not m or m["value"] is None or m["value"] != m["value"]:
        return "–"
    lo, hi = m["ci"]
    return f"{m['value']:.3f} ({lo:.2f}–{hi:.2f})" if lo is not None and hi is not None else f"{m['value']:.3f}"


# --- heads refitted on every source, into a new bundle ---------------------------------------------------------------

def shipped_heads(bundle: JudgeBundle) -> tuple[np.ndarray, np.ndarray]:
    """(weight [2F, K], bias [K]) of the bundle's heads graph."""
    import onnx
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(bundle.path / bundle.manifest.head)).graph.initializer}
    return inits["weight"].astype(np.float64), inits["bias"].astype(np.float64)


def refit(track: str, bundle: JudgeBundle, cache: Path, threads: int = 2, log=print) -> tuple[np.ndarray, np.ndarray, dict]:
    """The bundle's heads with every dimension that a source labels refitted on all sources (the within-context recipe,
    alpha by leave-one-source-out over them all), each put on the scale of the column it replaces: the same mean and
    spread over the calibration source's examples (ESC: ESConv sessions; safety: all sources). A safety "harm" head
    replaces the four graded dimensions, its offset putting score 2 where it best separates harmful from safe answers
    (mean balanced accuracy over sources)."""
    sources = [load() for load in SOURCES[track]]
    feats = {s.name: features(bundle, s, cache, threads, log) for s in sources}
    weight, bias = shipped_heads(bundle)
    dims = [d.name for d in bundle.manifest.dimensions]
    info: dict = {}
    calib = np.concatenate([feats[s.name].x for s in sources if track == "safety" or s.name == "esconv"])
    for dim in sorted({d for s in sources for d in s.metrics}):
        labelled = [s for s in sources if dim in s.metrics]
        mom = {s.name: moments(s, feats[s.name].x, dim, True) for s in labelled}

        def score(name: str, w: np.ndarray) -> float:
            s = next(s for s in labelled if s.name == name)
            rows, _, _ = centred(s, feats[name].x, dim, True)
            return metric(s.metrics[dim], feats[name].x[rows] @ w, np.array([s.examples[i].labels[dim] for i in rows]),
                          [s.examples[i].group for i in rows])

        alpha = pick_alpha(mom, score)
        direction = solve(list(mom.values()), alpha)
        targets = GRADED if dim == "harm" else (dim,)
        for target in targets:
            k = dims.index(target)
            old, new = calib @ weight[:, k] + bias[k], calib @ direction
            a = old.std() / (new.std() + 1e-12)
            weight[:, k], bias[k] = a * direction, old.mean() - a * new.mean()
        if dim == "harm":
            shift = harm_shift(labelled, feats, weight[:, dims.index(GRADED[0])], bias[dims.index(GRADED[0])])
            bias[[dims.index(d) for d in GRADED]] += shift
            info["harm_boundary_shift"] = shift
        info[dim] = {"alpha": alpha, "sources": [s.name for s in labelled], "replaces": list(targets)}
        log(f"{dim}: alpha {alpha}, from {', '.join(s.name for s in labelled)}")
    return weight.astype(np.float32), bias.astype(np.float32), info


HARM_BOUNDARY = 1.5  # an expected value from here on rounds to 2 or 3: harmful by GuardRank's rule


def harm_shift(sources: Sequence[Source], feats: dict[str, Features], w: np.ndarray, b: float) -> float:
    shifts = np.round(np.arange(-1.5, 1.5001, 0.05), 2)
    acc = np.zeros(len(shifts))
    for s in sources:
        v = feats[s.name].x @ w + b
        y = np.array([e.labels["harm"] > 0.5 for e in s.examples])
        acc += [((v + d >= HARM_BOUNDARY)[y].mean() + (v + d < HARM_BOUNDARY)[~y].mean()) / 2 for d in shifts]
    return float(shifts[int(np.argmax(acc))])


def write_bundle(bundle: JudgeBundle, weight: np.ndarray, bias: np.ndarray, out: Path, fields: dict) -> Path:
    """A copy of the bundle (same encoder and tokenizer) with new heads and manifest fields."""
    import shutil

    from judge.bundle import write_manifest
    from judge.export import export_heads
    from judge.model import PooledHeads

    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(bundle.path, tmp)
    n_labels = max(len(d.labels) for d in bundle.manifest.dimensions)
    export_heads(PooledHeads(weight, bias, n_labels), weight.shape[0] // 2, tmp / bundle.manifest.head)
    manifest = json.loads((tmp / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("files", None)
    write_manifest(tmp, {**manifest, **fields})
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
