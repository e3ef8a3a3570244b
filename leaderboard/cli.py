"""`leaderboard`: validate submissions, build the store and the site."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from judge.console import err, run_cli
from judge.errors import InputError
from leaderboard.build import BuildConfig, build as run_build, load_all
from leaderboard.submission import json_schema


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """The ESC-Eval / MLLMGuard leaderboard: submissions in, DuckDB store and MkDocs site out."""


@cli.command()
@click.argument("path", type=click.Path(path_type=Path), default=Path("submissions"))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def validate(path: Path, as_json: bool) -> None:
    """Check a submission folder (or every one below PATH) against the published schema."""
    try:
        subs = load_all(path)
    except InputError as error:
        if as_json:
            click.echo(json.dumps({"ok": False, "problems": [
                {"file": str(p.file), "line": p.line, "field": p.field, "message": p.message} for p in error.problems
            ]}, indent=1, ensure_ascii=False))
        raise
    if as_json:
        click.echo(json.dumps({"ok": True, "submissions": [
            {"id": s.id, "dialogues": len(s.transcripts)} for s in subs
        ]}, indent=1))
    else:
        for s in subs:
            click.echo(f"ok  {s.id}: {len(s.transcripts)} dialogues")


@cli.command()
@click.option("--submissions", type=click.Path(path_type=Path), default=BuildConfig.submissions, show_default=True)
@click.option("--store", type=click.Path(dir_okay=False, path_type=Path), default=BuildConfig.store, show_default=True,
              help="DuckDB file.")
@click.option("--docs", type=click.Path(file_okay=False, path_type=Path), default=BuildConfig.docs, show_default=True,
              help="MkDocs docs folder the pages are rendered into.")
@click.option("--site", type=click.Path(file_okay=False, path_type=Path), default=BuildConfig.site, show_default=True,
              help="Where the built HTML site goes.")
@click.option("--mkdocs-config", type=click.Path(dir_okay=False, path_type=Path), default=BuildConfig.mkdocs_config,
              show_default=True)
@click.option("--judge", default=None, help="ESC judge: shipped name or bundle folder [default: esc-lite].")
@click.option("--allow-test-judge", is_flag=True, help="Allow a bundle marked test_only (for tests).")
@click.option("--no-site", is_flag=True, help="Score and store only; render nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the build report as JSON on stdout.")
def build(submissions: Path, store: Path, docs: Path, site: Path, mkdocs_config: Path, judge: str | None,
          allow_test_judge: bool, no_site: bool, as_json: bool) -> None:
    """Validate, score (cached), store and render the leaderboard site."""
    report = run_build(BuildConfig(submissions, store, docs, site, mkdocs_config, judge, allow_test_judge, not no_site))
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), indent=1))
        return
    err.print(f"{len(report.submissions)} submissions, {report.dialogues} dialogues: "
              f"{report.scored} scored, {report.cached} from the cache, judge {report.judge}")
    if report.removed:
        err.print(f"removed from the store: {', '.join(report.removed)}")
    if report.site:
        err.print(f"site: {report.site}/index.html (serve with: python -m http.server -d {report.site})")


@cli.command()
def schema() -> None:
    """Print the JSON Schema of submission.yaml."""
    click.echo(json.dumps(json_schema(), indent=2))


def main() -> None:
    run_cli(cli)
