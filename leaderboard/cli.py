"""`leaderboard`: validate submissions, build the store and the site."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from judge.console import run_cli, say
from judge.errors import InputError, Problem
from leaderboard.esc.run import RunOptions, roleplayer_options, run as run_command
from leaderboard.intake import load_all
from leaderboard.pipeline import BuildConfig, build as run_build
from leaderboard.safety.run import safety_run
from leaderboard.submission import json_schema
from leaderboard.tracks import tracks


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """The ESC-Eval / MLLMGuard leaderboard: submissions in, DuckDB store and MkDocs site out."""


def parent_exists(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """An output path given on the command line must go into an existing folder (a typo is one clear line, exit 2);
    the default build/ folder is made when missing."""
    if value is not None and ctx.get_parameter_source(param.name or "") == ParameterSource.COMMANDLINE \
            and not value.absolute().parent.is_dir():
        raise InputError([Problem(value, None, param.name, f"cannot write: no folder {value.parent}")])
    return value


def role_cards_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--role-cards, the same on validate, build and check-pr."""
    return click.option("--role-cards", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
                        help="Role card files beside the shipped cards (repeatable): ESC-Eval's card_high_en.json / "
                             "card_high_ch.json, or your own. Dialogues must name a known card; the card files a run "
                             "recorded in roleplay-runs.jsonl are found here by sha256.")(command)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path), default=Path("submissions"))
@role_cards_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def validate(path: Path, role_cards: tuple[Path, ...], as_json: bool) -> None:
    """Check a submission folder (or every one below PATH): intake limits, the published schema, every track's
    protocol (dialogues against the role cards, safety responses against the prompt set)."""
    try:
        subs = load_all(path, tracks(role_cards))
    except InputError as error:
        if as_json:
            click.echo(json.dumps({"ok": False, "problems": [
                {"file": str(p.file), "line": p.line, "field": p.field, "message": p.message} for p in error.problems
            ]}, indent=1, ensure_ascii=False))
        raise
    if as_json:
        click.echo(json.dumps({"ok": True, "submissions": [
            {"id": s.id, "dialogues": len(s.transcripts), "responses": len(s.responses)} for s in subs
        ]}, indent=1))
    else:
        for s in subs:
            click.echo(f"ok  {s.id}: {len(s.transcripts)} dialogues, {len(s.responses)} safety responses")


@cli.command()
@click.option("--submissions", type=click.Path(path_type=Path), default=BuildConfig.submissions, show_default=True)
@click.option("--store", type=click.Path(dir_okay=False, path_type=Path), default=BuildConfig.store, show_default=True,
              callback=parent_exists, help="DuckDB file.")
@click.option("--docs", type=click.Path(file_okay=False, path_type=Path), default=BuildConfig.docs, show_default=True,
              help="MkDocs docs folder the pages are rendered into.")
@click.option("--site", type=click.Path(file_okay=False, path_type=Path), default=BuildConfig.site, show_default=True,
              callback=parent_exists, help="Where the built HTML site goes.")
@click.option("--mkdocs-config", type=click.Path(dir_okay=False, path_type=Path), default=BuildConfig.mkdocs_config,
              show_default=True)
@click.option("--judge", default=None, help="ESC judge: shipped name, bundle folder or served judge spec "
              "(openai:MODEL@URL, esc-rank:@URL; site/judges/published.md) [default: esc-lite].")
@click.option("--safety-judge", default=None, help="Safety judge: shipped name, bundle folder or served judge spec "
              "(guardrank:@URL, openai:MODEL@URL?track=safety) [default: guard-lite]; "
              "`guardrank` (GuardRank's export) brings its hallucination bundle along.")
@role_cards_option
@click.option("--allow-test-judge", is_flag=True, help="Allow a bundle marked test_only (for tests).")
@click.option("--no-site", is_flag=True, help="Score and store only; render nothing.")
@click.option("--no-run", is_flag=True, help="Do not play the dialogues of endpoint submissions (see `leaderboard run`).")
@roleplayer_options
@click.option("--wait", type=click.FloatRange(0), default=BuildConfig.wait, show_default=True,
              help="Seconds to wait for another build of the same store before giving up.")
@click.option("--json", "as_json", is_flag=True, help="Print the build report as JSON on stdout.")
def build(submissions: Path, store: Path, docs: Path, site: Path, mkdocs_config: Path, judge: str | None,
          safety_judge: str | None, role_cards: tuple[Path, ...], allow_test_judge: bool, no_site: bool,
          no_run: bool, wait: float, as_json: bool, **roleplayer: Any) -> None:
    """Validate, play what endpoint submissions miss (with their last run's settings), score (cached), store and
    render the leaderboard site. One build per store at a time: a second one waits."""
    report = run_build(BuildConfig(submissions, store, docs, site, mkdocs_config, judge, allow_test_judge, not no_site,
                                   safety_judge, role_cards, run_endpoints=not no_run,
                                   run_options=RunOptions(card_files=list(role_cards), **roleplayer), wait=wait))
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), indent=1))
        return
    say(f"{len(report.submissions)} submissions")
    for name, part in report.tracks.items():
        say(f"{name}: {part.items} items in {part.units} scoring units: {part.scored} scored now, {part.cached} from the "
            f"cache, judge {part.judge}")
    if report.removed:
        say(f"removed from the store: {', '.join(report.removed)}")
    if report.site:
        say(f"site: {report.site}/index.html (serve with: python -m http.server -d {report.site})")


@cli.command("check-pr")
@click.argument("folders", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@click.option("--base", default="origin/main", show_default=True, help="Git ref the pull request is compared with.")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
@click.option("--allow-update", is_flag=True, help="Maintainers: allow changes to a submission already on the board.")
@click.option("--judge", default=None, help="ESC judge: shipped name, bundle folder or served judge spec "
              "(openai:MODEL@URL, esc-rank:@URL; site/judges/published.md) [default: esc-lite].")
@click.option("--safety-judge", default=None, help="Safety judge: shipped name, bundle folder or served judge spec "
              "(guardrank:@URL, openai:MODEL@URL?track=safety) [default: guard-lite].")
@role_cards_option
@click.option("--allow-test-judge", is_flag=True, help="Allow a bundle marked test_only (for tests).")
@click.option("--summary", type=click.Path(dir_okay=False, path_type=Path), callback=parent_exists,
              help="Append the Markdown report here (on GitHub: $GITHUB_STEP_SUMMARY).")
def check_pr(folders: tuple[Path, ...], base: str, repo: Path, allow_update: bool, judge: str | None,
             safety_judge: str | None, role_cards: tuple[Path, ...], allow_test_judge: bool, summary: Path | None) -> None:
    """What CI runs on a submission pull request: intake, validation, judging every track, a Markdown table each.

    Without FOLDERS, the submission folders changed since --base are checked; a pull request may add
    one new submission and change nothing else.
    """
    from leaderboard import check_pr as pr

    try:
        result = pr.judge_submissions(list(folders) or pr.changed_submissions(repo, base, allow_update), judge,
                                      allow_test_judge, safety_judge, role_cards)
    except InputError as error:
        if summary:
            with summary.open("a", encoding="utf-8") as fh:
                fh.write(pr.markdown_problems(error))
        raise
    text = pr.markdown_summary(result)
    if summary:
        with summary.open("a", encoding="utf-8") as fh:
            fh.write(text)
    click.echo(text)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of submission.yaml."""
    click.echo(json.dumps(json_schema(), indent=2))


cli.add_command(run_command)
cli.add_command(safety_run)


def main() -> None:
    run_cli(cli)
