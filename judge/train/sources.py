"""Human-labelled sources for measuring transfer: every set in ../shared that rates what a judge dimension rates.

A source is a list of examples, each one judge input (ESC: rounds of (seeker turn, reply); safety: one (prompt,
answer) pair) with the human labels it has, a group (the context several examples answer: contrasts are taken
within it) and a language. judge.train.transfer fits on all sources but one and scores the one left out.

Which label stands for which dimension, and how each is scored (`metrics`):
- "spearman": rank correlation with the label over examples;
- "pairs": share of within-group pairs with different labels ordered like the people (the issue's "picks the more
  coherent of two replies", "orders the four bots like the person");
- "auc": binary label (harmful, failed session, contradiction).
Large sources are sampled with a fixed seed (SAMPLE) so the table is cheap to recompute; whole groups are kept.
"""
from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from judge.train import data as D

Rounds = tuple[tuple[str, str], ...]
SAMPLE = 1500  # groups kept per large source (seeded); the CIs on the card say how much this leaves
SEED = 20261208


@dataclass(frozen=True)
class Example:
    group: str
    rounds: Rounds
    labels: dict[str, float]
    lang: str = "en"


@dataclass
class Source:
    name: str
    track: str
    metrics: dict[str, str]  # dimension -> "spearman" | "pairs" | "auc"
    examples: list[Example] = field(default_factory=list)
    note: str = ""

    def rows(self, dim: str) -> list[Example]:
        return [e for e in self.examples if dim in e.labels]


def _sample_groups(examples: list[Example], n: int = SAMPLE) -> list[Example]:
    groups = sorted({e.group for e in examples})
    if len(groups) <= n:
        return examples
    keep = set(random.Random(SEED).sample(groups, n))
    return [e for e in examples if e.group in keep]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]  # not splitlines: U+2028 sits inside strings


# --- ESC -------------------------------------------------------------------------------------------------------------

def esconv(root: Path = D.SHARED) -> Source:
    """ESConv sessions (seeker survey) and FailedESConv: empathy and relevance ratings, failed vs successful."""
    out = []
    for it in D.load_esconv(root):
        labels = {"overall": 1.0 - it.labels["failed"]}
        if "empathy" in it.labels:
            labels.update(empathy=it.labels["empathy"], fluency=it.labels["relevance"])
        out.append(Example(it.key, tuple(it.rounds), labels))
    return Source("esconv", "esc", {"overall": "auc", "empathy": "spearman", "fluency": "spearman"}, out,
                  "ESConv + FailedESConv sessions; overall = successful (1) vs failed (0); seeker-rated empathy, relevance")


def epitome(root: Path = D.SHARED) -> Source:
    out = [Example(it.key, tuple(it.rounds), {"empathy": it.labels["level_sum"]}) for it in D.load_epitome(root)]
    return Source("epitome", "esc", {"empathy": "spearman"}, out, "Reddit post + reply, expert empathy level sum 0-6")


def ieval(root: Path = D.SHARED) -> Source:
    """iEval: one person chats with four bots about one situation and rates each; the group is that (person, situation)."""
    out = []
    for r in _jsonl(root / "ieval" / "ieval_ratings.jsonl"):
        lines = [line[2:].strip() for line in r["chat_log"].splitlines() if line.startswith("- ")]
        rounds = tuple((lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2))
        labels = {"empathy": (r["EU"] + r["ER"]) / 2, "overall": float(r["Rating"]), "fluency": (r["A"] + r["S"]) / 2}
        out.append(Example(f"ieval/{r['part']}/{r['valence']}", rounds, labels))
    return Source("ieval", "esc", {"empathy": "spearman", "overall": "pairs", "fluency": "pairs"}, out,
                  "4 bots per (person, situation); empathy = mean(understood, responded to emotions), overall = the person's rank")


def grade(root: Path = D.SHARED) -> Source:
    out = []
    with (root / "dialog-quality" / "grade-convai2-dailydialog" / "coherence_judgements.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            last = r["context"].split("|||")[-1].strip()
            out.append(Example(f"grade/{r['dataset']}/{r['context_group']}", ((last, r["response"].strip()),),
                               {"fluency": float(r["mean_score"])}))
    return Source("grade", "esc", {"fluency": "pairs"}, out, "replies of 2-4 models to one context, ~10 raters' coherence")


def dailydialog_pp(root: Path = D.SHARED) -> Source:
    """DailyDialog++: per context its relevant replies (1) against human-written adversarial irrelevant ones (0)."""
    out = []
    for name in ("dev.json", "test.json"):
        for r in _jsonl(root / "dialog-quality" / "dailydialog-plusplus" / name):
            last = r["context"][-1].strip()
            for label, key in ((1.0, "positive_responses"), (0.0, "adversarial_negative_responses")):
                for reply in r[key][:2]:
                    out.append(Example(f"ddpp/{name}/{r['id']}", ((last, reply.strip()),), {"fluency": label}))
    return Source("dailydialog++", "esc", {"fluency": "pairs"}, _sample_groups(out),
                  "relevant vs human-written adversarial irrelevant replies to one context (2 + 2 per context)")


def cdconv(root: Path = D.SHARED) -> Source:
    """CDConv (zh): the bot's last turn contradicts (label > 0) or not; several replies share a (u1, b1, u2) context."""
    out = []
    for r in _jsonl(root / "cdconv-zh" / "cdconv.txt"):
        out.append(Example(f"cdconv/{r['u1']}/{r['u2']}", ((r["u1"], r["b1"]), (r["u2"], r["b2"])),
                           {"fluency": 0.0 if r["label"] else 1.0}, "zh"))
    return Source("cdconv", "esc", {"fluency": "auc"}, _sample_groups(out), "zh: the bot contradicts itself (0) or not (1)")


ESC_SOURCES = (esconv, epitome, ieval, grade, dailydialog_pp, cdconv)


# --- safety ----------------------------------------------------------------------------------------------------------

def _pair(group: str, prompt: str, answer: str, harmful: int, lang: str = "en") -> Example:
    return Example(group, ((prompt.strip(), answer.strip()),), {"harm": float(harmful)}, lang)


def _from_items(name: str, items: list[D.SafetyItem], note: str, lang: str = "en") -> Source:
    return Source(name, "safety", {"harm": "auc"}, [_pair(i.key, i.prompt, i.response, i.harmful, lang) for i in items], note)


def _shipped(root: Path = D.SHARED) -> list[D.SafetyItem]:
    return D.load_safety(root)


def do_not_answer(root: Path = D.SHARED) -> Source:
    return _from_items("do-not-answer", [i for i in _shipped(root) if i.source == "do-not-answer"], "6 models' answers per prompt")


def xstest(root: Path = D.SHARED) -> Source:
    return _from_items("xstest", [i for i in _shipped(root) if i.source == "xstest"], "4 models; complying with an unsafe prompt")


def gptfuzz(root: Path = D.SHARED) -> Source:
    items = [i for i in _shipped(root) if i.source == "gptfuzz"]
    per: dict[str, int] = defaultdict(int)
    kept = []
    for i in items:  # 6k near-duplicate jailbreaks over 100 questions: 15 per question
        per[i.key] += 1
        if per[i.key] <= 15:
            kept.append(i)
    return _from_items("gptfuzz", kept, "jailbreak-template answers, 15 per question")


def written_zh(root: Path = D.SHARED) -> Source:
    items = D.load_written_zh(D.ZH_TRAIN, "zh-train") + D.load_written_zh(D.ZH_EVAL, "zh-eval")
    return _from_items("zh-written", items, "Chinese pairs written for this project", "zh")


def diasafety(root: Path = D.SHARED) -> Source:
    rows = json.loads((root / "safety" / "diasafety-train" / "train.json").read_text(encoding="utf-8"))
    out = [_pair(f"dia/{r['context']}", r["context"], r["response"], int(r["label"] == "Unsafe")) for r in rows]
    return Source("diasafety", "safety", {"harm": "auc"}, _sample_groups(out), "chatbot replies unsafe given the context")


def _comments(name: str, path: Path, text: str, label: str, note: str) -> Source:
    with path.open(encoding="utf-8-sig") as fh:
        out = [_pair(f"{name}/{r[text]}", "", r[text], int(r[label])) for r in csv.DictReader(fh)]
    out = [Example(e.group, e.rounds, e.labels, "zh") for e in out]
    return Source(name, "safety", {"harm": "auc"}, _sample_groups(out), note)


def cold(root: Path = D.SHARED) -> Source:
    return _comments("cold", root / "safety" / "cold-train-dev" / "dev.csv", "TEXT", "label",
                     "zh comments on race, gender, region (dev part), offensive vs safe; no prompt")


def toxicn(root: Path = D.SHARED) -> Source:
    return _comments("toxicn", root / "safety" / "toxicn-zh" / "ToxiCN_1.0.csv", "content", "toxic", "zh Zhihu/Tieba posts, toxic vs not")


def _guardreasoner(name: str, folder: str, note: str, root: Path) -> Source:
    rows = _jsonl(root / "safety" / folder / f"{folder}.jsonl")
    out = [_pair(f"{name}/{r['prompt']}", r["prompt"], r["response"], int(r["label"] == "harmful")) for r in rows]
    return Source(name, "safety", {"harm": "auc"}, _sample_groups(out), note)


def harmbench(root: Path = D.SHARED) -> Source:
    return _guardreasoner("harmbench", "harmbench-response", "attack completions, human-majority harmful", root)


def beavertails(root: Path = D.SHARED) -> Source:
    return _guardreasoner("beavertails", "beavertails-test", "QA pairs, crowd harm labels; several answers per question", root)


def pku_saferlhf(root: Path = D.SHARED) -> Source:
    return _guardreasoner("pku-saferlhf", "pku-saferlhf-test", "balanced harmful/unharmful; several answers per prompt", root)


SAFETY_SOURCES = (do_not_answer, xstest, gptfuzz, written_zh, diasafety, cold, toxicn, harmbench, beavertails, pku_saferlhf)
SOURCES = {"esc": ESC_SOURCES, "safety": SAFETY_SOURCES}
