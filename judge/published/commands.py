"""`judge export-published`: the papers' judges from the hub (or local folders) into judge bundles, in one command."""
from __future__ import annotations

import json
from pathlib import Path

import click

from judge.bundle import shipped_bundles

BASES = {"esc-rank": "internlm/internlm2-chat-7b", "guardrank": "meta-llama/Llama-2-7b-hf"}
ENCODER_BASE = "FacebookAI/roberta-large"
WEIGHTS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.py"]


def fetch(ref: str, weights_only: bool = False) -> tuple[Path, str]:
    """A local folder as it is, else a hub repository downloaded to the hub cache; with a name for the manifest.
    For a base only config, tokenizer, code and safetensors come down (.bin only when there are no safetensors)."""
    if Path(ref).is_dir():
        return Path(ref), str(Path(ref).resolve())
    from huggingface_hub import HfApi, snapshot_download

    info = HfApi().model_info(ref, files_metadata=False)
    names = [s.rfilename for s in info.siblings or []]
    patterns = None
    if weights_only:
        patterns = WEIGHTS + ([] if any(n.endswith(".safetensors") for n in names) else ["*.bin"])
    return Path(snapshot_download(ref, revision=info.sha, allow_patterns=patterns)), f"{ref}@{info.sha}"


def which_judge(folder: Path) -> str:
    """ESC-RANK holds one adapter folder per dimension; GuardRank a LoRA folder and hallucination.pt."""
    if (folder / "fluency").is_dir() or (folder / "fluency_en").is_dir():
        return "esc-rank"
    if (folder / "hallucination.pt").is_file():
        return "guardrank"
    raise click.UsageError(f"{folder} holds neither ESC-RANK's adapter folders nor GuardRank's checkpoints")


def default_base(name: str, lora: Path | None) -> str:
    """The base the adapter names when that is a hub id (not a path on its authors' disk), else the paper's."""
    named = json.loads((lora / "adapter_config.json").read_text())["base_model_name_or_path"] if lora else ""
    return named if named and not named.startswith(("/", ".")) and named.count("/") == 1 else BASES[name]


@click.command("export-published")
@click.option("--from-hub", "hub", help="Hub repository of the published judge (haidequanbu/ESC-RANK or Carol0110/GuardRank).")
@click.option("--from-dir", "local", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="The same files in a local folder, instead of --from-hub.")
@click.option("--base", help="Base model: hub id or folder [default: internlm/internlm2-chat-7b; for GuardRank the "
              "adapter's own base if it names a hub id, else meta-llama/Llama-2-7b-hf].")
@click.option("--encoder-base", default=ENCODER_BASE, show_default=True, help="GuardRank's hallucination classifier base.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the bundle(s) [default: the shipped bundles folder, so `--judge esc-rank` finds it].")
@click.option("--dtype", type=click.Choice(["float16", "float32"]), help="[default: float16 on CUDA, float32 on the CPU]")
@click.option("--device", type=click.Choice(["cuda", "cpu"]), help="Where to trace the export [default: cuda if torch sees one].")
@click.option("--prompts", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="ESC-RANK rubric prompts (JSON, judge.published.prompts.PromptSet) instead of this project's wording.")
@click.option("--system", help="ESC-RANK system prompt [default: the one the base's chat() uses].")
@click.option("--languages", default="zh,en", show_default=True, help="ESC-RANK adapter languages to include.")
@click.option("--window", type=int, help="Longest prompt in tokens [default: ESC-RANK the base's; GuardRank 512 and 256, as its code].")
def export_published(hub: str | None, local: Path | None, base: str | None, encoder_base: str, out: Path | None,
                     dtype: str | None, device: str | None, prompts: Path | None, system: str | None,
                     languages: str, window: int | None) -> None:
    """Export ESC-RANK or GuardRank to ONNX judge bundles (needs the `published` extra; a GPU makes it fast)."""
    import torch

    from judge.published import build
    from judge.published.prompts import load_prompts

    if bool(hub) == bool(local):
        raise click.UsageError("give exactly one of --from-hub and --from-dir")
    folder, source = fetch(hub) if hub else (local, str(local))
    name = which_judge(folder)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = getattr(torch, dtype or ("float16" if device == "cuda" else "float32"))
    lora = next((p.parent for p in folder.rglob("adapter_config.json")), None) if name == "guardrank" else None
    if name == "guardrank" and lora is None:
        raise click.UsageError(f"{folder}: no LoRA adapter (adapter_config.json) for GuardRank's classifier")
    base_dir, base_source = fetch(base or default_base(name, lora), weights_only=True)
    out = out or shipped_bundles()
    if name == "esc-rank":
        made = [build.export_esc_rank(
            base_dir, folder, out / name, prompts=load_prompts(prompts), dtype=torch_dtype, device=device,
            languages=tuple(x.strip() for x in languages.split(",") if x.strip()), window=window, system=system,
            source=f"{source} on {base_source}")]
    else:
        encoder_dir, encoder_source = fetch(encoder_base, weights_only=True)
        made = [build.export_guardrank_decoder(base_dir, lora, out / "guardrank", dtype=torch_dtype, device=device,
                                               window=window or 512, source=f"{source} on {base_source}"),
                build.export_guardrank_encoder(encoder_dir, folder / "hallucination.pt", out / build.HALLUCINATION_BUNDLE,
                                               dtype=torch_dtype, device=device, window=window or 256,
                                               source=f"{source} on {encoder_source}")]
    for path in made:
        click.echo(f"wrote {path}")
    if name == "guardrank":  # the first bundle routes hallucination to the second: name the first
        click.echo(f"safety track: leaderboard build --safety-judge {'guardrank' if out == shipped_bundles() else made[0]}")
