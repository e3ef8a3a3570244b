"""`leaderboard run SUBMISSION`: play the ESC-Role dialogues of a submission into its transcripts folder."""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from judge.console import err
from judge.errors import InputError, Problem
from leaderboard.runner.backends import BackendError, ChatBackend, Sampling, make_backend
from leaderboard.esc.rolecards import LANGS, TOPICS, Lang, RoleCard, Topic, load_cards, select_cards
from leaderboard.esc.roleplay import DEFAULT_SYSTEM_PROMPT, ROLE_PROMPTS, RUNS_FILE, DialogueSetup, run_dialogues
from leaderboard.runner.model import ModelOptions, finish, model_under_test, versions
from leaderboard.runner.records import RunReport, refuse_mixing


DEFAULT_ROLEPLAYER = "local:smollm2-135m"


@dataclass
class RunOptions(ModelOptions):
    """Everything `run` can be told; defaults are ESC-Eval's protocol with the embedded cards and role-player."""

    card_files: list[Path] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)
    sample: int | None = None
    rounds: int = 5
    roleplayer: str = DEFAULT_ROLEPLAYER
    roleplayer_model: str | None = None
    roleplayer_key_env: str | None = None
    roleplayer_sampling: Sampling = Sampling(temperature=0.7, max_tokens=256)
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    role_prompts: dict[str, str] = field(default_factory=lambda: dict(ROLE_PROMPTS))


def run_submission(folder: Path, opts: RunOptions) -> RunReport:
    """Generate the transcripts of a submission folder; resumes where an earlier run stopped."""
    folder = Path(folder)
    model, langs = model_under_test(folder, opts)
    roleplayer = make_backend(opts.roleplayer, opts.roleplayer_sampling, model=opts.roleplayer_model,
                              api_key_env=opts.roleplayer_key_env, timeout=opts.timeout, max_retries=opts.retries,
                              threads=opts.threads)
    pool = load_cards(opts.card_files, langs)
    cards = [c for lang in langs for c in select_cards(pool, lang, opts.topics or None, opts.sample, opts.seed)]
    if not cards:
        raise InputError([Problem(folder, None, None, f"no role cards for {langs} and topics {opts.topics or TOPICS}")])
    protocol = DialogueSetup(rounds=opts.rounds, seed=opts.seed, system_prompt=opts.system_prompt,
                             role_prompts=dict(opts.role_prompts))
    settings = {
        "roleplayer": roleplayer.describe(), "model": model.describe(), "protocol": asdict(protocol),
        "cards": {"files": [str(p) for p in opts.card_files] or "embedded", "langs": langs,
                  "topics": opts.topics or list(TOPICS), "sample": opts.sample, "seed": opts.seed, "count": len(cards)},
        "concurrency": opts.concurrency, "versions": versions(),
    }
    refuse_mixing(folder, RUNS_FILE, settings, [folder / "transcripts" / f"{lang}.jsonl" for lang in langs], opts.restart)
    return asyncio.run(_run(cards, folder, roleplayer, model, protocol, opts.concurrency, settings))


async def _run(cards: list[RoleCard], folder: Path, roleplayer: ChatBackend, model: ChatBackend, protocol: DialogueSetup,
               concurrency: int, settings: dict[str, Any]) -> RunReport:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("[red]{task.fields[failed]} failed"), TextColumn("{task.fields[rate]}"),
                  TimeElapsedColumn(), console=err, disable=not err.is_terminal) as bar:
        task = bar.add_task("dialogues", total=len(cards), failed=0, rate="")
        clock = {"t0": time.monotonic(), "new": 0, "failed": 0}

        def on_start(total: int, skipped: int) -> None:
            bar.update(task, completed=skipped)

        def on_done(ok: bool) -> None:
            clock["new" if ok else "failed"] += 1
            per_min = 60 * clock["new"] / max(time.monotonic() - clock["t0"], 1e-9)
            bar.update(task, advance=1, failed=clock["failed"], rate=f"{per_min:.1f} dialogues/min")

        try:
            return await run_dialogues(cards, folder, roleplayer, model, protocol, concurrency=concurrency,
                                       settings=settings, on_start=on_start, on_done=on_done)
        finally:
            await roleplayer.aclose()
            await model.aclose()


@click.command("run")
@click.argument("submission", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--cards", "card_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Role card file: ESC-Eval's card_high_en.json / card_high_ch.json, or the project's JSONL. "
                   "Repeatable. Default: the embedded cards.")
@click.option("--lang", "langs", multiple=True, type=click.Choice(LANGS), help="Languages [default: the submission's].")
@click.option("--topic", "topics", multiple=True, type=click.Choice(TOPICS), help="Topics [default: all].")
@click.option("--sample", type=click.IntRange(1), help="Cards drawn per language, seeded [default: all].")
@click.option("--seed", type=int, default=0, show_default=True, help="Card sample and per-request sampling seed.")
@click.option("--rounds", type=click.IntRange(1), default=5, show_default=True)
@click.option("--concurrency", type=click.IntRange(1), default=16, show_default=True, help="Dialogues played at once.")
@click.option("--roleplayer", default=DEFAULT_ROLEPLAYER, show_default=True,
              help="local:NAME|PATH, or comma-separated base URLs of an OpenAI-compatible server (e.g. ESC-Role on vLLM).")
@click.option("--roleplayer-model", help="Model name to request from the role-player endpoint.")
@click.option("--roleplayer-key-env", help="Environment variable holding the role-player endpoint's API key.")
@click.option("--roleplayer-temperature", type=float, default=0.7, show_default=True)
@click.option("--roleplayer-max-tokens", type=click.IntRange(1), default=256, show_default=True)
@click.option("--model", help="Model under test instead of the submission's endpoint: local:NAME|PATH or base URLs.")
@click.option("--model-name", help="Model name to request when --model is a URL.")
@click.option("--model-key-env", help="Environment variable holding the --model endpoint's API key.")
@click.option("--temperature", type=float, help="Override the model under test's temperature.")
@click.option("--max-tokens", type=click.IntRange(1), help="Override the model under test's max_tokens.")
@click.option("--system-prompt", default=DEFAULT_SYSTEM_PROMPT, show_default=True,
              help="System prompt of the model under test ('' for none).")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds per request.")
@click.option("--retries", type=click.IntRange(0), default=5, show_default=True, help="Retries per request (429/5xx/network).")
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True, help="Torch threads of local models.")
@click.option("--restart", is_flag=True, help="Set existing transcripts aside (*.bak) and start over.")
@click.option("--role-prompt", "role_prompt_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='The role-player\'s instructions as JSON {"en": ..., "zh": ...} with {card}, e.g. ESC-Eval\'s original text.')
def run(submission: Path, card_files: tuple[Path, ...], langs: tuple[Lang, ...], topics: tuple[Topic, ...],
        sample: int | None, seed: int, rounds: int, concurrency: int, roleplayer: str, roleplayer_model: str | None,
        roleplayer_key_env: str | None, roleplayer_temperature: float, roleplayer_max_tokens: int, model: str | None,
        model_name: str | None, model_key_env: str | None, temperature: float | None, max_tokens: int | None,
        system_prompt: str, timeout: float, retries: int, threads: int, restart: bool,
        role_prompt_file: Path | None) -> None:
    """Play ESC-Eval role-play dialogues with the submission's model and write transcripts/<lang>.jsonl.

    Finished dialogues are kept: run again after a crash or failures and only the rest is played.
    Exits 1 if some dialogues failed.
    """
    opts = RunOptions(langs=list(langs), seed=seed, concurrency=concurrency, model=model, model_name=model_name,
                      model_key_env=model_key_env, model_temperature=temperature, model_max_tokens=max_tokens,
                      timeout=timeout, retries=retries, threads=threads, restart=restart, card_files=list(card_files),
                      topics=list(topics), sample=sample, rounds=rounds, roleplayer=roleplayer,
                      roleplayer_model=roleplayer_model, roleplayer_key_env=roleplayer_key_env,
                      roleplayer_sampling=Sampling(roleplayer_temperature, roleplayer_max_tokens),
                      system_prompt=system_prompt or None)
    if role_prompt_file:
        prompts = json.loads(role_prompt_file.read_text(encoding="utf-8"))
        if not isinstance(prompts, dict) or not all(isinstance(v, str) and "{card}" in v for v in prompts.values()):
            raise click.BadParameter("expected a JSON object of language -> text containing {card}", param_hint="--role-prompt")
        opts.role_prompts.update(prompts)
    try:
        report = run_submission(submission, opts)
    except BackendError as error:
        raise click.ClickException(str(error)) from None
    finish(report, "dialogues played", submission / "transcripts")
