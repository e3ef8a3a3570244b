"""`judge`: score transcripts (or, with a safety judge, safety answers) with a judge bundle, summarise and compare
scores, and inspect bundles."""
from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import click
from rich.table import Table

from judge.agree import agreement, agreement_json, agreement_table, cells_of_rows
from judge.bundle import JudgeBundle, resolve_bundle
from judge.console import as_text, progress, run_cli, say, show
from judge.errors import STDIN, InputError, Problem, shown_name
from judge.esc import score_transcripts
from judge.limits import MAX_MESSAGES, SUBMISSION_FILE
from judge.prompt_runtime import open_judge
from judge.published.commands import export_published
from judge.safety import RULE_DIMENSIONS
from judge.safety_answers import read_answers
from judge.safety_judge import ROUTES, SafetyScorer, with_routes
from judge.spreadsheet import write_csv
from judge.scores import (ComparisonRow, EscRow, SafetyRow, compare, comparison_table, read_scores, report_json, row_json,
                          summarise, summary_table)
from judge.stats import MIN_PAIRS
from judge.train import commands as train_commands  # click only: torch is imported inside the commands
from judge.transcript import TABLE_SUFFIXES, read_chat_logs

TRANSCRIPT_SUFFIXES = (".jsonl", ".json", *TABLE_SUFFIXES)
ANSWER_SUFFIXES = (".jsonl",)
Rows = list[EscRow | SafetyRow]
T = TypeVar("T")


def input_files(path: Path, suffixes: tuple[str, ...], subfolder: str) -> list[Path]:
    """A file (`-`: standard input), or every file with these suffixes below a folder, in a stable order. Of a
    submission folder (one with submission.yaml) only its subfolder (transcripts/ or responses/) is read, never its
    run log."""
    if path == STDIN:
        return [path]
    if not path.exists():
        raise InputError([Problem(path, None, None, "no such file or folder")])
    if not path.is_dir():
        return [path]
    submissions = [s.parent for s in path.rglob(SUBMISSION_FILE)]
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes and p.is_file()
                   and all(not p.is_relative_to(s) or p.is_relative_to(s / subfolder) for s in submissions))
    if not files:
        raise InputError([Problem(path, None, None, f"no {', '.join(suffixes)} files in this folder"
                                                    + (f" (a submission's are read from {subfolder}/)" if submissions else ""))])
    return files


def _file_label(file: Path, root: Path) -> str:
    """How an output row names its file: relative to the folder scored, or the file's own name."""
    return shown_name(file) if file == STDIN else file.relative_to(root).as_posix() if root.is_dir() else file.name


def gather(files: Iterable[Path], read: Callable[[Path], list[T]]) -> list[T]:
    """Every item of every file; the problems of all files are reported together."""
    items: list[T] = []
    problems: list[Problem] = []
    for file in files:
        try:
            items += read(file)
        except InputError as error:
            problems += error.problems
    if problems:
        raise InputError(problems)
    return items


def read_for_judge(read: Callable[[Path], list[T]], other: Callable[[Path], object], hint: str) -> Callable[[Path], list[T]]:
    """read, except that a file read cleanly by the other track's reader is refused in one line that names the
    judge it needs, instead of every line it would break."""
    def reading(file: Path) -> list[T]:
        try:
            return read(file)
        except InputError as error:
            try:
                other(file)
            except InputError:
                raise error from None
            raise InputError([Problem(file, None, None, hint)]) from None
    return reading


def score_dialogues(path: Path, bundle: JudgeBundle, lang: str | None, providers: list[str] | None) -> Rows:
    """Every dialogue below path scored, one row each, naming its file and language."""
    read = read_for_judge(lambda f: read_chat_logs(f, lang), read_answers,
                          f"safety answers (id, dimension, prompt, response), not dialogues: {bundle.id} is an ESC "
                          "judge; score answers with a safety judge (--judge guard-lite)")
    transcripts = gather(input_files(path, TRANSCRIPT_SUFFIXES, "transcripts"), read)
    judge = open_judge(bundle, providers=providers)
    with progress(f"judging with {judge.bundle.id}", len(transcripts)) as advance:
        results = score_transcripts(judge, transcripts, advance)
    return [EscRow(id=r.id, file=_file_label(t.source, path), lang=t.lang, card_id=t.card_id, key=t.pairing_key,
                   scores=r.scores, expected=r.expected, judge=r.judge, unscored=list(r.unscored), replies=r.replies)
            for t, r in zip(transcripts, results)]


def score_answers(path: Path, scorer: SafetyScorer, lang: str | None) -> Rows:
    """Every safety answer below path scored by the safety judge (the paired dimensions are skipped: their rules
    need the prompt set's answers, so `leaderboard build` scores them)."""
    judge = scorer.judge
    read = read_for_judge(lambda f: read_answers(f, lang), read_chat_logs,
                          f"dialogues, not safety answers: {judge.id} is a safety judge; score dialogues with an ESC "
                          "judge (--judge esc-lite)")
    answers = gather(input_files(path, ANSWER_SUFFIXES, "responses"), read)
    judged = [a for a in answers if a.dimension not in RULE_DIMENSIONS]
    if not judged:
        raise InputError([Problem(path, None, "dimension", f"every answer is {' or '.join(RULE_DIMENSIONS)}: those are "
                                  "scored in pairs by rule against the prompt set (leaderboard build), not by a judge")])
    problems = [Problem(a.source, a.line, "dimension", f"judge {judge.id} does not score {a.dimension!r} "
                                                       f"(it scores {', '.join(judge.dimensions)})")
                for a in judged if a.dimension not in judge.dimensions]
    if problems:
        raise InputError(problems)
    if len(judged) < len(answers):
        say(f"{len(answers) - len(judged)} {' and '.join(RULE_DIMENSIONS)} answers skipped: "
            "they are scored in pairs by rule (leaderboard build)")
    with progress(f"judging with {judge.id}", len(judged)) as advance:
        scores = scorer.score([(a.dimension, a.prompt, a.response) for a in judged], advance)
    served = not judge.content_pinned  # an endpoint judge: its raw reply is kept, and a reply without a label is unscored
    return [SafetyRow(id=a.id, file=_file_label(a.source, path), lang=a.lang, dimension=s.dimension, score=s.score,
                      expected=s.expected, judge=judge.id, unscored=served and s.score is None,
                      reply=s.detail if served else None) for a, s in zip(judged, scores)]


def scorer_for(judge_name: str | None, providers: tuple[str, ...]) -> Callable[[Path, str | None], Rows]:
    """Score a path with the named judge: dialogues with an ESC judge, answers with a safety judge."""
    bundle = resolve_bundle(judge_name, "esc")
    if bundle.manifest.track == "safety":
        scorer = SafetyScorer(with_routes(bundle), list(providers) or None)
        return lambda path, lang: score_answers(path, scorer, lang)
    return lambda path, lang: score_dialogues(path, bundle, lang, list(providers) or None)


def render(rows: Rows, fmt: str) -> str:
    """Score rows as JSON Lines, CSV (ESC: a column per dimension and its expected value) or a table."""
    if fmt == "jsonl":
        return "".join(row_json(r) + "\n" for r in rows)
    esc = [r for r in rows if isinstance(r, EscRow)]
    dims = list(dict.fromkeys(d for r in esc for d in [*r.scores, *r.unscored]))  # an unscored dimension stays a column
    if fmt == "csv":
        buffer = io.StringIO()
        if esc:
            write_csv(buffer, ["id", "file", "lang", "card_id", "track", "judge", *dims, *(f"{d}_expected" for d in dims)],
                      ([r.id, r.file, r.lang, r.card_id, r.track, r.judge, *(r.scores.get(d, "") for d in dims),
                        *(r.expected.get(d, "") for d in dims)] for r in esc))
        else:
            fields = list(SafetyRow.model_fields)
            write_csv(buffer, fields, ([r.model_dump()[f] for f in fields] for r in rows))
        return buffer.getvalue()
    if esc:
        table = Table("id", "file", "lang", *dims, title=rows[0].judge)
        for r in esc:
            table.add_row(r.id, r.file, r.lang, *(f"{r.scores[d]} ({r.expected[d]:.2f})" if d in r.scores
                                                  else "unscored" if d in r.unscored else "" for d in dims))
    else:
        table = Table("id", "file", "lang", "dimension", "score", title=rows[0].judge if rows else None)
        for r in rows:
            table.add_row(r.id, r.file, r.lang, r.dimension, "unscored" if r.unscored else "" if r.score is None
                          else f"{r.score} ({r.expected:.2f})")
    return as_text(table)


def write(text: str, target: Path | None) -> None:
    """To stdout, or to a file replaced whole (a half-written file is never left under its name)."""
    if target is None:
        click.echo(text, nl=False)
        return
    tmp = target.with_name(target.name + ".part")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    except OSError as error:
        raise InputError([Problem(target, None, None, f"cannot write: {error.strerror}")]) from None


LANG = click.option("--lang", type=click.Choice(["en", "zh"], case_sensitive=False),
                    help="The language of every dialogue (or answer), instead of its `lang` field or the detected one.")
JUDGE = click.option("--judge", "judge_name", default=None,
                     help="Shipped judge name, bundle folder, or a served judge: openai:MODEL@URL, esc-rank:@URL, "
                          "guardrank:@URL (site/judges/published.md) [default: esc-lite].")
PROVIDER = click.option("--provider", multiple=True,
                        help="onnxruntime execution provider(s) [default: CUDA if available, else CPU].")
AS_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Offline judges for the ESC-Eval and MLLMGuard tracks, run with onnxruntime."""


@cli.command(help=f"""Score every dialogue in PATH (a transcript file or folder, or - for standard input), then print
a summary on stderr.

\b
Reads:
- JSON Lines, one dialogue a line: the project's format, or chat logs with OpenAI-style `messages`
  or ShareGPT's `conversations` (from/value; human is the seeker, gpt the model); system, developer
  and tool messages are not read by the judge; a speaker's consecutive messages are joined; `id`
  defaults to the line number; `lang` (en or zh, any case or region: EN, en-US) is detected when
  absent: zh when a fifth or more of the seeker's letters are CJK characters, else en;
- one dialogue as a JSON object, a JSON array of them, or ESC-Eval's JSON (id -> turns);
- CSV or Parquet tables of (id, role, content) turns, one row a turn, optional lang and card_id.
A dialogue may have up to {MAX_MESSAGES:,} messages; long ones are read whole, window by window.
In a folder, every .jsonl/.json/.csv/.parquet file is read, and each row names its file; of a
submission folder only transcripts/ (or responses/) is read.

With a safety judge (guard-lite, guardrank...), score every safety answer in PATH instead (JSON Lines
of id, dimension, prompt, response, optional lang; no image needed), each by the bundle of its dimension.
A file of the other kind is refused with the kind of judge it needs.
The summary gives per dimension, language and measure the mean on 0-100 with its 95% interval and n
(`judge summary FILE --json` prints it as JSON).""")
@click.argument("path", type=click.Path(path_type=Path))
@JUDGE
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the rows here instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "table"]), default="jsonl", show_default=True)
@LANG
@PROVIDER
def score(path: Path, judge_name: str | None, out: Path | None, fmt: str, lang: str | None,
          provider: tuple[str, ...]) -> None:
    if out is not None and not out.parent.is_dir():  # found out before scoring, not after
        raise InputError([Problem(out, None, None, f"cannot write: no folder {out.parent}")])
    rows = scorer_for(judge_name, provider)(path, lang)
    write(render(rows, fmt), out)
    if rows:
        show(summary_table(summarise(rows), title=f"summary ({rows[0].judge})"), stderr=True)
    say_unscored(rows)


def say_unscored(rows: Rows) -> None:
    """An endpoint judge's replies without a valid label: counted, never scored as 0."""
    unscored = sum(len(r.unscored) if isinstance(r, EscRow) else int(r.unscored) for r in rows)
    judged = sum(len(r.scores) + len(r.unscored) if isinstance(r, EscRow) else 1 for r in rows)
    if unscored:
        say(f"{unscored} of {judged} judgements unscored: the reply held no valid label (its raw reply is in the "
            "row's replies; it counts in no mean)", "warning", "yellow")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--pool", is_flag=True, help="One summary of the rows of all files together (one judge's), not one per file.")
@AS_JSON
def summary(files: tuple[Path, ...], pool: bool, as_json: bool) -> None:
    """Summarise score files written by `judge score` (JSON Lines; - for standard input), each file on its own
    rows: per track, language, dimension and measure, the mean on 0-100 (ESC: score x 25, higher is better;
    safety: ASD, attack success degree, lower is safer, and PAR, perfect answer rate, higher is safer), its 95%
    interval and n, computed as the leaderboard computes them (judge.stats: an interval that stays honest at
    small n, never a zero-width one)."""
    per_file = gather(files, lambda f: [(f, read_scores(f))])
    rows = [r for _, file_rows in per_file for r in file_rows]
    judges = sorted({r.judge for r in rows})
    if pool:
        if len(judges) > 1:
            raise InputError([Problem(files[-1], None, "judge", f"scored by {', '.join(judges)}: only scores of one "
                                                                "judge can be pooled")])
        result = summarise(rows)
    else:
        result = [row for f, file_rows in per_file for row in summarise(file_rows, file=shown_name(f))]
    if as_json:
        click.echo(report_json(result, judges=judges, files=[shown_name(f) for f in files], pooled=pool), nl=False)
    else:
        show(summary_table(result))


def say_unpaired(rows: list[ComparisonRow]) -> None:
    """Items of one side that found no partner on the other, per track and language: left out, said so."""
    sides: dict[tuple[str, str], tuple[int, int, int]] = {}
    for r in rows:
        n, only_a, only_b = sides.get((r.track, r.lang), (0, 0, 0))
        sides[(r.track, r.lang)] = (max(n, r.n), max(only_a, r.only_a), max(only_b, r.only_b))
    for (track, lang), (n, only_a, only_b) in sides.items():
        if only_a or only_b:
            say(f"{track} {lang}: {n} items paired; {only_a} of A's and {only_b} of B's have no partner on the other "
                "side and are left out", "warning", "yellow")


@cli.command(name="compare", help=f"""Compare two models with the site's paired test: A and B are score files written
by `judge score`, or two folders (submissions, or folders of transcripts or answers) scored here with --judge.

Per track, language, dimension and measure, over the items both scored: mean A, mean B and A - B on 0-100
with the 95% bootstrap CI of the difference (judge.stats); a verdict only when the CI excludes 0, and below
{MIN_PAIRS} shared items neither CI nor verdict. An ESC dialogue is identified by its role card (card_id),
else by the id its file gave it, else (a chat log without ids, whose id is its line number) by its opening,
the seeker's first message; a safety answer by its prompt id, in the same dimension on both sides. Items
without a partner are left out, with a warning.""")
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@JUDGE
@LANG
@PROVIDER
@AS_JSON
def compare_command(a: Path, b: Path, judge_name: str | None, lang: str | None, provider: tuple[str, ...],
                    as_json: bool) -> None:
    score_folder = scorer_for(judge_name, provider) if a.is_dir() or b.is_dir() else None
    sides = [score_folder(p, lang) if p.is_dir() and score_folder else read_scores(p) for p in (a, b)]
    result = compare(*sides, a, b)
    say_unpaired(result)
    if as_json:
        click.echo(report_json(result, a=str(a), b=str(b), judge=sides[0][0].judge), nl=False)
    else:
        show(comparison_table(result, title=f"A: {a}   B: {b}   ({sides[0][0].judge}; A − B on 0–100)"))


@cli.command(name="agree")
@click.argument("a")
@click.argument("b")
@click.option("--on", "on", type=click.Path(path_type=Path),
              help="Score this file or folder with the judges A and B (names, bundle folders or served judge specs) "
                   "instead of reading A and B as score files.")
@LANG
@PROVIDER
@AS_JSON
def agree_command(a: str, b: str, on: Path | None, lang: str | None, provider: tuple[str, ...], as_json: bool) -> None:
    """How far two judges agree on the same items: A and B are score files written by `judge score` (the same
    items: the same file and id), or two judges run here on one folder with --on.

    Per track, language and dimension, over the items both judges labelled: Spearman, quadratic-weighted kappa,
    exact agreement and agreement within one label (ESC-Eval's ACC and ACC±1), each with a 95% bootstrap CI over
    items; unscored judgements are left out and counted in only A / only B."""
    sides = [scorer_for(x, provider)(on, lang) for x in (a, b)] if on else [read_scores(Path(x)) for x in (a, b)]
    judges = [", ".join(sorted({r.judge for r in side})) for side in sides]
    rows = agreement(cells_of_rows(sides[0]), cells_of_rows(sides[1]))
    if not any(r.n for r in rows):
        raise InputError([Problem(Path(b), None, None, f"shares no labelled item with {a} (the same file and id, "
                                                       "language and dimension)")])
    if as_json:
        click.echo(agreement_json(rows, a=a, b=b, judge_a=judges[0], judge_b=judges[1]), nl=False)
    else:
        show(agreement_table(rows, title=f"A: {judges[0]}   B: {judges[1]}   (95% CI over items)"))


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
    if manifest.get("quantization"):
        q = manifest["quantization"]
        click.echo(f"quantization: {q['scheme']} ({q['description']}); batch-independent: {'yes' if q['batch_independent'] else 'no'}")
    for item in manifest["training_data"]:
        click.echo(f"  trained on: {item.get('name')} ({item.get('license', '?')})")
    transfer = (manifest.get("metrics") or {}).get("transfer")
    if transfer:  # leads: agreement on sources the heads never saw (judge eval --transfer)
        rows = transfer["rows"]
        cols = list(dict.fromkeys(k for r in rows for k in [*r["learned"], *r["baselines"]]))
        table = Table("left out", "dimension", "metric", *cols, title=f"transfer: {transfer['protocol']}", title_justify="left")
        for r in rows:
            cells = {**r["learned"], **r["baselines"]}
            table.add_row(f"{r['source']} ({', '.join(r['langs'])})", r["dimension"], r["metric"],
                          *(_fmt(cells[c]["value"]) if c in cells else "" for c in cols))
        show(table)
    held_out = {k: v for k, v in ((manifest.get("metrics") or {}).get("held_out") or {}).items() if isinstance(v, dict)}
    if held_out:
        table = Table("held-out check", *held_out, title="measured agreement (judge eval)", title_justify="left")
        columns = [dict(_scalars(values)) for values in held_out.values()]
        for name in columns[0]:
            table.add_row(name, *(_fmt(c.get(name)) for c in columns))
        show(table)
    suite = (held_out.get("int8") or {}).get("discrimination")
    if suite:
        groups = list(suite["dialogues"])
        table = Table("kind (dimension it should hurt)", *(f"{g} (n={suite['dialogues'][g]})" for g in groups),
                      title=f"real > degraded, share of dialogues on overall / on the dimension ({suite['split']} split)",
                      title_justify="left")
        for kind, per in suite["kinds"].items():
            t = per["targets"]
            table.add_row(f"{kind} ({t})", *(f"{per[g]['overall']['share']:.0%} / {per[g][t]['share']:.0%}" if g in per else ""
                                             for g in groups))
        show(table)


def _scalars(metrics: dict, prefix: str = ""):
    """(dotted name, value) for every number and [low, high] interval in nested metrics; score distributions are left out."""
    for key, value in metrics.items():
        if key == "discrimination":  # a table of its own
            continue
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
