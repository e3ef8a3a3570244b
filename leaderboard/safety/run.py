"""`leaderboard safety-run SUBMISSION`: answer the safety prompt set with a vision model into `responses/<lang>.jsonl`.

Each item is one OpenAI-compatible vision chat request, the prompt as text and the image as a base64
data URL, as MLLMGuard sends them (no system prompt). The requests go through the ESC runner's code:
its backends (bounded concurrency per base URL, retries with backoff on 429/5xx/dropped connections,
several URLs for one model) and its append-only, locked, fsynced record file, so a run killed at any
moment loses only the requests in flight and a rerun asks only what is missing.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from judge.console import progress
from leaderboard.runner.backends import BackendError, ChatBackend, Messages
from leaderboard.runner.model import ModelOptions, finish, model_under_test, versions
from leaderboard.safety.prompt_set import DIMENSIONS, LANGS, GuardItem, PromptSet, read_prompt_set, shipped_set
from leaderboard.runner.records import RunReport, TranscriptFile, logged_run, refuse_mixing, request_seed
from leaderboard.submission import ResponseRecord

RUNS_FILE = "safety-runs.jsonl"
"""The settings of every safety run in a submission folder, so a rerun with other settings is refused."""


def vision_messages(prompts: PromptSet, item: GuardItem, text_only: bool = False) -> Messages:
    """One user turn: the prompt and the image (or the prompt alone, for a text-only baseline)."""
    if text_only:
        return [{"role": "user", "content": item.prompt}]
    return [{"role": "user", "content": [
        {"type": "text", "text": item.prompt},
        {"type": "image_url", "image_url": {"url": prompts.data_url(item)}},
    ]}]


async def answer_items(items: list[GuardItem], prompts: PromptSet, model: ChatBackend, folder: Path, *,
                       concurrency: int, settings: dict[str, Any], seed: int = 0, text_only: bool = False,
                       on_done: Callable[[bool], None] = lambda ok: None) -> RunReport:
    """Ask every item not yet answered in `folder/responses/<lang>.jsonl`, `concurrency` at a time; the run and its
    settings are logged in `folder/safety-runs.jsonl`.

    An item whose request fails for good is reported in the result, not written; the next run asks it again.
    """
    report = RunReport(f"safety-{int(time.time())}", len(items))
    files = {lang: TranscriptFile(folder / "responses" / f"{lang}.jsonl", ResponseRecord)
             for lang in sorted({i.lang for i in items})}

    async def answer(item: GuardItem) -> dict[str, Any]:
        reply = await model.complete(vision_messages(prompts, item, text_only), request_seed(seed, item.id, 0))
        return {"id": item.id, "dimension": item.dimension, "lang": item.lang, "prompt": item.prompt,
                "image": item.image, "response": reply}

    await logged_run(items, lambda i: i.id, lambda i: i.lang, files, answer, report, folder / RUNS_FILE, settings,
                     concurrency=concurrency, on_done=on_done)
    return report


def run_safety(folder: Path, opts: ModelOptions, dimensions: list[str], prompt_root: Path | None = None,
               text_only: bool = False) -> RunReport:
    """Answer the prompt set's items in the submission's languages (or opts.langs) with its endpoint (or opts.model).

    Refuses to add to responses of a run with another model, prompt set, seed or image use (opts.restart sets them aside)."""
    folder = Path(folder)
    model, langs = model_under_test(folder, opts)
    prompts = read_prompt_set(prompt_root or shipped_set())
    items = prompts.select(dimensions or None, list(langs))
    settings = {"model": model.describe(),
                "protocol": {"prompts": str(prompt_root) if prompt_root else "shipped", "seed": opts.seed, "text_only": text_only},
                "items": {"dimensions": dimensions or "all", "langs": langs, "count": len(items)},
                "concurrency": opts.concurrency, "versions": versions()}
    refuse_mixing(folder, RUNS_FILE, settings, [folder / "responses" / f"{lang}.jsonl" for lang in langs], opts.restart)

    async def main() -> RunReport:
        with progress("safety responses", len(items)) as advance:
            try:
                return await answer_items(items, prompts, model, folder, concurrency=opts.concurrency, settings=settings,
                                          seed=opts.seed, text_only=text_only, on_done=lambda ok: advance(1))
            finally:
                await model.aclose()

    return asyncio.run(main())


@click.command("safety-run")
@click.argument("submission", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--prompts", "prompt_root", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Prompt set in MLLMGuard's layout (<dimension>/prompt.csv + imgs/), e.g. the Carol0110/MLLMGuard "
                   "data downloaded by hand. Default: the project's own set.")
@click.option("--dimension", "dimensions", multiple=True, type=click.Choice(DIMENSIONS), help="Dimensions [default: all].")
@click.option("--lang", "langs", multiple=True, type=click.Choice(LANGS), help="Languages [default: the submission's].")
@click.option("--concurrency", type=click.IntRange(1), default=8, show_default=True, help="Requests at once.")
@click.option("--seed", type=int, default=0, show_default=True, help="Per-request sampling seed base.")
@click.option("--model", help="Model under test instead of the submission's endpoint: local:NAME|PATH or base URLs.")
@click.option("--model-name", help="Model name to request when --model is a URL.")
@click.option("--model-key-env", help="Environment variable holding the --model endpoint's API key.")
@click.option("--temperature", type=float, help="Override the endpoint's temperature.")
@click.option("--max-tokens", type=click.IntRange(1), help="Override the endpoint's max_tokens.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds per request.")
@click.option("--retries", type=click.IntRange(0), default=5, show_default=True, help="Retries per request (429/5xx/network).")
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True, help="Torch threads of local models.")
@click.option("--text-only", is_flag=True, help="Send the prompt without its image (a blind baseline for text-only models).")
@click.option("--restart", is_flag=True, help="Set existing responses aside (*.bak) and start over.")
def safety_run(submission: Path, prompt_root: Path | None, dimensions: tuple[str, ...], langs: tuple[str, ...],
               concurrency: int, seed: int, model: str | None, model_name: str | None, model_key_env: str | None,
               temperature: float | None, max_tokens: int | None, timeout: float, retries: int, threads: int,
               text_only: bool, restart: bool) -> None:
    """Answer the safety track's image-text prompts with the submission's model into responses/<lang>.jsonl.

    Answered items are kept: run again after a crash or failures and only the rest is asked. Exits 1 if some failed.
    """
    opts = ModelOptions(langs=list(langs), concurrency=concurrency, seed=seed, model=model, model_name=model_name,
                      model_key_env=model_key_env, model_temperature=temperature, model_max_tokens=max_tokens,
                      timeout=timeout, retries=retries, threads=threads, restart=restart)
    try:
        report = run_safety(submission, opts, list(dimensions), prompt_root, text_only)
    except BackendError as error:
        raise click.ClickException(str(error)) from None
    finish(report, "answered", submission / "responses")
