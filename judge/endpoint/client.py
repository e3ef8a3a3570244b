"""The OpenAI-compatible HTTP client every served model is reached through: the runs' both sides and the endpoint judge.

It uses the `openai` client (timeouts, retries with exponential backoff and jitter on 429, 5xx and
dropped connections, honouring Retry-After) with one client per base URL, so one model served by
several servers (a vLLM fleet) is spread across them: each request goes to the least busy URL, and to
the next one when a URL keeps failing. Requests go through the client's generic `post`:
`chat.completions.create` re-walks every message of the history through its type transformer, which
cost 14 ms of CPU per request at turn 10 and capped a 2-core machine at ~60 requests/s.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Any

Messages = list[dict[str, Any]]  # content is a string, or a list of parts (text, image_url) for vision models
FAILED_URL_COOLDOWN = 30.0  # seconds a URL that used up its retries is tried only after the others


@dataclass(frozen=True)
class Sampling:
    """Decoding settings sent with every request of one side of the dialogue (temperature 0: greedy)."""

    temperature: float = 0.7
    max_tokens: int = 256


class BackendError(Exception):
    """A request that failed for good: retries used up, a 4xx answer, or an empty reply."""


class OpenAIBackend:
    """One model (or several served side by side, named per request) behind one or more OpenAI-compatible base
    URLs, at most `max_in_flight` requests per URL."""

    def __init__(self, base_urls: list[str], model: str, sampling: Sampling, *, api_key: str | None = None,
                 max_in_flight: int = 64, timeout: float = 120.0, max_retries: int = 5):
        if not base_urls:
            raise ValueError("at least one base URL is needed")
        self.base_urls = [u.rstrip("/") for u in base_urls]
        import openai  # here, not at the top: its 1-2 s import would slow every other command

        self._openai = openai
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

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a JSON body to the first URL that answers; `path` is relative to the base URL, or absolute from
        its host when it starts with `//` (vLLM's /classify sits beside /v1, not under it)."""
        errors: list[str] = []
        for i in self._order():
            url = self.base_urls[i].rsplit("/v1", 1)[0] + path[1:] if path.startswith("//") else path
            try:
                async with self._limits[i]:
                    self._busy[i] += 1
                    try:
                        return await self._clients[i].post(url, cast_to=dict, body=body)
                    finally:
                        self._busy[i] -= 1
            except (self._openai.APIConnectionError, self._openai.InternalServerError, self._openai.RateLimitError) as err:
                errors.append(f"{self.base_urls[i]}: {type(err).__name__}: {err}")
                self._failed_until[i] = time.monotonic() + FAILED_URL_COOLDOWN
            except self._openai.NotFoundError as err:  # not served here: servers of different models behind one judge
                errors.append(f"{self.base_urls[i]}: {type(err).__name__}: {err}")
            except self._openai.APIError as err:
                raise BackendError(f"{self.base_urls[i]}: {type(err).__name__}: {err}") from err
        raise BackendError(f"every base URL failed after {self.max_retries} retries: " + " | ".join(errors))

    async def reply(self, messages: Messages, seed: int, model: str | None = None) -> str:
        """The reply's text, possibly empty (a judge counts an empty reply as unscored)."""
        answer = await self.post("/chat/completions", {
            "model": model or self.model, "messages": messages, "seed": seed,
            "temperature": self.sampling.temperature, "max_tokens": self.sampling.max_tokens,
        })
        choices = answer.get("choices") or []
        return str(((choices[0] or {}).get("message") or {}).get("content") or "").strip() if choices else ""

    async def complete(self, messages: Messages, seed: int) -> str:
        text = await self.reply(messages, seed)
        if not text:
            raise BackendError(f"{','.join(self.base_urls)}: empty reply from {self.model}")
        return text

    async def served_models(self) -> dict[str, dict[str, Any]]:
        """What the servers list under /models (id -> its entry: vLLM names each LoRA's `root` and `parent`), every
        URL's together; a server without the route lists nothing. BackendError when no URL answers at all."""
        errors: list[str] = []
        found: dict[str, dict[str, Any]] = {}
        for url, client in zip(self.base_urls, self._clients):
            try:
                listed = await client.get("/models", cast_to=dict)
            except self._openai.APIStatusError:
                continue
            except self._openai.APIError as err:
                errors.append(f"{url}: {type(err).__name__}: {err}")
                continue
            for m in listed.get("data") or []:
                if isinstance(m, dict):
                    found.setdefault(str(m.get("id")), m)
        if len(errors) == len(self.base_urls):
            raise BackendError(" | ".join(errors))
        return found

    def describe(self) -> dict[str, Any]:
        return {"kind": "openai", "model": self.model, "base_urls": self.base_urls, "timeout": self.timeout,
                "max_retries": self.max_retries, **vars(self.sampling)}

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()
