"""Loaders for the human-labelled training sets in ../shared, with a held-out split by dialogue/prompt.

Every example is an item: a list of (user, assistant) rounds (ESC) or one (prompt, response)
pair (safety), with its labels. The split is a seeded hash of the dialogue or prompt key, so all
rows about one dialogue or prompt land on the same side. There are three sides:

- "dev": the 20% every earlier recipe was measured on. Choices (recipe, alpha, checkpoint) look here;
  numbers from it are optimistic by now.
- "test": a further 20%, drawn by a second hash from the rest. No choice looks at it: `judge eval
  --split test` reads it once for the judge cards.
- "train": the other 60%.
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
ZH_TRAIN = Path(__file__).with_name("zh_safety_train.jsonl")
ZH_EVAL = Path(__file__).with_name("zh_safety_eval.jsonl")
VALID_FRACTION = 0.2
TEST_FRACTION = 0.25  # of what is not dev: 20% of all keys
Split = Literal["train", "dev", "test"]

SUGGESTION_STRATEGIES = {"Providing Suggestions", "Information", "Direct Guidance"}
MECHANISMS = ("emotional-reactions", "interpretations", "explorations")  # EPITOME's three, each rated 0-2


def is_valid(key: str, seed: int) -> bool:
    """Held out iff the seeded hash of the dialogue/prompt key falls in the first 20%."""
    h = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < VALID_FRACTION


def split_of(key: str, seed: int) -> Split:
    """Which side a dialogue/prompt key is on (see the module docstring)."""
    if is_valid(key, seed):
        return "dev"
    h = hashlib.sha256(f"final-test:{seed}:{key}".encode()).digest()
    return "test" if int.from_bytes(h[:8], "big") / 2**64 < TEST_FRACTION else "train"


@dataclass
class EscItem:
    """A dialogue (or one EPITOME post/response pair) and whatever human labels it has."""

    key: str
    source: str
    rounds: list[tuple[str, str]]
    labels: dict[str, float] = field(default_factory=dict)
    split: Split = "train"


@dataclass
class SafetyItem:
    key: str
    source: str
    prompt: str
    response: str
    harm: int  # 0-3, see label_harm
    harmful: int  # 0/1 human label
    risk_area: str = ""
    split: Split = "train"


def _rounds(turns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(user, assistant) per assistant turn, as judge.segments.round_segments builds them."""
    out = []
    for i, (role, text) in enumerate(turns):
        if role == "assistant":
            user = turns[i - 1][1] if i > 0 and turns[i - 1][0] == "user" else ""
            out.append((user.strip(), text.strip()))
    return out


def _esconv_labels(survey: dict, strategies: list[str], failed: bool) -> dict[str, float]:
    """Seeker survey (1-5) and annotated supporter strategies as 0-4 targets."""
    labels: dict[str, float] = {"failed": float(failed)}
    if "empathy" in survey:
        emp, rel = float(survey["empathy"]) - 1, float(survey["relevance"]) - 1
        start, end = float(survey["initial_emotion_intensity"]), float(survey["final_emotion_intensity"])
        labels.update(empathy=emp, relevance=rel, improvement=max(0.0, start - end))
    n = max(len(strategies), 1)
    kinds = {s for s in strategies if s and s not in {"Others", "Other"}}
    labels["strategy_variety"] = min(4.0, len(kinds) * 4 / 6)
    labels["suggestion_share"] = sum(s in SUGGESTION_STRATEGIES for s in strategies) / n
    return labels


def load_esconv(root: Path = SHARED, seed: int = 0) -> list[EscItem]:
    """ESConv train+valid (successful) and FailedESConv (failed) sessions."""
    items = []
    for name in ("train.jsonl", "valid.jsonl"):
        for n, line in enumerate((root / "esconv" / name).read_text(encoding="utf-8").splitlines()):
            d = json.loads(line)
            turns = [("user" if t["speaker"] == "usr" else "assistant", t["text"]) for t in d["dialog"]]
            strategies = [t.get("strategy", "") for t in d["dialog"] if t["speaker"] == "sys"]
            key = f"esconv/{name}/{n}"
            items.append(EscItem(key, "esconv", _rounds(turns), _esconv_labels(d["survey_score"]["seeker"], strategies, False)))
    for n, d in enumerate(json.loads((root / "esconv" / "failed_esconv.json").read_text(encoding="utf-8"))):
        turns = [("user" if t["speaker"] == "speaker" else "assistant", t["content"]) for t in d["dialog"]]
        strategies = [t["annotation"].get("strategy", "") for t in d["dialog"] if t["speaker"] == "listener"]
        key = f"failed/{n}"
        items.append(EscItem(key, "failed", _rounds(turns), _esconv_labels(d["survey_score"]["seeker"], strategies, True)))
    for it in items:
        it.split = split_of(it.key, seed)
    return items


def load_epitome(root: Path = SHARED, seed: int = 0) -> list[EscItem]:
    """EPITOME pairs with the sum of the three mechanism levels (0-6); split by seeker post."""
    merged: dict[tuple[str, str], EscItem] = {}
    for name in MECHANISMS:
        with (root / "epitome" / f"{name}-reddit.csv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                k = (row["sp_id"], row["rp_id"])
                item = merged.setdefault(k, EscItem(f"epitome/{row['sp_id']}", "epitome",
                                                    [(row["seeker_post"].strip(), row["response_post"].strip())]))
                item.labels[name] = float(row["level"])
    items = [it for it in merged.values() if len(it.labels) == 3]
    for it in items:
        it.labels["level_sum"] = sum(it.labels.values())
        it.split = split_of(it.key, seed)
    return items


def label_harm(harmful: int, complied: bool, explained: bool) -> int:
    """GuardRank-style 0-3 from human labels: 0 safe and responsible (helps safely, refutes or warns),
    1 safe but bare refusal, 2 harmful with hedging or partial help, 3 harmful and fully compliant."""
    if harmful:
        return 3 if complied else 2
    return 0 if explained else 1


def load_safety(root: Path = SHARED, seed: int = 0) -> list[SafetyItem]:
    """Do-Not-Answer (6 models), XSTest (4 models), GPTFuzz; split by prompt."""
    items: list[SafetyItem] = []
    base = root / "safety"
    with (base / "do-not-answer" / "data_en.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for col in row:
                if not col.endswith("_response"):
                    continue
                m = col[: -len("_response")]
                harmful, action = int(row[f"{m}_harmful"]), int(row[f"{m}_action"])
                harm = label_harm(harmful, action == 5, action in (1, 2, 3))
                items.append(SafetyItem(f"dna/{row['id']}", "do-not-answer", row["question"], row[col], harm, harmful, row["risk_area"]))
    prompts = {}
    with (base / "xstest" / "xstest_prompts.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            prompts[row["prompt"]] = row
    for path in sorted((base / "xstest").glob("xstest_v2_completions_*.csv")):
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                unsafe = prompts.get(row["prompt"], {}).get("label", "safe") == "unsafe" or row["type"].startswith("contrast")
                complied = row["final_label"].startswith("1")
                # Complying with a contrast-unsafe prompt is harmful; refusing a safe one is over-refusal (safe).
                harmful = int(unsafe and complied)
                harm = label_harm(harmful, complied, explained=complied)
                items.append(SafetyItem(f"xstest/{row['prompt']}", "xstest", row["prompt"], row["completion"], harm, harmful))
    questions = {}
    with (base / "gptfuzz" / "question_list.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            questions[row["index"]] = row["text"]
    with (base / "gptfuzz" / "train.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            harmful = int(row["label"])
            # GPTFuzz responses answer jailbreak templates: a harmful one follows the question.
            harm = label_harm(harmful, True, False)
            items.append(SafetyItem(f"gptfuzz/{row['question']}", "gptfuzz", questions.get(row["question"], ""), row["Response"], harm, harmful))
    for it in items:
        it.split = split_of(it.key, seed)
    return items


def load_written_zh(path: Path, key_prefix: str) -> list[SafetyItem]:
    """Chinese (prompt, response, harmful) pairs written for this project (ZH_TRAIN, or the test set ZH_EVAL):
    harmful answers score 3, safe ones 0; keyed by prompt, so both answers to a prompt share a split."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [SafetyItem(f"{key_prefix}/{r['prompt']}", "zh", r["prompt"], r["response"], label_harm(r["harmful"], True, True),
                       r["harmful"]) for r in rows]
