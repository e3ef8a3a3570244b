"""Reading the published checkpoints: base causal LMs (Llama, or InternLM2 rewritten as Llama) and peft LoRA adapters.

InternLM2 is the same network as Llama with fused, interleaved q/k/v weights; rewriting it as
transformers' own LlamaForCausalLM means no remote code has to be traced into ONNX. LoRA adapters
are read from their files (adapter_config.json + weights) rather than through peft, so the same code
reads adapters of both families and can hand their A/B matrices to the graph as inputs.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

ATTENTION = ("q", "k", "v", "o")


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_state_dict(folder: Path, stem: str) -> dict[str, torch.Tensor]:
    """All tensors of `stem`.safetensors / `stem`.bin, sharded or not."""
    from safetensors.torch import load_file

    folder = Path(folder)
    files = sorted(folder.glob(f"{stem}*.safetensors")) or sorted(folder.glob(f"{stem}*.bin"))
    if not files:
        raise FileNotFoundError(f"no {stem}*.safetensors or {stem}*.bin in {folder}")
    state: dict[str, torch.Tensor] = {}
    for file in files:
        state.update(load_file(str(file)) if file.suffix == ".safetensors" else torch.load(file, map_location="cpu", weights_only=True))
    return state


def _internlm2_qkv(weight: torch.Tensor, heads: int, kv_heads: int, head_dim: int) -> tuple[torch.Tensor, ...]:
    """Split InternLM2's wqkv rows, laid out per kv head as [q x groups, k, v], into Llama's q, k, v."""
    groups = heads // kv_heads
    w = weight.reshape(kv_heads, groups + 2, head_dim, -1)
    return (w[:, :groups].reshape(heads * head_dim, -1), w[:, groups].reshape(kv_heads * head_dim, -1),
            w[:, groups + 1].reshape(kv_heads * head_dim, -1))


def internlm2_as_llama(folder: Path, dtype: torch.dtype) -> LlamaForCausalLM:
    """An InternLM2 checkpoint loaded into LlamaForCausalLM (exact within max_position_embeddings)."""
    cfg = read_json(Path(folder) / "config.json")
    heads, kv_heads, hidden = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["hidden_size"]
    head_dim = hidden // heads
    config = LlamaConfig(
        vocab_size=cfg["vocab_size"], hidden_size=hidden, intermediate_size=cfg["intermediate_size"],
        num_hidden_layers=cfg["num_hidden_layers"], num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=cfg["max_position_embeddings"], rms_norm_eps=cfg["rms_norm_eps"],
        rope_theta=cfg.get("rope_theta", 10000.0), attention_bias=cfg.get("bias", False),
        tie_word_embeddings=cfg.get("tie_word_embeddings", False), attn_implementation="eager",
        bos_token_id=cfg.get("bos_token_id", 1), eos_token_id=cfg.get("eos_token_id", 2), pad_token_id=cfg.get("pad_token_id", 0),
    )  # InternLM2's dynamic NTK rope scaling only acts beyond max_position_embeddings, which the runtime refuses
    src = load_state_dict(folder, "model") if list(Path(folder).glob("model*.safetensors")) else load_state_dict(folder, "pytorch_model")

    def take(key: str) -> torch.Tensor:  # converted one by one and dropped, so only one copy is ever held
        return src.pop(key).to(dtype)

    out: dict[str, torch.Tensor] = {"model.embed_tokens.weight": take("model.tok_embeddings.weight"),
                                    "model.norm.weight": take("model.norm.weight"), "lm_head.weight": take("output.weight")}
    for i in range(config.num_hidden_layers):
        p = f"model.layers.{i}."
        q, k, v = _internlm2_qkv(take(p + "attention.wqkv.weight"), heads, kv_heads, head_dim)
        out |= {p + "self_attn.q_proj.weight": q, p + "self_attn.k_proj.weight": k, p + "self_attn.v_proj.weight": v,
                p + "self_attn.o_proj.weight": take(p + "attention.wo.weight"),
                p + "mlp.gate_proj.weight": take(p + "feed_forward.w1.weight"),
                p + "mlp.down_proj.weight": take(p + "feed_forward.w2.weight"),
                p + "mlp.up_proj.weight": take(p + "feed_forward.w3.weight"),
                p + "input_layernorm.weight": take(p + "attention_norm.weight"),
                p + "post_attention_layernorm.weight": take(p + "ffn_norm.weight")}
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    model.load_state_dict({k: v.contiguous() for k, v in out.items()}, assign=True, strict=True)
    model.model.rotary_emb = LlamaRotaryEmbedding(config)  # its buffers are computed, not loaded: off the meta device
    return model.eval()


def load_causal_lm(folder: Path, dtype: torch.dtype) -> LlamaForCausalLM:
    """A Llama-family base from a local folder; InternLM2 is rewritten as Llama."""
    model_type = read_json(Path(folder) / "config.json").get("model_type")
    if model_type == "internlm2":
        return internlm2_as_llama(folder, dtype)
    if model_type != "llama":
        raise ValueError(f"{folder}: base model type {model_type!r} is not supported (llama or internlm2)")
    return LlamaForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation="eager").eval()


@dataclass(frozen=True)
class Adapter:
    """One LoRA adapter as per-layer A [r, in] and scaled B [out, r] for each attention projection it touches."""

    name: str
    a: dict[str, list[torch.Tensor]]
    b: dict[str, list[torch.Tensor]]


def read_adapter(folder: Path, model: LlamaForCausalLM, name: str) -> Adapter:
    """Read a peft LoRA adapter of a Llama or InternLM2 base; only attention projections are supported."""
    folder = Path(folder)
    cfg = read_json(folder / "adapter_config.json")
    if cfg.get("peft_type") != "LORA" or cfg.get("use_dora") or cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        raise ValueError(f"{folder}: only plain LoRA adapters (no DoRA, no per-module rank or alpha) are supported")
    scale = cfg["lora_alpha"] / (math.sqrt(cfg["r"]) if cfg.get("use_rslora") else cfg["r"])
    config = model.config
    head_dim = config.hidden_size // config.num_attention_heads
    layers = config.num_hidden_layers
    a: dict[str, list] = {}
    b: dict[str, list] = {}
    for key, tensor in load_state_dict(folder, "adapter_model").items():
        parts = key.split(".")
        if "lora_A" not in parts and "lora_B" not in parts:
            continue
        layer = int(parts[parts.index("layers") + 1])
        module = parts[parts.index("lora_A" if "lora_A" in parts else "lora_B") - 1]
        table = a if "lora_A" in parts else b
        tensor = tensor.float() * (scale if table is b else 1.0)
        if module == "wqkv":  # one A for the fused projection; B's rows split like the weight's
            pieces = (tensor,) * 3 if table is a else _internlm2_qkv(tensor, config.num_attention_heads, config.num_key_value_heads, head_dim)
            for proj, piece in zip("qkv", pieces):
                table.setdefault(proj, [None] * layers)[layer] = piece
        elif module in {"wo", "o_proj", "q_proj", "k_proj", "v_proj"}:
            table.setdefault("o" if module == "wo" else module[0], [None] * layers)[layer] = tensor
        else:
            raise ValueError(f"{folder}: LoRA on {module!r}: only the attention projections can be fed to the graph")
    missing = [p for p in a for i in range(layers) if a[p][i] is None or b.get(p, [None] * layers)[i] is None]
    if not a or missing:
        raise ValueError(f"{folder}: adapter has no LoRA weights, or misses some layers of {sorted(set(missing))}")
    return Adapter(name, a, b)
