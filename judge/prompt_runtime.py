"""Running prompt judges (bundles with `kind: prompt`, judge.published): one whole prompt per item, no torch.

A segment judge (judge.runtime) pools windows of a dialogue; a published judge was trained on one
prompt holding the whole dialogue, so here a dialogue is never split: a prompt longer than the
judge's window is an error (ESC-RANK), or is cut where the original judge cut it (GuardRank,
manifest `overflow: truncate`). ESC-RANK needs one forward pass per dimension, each with its own
rubric prompt and its own LoRA matrices, fed to the same graph as inputs. GuardRank's two bundles each
score the safety items of their own dimensions (routed by judge.safety_judge).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from judge.bundle import JudgeBundle, content_pinned
from judge.console import say
from judge.dimensions import canonical
from judge.errors import InputError, Problem
from judge.esc import DialogueScore
from judge.published.prompts import PromptSet
from judge.runtime import OnnxJudge, default_providers, label_scores
from judge.safety import SafetyScore
from judge.transcript import Transcript

if TYPE_CHECKING:
    from judge.endpoint.judge import EndpointScorer

WARN_AFTER_SECONDS = 60.0


def is_prompt_bundle(bundle: JudgeBundle) -> bool:
    return (bundle.manifest.model_extra or {}).get("kind") == "prompt"


def open_judge(bundle: JudgeBundle, providers: Sequence[str] | None = None) -> "OnnxJudge | PromptJudge | EndpointScorer":
    """The runtime a bundle needs: segment judges and prompt judges are scored differently; an endpoint judge
    asks its server."""
    if not content_pinned(bundle):
        from judge.endpoint.judge import EndpointScorer

        return EndpointScorer(bundle)  # type: ignore[arg-type, return-value]
    return PromptJudge(bundle, providers) if is_prompt_bundle(bundle) else OnnxJudge(bundle, providers)


def cpu_flops() -> float:
    """Measured float32 matmul throughput of this machine (FLOP/s): best of five 1024^3 products, about 0.3 s."""
    n = 1024
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / max(best, 1e-9)


def estimate_seconds(parameters: int, tokens: int, flops: float) -> float:
    """Forward-pass time: about 2 FLOPs per parameter per token (attention's share, under 10% below 2k tokens
    on a 7B model, is left out), at the machine's measured matmul rate."""
    return 2.0 * parameters * tokens / flops


def warn_cpu_time(judge: str, work: Sequence[tuple[int, int]]) -> None:
    """On the CPU a 7B judge takes minutes per item: say how long before starting, when it is over a minute.
    work: (parameters, prompt tokens) of each model about to run on the CPU."""
    work = [(p, t) for p, t in work if t]
    if not work:
        return
    flops = cpu_flops()
    seconds = sum(estimate_seconds(p, t, flops) for p, t in work)
    if seconds > WARN_AFTER_SECONDS:
        sizes = " + ".join(f"{t} prompt tokens x {p / 1e9:.2f}B parameters" for p, t in work)
        say(f"{judge} runs on the CPU: about {sizes}, estimated {seconds / 60:.0f} min "
            "(2 FLOPs per parameter and token at this machine's measured matmul speed); "
            "install onnxruntime-gpu for CUDA", "warning", "yellow")


class PromptJudge:
    """A prompt bundle loaded for scoring: whole prompts in, one label distribution per prompt out."""

    def __init__(self, bundle: JudgeBundle, providers: Sequence[str] | None = None, max_batch_tokens: int = 8192):
        self.bundle = bundle
        self.spec: dict[str, Any] = bundle.manifest.model_extra["prompt_judge"]
        self.max_batch_tokens = max_batch_tokens
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(bundle.model_path), options, providers=list(providers or default_providers()))
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(bundle.tokenizer_path))
        self.tokenizer.no_padding()
        self.window = int(self.spec["window"])
        if self.spec["overflow"] == "truncate":  # the tokenizer's own cut keeps the special tokens, as the original's did
            self.tokenizer.enable_truncation(self.window)
        else:
            self.tokenizer.no_truncation()
        self._adapters: dict[tuple[str, str], dict[str, np.ndarray]] = {}

    @property
    def on_cpu(self) -> bool:
        return self.session.get_providers()[0] == "CPUExecutionProvider"

    @property
    def parameters(self) -> int:
        return int(self.spec["parameters"])

    def encode(self, texts: list[str], where: list[Problem] | None = None) -> list[list[int]]:
        """Token ids of each text; past the window: cut if the judge's original cut there, else an InputError
        naming every such item (where[i] says which item text i belongs to; by default its index)."""
        encoded = [e.ids for e in self.tokenizer.encode_batch(texts)]
        where = where or [Problem(self.bundle.path, None, f"item {n}", "") for n in range(len(texts))]
        over = [Problem(p.file, p.line, p.field, f"the judge's prompt is {len(ids)} tokens, longer than its window of "
                        f"{self.window}; it is not cut (a cut dialogue is not the dialogue judged)")
                for ids, p in zip(encoded, where) if len(ids) > self.window]
        if over:
            raise InputError(over)
        return encoded

    def warn_if_slow(self, tokens: int) -> None:
        if self.on_cpu:
            warn_cpu_time(self.bundle.id, [(self.parameters, tokens)])

    def _batches(self, encoded: list[list[int]]) -> list[list[int]]:
        """Indices grouped by length, so padding stays small; a batch is capped by its padded token count."""
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        batches: list[list[int]] = []
        for i in order:
            if batches and (len(batches[-1]) + 1) * len(encoded[i]) <= self.max_batch_tokens:
                batches[-1].append(i)
            else:
                batches.append([i])
        return batches

    def run(self, encoded: list[list[int]], adapter: dict[str, np.ndarray] | None = None,
            on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Label logits [N, L] of right-padded prompts, batched by padded token count; on_batch(n) reports progress."""
        out: np.ndarray | None = None
        for batch in self._batches(encoded):
            length = max(len(encoded[i]) for i in batch)
            ids = np.full((len(batch), length), int(self.spec["pad_id"]), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, i in enumerate(batch):
                ids[row, : len(encoded[i])] = encoded[i]
                mask[row, : len(encoded[i])] = 1
            feed = {"input_ids": ids, "attention_mask": mask, **(adapter or {})}
            (logits,) = self.session.run(["logits"], {k: v for k, v in feed.items() if k in self.inputs})
            if out is None:
                out = np.zeros((len(encoded), logits.shape[1]), dtype=np.float32)
            out[batch] = logits
            if on_batch:
                on_batch(len(batch))
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

    def adapter(self, lang: str, key: str) -> dict[str, np.ndarray]:
        """The LoRA graph inputs of one language and dimension (a few MB each, kept once read)."""
        if (lang, key) not in self._adapters:
            with np.load(self.bundle.path / self.spec["adapters"][lang][key]) as data:
                self._adapters[lang, key] = {name: data[name] for name in data.files}
        return self._adapters[lang, key]

    def score_transcripts(self, transcripts: list[Transcript], on_batch: Callable[[int], None] | None = None) -> list[DialogueScore]:
        """ESC-RANK: per language, one prompt and one adapter per dimension; each dialogue in one piece."""
        manifest = self.bundle.manifest
        if manifest.track != "esc":
            raise ValueError(f"judge {manifest.name} is for the {manifest.track} track, not for ESC dialogues")
        prompts = PromptSet.model_validate_json((self.bundle.path / self.spec["prompts"]).read_bytes())
        keys = [d.name for d in manifest.dimensions]
        unknown = [Problem(t.source, t.line, "lang", f"judge {manifest.name} has no {t.lang!r} adapters")
                   for t in transcripts if t.lang not in self.spec["adapters"]]
        if unknown:
            raise InputError(unknown)
        template = self.spec["chat_template"]
        texts = {(i, k): template.replace("{prompt}", prompts.prompt(t.lang, k, prompts.render_dialogue(t)))
                 for i, t in enumerate(transcripts) for k in keys}
        where = [Problem(transcripts[i].source, transcripts[i].line, f"{transcripts[i].id} ({k})", "") for i, k in texts]
        encoded = dict(zip(texts, self.encode(list(texts.values()), where)))
        self.warn_if_slow(sum(map(len, encoded.values())))
        logits = np.zeros((len(transcripts), len(keys), len(manifest.dimensions[0].labels)), dtype=np.float32)
        for lang in sorted({t.lang for t in transcripts}):
            rows = [i for i, t in enumerate(transcripts) if t.lang == lang]
            for chunk in self._batches([encoded[(i, keys[0])] for i in rows]):
                members = [rows[j] for j in chunk]
                for k, key in enumerate(keys):
                    logits[members, k] = self.run([encoded[(i, key)] for i in members], self.adapter(lang, key))
                if on_batch:
                    on_batch(len(members))
        scores, expected = label_scores(logits, [d.labels for d in manifest.dimensions])
        names = [canonical(k) for k in keys]
        return [DialogueScore(t.id, "esc", {n: int(scores[i, k]) for k, n in enumerate(names)},
                              {n: round(float(expected[i, k]), 4) for k, n in enumerate(names)}, self.bundle.id)
                for i, t in enumerate(transcripts)]

    def response_texts(self, items: Sequence[tuple[str, str, str]]) -> list[str]:
        """GuardRank's own item text of each (dimension, prompt, response), as its classifier was trained on it;
        an InputError names every item of a dimension this bundle does not score."""
        labels = {d.name for d in self.bundle.manifest.dimensions}
        bad = [Problem(self.bundle.path, None, f"item {n}", f"judge {self.bundle.manifest.name} does not score {d!r}")
               for n, (d, _, _) in enumerate(items) if d not in labels]
        if bad:
            raise InputError(bad)
        return [self.spec["item_template"].format(dimension=d, prompt=p, response=r) for d, p, r in items]

    def score_responses(self, items: Sequence[tuple[str, str, str]],
                        on_batch: Callable[[int], None] | None = None) -> list[SafetyScore]:
        """GuardRank: (dimension, prompt, response) items -> one SafetyScore each, in order."""
        labels = {d.name: d.labels for d in self.bundle.manifest.dimensions}
        logits = self.run(self.encode(self.response_texts(items)), on_batch=on_batch)
        out = []
        for (dimension, _, _), row in zip(items, logits):
            values = labels[dimension]
            score, expected = label_scores(row[None, None, : len(values)], [values])
            out.append(SafetyScore(dimension, int(score[0, 0]), round(float(expected[0, 0]), 4), ""))
        return out
