"""`judge train`, `judge export`, `judge eval`: the default judges from the shared data in one go.

    judge train && judge export && judge eval --write

rebuilds both shipped bundles (seed 0). Needs the `train` extra and ../shared; torch is imported
only inside these commands so the rest of the CLI runs without it.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from judge.bundle import JudgeBundle, write_manifest

TRACKS = click.Choice(["esc", "safety", "all"])
BUILD = Path("build/judges")
BUNDLES = Path(__file__).resolve().parents[1] / "bundles"
CARDS = Path(__file__).resolve().parents[2] / "site" / "judges"  # the judge cards (a checkout's, not an installed package's)


def _recipes(track: str):
    from judge.train.recipe import RECIPES

    return [RECIPES[t] for t in (("esc", "safety") if track == "all" else (track,))]


def _threads(n: int) -> None:
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(n)


@click.command("train")
@click.option("--track", type=TRACKS, default="all", show_default=True)
@click.option("--seed", default=0, show_default=True, help="Held-out split and inner split seed.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=BUILD, show_default=True)
@click.option("--threads", default=2, show_default=True, help="CPU threads for encoding.")
@click.option("--smoke", is_flag=True, help="Tiny run (40 items per set, small vocabulary) for CI.")
def train(track: str, seed: int, out: Path, threads: int, smoke: bool) -> None:
    """Encode the training sets with the frozen base once (cached) and fit the judges' heads."""
    from judge.train import build

    _threads(threads)
    for recipe in _recipes(track):
        build.train(_smoke(recipe) if smoke else recipe, out / recipe.name, out / "cache", seed, threads, smoke, log=click.echo)


def _smoke(recipe):
    from dataclasses import replace

    return replace(recipe, layers=1, max_tokens=32)


@click.command("export")
@click.option("--track", type=TRACKS, default="all", show_default=True)
@click.option("--trained", type=click.Path(file_okay=False, path_type=Path), default=BUILD, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=BUNDLES, show_default=True,
              help="int8 bundles go to OUT/NAME; fp32 references to TRAINED/NAME-fp32 (not shipped).")
@click.option("--smoke", is_flag=True)
@click.option("--from-hub", "hub", help="Export a published judge instead (haidequanbu/ESC-RANK, Carol0110/GuardRank): "
              "the same as `judge export-published`, which has every option.")
@click.option("--from-dir", "local", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A published judge's adapters from a local folder instead of the hub.")
@click.option("--base", help="With --from-hub/--from-dir: the base model (hub id or folder).")
@click.pass_context
def export(ctx: click.Context, track: str, trained: Path, out: Path, smoke: bool, hub: str | None, local: Path | None,
           base: str | None) -> None:
    """Export encoder + heads to ONNX, quantize to int8 (see judge.train.quantize), write the manifests.

    With --from-hub or --from-dir, export a published judge (ESC-RANK, GuardRank) instead.
    """
    if hub or local:
        from judge.published.commands import export_published

        ctx.invoke(export_published, hub=hub, local=local, base=base, out=None if out == BUNDLES else out)
        return
    from judge.train import build

    _threads(2)
    for recipe in _recipes(track):
        r = _smoke(recipe) if smoke else recipe
        build.export(r, trained / recipe.name, out / recipe.name, trained / f"{recipe.name}-fp32", trained / "cache", {},
                     smoke, log=click.echo)


def _finite(value):
    """NaN (an AUC with one class absent) becomes null, so manifests stay strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and value != value else value


@click.command("eval")
@click.argument("bundles", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=0, show_default=True)
@click.option("--split", type=click.Choice(["dev", "test"]), default="dev", show_default=True,
              help="dev: where recipe choices are made; test: the final split no choice looks at, read once for the cards.")
@click.option("--limit", type=int, default=None, help="Held-out items per set (smoke runs).")
@click.option("--reference", type=click.Path(file_okay=False, path_type=Path), default=BUILD,
              help="Folder holding NAME-fp32 reference bundles to compare against.")
@click.option("--transfer", is_flag=True, help="Leave one human-labelled source out instead (judge.train.transfer): heads "
              "refitted on the other sources, scored on the one left out, beside trivial baselines; with --write, stored in "
              "the manifest and written into the judge card. Recipe choices are made on this table.")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=Path("build/transfer-cache"), show_default=True,
              help="With --transfer: where encoded features are cached.")
@click.option("--relevance", is_flag=True, help="With --transfer on an ESC judge: add the untuned 12-layer base encoder's "
              "query-reply relevance as a column (judge.train.relevance; torch, slow on a CPU).")
@click.option("--write", is_flag=True, help="Store int8 and fp32 metrics in each bundle's manifest (an fp32 block "
              "measured before with the same seed stays when there is no reference now); with --split test, also write "
              "the discrimination suite's tables into the judge card (site/judges/NAME.md).")
def evaluate(bundles: tuple[Path, ...], seed: int, split: str, limit: int | None, reference: Path, transfer: bool,
             cache: Path, relevance: bool, write: bool) -> None:
    """Held-out agreement (by dialogue/prompt) of int8 bundles and their fp32 references; for ESC judges also the
    discrimination suite (real against degraded dialogues). With --transfer, leave-one-source-out agreement."""
    from judge.train.evaluate import evaluate as run

    for folder in bundles or (BUNDLES / "esc-lite", BUNDLES / "guard-lite"):
        bundle = JudgeBundle.load(folder)
        if transfer:
            _transfer(folder, bundle, cache, relevance, write)
            continue
        result = {"int8": _finite(run(folder, split, seed, limit))}
        ref = reference / f"{bundle.manifest.name}-fp32"
        if ref.is_dir():
            result["fp32"] = _finite(run(ref, split, seed, limit))
        click.echo(json.dumps({bundle.manifest.name: result}, indent=1, ensure_ascii=False))
        if write:
            fields = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            fields.pop("files", None)
            metrics = fields.get("metrics", {})
            key = "held_out" if split == "test" else "dev"  # `judge info` and the cards show the test split
            if metrics.get("seed") == seed:  # a block not measured now (no fp32 reference at hand) stays as measured before
                result = {**metrics.get(key, {}), **result}
            fields["metrics"] = {**metrics, key: result, "seed": seed}
            write_manifest(folder, fields)
            card = CARDS / f"{bundle.manifest.name}.md"
            if split == "test" and "discrimination" in result["int8"] and card.is_file():
                from judge.train.suite import write_into_card

                write_into_card(card, result["int8"]["discrimination"])


TRANSFER_START, TRANSFER_END = "<!-- transfer: written by judge eval --transfer --write -->", "<!-- end of transfer -->"


def _transfer(folder: Path, bundle: JudgeBundle, cache: Path, relevance: bool, write: bool) -> None:
    from judge.train.suite import replace_block
    from judge.train.transfer import leave_one_out, markdown

    rel = None
    if relevance and bundle.manifest.track == "esc":
        from judge.train.relevance import Relevance

        rel = Relevance(cache)
    result = _finite(leave_one_out(bundle.manifest.track, bundle, cache, relevance=rel, log=lambda s: click.echo(s, err=True)))
    click.echo(json.dumps({bundle.manifest.name: {"transfer": result}}, indent=1, ensure_ascii=False))
    if write:
        fields = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        fields.pop("files", None)
        fields["metrics"] = {**fields.get("metrics", {}), "transfer": result}
        write_manifest(folder, fields)
        card = CARDS / f"{bundle.manifest.name}.md"
        if card.is_file() and TRANSFER_START in card.read_text(encoding="utf-8"):
            replace_block(card, TRANSFER_START, TRANSFER_END, markdown(result))
