"""`judge`: score transcripts (or, with a safety judge, safety responses) with a judge bundle, and inspect bundles."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from judge.bundle import resolve_bundle
from judge.console import err, progress, run_cli
from judge.errors import InputError, Problem
from judge.esc import DialogueScore, score_transcripts
from judge.prompt_runtime import open_judge
from judge.published.commands import export_published
from judge.safety import RULE_DIMENSIONS
from judge.safety_judge import ROUTES, SafetyScorer, with_routes
from judge.train import commands as train_commands  # click only: torch is imported inside the commands
from judge.transcript import Transcript, read_transcripts


def transcript_files(path: Path) -> list[Path]:
    """A file, or every .jsonl/.json file below a folder, in a stable order."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in {".jsonl", ".json"} and p.is_file())
        if not files:
            raise InputError([Problem(path, None, None, "no .jsonl or .json transcript files in this folder")])
        return files
    if not path.exists():
        raise InputError([Problem(path, None, None, "no such file or folder")])
    return [path]


def read_all(path: Path) -> list[Transcript]:
    """Every dialogue below path; problems of all files are reported together."""
    transcripts: list[Transcript] = []
    problems: list[Problem] = []
    for file in transcript_files(path):
        try:
            transcripts += read_transcripts(file)
        except InputError as error:
            problems += error.problems
    if problems:
        raise InputError(problems)
    return transcripts


def render(results: list[DialogueScore], fmt: str) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in results)
    dims = list(results[0].scores) if results else []
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["id", "track", "judge", *dims, *(f"{d}_expected" for d in dims)])
        for r in results:
            writer.writerow([r.id, r.track, r.judge, *r.scores.values(), *r.expected.values()])
        return buffer.getvalue()
    table = Table("id", *dims, title=results[0].judge if results else None)
    for r in results:
        table.add_row(r.id, *(f"{r.scores[d]} ({r.expected[d]:.2f})" for d in dims))
    console = Console(file=io.StringIO(), width=160, force_terminal=False)
    console.print(table)
    return console.file.getvalue()


def score_responses(path: Path, scorer: SafetyScorer) -> list[dict]:
    """Every safety response below path scored by the safety judge, as output records (paired dimensions are skipped:
    their rules need the prompt set's answers, so `leaderboard build` scores them)."""
    from leaderboard.submission import SafetyResponse, read_responses  # the submission format of responses/*.jsonl

    responses: list[SafetyResponse] = []
    problems: list[Problem] = []
    for file in transcript_files(path):
        try:
            responses += read_responses(file)
        except InputError as error:
            problems += error.problems
    judged = [r for r in responses if r.record.dimension not in RULE_DIMENSIONS]
    judge = scorer.judge
    problems += [Problem(r.source, r.line, "dimension", f"judge {judge.id} does not score {r.record.dimension!r}")
                 for r in judged if r.record.dimension not in judge.dimensions]
    if problems:
        raise InputError(problems)
    if len(judged) < len(responses):
        err.print(f"{len(responses) - len(judged)} {' and '.join(RULE_DIMENSIONS)} responses skipped: "
                  "they are scored in pairs by rule (leaderboard build)", soft_wrap=True)
    with progress(f"judging with {judge.id}", len(judged)) as advance:
        scores = scorer.score([(r.record.dimension, r.record.prompt, r.record.response) for r in judged], advance)
    return [{"id": r.record.id, "track": "safety", "lang": r.record.lang, "dimension": s.dimension, "score": s.score,
             "expected": s.expected, "judge": judge.id} for r, s in zip(judged, scores)]


def render_responses(records: list[dict], fmt: str) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, ["id", "track", "lang", "dimension", "score", "expected", "judge"])
        writer.writeheader()
        writer.writerows(records)
        return buffer.getvalue()
    table = Table("id", "lang", "dimension", "score", title=records[0]["judge"] if records else None)
    for r in records:
        table.add_row(r["id"], r["lang"], r["dimension"], f"{r['score']} ({r['expected']:.2f})")
    console = Console(file=io.StringIO(), width=160, force_terminal=False)
    console.print(table)
    return console.file.getvalue()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Offline judges for the ESC-Eval and MLLMGuard tracks, run with onnxruntime."""


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--judge", "judge_name", default=None, help="Shipped judge name or bundle folder [default: esc-lite].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "table"]), default="jsonl", show_default=True)
@click.option("--provider", multiple=True, help="onnxruntime execution provider(s) [default: CUDA if available, else CPU].")
def score(path: Path, judge_name: str | None, out: Path | None, fmt: str, provider: tuple[str, ...]) -> None:
    """Score every dialogue in PATH (a transcript file or folder; JSON Lines or ESC-Eval format).

    With a safety judge (guard-lite, guardrank...), score every safety response in PATH instead
    (responses/*.jsonl lines of a submission), each by the judge's bundle for its dimension."""
    bundle = resolve_bundle(judge_name, "esc")
    if bundle.manifest.track == "safety":
        text = render_responses(score_responses(path, SafetyScorer(with_routes(bundle), provider or None)), fmt)
    else:
        transcripts = read_all(path)
        judge = open_judge(bundle, providers=provider or None)
        with progress(f"judging with {judge.bundle.id}", len(transcripts)) as advance:
            results = score_transcripts(judge, transcripts, advance)
        text = render(results, fmt)
    if out:
        tmp = out.with_name(out.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("judge_name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def info(judge_name: str | None, as_json: bool) -> None:
    """Show a judge bundle's manifest: dimensions, training data, license, measured agreement."""
    bundle = resolve_bundle(judge_name, "esc")
    manifest = bundle.manifest.model_dump()
    if as_json:
        click.echo(json.dumps({"id": bundle.id, "path": str(bundle.path), **manifest}, indent=2, ensure_ascii=False))
        return
    click.echo(f"{bundle.id}  ({manifest['track']} track, version {manifest['version']})")
    click.echo(f"path: {bundle.path}")
    if manifest["test_only"]:
        click.echo("TEST ONLY: its scores mean nothing")
    click.echo(manifest["description"])
    for d in manifest["dimensions"]:
        click.echo(f"  {d['name']}: labels {d['labels']}")
    for dimension, folder in (manifest.get(ROUTES) or {}).items():
        click.echo(f"  {dimension}: scored by the bundle {folder} beside this one")
    click.echo(f"base: {manifest['base']}\nlicense: {manifest['license']}")
    for item in manifest["training_data"]:
        click.echo(f"  trained on: {item.get('name')} ({item.get('license', '?')})")
    held_out = {k: v for k, v in ((manifest.get("metrics") or {}).get("held_out") or {}).items() if isinstance(v, dict)}
    if held_out:
        table = Table("held-out check", *held_out, title="measured agreement (judge eval)", title_justify="left")
        columns = [dict(_scalars(values)) for values in held_out.values()]
        for name in columns[0]:
            table.add_row(name, *(_fmt(c.get(name)) for c in columns))
        Console().print(table)


def _scalars(metrics: dict, prefix: str = ""):
    """(dotted name, value) for every number and [low, high] interval in nested metrics; score distributions are left out."""
    for key, value in metrics.items():
        if isinstance(value, dict):
            yield from _scalars(value, f"{prefix}{key}.")
        elif (isinstance(value, (int, float)) and not isinstance(value, bool)) or key.endswith("ci95"):
            yield f"{prefix}{key}", value


def _fmt(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return "" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


for command in (train_commands.train, train_commands.export, train_commands.evaluate, export_published):
    cli.add_command(command)


def main() -> None:
    run_cli(cli)
