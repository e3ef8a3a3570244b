"""Fine-tune a judge's encoder once on the short labelled pairs, before the heads are fitted.

Frozen multilingual-e5 features barely tell a harmful answer from a refusal (Do-Not-Answer AUC 0.74
with ridge heads) and rank EPITOME empathy only loosely, because e5 was trained for retrieval, not
for judging replies. One multi-task pass over the training side of the safety sets (harm 0-3 and
harmful 0/1), the hand-written Chinese safety pairs and, for esc-lite, EPITOME (empathy level sum and,
with the "mechanisms" task, each of its three mechanism levels: which kind of empathy a reply shows)
teaches the encoder what the judge looks for; the per-dimension heads are then fitted in closed form
on its features (judge.train.recipe). ESConv is left out here, so its sessions stay a clean test of
whether the tuned features carry over to whole dialogues.

Word embeddings stay frozen, so pieces the English-heavy training data never shows (most Chinese
ones) keep their pretrained, cross-lingually aligned vectors. Runs are seeded and checkpointed:
an interrupted run resumes from its last checkpoint.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

import torch
from tokenizers import Tokenizer
from torch import nn

from judge.console import progress
from judge.train import data as D
from judge.language import language
from judge.train.degrade import KINDS, Degrader, training_pool
from judge.train.recipe import TUNE_TASKS, harmful_balance, train_safety_items

ROUNDS_PER_SESSION = 4  # real rounds per ESConv training session for the "genuine" task


@dataclass(frozen=True)
class TuneConfig:
    """Everything that decides the tuned weights; its digest names the checkpoint."""

    layers: int
    max_tokens: int
    epochs: int = 2
    batch: int = 16
    lr: float = 4e-5
    head_lr: float = 1e-3
    gptfuzz_per_prompt: int | None = 30
    tasks: tuple[str, ...] = TUNE_TASKS  # without "empathy", EPITOME is left out; without harm/harmful, the safety sets;
    # "mechanisms" adds EPITOME's three levels, "genuine" real vs degraded replies (genuine_pairs)
    balance: bool = False  # harmful rows weighted per source as the heads weigh them (recipe.harmful_balance)
    seed: int = 0
    limit: int | None = None

    def digest(self, vocab: list[int]) -> str:
        """Names the settings that differ from the defaults, so adding a setting keeps existing checkpoints valid."""
        changed = {f.name: getattr(self, f.name) for f in fields(self) if f.default is MISSING or getattr(self, f.name) != f.default}
        blob = json.dumps([changed, hashlib.sha256(json.dumps(vocab).encode()).hexdigest()])
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Example:
    text: str
    target: tuple[float, ...]  # one value per column (see columns), each on 0-1
    mask: tuple[float, ...]  # which targets this example has, times the example's weight


BINARY = ("harmful", "genuine")  # columns learned with cross-entropy; the others are graded (squared error)


def columns(tasks: tuple[str, ...]) -> tuple[str, ...]:
    """The tuning head's outputs: harm / 3, harmful, empathy level sum / 6[, each mechanism level / 2][, genuine]."""
    return (("harm", "harmful", "empathy") + (D.MECHANISMS if "mechanisms" in tasks else ())
            + (("genuine",) if "genuine" in tasks else ()))


def example(text: str, cols: tuple[str, ...], values: dict[str, float], weight: float = 1.0) -> Example:
    return Example(text, tuple(values.get(c, 0.0) for c in cols), tuple(weight if c in values else 0.0 for c in cols))


def pair_text(template: str, first: str, second: str) -> str:
    """A (seeker, reply) or (prompt, response) pair in either judge's template; both render the same text."""
    return template.format(user=first, assistant=second, prompt=first, response=second, dimension="")


def sample(rng: random.Random, rows: list, n: int) -> list:
    return rng.sample(rows, min(n, len(rows)))


def genuine_pairs(cfg: TuneConfig) -> list[tuple[str, str, dict[str, float]]]:
    """The "genuine" task: real (seeker, reply) pairs against the same seeker turn with a degraded reply, built
    from the training side only with the training phrase bank (judge.train.degrade). Real pairs: up to
    ROUNDS_PER_SESSION rounds of each ESConv session, every EPITOME pair, and the Chinese safety pairs (a safe or
    harmful answer is still a genuine answer to its prompt; they carry the Chinese side). Each real pair has one
    negative of a kind drawn in turn; cold and AI-disclosing replies also have empathy 0."""
    rng = random.Random(cfg.seed)
    sessions = [it for it in D.load_esconv(seed=cfg.seed) if it.split == "train"]
    epitome = [it for it in D.load_epitome(seed=cfg.seed) if it.split == "train"]
    zh = D.load_written_zh(D.ZH_TRAIN, "zh-train")
    if cfg.limit:
        sessions, epitome, zh = sessions[: cfg.limit], epitome[: cfg.limit], zh[: cfg.limit]
    real = [(it.key, u, a) for it in sessions for u, a in sample(rng, [r for r in it.rounds if r[0]], ROUNDS_PER_SESSION)]
    real += [(it.key, u, a) for it in epitome for u, a in it.rounds] + [(it.key, it.prompt, it.response) for it in zh]
    degrade = Degrader("train", training_pool([a for _, _, a in real if language(a) == "en"]), cfg.seed)
    kinds = [k for k in KINDS if k != "repeat"]  # repeating needs a dialogue; the expression measure counts it
    out = []
    for n, (key, user, reply) in enumerate(real):
        kind = kinds[n % len(kinds)]
        out.append((user, reply, {"genuine": 1.0}))
        bad = degrade(kind, [(user, reply)], f"{key}/{n}")[0][1]
        out.append((user, bad, {"genuine": 0.0} | ({"empathy": 0.0} if kind in ("dismissive", "ai") else {})))
    return out


def examples(template: str, cfg: TuneConfig) -> list[Example]:
    """Training side only: safety items (GPTFuzz capped per prompt) and Chinese pairs (with "harm"/"harmful"),
    EPITOME pairs (with "empathy"; also their three mechanism levels with "mechanisms"), real against
    degraded replies (with "genuine")."""
    cols = columns(cfg.tasks)
    safety = (train_safety_items(D.load_safety(seed=cfg.seed), cfg.gptfuzz_per_prompt) + D.load_written_zh(D.ZH_TRAIN, "zh-train")
              if {"harm", "harmful"} & set(cfg.tasks) else [])
    epitome = [it for it in D.load_epitome(seed=cfg.seed) if it.split == "train"] if "empathy" in cfg.tasks else []
    if cfg.limit:
        safety, epitome = safety[: cfg.limit], epitome[: cfg.limit]
    weight = harmful_balance(safety) if cfg.balance else [1.0] * len(safety)
    mechanisms = D.MECHANISMS if "mechanisms" in cfg.tasks else ()
    out = [example(pair_text(template, it.prompt, it.response), cols, {"harm": it.harm / 3, "harmful": float(it.harmful)}, float(w))
           for it, w in zip(safety, weight)]
    out += [example(pair_text(template, u, a), cols, {"empathy": it.labels["level_sum"] / 6} | {m: it.labels[m] / 2 for m in mechanisms})
            for it in epitome for u, a in it.rounds]
    if "genuine" in cfg.tasks:
        out += [example(pair_text(template, u, a), cols, values) for u, a, values in genuine_pairs(cfg)]
    return out


class TaskModel(nn.Module):
    """Encoder, token mean, one output per task (the tuning heads are thrown away afterwards)."""

    def __init__(self, bert, outputs: int):
        super().__init__()
        self.bert = bert
        self.head = nn.Linear(bert.config.hidden_size, outputs)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        w = mask.unsqueeze(-1).to(hidden.dtype)
        return self.head((hidden * w).sum(1) / w.sum(1).clamp(min=1.0))


def loss_fn(out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, binary: list[int]) -> torch.Tensor:
    """Squared error for the graded targets, cross-entropy for the binary columns; only where the example has a label."""
    per = 4 * (torch.sigmoid(out) - target) ** 2
    per[:, binary] = nn.functional.binary_cross_entropy_with_logits(out[:, binary], target[:, binary], reduction="none")
    per = per * mask
    return per.sum() / mask.sum().clamp(min=1.0)


def batches(lengths: list[int], size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length (sorted within chunks of 50 batches), so padding stays small."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = size * 50
    out = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        out += [part[i : i + size] for i in range(0, len(part), size)]
    rng.shuffle(out)
    return out


def finetune(bert, tokenizer: Tokenizer, items: list[Example], cfg: TuneConfig, work: Path, log=print):
    """Train `bert` in place on `items`; checkpoints in `work` every 100 steps, resumed when present."""
    torch.manual_seed(cfg.seed)
    tokenizer.no_padding()
    tokenizer.enable_truncation(cfg.max_tokens)
    ids = [e.ids for e in tokenizer.encode_batch([x.text for x in items])]
    target = torch.tensor([x.target for x in items], dtype=torch.float32)
    mask = torch.tensor([x.mask for x in items], dtype=torch.float32)
    model = TaskModel(bert, target.shape[1])  # one output per target column of the examples
    binary = [k for k, c in enumerate(columns(cfg.tasks)) if c in BINARY]
    bert.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for n, p in bert.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": params, "lr": cfg.lr}, {"params": model.head.parameters(), "lr": cfg.head_lr}],
                            weight_decay=0.01)
    rng = random.Random(cfg.seed)
    plan = [b for _ in range(cfg.epochs) for b in batches([len(i) for i in ids], cfg.batch, rng)]
    warmup = max(1, len(plan) // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (len(plan) - s) / max(1, len(plan) - warmup))))
    ckpt = work / "checkpoint.pt"
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step = state["step"]
        log(f"resuming fine-tuning at step {step}/{len(plan)}")
    model.train()
    running = None
    with progress("fine-tune", len(plan) - step) as advance:
        for step in range(step, len(plan)):
            batch = plan[step]
            width = max(len(ids[i]) for i in batch)
            x = torch.zeros((len(batch), width), dtype=torch.long)
            m = torch.zeros_like(x)
            for r, i in enumerate(batch):
                x[r, : len(ids[i])] = torch.tensor(ids[i])
                m[r, : len(ids[i])] = 1
            loss = loss_fn(model(x, m), target[batch], mask[batch], binary)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            advance(1)
            if (step + 1) % 100 == 0:
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step + 1},
                           ckpt)
                log(f"fine-tune: step {step + 1}/{len(plan)}, loss {running:.4f} (checkpoint saved)")
    model.eval()
    return bert.eval()


def tuned_encoder(bert, tok_json: str, keep: list[int], template: str, cfg: TuneConfig, cache: Path, train: bool, log=print):
    """The encoder with its tuned weights: from the cache, or (train=True) fine-tuned now and cached."""
    work = cache / f"tuned-{cfg.digest(keep)}"
    final = work / "encoder.pt"
    if not final.exists():
        if not train:
            raise FileNotFoundError(f"{final} is missing: run `judge train` first (it fine-tunes the encoder)")
        work.mkdir(parents=True, exist_ok=True)
        (work / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
        items = examples(template, cfg)
        log(f"fine-tuning the encoder on {len(items)} pairs, {cfg.epochs} epochs ({work})")
        finetune(bert, Tokenizer.from_str(tok_json), items, cfg, work, log)
        torch.save(bert.state_dict(), final)
    bert.load_state_dict(torch.load(final, weights_only=True))
    return bert.eval()

