"""The endpoint judge: any served model judging dialogues or safety answers, asked over an OpenAI-compatible API.

A judge spec names the format, the served model of every dimension and the base URLs:

    openai:MODEL@URL[,URL...]        any chat model with the rubric prompts (one model, or DIM=MODEL,...)
    esc-rank:[DIM=MODEL,...]@URL     ESC-RANK on vLLM: one base, a LoRA adapter per dimension and language,
                                     each addressed by its model name (default: ESC-RANK's adapter folder names)
    guardrank:[DIM=MODEL,...]@URL    GuardRank's classifiers on vLLM's /classify route
    ...?prompts=FILE&key=ENV_VAR&track=safety&max_tokens=N&concurrency=N&timeout=S&retries=N

ESC-RANK is asked as ESC-Eval asks it through InternLM2's chat(): the rubric prompt as the user turn after
chat()'s default system prompt. Chat models get the same rubric prompts (or `prompts=FILE`, a prompt set
as `judge export-published --prompts` reads) with no system prompt; on the safety track a rubric per
dimension on GuardRank's label set. Decoding is greedy (temperature 0) and the score is the first digit
of the reply that is a valid label, as the papers parse it; a reply without one is stored unscored, never
as 0. GuardRank is a classifier, so it is asked for class probabilities and its label is the most likely class.

Such a judge is not pinned by content: its identity is the manifest made here (format, model names,
prompt set sha, decoding, what the server reports of each model: vLLM's `root` and `parent`), hashed as a
bundle's manifest is. Every judgement is appended to a cache file named by that sha as soon as it comes
back, with the raw reply, so a killed run loses none and a rerun asks only what is missing.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict

from judge.bundle import JudgeBundle, Manifest
from judge.dimensions import ESC_DIMENSIONS, SAFETY_DIMENSIONS, canonical
from judge.endpoint.client import BackendError, OpenAIBackend, Sampling
from judge.endpoint.resume import RunReport, TranscriptFile, append_concurrently
from judge.errors import InputError, Problem
from judge.esc import DialogueScore
from judge.published.prompts import (DEFAULT_PROMPTS, ESC_RANK_KEYS, GUARD_TEMPLATE, HALLUCINATION_TEMPLATE,
                                     INTERNLM2_SYSTEM, PromptSet, adapter_folder, load_prompts, prompts_sha,
                                     safety_prompt)
from judge.safety import SafetyScore
from judge.transcript import Transcript

FORMATS = {"openai": "chat", "esc-rank": "esc-rank", "guardrank": "guardrank"}
"""Spec scheme -> how the judge is asked."""
OPTIONS = ("prompts", "key", "track", "max_tokens", "concurrency", "timeout", "retries")
CACHE_ENV = "ESC_JUDGE_CACHE"
"""Folder of the endpoint judges' caches [default: ~/.cache/esc-leaderboard/judgements]."""
ANY_LANG = "*"
SEED = 0
LABELS = {**{d: [0, 1, 2, 3, 4] for d in ESC_DIMENSIONS}, **{d: [0, 1, 2, 3] for d in SAFETY_DIMENSIONS}, "hallucination": [0, 1]}
GUARDRANK_MODELS = {**{d: "guardrank" for d in SAFETY_DIMENSIONS}, "hallucination": "guardrank-hallucination"}
_KEY_OF = {canonical(k): k for k in ESC_RANK_KEYS}


def is_endpoint_spec(text: str | Path | None) -> bool:
    return isinstance(text, str) and text.split(":", 1)[0] in FORMATS and "@" in text


@dataclass(frozen=True)
class EndpointSpec:
    """What a spec says: how to ask (format, models, prompts, decoding) and where (URLs, key, transport)."""

    format: str
    track: str
    models: dict[str, dict[str, str]]
    """language (or * for any) -> dimension -> served model name."""
    base_urls: tuple[str, ...]
    prompts: PromptSet
    api_key_env: str | None = None
    max_tokens: int = 16
    concurrency: int = 32
    timeout: float = 120.0
    retries: int = 5


def _problem(spec: str, field: str, message: str) -> InputError:
    return InputError([Problem(Path("--judge"), None, field, f"{message} (in {spec!r})")])


def _dimension(name: str, track: str, spec: str) -> str:
    dim = canonical(name)
    if dim not in (ESC_DIMENSIONS if track == "esc" else SAFETY_DIMENSIONS):
        raise _problem(spec, "models", f"{name!r} is not a {track} dimension")
    return dim


def _models(fmt: str, track: str, text: str, spec: str) -> dict[str, dict[str, str]]:
    """The model of every dimension (and language, for ESC-RANK), from MODEL, DIM=MODEL,... or the format's default."""
    dims = list(ESC_DIMENSIONS if track == "esc" else SAFETY_DIMENSIONS)
    pairs = [p.strip() for p in text.split(",") if p.strip()]
    if fmt == "esc-rank":
        table: dict[str, dict[str, str]] = {"zh": {}, "en": {}}
        if not pairs:  # the adapter folder names, as `--lora-modules NAME=FOLDER` serves them (site/judges/published.md)
            return {lang: {canonical(k): adapter_folder(lang, k) for k in ESC_RANK_KEYS} for lang in table}
        for pair in pairs:
            name, eq, model = pair.partition("=")
            if not eq or not model:
                raise _problem(spec, "models", f"{pair!r}: write DIMENSION=MODEL (DIMENSION_en for English)")
            lang = "en" if name.endswith("_en") else "zh"
            table[lang][_dimension(name.removesuffix("_en"), track, spec)] = model
        table = {lang: m for lang, m in table.items() if m}
    elif len(pairs) == 1 and "=" not in pairs[0]:
        table = {ANY_LANG: {d: pairs[0] for d in dims}}
    elif not pairs and fmt == "guardrank":
        table = {ANY_LANG: dict(GUARDRANK_MODELS)}
    else:
        table = {ANY_LANG: {}}
        for pair in pairs:
            name, eq, model = pair.partition("=")
            if not eq or not model:
                raise _problem(spec, "models", f"{pair!r}: write one MODEL, or DIMENSION=MODEL for every dimension")
            table[ANY_LANG][_dimension(name, track, spec)] = model
    for lang, mapped in table.items():
        missing = [d for d in dims if d not in mapped]
        if missing:
            where = "" if lang == ANY_LANG else f" ({lang})"
            raise _problem(spec, "models", f"no model for {', '.join(missing)}{where}")
    return table


def parse_spec(spec: str, track: str) -> EndpointSpec:
    """A judge spec, checked whole: InputError naming what is wrong."""
    scheme, _, rest = spec.partition(":")
    fmt = FORMATS[scheme]
    models_text, _, where = rest.partition("@")
    urls_text, _, query = where.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise _problem(spec, "options", f"unknown option(s) {', '.join(unknown)} (known: {', '.join(OPTIONS)})")
    track = {"esc-rank": "esc", "guardrank": "safety"}.get(fmt, options.get("track", track))
    if track not in ("esc", "safety") or (options.get("track", track) != track):
        raise _problem(spec, "track", f"a {scheme} judge judges the {track} track only" if fmt != "chat"
                       else "track must be esc or safety")
    urls = tuple(u.strip().rstrip("/") for u in urls_text.split(",") if u.strip())
    if not urls or not all(re.match(r"^https?://[^/\s]+", u) for u in urls):
        raise _problem(spec, "base_urls", "give one or more http(s) base URLs after @, comma-separated")
    if options.get("prompts") and (fmt == "guardrank" or track == "safety"):
        raise _problem(spec, "prompts", "a prompt set is for ESC judges (safety rubrics and GuardRank's layout are fixed)")
    numbers: dict[str, Any] = {}
    for name, kind, low in (("max_tokens", int, 1), ("concurrency", int, 1), ("timeout", float, 0.001), ("retries", int, 0)):
        if name in options:
            try:
                numbers[name] = kind(options[name])
            except ValueError:
                raise _problem(spec, name, f"{options[name]!r} is not a number") from None
            if numbers[name] < low:
                raise _problem(spec, name, f"must be at least {low}")
    key = options.get("key") or None
    if key is not None and not os.environ.get(key):
        raise _problem(spec, "key", f"environment variable {key} (the API key) is not set")
    return EndpointSpec(fmt, track, _models(fmt, track, models_text, spec), urls,
                        load_prompts(Path(options["prompts"])) if options.get("prompts") else DEFAULT_PROMPTS,
                        key, **numbers)


def _name(spec: EndpointSpec) -> str:
    """A short name for the id beside every score; served model names are untrusted, so only plain characters."""
    if spec.format != "chat":
        return f"{spec.format}-endpoint"
    models = sorted({m for table in spec.models.values() for m in table.values()})
    name = models[0] if len(models) == 1 else f"{len(models)}-models"
    return "openai:" + re.sub(r"[^A-Za-z0-9._/-]+", "-", name)[:80]


def served_entry(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a server says of a model that pins it beyond its name (vLLM: the adapter's or base's path, its base)."""
    if entry is None:
        return None
    return {k: entry[k] for k in ("root", "parent", "revision") if entry.get(k) is not None}


def manifest_fields(spec: EndpointSpec, served: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The judge's identity, as a manifest: what makes two runs ask the same questions of the same models."""
    names = sorted({m for table in spec.models.values() for m in table.values()})
    asked = {"chat": "the rubric prompt as the user turn, no system prompt",
             "esc-rank": "InternLM2 chat(): its default system prompt, the rubric prompt as the user turn",
             "guardrank": "GuardRank's item layout on /classify, the most likely class"}[spec.format]
    endpoint = {
        "format": spec.format, "models": spec.models, "asked": asked,
        "prompts_sha": None if spec.format == "guardrank" or spec.track == "safety" else prompts_sha(spec.prompts),
        "prompts_source": spec.prompts.source if spec.track == "esc" else "judge.published.prompts.safety_prompt",
        "system": INTERNLM2_SYSTEM if spec.format == "esc-rank" else None,
        "templates": {"guard": GUARD_TEMPLATE, "hallucination": HALLUCINATION_TEMPLATE} if spec.format == "guardrank" else None,
        "decoding": None if spec.format == "guardrank" else {"temperature": 0.0, "max_tokens": spec.max_tokens, "seed": SEED},
        "parse": "argmax of class probabilities" if spec.format == "guardrank" else "first digit of the reply that is a label",
        "served": {m: served_entry(served.get(m)) for m in names},
    }
    dims = ESC_DIMENSIONS if spec.track == "esc" else SAFETY_DIMENSIONS
    return {
        "format": 1, "name": _name(spec), "version": "endpoint", "track": spec.track, "kind": "endpoint",
        "content_pinned": False,
        "description": f"A served model judging through an OpenAI-compatible endpoint ({spec.format}): identified by "
                       "its model names, prompt set, decoding and what the server reports, not by its weights.",
        "dimensions": [{"name": d, "labels": LABELS[d]} for d in dims],
        "model": "", "tokenizer": "", "head": None,
        "input": {"unit": "round" if spec.track == "esc" else "response", "template": "{prompt}", "max_tokens": 32768},
        "base": ", ".join(names), "license": "the served model's own", "files": {}, "endpoint": endpoint,
    }


@dataclass(frozen=True)
class EndpointJudge(JudgeBundle):
    """A judge bundle whose model is served elsewhere: its manifest is its identity, its spec says where to ask."""

    spec: EndpointSpec | None = None

    @property
    def cache_path(self) -> Path:
        root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "esc-leaderboard" / "judgements")
        return root / f"{self.sha}.jsonl"


def _backend(spec: EndpointSpec) -> OpenAIBackend:
    first = next(iter(next(iter(spec.models.values())).values()))
    return OpenAIBackend(list(spec.base_urls), first, Sampling(0.0, spec.max_tokens),
                         api_key=os.environ.get(spec.api_key_env) if spec.api_key_env else None,
                         max_in_flight=spec.concurrency, timeout=spec.timeout, max_retries=spec.retries)


def endpoint_judge(text: str, track: str) -> EndpointJudge:
    """The judge a spec names, with what its server reports of the models (asked once, GET /models)."""
    spec = parse_spec(text, track)

    async def ask() -> dict[str, dict[str, Any]]:
        backend = _backend(spec)
        try:
            return await backend.served_models()
        finally:
            await backend.aclose()

    try:
        served = asyncio.run(ask())
    except BackendError as error:
        raise _problem(text.split("?")[0], "base_urls", f"the server does not answer: {error}") from None
    data = manifest_fields(spec, served)
    manifest = Manifest.model_validate(data)
    raw = json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return EndpointJudge(Path(text.split("?")[0]), manifest, hashlib.sha256(raw).hexdigest(), spec)


def first_label(reply: str, labels: Sequence[int]) -> int | None:
    """The papers' parse: the first digit in the reply that is a valid label (any script's digits), else None."""
    for ch in reply:
        value = unicodedata.decimal(ch, None)
        if value is not None and value in labels:
            return value
    return None


class Judgement(BaseModel):
    """One cached judgement: the item's hash and dimension, the label (None: unscored) and the raw reply."""

    model_config = ConfigDict(extra="forbid")
    id: str
    score: int | None
    reply: str


@dataclass(frozen=True)
class Ask:
    """One request: an item's dimension, its cache key, the model and what it is sent."""

    key: str
    item: int
    dimension: str
    model: str
    body: Any


class EndpointScorer:
    """An endpoint judge opened for scoring: the runtime judge.esc and judge.safety hand items to."""

    def __init__(self, judge: EndpointJudge):
        assert judge.spec is not None
        self.bundle, self.spec = judge, judge.spec

    def _model(self, lang: str, dimension: str, where: Problem) -> str:
        table = self.spec.models.get(lang) or self.spec.models.get(ANY_LANG)
        if table is None:
            raise InputError([Problem(where.file, where.line, "lang", f"judge {self.bundle.id} has no {lang!r} models "
                                      f"(it has {', '.join(self.spec.models)})")])
        return table[dimension]

    def score_transcripts(self, transcripts: list[Transcript],
                          on_batch: Callable[[int], None] | None = None) -> list[DialogueScore]:
        """Every dialogue on every dimension, one request each, the dialogue in one piece."""
        if self.spec.track != "esc":
            raise ValueError(f"judge {self.bundle.id} is for the {self.spec.track} track, not for ESC dialogues")
        prompts = self.spec.prompts
        missing = [Problem(t.source, t.line, "lang", f"the prompt set has no {t.lang!r} prompts") for t in transcripts
                   if t.lang not in prompts.prompts]
        if missing:
            raise InputError(missing)
        asks = []
        for i, t in enumerate(transcripts):
            dialogue = prompts.render_dialogue(t)
            for dim in ESC_DIMENSIONS:
                model = self._model(t.lang, dim, Problem(t.source, t.line, None, ""))
                messages = [{"role": "user", "content": prompts.prompt(t.lang, _KEY_OF[dim], dialogue)}]
                if self.spec.format == "esc-rank":
                    messages.insert(0, {"role": "system", "content": INTERNLM2_SYSTEM})
                asks.append(Ask(f"{t.content_hash}/{dim}", i, dim, model, messages))
        done = self._judge(asks, len(transcripts), on_batch)
        out = []
        for i, t in enumerate(transcripts):
            got = {dim: done[f"{t.content_hash}/{dim}"] for dim in ESC_DIMENSIONS}
            scores = {d: j.score for d, j in got.items() if j.score is not None}
            out.append(DialogueScore(t.id, "esc", scores, {d: float(s) for d, s in scores.items()}, self.bundle.id,
                                     unscored=tuple(d for d, j in got.items() if j.score is None),
                                     replies={d: j.reply for d, j in got.items()}))
        return out

    def score_responses(self, items: Sequence[tuple[str, str, str]],
                        on_batch: Callable[[int], None] | None = None) -> list[SafetyScore]:
        """(dimension, prompt, response) items, one request each; detail is the raw reply."""
        asks = []
        for i, (dim, prompt, response) in enumerate(items):
            if dim not in LABELS or dim in ESC_DIMENSIONS:
                raise ValueError(f"judge {self.bundle.id} has no head for {dim}")
            key = hashlib.sha256(json.dumps([dim, prompt, response], ensure_ascii=False).encode()).hexdigest()
            model = self.spec.models[ANY_LANG][dim]
            if self.spec.format == "guardrank":
                template = HALLUCINATION_TEMPLATE if dim == "hallucination" else GUARD_TEMPLATE
                body: Any = template.format(dimension=dim, prompt=prompt, response=response)
            else:
                body = [{"role": "user", "content": safety_prompt(dim, prompt, response)}]
            asks.append(Ask(f"{key}/{dim}", i, dim, model, body))
        done = self._judge(asks, len(items), on_batch)
        return [SafetyScore(a.dimension, j.score, None if j.score is None else float(j.score), j.reply)
                for a in asks for j in [done[a.key]]]

    async def _ask(self, backend: OpenAIBackend, ask: Ask) -> Judgement:
        labels = LABELS[ask.dimension]
        if self.spec.format != "guardrank":
            reply = await backend.reply(ask.body, SEED, ask.model)
            return Judgement(id=ask.key, score=first_label(reply, labels), reply=reply)
        answer = await backend.post("//classify", {"model": ask.model, "input": ask.body})
        probs = ((answer.get("data") or [{}])[0] or {}).get("probs")
        reply = json.dumps(probs)
        if not isinstance(probs, list) or len(probs) != len(labels):
            return Judgement(id=ask.key, score=None, reply=reply)
        return Judgement(id=ask.key, score=labels[max(range(len(probs)), key=lambda k: probs[k])], reply=reply)

    def _judge(self, asks: list[Ask], items: int, on_batch: Callable[[int], None] | None) -> dict[str, Judgement]:
        """Every ask answered: from the cache, else asked now and appended to the cache as it comes back."""
        unique = list({a.key: a for a in asks}.values())
        waiting: dict[int, int] = {}
        for a in asks:
            waiting[a.item] = waiting.get(a.item, 0) + 1
        keyed: dict[str, list[int]] = {}
        for a in asks:
            keyed.setdefault(a.key, []).append(a.item)

        def finished(key: str) -> None:
            for item in keyed[key]:
                waiting[item] -= 1
                if not waiting[item] and on_batch:
                    on_batch(1)

        path = self.bundle.cache_path
        path.parent.mkdir(parents=True, exist_ok=True)
        beside = path.with_suffix(".manifest.json")
        if not beside.exists():  # the cache says whose it is
            beside.write_text(self.bundle.manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
        journal = TranscriptFile(path, Judgement)
        report = RunReport(run_id=self.bundle.sha, total=len(unique))

        async def run() -> None:
            backend = _backend(self.spec)

            async def produce(ask: Ask) -> dict[str, Any]:
                judgement = await self._ask(backend, ask)
                finished(ask.key)
                return judgement.model_dump()

            def started(total: int, skipped: int) -> None:
                for key in cached_keys(path):
                    if key in keyed:
                        finished(key)

            try:
                await append_concurrently(unique, lambda a: a.key, lambda a: "all", {"all": journal}, produce, report,
                                          concurrency=self.spec.concurrency, on_start=started)
            finally:
                journal.close()
                await backend.aclose()

        asyncio.run(run())
        if report.failed:
            key, why = next(iter(sorted(report.failed.items())))
            raise BackendError(f"{len(report.failed)} of {len(unique)} judgements by {self.bundle.id} failed "
                               f"(the {report.finished + report.skipped} finished are kept in {path}; rerun to ask the "
                               f"rest), e.g. {key}: {why}")
        return read_cache(path)


def cached_keys(path: Path) -> set[str]:
    return set(read_cache(path))


def read_cache(path: Path) -> dict[str, Judgement]:
    """The judgements of a cache file (whole lines only; TranscriptFile.open cut a torn last one)."""
    out: dict[str, Judgement] = {}
    for raw in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        judgement = Judgement.model_validate_json(raw)
        out[judgement.id] = judgement
    return out
