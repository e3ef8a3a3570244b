"""The two default judges as recipes, and `train`: base encoder -> pruned vocab -> fine-tuned encoder -> heads.

Each judge has its own encoder (the first layers of multilingual-e5-small, vocabulary pruned, fine-tuned
once by judge.train.finetune on the recipe's tasks): 4 layers for esc-lite, which must be fast on
dialogues, 8 for guard-lite, which reads one short pair per item. The heads are closed form on cached
features and everything is seeded, so one command reproduces the judges.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from judge.train import data as D
from judge.train.degrade import KINDS, TARGET, Degrader, Rounds, training_pool
from judge.train.fit import Ridge, pool_items
from judge.train.stance import contrast_ridge
from judge.train.stance import pick_alpha as pick_stance_alpha

ESC_DIMS = ("fluency", "expression", "empathy", "information", "skill", "humanoid", "overall")
SAFETY_DIMS = ("privacy", "bias", "toxicity", "hallucination", "legality")
GRADED_DIMS = tuple(d for d in SAFETY_DIMS if d != "hallucination")  # 0-3; hallucination is 0/1
TUNE_TASKS = ("harm", "harmful", "empathy")  # the default fine-tuning tasks (judge.train.finetune; "mechanisms" adds three)
ALPHAS = (100.0, 300.0, 1000.0, 3000.0, 10000.0)
RISK_AREA_DIM = {
    "Information Hazards": "privacy",
    "Discrimination, Exclusion, Toxicity, Hateful, Offensive": ("bias", "toxicity"),
    "Malicious Uses": "legality",
    "Misinformation Harms": "hallucination",
}


@dataclass(frozen=True)
class Recipe:
    name: str
    track: str
    dims: tuple[str, ...]
    labels: tuple[tuple[int, ...], ...]
    template: str
    unit: str
    layers: int = 4
    max_tokens: int = 128
    gptfuzz_per_prompt: int | None = 15  # GPTFuzz rows per prompt the heads see (None: all)
    # Encoder fine-tuning (judge.train.finetune.TuneConfig): tasks, GPTFuzz rows per prompt, harmful-row balance
    tune_tasks: tuple[str, ...] = TUNE_TASKS
    tune_gptfuzz_per_prompt: int | None = 30
    tune_balance: bool = False
    version: str = "1.1.0"  # the bundle's version in its manifest


ESC = Recipe("esc-lite", "esc", ESC_DIMS, tuple((0, 1, 2, 3, 4) for _ in ESC_DIMS),
             "query: {user}\n{assistant}", "round", tune_tasks=TUNE_TASKS + ("mechanisms", "genuine"))
SAFETY = Recipe("guard-lite", "safety", SAFETY_DIMS,
                tuple((0, 1) if d == "hallucination" else (0, 1, 2, 3) for d in SAFETY_DIMS),
                "query: {prompt}\n{response}", "response", layers=8, gptfuzz_per_prompt=None,
                tune_tasks=("harm", "harmful"), tune_gptfuzz_per_prompt=None, tune_balance=True)
RECIPES = {"esc": ESC, "safety": SAFETY}


def esc_segments(item: D.EscItem, template: str) -> list[str]:
    return [template.format(user=u, assistant=a) for u, a in item.rounds]


def safety_segments(item: D.SafetyItem, template: str) -> list[str]:
    return [template.format(dimension="", prompt=item.prompt, response=item.response)]


def train_safety_items(items: list[D.SafetyItem], per_prompt: int | None) -> list[D.SafetyItem]:
    """Training side, with GPTFuzz capped per prompt so its 6k near-duplicate jailbreaks don't dominate."""
    seen: dict[str, int] = {}
    out = []
    for it in items:
        if it.split != "train":
            continue
        if it.source == "gptfuzz":
            seen[it.key] = seen.get(it.key, 0) + 1
            if per_prompt is not None and seen[it.key] > per_prompt:
                continue
        out.append(it)
    return out


def inner_split(groups: list[str], seed: int) -> np.ndarray:
    """Rows in the inner validation part of the training side, split by the same dialogue/prompt keys."""
    return np.array([D.is_valid(g, seed + 1) for g in groups])


def pick_alpha(x: np.ndarray, y: np.ndarray, w: np.ndarray, groups: list[str], seed: int) -> float:
    """Ridge strength by an inner split of the training side (inner_split)."""
    inner = inner_split(groups, seed)
    if inner.all() or not inner.any():
        return ALPHAS[-1]
    errs = [np.average((Ridge.fit(x[~inner], y[~inner], a, w[~inner]).predict(x[inner]) - y[inner]) ** 2, weights=w[inner])
            for a in ALPHAS]
    return ALPHAS[int(np.argmin(errs))]


@dataclass
class Target:
    """One dimension's training signal over all rows: value y and row weight w (0 = no label).

    Where the value comes from sources rated on different scales (empathy: ESConv seekers rate whole
    sessions 0-4, EPITOME annotators single replies 0-6), `source` holds each row's source: the head
    is fitted on values and features centred within each source, so it only has to rank inside each
    one, and source 0 (the one shaped like the dialogues being judged) sets its offset."""

    y: np.ndarray
    w: np.ndarray
    source: np.ndarray | None = None


def centred_within(x: np.ndarray, y: np.ndarray, w: np.ndarray, source: np.ndarray):
    """(x, y) with each source's weighted mean removed, and source 0's means (x, y) to restore the offset."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    ref = None
    for s in np.unique(source):
        rows = source == s
        mx, my = np.average(x[rows], axis=0, weights=w[rows]), np.average(y[rows], weights=w[rows])
        x[rows] -= mx
        y[rows] -= my
        if s == 0:
            ref = (mx, my)
    return x, y, ref


def fit_heads(x: np.ndarray, targets: dict[str, Target], groups: list[str], dims, seed: int):
    """Per dimension: rows with a target (weight > 0) -> ridge with an inner-split alpha."""
    weight = np.zeros((x.shape[1], len(dims)), dtype=np.float32)
    bias = np.zeros(len(dims), dtype=np.float32)
    info = {}
    for k, dim in enumerate(dims):
        t = targets[dim]
        rows = t.w > 0
        xr, yr, wr = x[rows], t.y[rows], t.w[rows]
        if t.source is not None:
            xr, yr, ref = centred_within(xr, yr, wr, t.source[rows])
        g = [groups[i] for i in np.flatnonzero(rows)]
        alpha = pick_alpha(xr, yr, wr, g, seed)
        head = Ridge.fit(xr, yr, alpha, wr)
        if t.source is not None:
            head.bias = float(ref[1] - ref[0] @ head.weight)
        weight[:, k], bias[k] = head.weight, head.bias
        info[dim] = {"alpha": alpha, "rows": int(rows.sum())}
    return weight, bias, info


DEGRADED_PER_KIND = 80  # training-side ESConv sessions degraded per kind for the heads
# Their row weight. On the dev split (heads refitted on cached features), 1 / 0.3 / 0.1 / 0.03 gave `overall` AUC
# failed vs successful 0.699 / 0.758 / 0.775 / 0.780 and ESConv empathy 0.215 / 0.265 / 0.269 / 0.270, while real >
# degraded ESConv sessions on `overall` held at 0.90-1.00 for every kind but "repeat" (0.97 / 0.90 / 0.77 / 0.70).
DEGRADED_WEIGHT = 0.3
DEGRADED_ALSO = {"dismissive": ("skill",), "ai": ("empathy",), "generic": ("information",), "cut": ("expression",)}


def degraded_sessions(esconv: list[D.EscItem], per_kind: int, seed: int) -> list[tuple[str, str, Rounds]]:
    """(session key, kind, rounds): per kind a seeded sample of training-side sessions, degraded with the training
    bank (judge.train.degrade). The heads learn that these score 0 on `overall` and on the dimensions they hurt."""
    train = [it for it in esconv if it.split == "train"]
    degrade = Degrader("train", training_pool([a for it in train for _, a in it.rounds]), seed)
    rng = np.random.default_rng(seed)
    return [(train[i].key, kind, degrade(kind, train[i].rounds, train[i].key))
            for kind in KINDS for i in rng.choice(len(train), min(per_kind, len(train)), replace=False)]


def esc_targets(esconv: list[D.EscItem], epitome: list[D.EscItem], n_llm: int, degraded: list[str]) -> dict[str, Target]:
    """0-4 targets and weights over rows = esconv + epitome + LLM pseudo-dialogues + degraded sessions (their kinds)
    (see the judge card).

    Empathy has two sources (see Target), ESConv sessions and EPITOME pairs; each weighs the same in
    total on the training side."""
    n = len(esconv) + len(epitome) + n_llm + len(degraded)
    t = {d: Target(np.zeros(n), np.zeros(n)) for d in ESC_DIMS}
    n_fail = sum(it.labels["failed"] for it in esconv)
    fail_w = (len(esconv) - n_fail) / max(n_fail, 1)
    n_rated = sum("empathy" in it.labels for it in esconv if it.split == "train")
    n_pairs = sum(it.split == "train" for it in epitome)
    t["empathy"].source = np.r_[np.zeros(len(esconv)), np.ones(len(epitome)), np.zeros(n_llm + len(degraded))]
    for i, it in enumerate(esconv):
        lab = it.labels
        w = fail_w if lab["failed"] else 1.0
        t["expression"].y[i], t["expression"].w[i] = lab["strategy_variety"], 1.0
        t["information"].y[i], t["information"].w[i] = 4 * min(1.0, lab["suggestion_share"] / 0.5), 1.0
        t["humanoid"].y[i], t["humanoid"].w[i] = 4.0, 1.0
        if "empathy" in lab:
            t["fluency"].y[i], t["fluency"].w[i] = lab["relevance"], 1.0
            t["empathy"].y[i], t["empathy"].w[i] = lab["empathy"], n_pairs / max(n_rated, 1)
            t["skill"].y[i], t["skill"].w[i] = lab["improvement"], 1.0
            t["overall"].y[i] = (lab["empathy"] + lab["relevance"] + lab["improvement"]) / 3
            t["overall"].w[i] = w
    for j, it in enumerate(epitome):
        i = len(esconv) + j
        t["empathy"].y[i], t["empathy"].w[i] = it.labels["level_sum"] * 4 / 6, 1.0
    for j in range(n_llm):
        i = len(esconv) + len(epitome) + j
        t["humanoid"].y[i], t["humanoid"].w[i] = 0.0, 1.0
    for j, kind in enumerate(degraded):
        i = len(esconv) + len(epitome) + n_llm + j
        for d in ("overall", TARGET[kind]) + DEGRADED_ALSO.get(kind, ()):
            t[d].y[i], t[d].w[i] = 0.0, DEGRADED_WEIGHT
    return t


def harmful_balance(items: list[D.SafetyItem]) -> np.ndarray:
    """Row weights: harmful rows of each source weigh sqrt(safe / harmful) of that source.

    Do-Not-Answer has about 30 safe answers per harmful one, GPTFuzz about 2; unweighted, the heads
    learn GPTFuzz's jailbreak compliance and rank Do-Not-Answer's rarer, subtler harms poorly."""
    src = np.array([it.source for it in items])
    harmful = np.array([it.harmful for it in items], dtype=bool)
    w = np.ones(len(items))
    for s in set(src):
        pos, neg = (harmful & (src == s)).sum(), (~harmful & (src == s)).sum()
        if pos and neg:
            w[harmful & (src == s)] = np.sqrt(neg / pos)
    return w


STANCE_CONTRAST = 30.0  # weight of the within-prompt objective of the safety heads (judge.train.stance)
WRITTEN_SOURCES = ("zh", "written")  # pairs written for this project: the Chinese pairs, the warning pairs
WRITTEN_WEIGHT = 20.0  # their rows' weight: 258 rows among ~8,000, and the only short, casual compliance in English
# Both chosen on the dev split among contrast 0-100, written weight 1-40 and per-source balance (see the guard-lite card).


def safety_targets(items: list[D.SafetyItem]) -> dict[str, Target]:
    """Harm 0-3 for the four graded dimensions, harmful 0/1 for hallucination; matching DNA risk areas weigh 3x,
    harmful rows are balanced per source (harmful_balance), written pairs weigh WRITTEN_WEIGHT."""
    harm = np.array([it.harm for it in items], dtype=np.float64)
    harmful = np.array([it.harmful for it in items], dtype=np.float64)
    balance = harmful_balance(items) * np.array([WRITTEN_WEIGHT if it.source in WRITTEN_SOURCES else 1.0 for it in items])
    out = {}
    for dim in SAFETY_DIMS:
        w = np.array([3.0 if dim in np.atleast_1d(RISK_AREA_DIM.get(it.risk_area, ())) else 1.0 for it in items])
        out[dim] = Target(harmful if dim == "hallucination" else harm, w * balance)
    return out


def fit_safety_heads(x: np.ndarray, targets: dict[str, Target], groups: list[str], dims, seed: int,
                     contrast: float = STANCE_CONTRAST):
    """Per dimension: ridge on the absolute targets plus the within-prompt contrast (judge.train.stance.contrast_ridge;
    the groups are prompt keys), its alpha from the inner split of the training side."""
    weight = np.zeros((x.shape[1], len(dims)), dtype=np.float32)
    bias = np.zeros(len(dims), dtype=np.float32)
    keys, inner = np.asarray(groups), inner_split(groups, seed)
    info = {}
    for k, dim in enumerate(dims):
        t = targets[dim]
        rows = t.w > 0
        alpha = pick_stance_alpha(x[rows], t.y[rows], t.w[rows], keys[rows], inner[rows], ALPHAS, contrast)
        head = contrast_ridge(x[rows], t.y[rows], t.w[rows], keys[rows], alpha, contrast)
        weight[:, k], bias[k] = head.weight, head.bias
        info[dim] = {"alpha": alpha, "rows": int(rows.sum()), "contrast": contrast}
    return weight, bias, info


HARM_BOUNDARY = 1.5  # an expected value from here on rounds to score 2 or 3: "harmful" by the evaluation rule


def harm_boundary_shift(x: np.ndarray, targets: dict[str, Target], groups: list[str], items: list[D.SafetyItem],
                        alphas: dict[str, float], seed: int, contrast: float = STANCE_CONTRAST) -> float:
    """Offset for the four graded heads that puts the score-2 boundary where it best separates harmful from safe
    answers on the inner split of the training side (mean accuracy over sources); held-out data is never read.

    Ridge on these 0-3 targets pulls the many safe answers of a source towards its mean, so without it safe
    GPTFuzz answers (target 1) land just past 1.5 and read as harmful."""
    inner = inner_split(groups, seed)
    if inner.all() or not inner.any():
        return 0.0
    keys = np.asarray(groups)
    values = []
    for d in GRADED_DIMS:
        t = targets[d]
        rows = (t.w > 0) & ~inner
        values.append(contrast_ridge(x[rows], t.y[rows], t.w[rows], keys[rows], alphas[d], contrast).predict(x[inner]))
    v = np.max(values, axis=0)
    harmful = np.array([it.harmful for it in items], dtype=bool)[inner]
    source = np.array([it.source for it in items])[inner]
    shifts = np.round(np.arange(-1.0, 1.0001, 0.05), 2)
    accuracy = [np.mean([((v[source == s] + d >= HARM_BOUNDARY) == harmful[source == s]).mean() for s in np.unique(source)])
                for d in shifts]
    return float(shifts[int(np.argmax(accuracy))])


def llm_groups(items: list[D.SafetyItem], size: int, seed: int) -> list[list[int]]:
    """LLM answers (Do-Not-Answer, XSTest) grouped `size` at a time into pseudo-dialogues for the humanoid head."""
    idx = [i for i, it in enumerate(items) if it.source in ("do-not-answer", "xstest")]
    rng = np.random.default_rng(seed)
    rng.shuffle(idx)
    return [idx[i : i + size] for i in range(0, len(idx) - size + 1, size)]


def pool_groups(feats: np.ndarray, owner: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """Item features for groups of items, pooling all their windows together."""
    group_of = np.full(owner.max() + 1, -1)
    for g, members in enumerate(groups):
        group_of[members] = g
    sel = group_of[owner] >= 0
    return pool_items(feats[sel], group_of[owner][sel], len(groups))


def save_heads(out: Path, recipe: Recipe, weight, bias, info, keep: list[int], tokenizer_json: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "heads.npz", weight=weight, bias=bias, keep=np.asarray(keep))
    (out / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
    (out / "train.json").write_text(json.dumps({"recipe": recipe.name, "heads": info}, indent=2), encoding="utf-8")

