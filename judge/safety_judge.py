"""The safety track's judge: one bundle, or several, with each judged dimension routed to the bundle that scores it.

GuardRank is two models, exported as two bundles side by side (judge.published.build): the LLaMA-2
classifier scores privacy, bias, toxicity and legality, the RoBERTa classifier hallucination. The first
bundle's manifest names the second under `routes` ({dimension: bundle folder beside it}), so naming the
first (`--safety-judge guardrank`, or its folder) brings both. Scores are cached under one sha that covers
every part, so changing either model rescores.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from judge.bundle import MANIFEST, JudgeBundle, bundle_for_track, content_pinned
from judge.errors import InputError, Problem
from judge.prompt_runtime import PromptJudge, open_judge, warn_cpu_time
from judge.runtime import OnnxJudge
from judge.safety import SafetyScore, judge_responses

ROUTES = "routes"
"""Manifest key: {dimension: name of the bundle folder beside this one that scores it}."""


@dataclass(frozen=True)
class SafetyJudge:
    """Verified bundles (the named one first) and, for every dimension they judge, the bundle that scores it."""

    parts: tuple[JudgeBundle, ...]
    routes: dict[str, JudgeBundle]

    @property
    def sha(self) -> str:
        """One bundle: its own sha (its cached scores stay valid); several: a hash of each dimension's bundle sha."""
        if len(self.parts) == 1:
            return self.parts[0].sha
        return hashlib.sha256(json.dumps(sorted((d, b.sha) for d, b in self.routes.items())).encode()).hexdigest()

    @property
    def id(self) -> str:
        """NAME@first-12-of-sha, as beside every score."""
        return f"{self.parts[0].manifest.name}@{self.sha[:12]}"

    @property
    def dimensions(self) -> list[str]:
        return list(self.routes)

    @property
    def content_pinned(self) -> bool:
        """False when a part is an endpoint judge: its scores are not a function of files whose hashes are known."""
        return all(content_pinned(b) for b in self.parts)

    @property
    def manifest_path(self) -> Path:
        return self.parts[0].path / MANIFEST

    def manifest_json(self) -> str:
        """What the store keeps beside the sha: the bundle's manifest, or every part's and the routes."""
        if len(self.parts) == 1:
            return self.parts[0].manifest.model_dump_json()
        return json.dumps({"parts": {b.id: b.manifest.model_dump(mode="json") for b in self.parts},
                           "routes": {d: b.id for d, b in self.routes.items()}}, ensure_ascii=False)


def resolve_safety_judge(name_or_dir: str | Path | None, allow_test_only: bool = False) -> SafetyJudge:
    """A shipped name or bundle folder (None: the default) and the bundles its manifest routes dimensions to."""
    return with_routes(bundle_for_track(name_or_dir, "safety", allow_test_only), allow_test_only)


def with_routes(first: JudgeBundle, allow_test_only: bool = False) -> SafetyJudge:
    """A loaded safety bundle and the bundles beside it that its manifest routes dimensions to."""
    where = first.path / MANIFEST
    declared = (first.manifest.model_extra or {}).get(ROUTES, {})
    if not isinstance(declared, dict) or not all(
            isinstance(d, str) and isinstance(f, str) and f and Path(f).name == f for d, f in declared.items()):
        raise InputError([Problem(where, None, ROUTES, "must map dimension names to bundle folder names beside this bundle")])
    routes = {d: first for d in first.dimensions}
    parts = {first.path: first}
    problems: list[Problem] = []
    for dim, folder in declared.items():
        path = first.path.parent / folder
        if dim in routes:
            problems.append(Problem(where, None, f"{ROUTES}.{dim}", "this bundle scores that dimension itself"))
        elif not (path / MANIFEST).is_file():
            problems.append(Problem(where, None, f"{ROUTES}.{dim}", f"no judge bundle {path}: the bundle that scores "
                                    f"{dim} must sit beside this one (judge export-published writes both)"))
        else:
            part = parts.get(path) or bundle_for_track(path, "safety", allow_test_only)
            if dim not in part.dimensions:
                problems.append(Problem(path / MANIFEST, None, "dimensions", f"has no {dim!r}, which {where} routes here"))
            else:
                parts[path], routes[dim] = part, part
    if problems:
        raise InputError(problems)
    return SafetyJudge(tuple(parts.values()), routes)


class SafetyScorer:
    """A SafetyJudge opened for scoring; each part's onnxruntime session is loaded when first needed."""

    def __init__(self, judge: SafetyJudge, providers: Sequence[str] | None = None):
        self.judge, self.providers = judge, providers
        self._runtimes: dict[Path, OnnxJudge | PromptJudge] = {}

    def runtime(self, bundle: JudgeBundle) -> OnnxJudge | PromptJudge:
        if bundle.path not in self._runtimes:
            self._runtimes[bundle.path] = open_judge(bundle, self.providers)
        return self._runtimes[bundle.path]

    def score(self, items: Sequence[tuple[str, str, str]], on_batch: Callable[[int], None] | None = None) -> list[SafetyScore]:
        """(dimension, prompt, response) items -> one SafetyScore each, in order, by the bundle of each one's dimension."""
        unknown = sorted({d for d, _, _ in items} - set(self.judge.routes))
        if unknown:
            raise ValueError(f"judge {self.judge.id} has no head for {', '.join(unknown)}")
        groups: dict[Path, list[int]] = {}
        for i, (dim, _, _) in enumerate(items):
            groups.setdefault(self.judge.routes[dim].path, []).append(i)
        bundles = {b.path: b for b in self.judge.parts}
        runs = [(self.runtime(bundles[path]), [items[i] for i in rows], rows) for path, rows in groups.items()]
        warn_cpu_time(self.judge.id, [(rt.parameters, sum(map(len, rt.encode(rt.response_texts(part)))))
                                      for rt, part, _ in runs if isinstance(rt, PromptJudge) and rt.on_cpu])
        out: list[SafetyScore] = [SafetyScore("", None, None, "")] * len(items)
        for rt, part, rows in runs:
            for i, scored in zip(rows, judge_responses(rt, part, on_batch)):
                out[i] = scored
        return out
