"""`leaderboard run SUBMISSION`: play the ESC-Role dialogues of a submission into its transcripts folder."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from judge.console import progress
from judge.errors import InputError, Problem
from leaderboard.runner.backends import BackendError, ChatBackend, Sampling, describe_backend, make_backend
from leaderboard.esc.rolecards import (LANGS, TOPICS, Lang, RoleCard, Topic, load_cards, read_card_files, recorded_files,
                                       select_cards)
from leaderboard.esc.roleplay import (DEFAULT_SYSTEM_PROMPT, ROLE_PROMPTS, RUNS_FILE, DialogueSetup, dialogue_id,
                                      run_dialogues)
from leaderboard.runner.model import ModelOptions, finish, model_spec, versions
from leaderboard.runner.records import RunReport, finished_ids, last_start, refuse_mixing
from leaderboard.submission import SUBMISSION_FILE, load_submission_yaml


DEFAULT_ROLEPLAYER = "local:smollm2-135m"


@dataclass
class RunOptions(ModelOptions):
    """Everything `run` can be told; defaults are ESC-Eval's protocol with the embedded cards and role-player."""

    card_files: list[Path] = field(default_factory=list)
    """Role card files to play (run's --cards), or with the protocol resumed from the log, where to find the ones it names."""
    topics: list[Topic] = field(default_factory=list)
    sample: int | None = None
    rounds: int = 5
    roleplayer: str | None = None
    """None: the role-player of the folder's last run, else DEFAULT_ROLEPLAYER (so are the two below)."""
    roleplayer_model: str | None = None
    roleplayer_key_env: str | None = None
    roleplayer_temperature: float | None = None
    roleplayer_max_tokens: int | None = None
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    role_prompts: dict[str, str] = field(default_factory=lambda: dict(ROLE_PROMPTS))


def resumed(folder: Path, opts: RunOptions, protocol: bool = False) -> RunOptions:
    """opts with what it leaves open taken from the folder's last run (roleplay-runs.jsonl): the role-player, and with
    `protocol` (build) the card selection, seed, rounds and prompts too, so what is missing is played as the run began:
    the card files it recorded are found by sha256 among opts.card_files."""
    line, last = last_start(folder / RUNS_FILE) or (None, {})
    player, cards, setup = last.get("roleplayer", {}), last.get("cards", {}), last.get("protocol", {})
    logged_player = (f"local:{player['model']}" if player.get("kind") == "local" else ",".join(player.get("base_urls", []))) or None
    fill: dict[str, Any] = {
        "roleplayer": opts.roleplayer or logged_player or DEFAULT_ROLEPLAYER,
        "roleplayer_model": opts.roleplayer_model or (player.get("model") if player.get("kind") == "openai" else None),
        "roleplayer_temperature": opts.roleplayer_temperature if opts.roleplayer_temperature is not None else player.get("temperature", 0.7),
        "roleplayer_max_tokens": opts.roleplayer_max_tokens or player.get("max_tokens", 256),
    }
    if protocol and last:
        files: list[Path] = []
        if cards.get("files", "embedded") != "embedded":
            found, problems = recorded_files(cards["files"], read_card_files(opts.card_files), folder / RUNS_FILE, line)
            if problems:
                raise InputError(problems)
            files = [f.path for f in found]
        fill |= {"card_files": files, "langs": cards.get("langs", []),
                 "topics": cards.get("topics", []), "sample": cards.get("sample"), "seed": setup.get("seed", 0),
                 "rounds": setup.get("rounds", 5), "system_prompt": setup.get("system_prompt"),
                 "role_prompts": setup.get("role_prompts", dict(ROLE_PROMPTS))}
    return dataclasses.replace(opts, **fill)


def run_submission(folder: Path, opts: RunOptions, protocol_from_log: bool = False) -> RunReport:
    """Generate the transcripts of a submission folder; resumes where an earlier run stopped. With nothing left
    to play, no backend is made (a finished submission needs no role-player installed)."""
    folder = Path(folder)
    opts = resumed(folder, opts, protocol_from_log)
    langs = list(opts.langs) or list(load_submission_yaml(folder / SUBMISSION_FILE).languages)
    files = read_card_files(opts.card_files)
    pool = [c for f in files for c in f.cards] if files else load_cards([], langs)
    cards = [c for lang in langs for c in select_cards(pool, lang, opts.topics or None, opts.sample, opts.seed)]
    if not cards:
        raise InputError([Problem(folder, None, None, f"no role cards for {langs} and topics {opts.topics or TOPICS}")])
    outputs = [folder / "transcripts" / f"{lang}.jsonl" for lang in langs]
    model_ref, model_sampling, model_how, _ = model_spec(folder, opts)
    player_spec = opts.roleplayer or DEFAULT_ROLEPLAYER
    player_sampling = Sampling(opts.roleplayer_temperature or 0.0, opts.roleplayer_max_tokens or 256)  # set by resumed
    player_how = {"model": opts.roleplayer_model, "api_key_env": opts.roleplayer_key_env, "timeout": opts.timeout,
                  "max_retries": opts.retries, "threads": opts.threads}
    protocol = DialogueSetup(rounds=opts.rounds, seed=opts.seed, system_prompt=opts.system_prompt,
                             role_prompts=dict(opts.role_prompts))
    settings = {
        "roleplayer": describe_backend(player_spec, player_sampling, **player_how),
        "model": describe_backend(model_ref, model_sampling, **model_how), "protocol": asdict(protocol),
        "cards": {"files": [f.record() for f in files] or "embedded", "langs": langs,
                  "topics": opts.topics or list(TOPICS), "sample": opts.sample, "seed": opts.seed, "count": len(cards)},
        "concurrency": opts.concurrency, "versions": versions(),
    }
    if not opts.restart:  # other settings are refused even when nothing is left to play
        refuse_mixing(folder, RUNS_FILE, settings, outputs, restart=False)
        if {dialogue_id(c) for c in cards} <= finished_ids(outputs):
            return RunReport(uuid.uuid4().hex[:12], len(cards), skipped=len(cards))
    model = make_backend(model_ref, model_sampling, **model_how)
    roleplayer = make_backend(player_spec, player_sampling, **player_how)
    if opts.restart:  # set the old records aside only once both backends could be made
        refuse_mixing(folder, RUNS_FILE, settings, outputs, restart=True)
    return asyncio.run(_run(cards, folder, roleplayer, model, protocol, opts.concurrency, settings))


async def _run(cards: list[RoleCard], folder: Path, roleplayer: ChatBackend, model: ChatBackend, protocol: DialogueSetup,
               concurrency: int, settings: dict[str, Any]) -> RunReport:
    with progress(f"playing {folder.name}", len(cards)) as advance:
        try:
            return await run_dialogues(cards, folder, roleplayer, model, protocol, concurrency=concurrency,
                                       settings=settings, on_start=lambda total, skipped: advance(skipped),
                                       on_done=lambda ok: advance(1))
        finally:
            await roleplayer.aclose()
            await model.aclose()


def roleplayer_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The role-player and transport options `run` and `build` share (build passes them to every endpoint run)."""
    for option in reversed([
        click.option("--roleplayer", help="local:NAME|PATH, or comma-separated base URLs of an OpenAI-compatible server "
                     f"(e.g. ESC-Role on vLLM) [default: the last run's, else {DEFAULT_ROLEPLAYER}]."),
        click.option("--roleplayer-model", help="Model name to request from the role-player endpoint."),
        click.option("--roleplayer-key-env", help="Environment variable holding the role-player endpoint's API key."),
        click.option("--roleplayer-temperature", type=float, help="[default: the last run's, else 0.7]"),
        click.option("--roleplayer-max-tokens", type=click.IntRange(1), help="[default: the last run's, else 256]"),
        click.option("--concurrency", type=click.IntRange(1), default=16, show_default=True, help="Dialogues played at once."),
        click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds per request."),
        click.option("--retries", type=click.IntRange(0), default=5, show_default=True,
                     help="Retries per request (429/5xx/network)."),
        click.option("--threads", type=click.IntRange(1), default=1, show_default=True, help="Torch threads of local models."),
    ]):
        command = option(command)
    return command




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
@roleplayer_options
@click.option("--model", help="Model under test instead of the submission's endpoint: local:NAME|PATH or base URLs.")
@click.option("--model-name", help="Model name to request when --model is a URL.")
@click.option("--model-key-env", help="Environment variable holding the --model endpoint's API key.")
@click.option("--temperature", type=float, help="Override the model under test's temperature.")
@click.option("--max-tokens", type=click.IntRange(1), help="Override the model under test's max_tokens.")
@click.option("--system-prompt", default=DEFAULT_SYSTEM_PROMPT, show_default=True,
              help="System prompt of the model under test ('' for none).")
@click.option("--restart", is_flag=True, help="Set existing transcripts aside (*.bak) and start over.")
@click.option("--role-prompt", "role_prompt_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='The role-player\'s instructions as JSON {"en": ..., "zh": ...} with {card}, e.g. ESC-Eval\'s original text.')
def run(submission: Path, card_files: tuple[Path, ...], langs: tuple[Lang, ...], topics: tuple[Topic, ...],
        sample: int | None, seed: int, rounds: int, model: str | None, model_name: str | None, model_key_env: str | None,
        temperature: float | None, max_tokens: int | None, system_prompt: str, restart: bool,
        role_prompt_file: Path | None, **roleplayer: Any) -> None:
    """Play ESC-Eval role-play dialogues with the submission's model and write transcripts/<lang>.jsonl.

    Finished dialogues are kept: run again after a crash or failures and only the rest is played.
    Exits 1 if some dialogues failed.
    """
    opts = RunOptions(langs=list(langs), seed=seed, model=model, model_name=model_name, model_key_env=model_key_env,
                      model_temperature=temperature, model_max_tokens=max_tokens, restart=restart,
                      card_files=list(card_files), topics=list(topics), sample=sample, rounds=rounds,
                      system_prompt=system_prompt or None, **roleplayer)
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
