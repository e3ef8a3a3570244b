"""Turn the published checkpoints into judge bundles: ESC-RANK (one digit-scoring graph + an adapter file per
language and dimension), GuardRank's LLaMA-2 classifier and its RoBERTa hallucination classifier."""
from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from judge.bundle import write_manifest
from judge.dimensions import SAFETY_DIMENSIONS
from judge.published.graphs import DigitScorer, LastTokenClassifier, RobertaGuard, adapter_inputs, export_graph
from judge.published.prompts import (CHATML, ESC_RANK_KEYS, GUARD_TEMPLATE, HALLUCINATION_TEMPLATE, PromptSet, adapter_folder,
                                     dump_prompts)
from judge.published.weights import ATTENTION, load_causal_lm, read_adapter, read_json

HALLUCINATION_BUNDLE = "guardrank-hallucination"
"""The folder, beside the LLaMA classifier's bundle, of GuardRank's hallucination classifier; the LLaMA bundle's
manifest routes hallucination there (judge.safety_judge), so the safety track uses both under one id."""


class ExportError(ValueError):
    """A published checkpoint cannot become a bundle as asked; the message says what to change."""


def internlm2_system_prompt(base: Path) -> str:
    """The default system prompt of the base's own chat(), read from its source without running it."""
    for file in sorted(Path(base).glob("modeling_*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name == "chat":
                args = node.args.args[len(node.args.args) - len(node.args.defaults):] + node.args.kwonlyargs
                defaults = node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
                for arg, default in zip(args, defaults):
                    if arg.arg == "meta_instruction":
                        return ast.literal_eval(default)
    raise ExportError(f"{base}: no chat(meta_instruction=...) found in modeling_*.py; pass --system")


def tokenizer_json(base: Path, dst: Path) -> Tokenizer:
    """The base's tokenizer.json, or its fast tokenizer converted (needs the base's remote code)."""
    if (Path(base) / "tokenizer.json").is_file():
        shutil.copyfile(Path(base) / "tokenizer.json", dst)
    else:
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(str(base), trust_remote_code=True, use_fast=True).backend_tokenizer.save(str(dst))
    return Tokenizer.from_file(str(dst))


def with_bos(template: str, tokenizer: Tokenizer, bos_id: int | None) -> str:
    """Prefix the BOS token text when the tokenizer does not add it itself (chat() always starts with it)."""
    if bos_id is None or tokenizer.encode(template.replace("{prompt}", "x")).ids[:1] == [bos_id]:
        return template
    return tokenizer.id_to_token(bos_id) + template


def label_token_ids(tokenizer: Tokenizer, template: str, labels: list[int]) -> list[int]:
    """The token each label digit is generated as, right after the prompt (not as a word on its own)."""
    tail = template.split("{prompt}")[-1]
    before = tokenizer.encode(tail, add_special_tokens=False).ids
    ids = []
    for label in labels:
        after = tokenizer.encode(tail + str(label), add_special_tokens=False).ids
        if after[: len(before)] != before or len(after) != len(before) + 1:
            raise ExportError(f"label {label} is not one token after the prompt's end {tail!r}: {after}")
        ids.append(after[-1])
    return ids


def _fresh(out: Path) -> Path:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    return out


def check_window(tokenizer: Tokenizer, texts: dict[str, str], window: int) -> None:
    """Refuse an export whose prompts do not fit the window even with an empty dialogue or item."""
    over = {k: n for k, text in texts.items() if (n := len(tokenizer.encode(text).ids)) >= window}
    if over:
        raise ExportError("prompt longer than the model's window of "
                          f"{window} tokens before any dialogue is added (nothing is cut): "
                          + ", ".join(f"{k} = {n} tokens" for k, n in over.items()))


def export_esc_rank(
    base: Path, adapters: Path, out: Path, *, prompts: PromptSet, dtype: torch.dtype = torch.float32,
    device: str = "cpu", languages: tuple[str, ...] = ("zh", "en"), window: int | None = None,
    system: str | None = None, chat_template: str | None = None, name: str = "esc-rank", source: str = "",
) -> Path:
    """ESC-RANK as one bundle: a digit-scoring graph of the base, plus each (language, dimension) adapter as an .npz."""
    base, adapters, out = Path(base), Path(adapters), _fresh(Path(out))
    config = read_json(base / "config.json")
    missing = [adapter_folder(lang, key) for lang in languages for key in ESC_RANK_KEYS
               if not (adapters / adapter_folder(lang, key) / "adapter_config.json").is_file()]
    if missing:
        raise ExportError(f"{adapters}: no adapter folder(s) {', '.join(missing)}")
    if [lang for lang in languages if lang not in prompts.prompts]:
        raise ExportError(f"the prompt set has no prompts for {', '.join(sorted(set(languages) - set(prompts.prompts)))}")
    tokenizer = tokenizer_json(base, out / "tokenizer.json")
    if chat_template is None:
        chat_template = CHATML.replace("{system}", system if system is not None else internlm2_system_prompt(base)) \
            if config.get("model_type") == "internlm2" else "{prompt}"
    template = with_bos(chat_template, tokenizer, config.get("bos_token_id"))
    window = min(window or config["max_position_embeddings"], config["max_position_embeddings"])
    check_window(tokenizer, {f"{lang}/{key}": template.replace("{prompt}", prompts.prompt(lang, key, ""))
                             for lang in languages for key in ESC_RANK_KEYS}, window)
    labels = [0, 1, 2, 3, 4]
    label_ids = label_token_ids(tokenizer, template, labels)

    model = load_causal_lm(base, dtype)
    read = {(lang, key): read_adapter(adapters / adapter_folder(lang, key), model, f"{lang}-{key}")
            for lang in languages for key in ESC_RANK_KEYS}
    projections = [p for p in ATTENTION if any(p in a.a for a in read.values())]
    scorer = DigitScorer(model.to(device), label_ids, projections)
    files: dict[str, dict[str, str]] = {}
    for (lang, key), adapter in read.items():
        arrays = adapter_inputs(adapter, projections, scorer)
        files.setdefault(lang, {})[key] = f"lora-{lang}-{key}.npz"
        np.savez(out / files[lang][key], **{k: v.cpu().numpy() for k, v in arrays.items()})
    parameters = export_graph(scorer, out / "model.onnx", adapter_inputs(next(iter(read.values())), projections, scorer))
    (out / "prompts.json").write_text(dump_prompts(prompts), encoding="utf-8")
    manifest = _prompt_manifest(
        name, "esc", [{"name": key, "labels": labels} for key in ESC_RANK_KEYS], template, window, parameters, dtype,
        {"output": "digits", "chat_template": template, "prompts": "prompts.json", "adapters": files,
         "label_token_ids": label_ids, "overflow": "error", "pad_id": 0},
        description="ESC-RANK (ESC-Eval, arXiv 2406.14952): InternLM2-chat-7b with one LoRA per dimension and "
                    "language, asked for a digit; scored by the digits' next-token logits in one forward pass.",
        base=str(source or base), license="ESC-RANK adapters apache-2.0; base: see its model card",
    )
    write_manifest(out, manifest)
    return out


def _prompt_manifest(name: str, track: str, dimensions: list[dict], template: str, window: int, parameters: int,
                     dtype: torch.dtype, prompt: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "name": name, "version": "1", "track": track, "kind": "prompt", "dimensions": dimensions,
        "model": "model.onnx", "tokenizer": "tokenizer.json",
        # `input` is what segment judges read; a prompt judge keeps its window there too, for `judge info`
        "input": {"unit": "round" if track == "esc" else "response", "template": template, "max_tokens": window},
        "prompt_judge": {"window": window, "parameters": parameters, "dtype": str(dtype).removeprefix("torch."), **prompt},
        **fields,
    }


def export_guardrank_decoder(base: Path, adapter: Path, out: Path, *, dtype: torch.dtype = torch.float32,
                             device: str = "cpu", window: int = 512, name: str = "guardrank", source: str = "",
                             hallucination: str = HALLUCINATION_BUNDLE) -> Path:
    """GuardRank's LLaMA-2 4-label classifier, LoRA merged, as a safety bundle for privacy/bias/toxicity/legality;
    hallucination is routed to the bundle folder of that name beside it (export_guardrank_encoder)."""
    from peft import PeftModel
    from transformers import LlamaForSequenceClassification

    base, out = Path(base), _fresh(Path(out))
    tokenizer = tokenizer_json(base, out / "tokenizer.json")
    check_window(tokenizer, {"item template": GUARD_TEMPLATE.format(dimension="legality", prompt="", response="")}, window)
    model = LlamaForSequenceClassification.from_pretrained(base, num_labels=4, dtype=dtype, attn_implementation="eager")
    model.config.pad_token_id = model.config.eos_token_id  # as GuardRank: pad with EOS
    model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload().eval()
    parameters = export_graph(LastTokenClassifier(model).to(device), out / "model.onnx")
    dims = [d for d in SAFETY_DIMENSIONS if d != "hallucination"]
    write_manifest(out, _prompt_manifest(
        name, "safety", [{"name": d, "labels": [0, 1, 2, 3]} for d in dims], GUARD_TEMPLATE, window, parameters, dtype,
        {"output": "classes", "item_template": GUARD_TEMPLATE, "overflow": "truncate", "pad_id": model.config.eos_token_id},
        description="GuardRank (MLLMGuard, arXiv 2406.07594): LLaMA-2-7B + LoRA sequence classifier, 4 labels; "
                    "items longer than 512 tokens are cut there, as GuardRank itself does.",
        base=str(source or base), license="GuardRank cc-by-nc-4.0; LLaMA-2 community license",
        routes={"hallucination": hallucination},
    ))
    return out


def export_guardrank_encoder(base: Path, checkpoint: Path, out: Path, *, dtype: torch.dtype = torch.float32,
                             device: str = "cpu", window: int = 256, name: str = HALLUCINATION_BUNDLE,
                             source: str = "") -> Path:
    """GuardRank's RoBERTa-large hallucination classifier (labels 0/1) as a safety bundle."""
    from transformers import RobertaConfig, RobertaModel

    base, out = Path(base), _fresh(Path(out))
    tokenizer = tokenizer_json(base, out / "tokenizer.json")
    check_window(tokenizer, {"item template": HALLUCINATION_TEMPLATE.format(prompt="", response="")}, window)
    guard = RobertaGuard(RobertaModel(RobertaConfig.from_pretrained(base, attn_implementation="eager"), add_pooling_layer=True))
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    guard.load_state_dict({k: v for k, v in state.items() if not k.endswith("position_ids")}, strict=True)
    parameters = export_graph(guard.to(dtype).to(device), out / "model.onnx")
    write_manifest(out, _prompt_manifest(
        name, "safety", [{"name": "hallucination", "labels": [0, 1]}], HALLUCINATION_TEMPLATE, window, parameters, dtype,
        {"output": "classes", "item_template": HALLUCINATION_TEMPLATE, "overflow": "truncate",
         "pad_id": guard.roberta.config.pad_token_id},
        description="GuardRank (MLLMGuard, arXiv 2406.07594): RoBERTa-large hallucination classifier; "
                    "items longer than 256 tokens are cut there, as GuardRank itself does.",
        base=str(source or base), license="GuardRank cc-by-nc-4.0; RoBERTa MIT",
    ))
    return out
