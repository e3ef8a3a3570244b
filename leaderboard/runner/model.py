"""The model under test of a run, for every track: the submission's endpoint or a model named on the command line."""
from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from judge.console import say
from judge.errors import InputError, Problem
from leaderboard.runner.backends import ChatBackend, Sampling, make_backend
from leaderboard.runner.records import RunReport
from leaderboard.submission import SUBMISSION_FILE, load_submission_yaml


@dataclass
class ModelOptions:
    """What every run can be told about the model under test and how to ask it."""

    langs: list[str] = field(default_factory=list)
    seed: int = 0
    concurrency: int = 16
    model: str | None = None
    model_name: str | None = None
    model_key_env: str | None = None
    model_temperature: float | None = None
    model_max_tokens: int | None = None
    timeout: float = 120.0
    retries: int = 5
    threads: int = 1
    restart: bool = False


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("esc-guard-leaderboard", "openai", "transformers", "torch"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def model_spec(folder: Path, opts: ModelOptions) -> tuple[str, Sampling, dict[str, Any], list[str]]:
    """The model under test as make_backend's (and describe_backend's) arguments, and the languages to run."""
    sub = load_submission_yaml(folder / SUBMISSION_FILE)
    if opts.model:
        sampling = Sampling(0.7 if opts.model_temperature is None else opts.model_temperature, opts.model_max_tokens or 512)
        spec, how = opts.model, {"model": opts.model_name, "api_key_env": opts.model_key_env, "threads": opts.threads}
    elif sub.endpoint is not None:
        ep = sub.endpoint
        sampling = Sampling(ep.temperature if opts.model_temperature is None else opts.model_temperature,
                            opts.model_max_tokens or ep.max_tokens)
        spec, how = ",".join(str(u) for u in ep.base_urls), {"model": ep.model, "api_key_env": ep.api_key_env}
    else:
        raise InputError([Problem(folder / SUBMISSION_FILE, None, "endpoint",
                                  "no endpoint to run: add one (kind: endpoint) or pass --model")])
    return spec, sampling, {**how, "timeout": opts.timeout, "max_retries": opts.retries}, list(opts.langs or sub.languages)


def model_under_test(folder: Path, opts: ModelOptions) -> tuple[ChatBackend, list[str]]:
    spec, sampling, how, langs = model_spec(folder, opts)
    return make_backend(spec, sampling, **how), langs


def finish(report: RunReport, what: str, out: Path) -> None:
    """The end of a run, for people: counts, then every failure by name; exit 1 if any failed."""
    say(f"{report.finished} {what}, {report.skipped} already done, {len(report.failed)} failed "
              f"in {report.seconds:.1f}s -> {out}")
    for key, why in sorted(report.failed.items()):
        say(f"{key}: {why}", "failed", "red")
    if report.failed:
        sys.exit(1)
