"""A real OpenAI-compatible chat server for tests and benchmarks, with a scripted responder and injected faults.

Run as its own process: `python tests/openai_server.py --port 0 [--latency S] [--fault-rate P] ...`; it
prints `listening http://127.0.0.1:PORT/v1` once ready. Replies are a pure function of the request
(`scripted_reply`), so a test can recompute every turn of a transcript and catch a mixed-up or
half-written dialogue. Images sent as base64 data URLs (vision chat) are decoded and checked on the
server: a part that is not a PNG or JPEG data URL gets HTTP 400, and the reply ends with the sha256
(first 12 hex) of every image it saw. Faults: HTTP 500, HTTP 429 (with Retry-After), a connection dropped before
any answer, a body cut short, and a reply slower than the client's timeout, in turn. A request body
gets at most one random fault, so a client that retries always gets through and a test's outcome
does not hang on luck; `--fail-marker` makes chosen requests fail every time. `GET /stats` counts them.

As a judge (`--judge-replies`): every chat reply is `judge_reply`, a label hidden in varied wording (or none
at all for a request holding NO_LABEL), again a pure function of the request and its model name;
`/classify` (vLLM's classification route) answers class probabilities likewise. `GET /v1/models` lists
`--models` as vLLM lists LoRA adapters (root, parent). `--log FILE` appends every request's model and
messages (or input) as a JSON line, so a test sees what each dimension and adapter was sent. With
`--local MODEL` (a built-in of leaderboard.runner.backends, e.g. smollm2-135m) a real model answers: a few
lines around the local backend, greedy.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import json
import random
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("500", "429", "drop", "truncate", "slow")
NO_LABEL = "NO-LABEL"
"""A judge request holding this gets a reply with no digit at all (chat) or the wrong number of classes (classify)."""
WORDINGS = ("{d}", "Score: {d}", "I would rate this conversation {d}.", "**{d}**\nThe replies are kind.", "评分：{d}")
ROLEPLAY_MARKERS = ("role-play", "扮演")
DATA_URL = re.compile(r"^data:image/(png|jpeg);base64,(.+)$", re.DOTALL)
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff"}


def text_of(content: Any) -> str:
    """The text of a message: a string, or the text parts of a vision message."""
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content or "")


def image_digests(messages: list[dict[str, Any]]) -> list[str]:
    """sha256 (12 hex) of every image part; ValueError for one that is not a decodable PNG/JPEG data URL."""
    digests = []
    for message in messages:
        parts = message.get("content") if isinstance(message.get("content"), list) else []
        for part in parts:
            if part.get("type") != "image_url":
                continue
            match = DATA_URL.match(str((part.get("image_url") or {}).get("url", "")))
            if not match:
                raise ValueError("image_url is not a base64 PNG/JPEG data URL")
            try:
                data = base64.b64decode(match.group(2), validate=True)
            except binascii.Error as err:
                raise ValueError(f"bad base64 in image data URL: {err}") from None
            if not data.startswith(MAGIC[match.group(1)]):
                raise ValueError(f"image data is not a {match.group(1)} file")
            digests.append(hashlib.sha256(data).hexdigest()[:12])
    return digests


def scripted_reply(messages: list[dict[str, Any]]) -> str:
    """Seeker or supporter line, tagged with a digest of the whole conversation it answers (and of its images)."""
    system = text_of(messages[0]["content"]) if messages and messages[0]["role"] == "system" else ""
    side = "seeker" if any(m in system for m in ROLEPLAY_MARKERS) else "supporter"
    turn = sum(1 for m in messages if m["role"] == "assistant")
    digest = hashlib.sha256(json.dumps(messages, ensure_ascii=False).encode()).hexdigest()[:12]
    images = image_digests(messages)
    return f"{side} turn {turn} [{digest}]" + (f" images: {' '.join(images)}" if images else "")


def _digest(*parts: Any) -> int:
    return int(hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:12], 16)


def judge_reply(model: str, messages: list[dict[str, Any]]) -> str:
    """A label 0..top (top read from the rubric's 'from 0 to N', else 4) in one of several wordings; none at all for
    a request holding NO_LABEL or a model named no-label-*."""
    text = " ".join(text_of(m.get("content")) for m in messages)
    if NO_LABEL in text or NO_LABEL.lower() in model:
        return "I cannot rate this conversation."
    found = re.search(r"from 0 to (\d)", text)
    top = int(found.group(1)) if found else 4
    h = _digest(model, messages)
    return WORDINGS[(h >> 8) % len(WORDINGS)].format(d=h % (top + 1))


def classify_probs(model: str, text: str) -> list[float]:
    """Class probabilities: 2 classes for a hallucination model, else 4; 3 (a wrong count) for NO_LABEL."""
    k = 3 if NO_LABEL in text else 2 if "hallucination" in model else 4
    weights = [1 + (_digest(model, text, c) % 1000) for c in range(k)]
    return [w / sum(weights) for w in weights]


class LocalModel:
    """A built-in model of the local backend answering chat requests, one at a time on its own event loop."""

    def __init__(self, ref: str, max_tokens: int):
        from leaderboard.runner.backends import LocalBackend, Sampling

        self.backend = LocalBackend(ref, Sampling(temperature=0.0, max_tokens=max_tokens))
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def reply(self, messages: list[dict[str, Any]]) -> str:
        return asyncio.run_coroutine_threadsafe(self.backend.complete(messages, 0), self.loop).result()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "FaultyServer"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None,
              cut: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data[: len(data) // 3] if cut else data)
        if cut:
            self.wfile.flush()
            self._drop()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/stats":
            with self.server.lock:
                self._send(200, dict(self.server.stats))
        elif self.path.rstrip("/") == "/v1/models":
            srv = self.server
            self._send(200, {"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": "vllm", "root": f"/srv/{srv.root_tag}/{m}",
                 "parent": srv.models[0] if k else None} for k, m in enumerate(srv.models)]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        srv = self.server
        with srv.lock:  # requests in flight, for the benchmarks
            srv.in_flight += 1
            srv.stats["max_in_flight"] = max(srv.stats.get("max_in_flight", 0), srv.in_flight)
        try:
            self._post()
        finally:
            with srv.lock:
                srv.in_flight -= 1

    def _post(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.loads(raw or b"{}")
        route = self.path.rstrip("/")
        if route not in ("/v1/chat/completions", "/classify", "/v1/classify"):
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        messages = body.get("messages", []) if route.endswith("completions") else []
        srv = self.server
        try:
            images = len(image_digests(messages))
        except ValueError as err:
            with srv.lock:
                srv.stats["bad_images"] = srv.stats.get("bad_images", 0) + 1
            self._send(400, {"error": {"message": str(err), "type": "invalid_request_error"}})
            return
        fault = None
        with srv.lock:
            srv.stats["requests"] += 1
            if images:
                srv.stats["images"] = srv.stats.get("images", 0) + images
            if srv.fail_marker and any(srv.fail_marker in text_of(m.get("content")) for m in messages):
                fault = "marked"
            elif srv.rng.random() < srv.fault_rate and (key := hashlib.sha256(raw).hexdigest()) not in srv.faulted:
                srv.faulted.add(key)
                fault = srv.faults[len(srv.faulted) % len(srv.faults)]
            if fault:
                srv.stats[fault] = srv.stats.get(fault, 0) + 1
            model = str(body.get("model", ""))
            srv.stats[f"model {model}"] = srv.stats.get(f"model {model}", 0) + 1
            if srv.log:
                with open(srv.log, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({k: body.get(k) for k in ("model", "messages", "input", "temperature", "max_tokens",
                                                                   "seed")} | {"route": route, "fault": fault},
                                        ensure_ascii=False) + "\n")
        time.sleep(srv.latency)
        if fault in ("500", "marked"):
            self._send(500, {"error": {"message": "injected server error", "type": "server_error"}})
        elif fault == "429":
            self._send(429, {"error": {"message": "injected rate limit"}}, {"Retry-After-Ms": "20"})
        elif fault == "drop":
            self._drop()
        elif fault == "slow":
            time.sleep(srv.slow)
            self._drop()
        elif "classify" in route:
            probs = classify_probs(str(body.get("model")), str(body.get("input")))
            self._send(200, {"id": f"classify-{srv.stats['requests']}", "object": "list", "created": int(time.time()),
                             "model": body.get("model"), "data": [{"index": 0, "label": str(probs.index(max(probs))),
                                                                   "probs": probs, "num_classes": len(probs)}]},
                       cut=fault == "truncate")
        else:
            model = str(body.get("model", "scripted"))
            content = (srv.local.reply(messages) if srv.local else judge_reply(model, messages) if srv.judge_replies
                       else scripted_reply(messages))
            reply = {
                "id": f"chatcmpl-{srv.stats['requests']}", "object": "chat.completion", "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            self._send(200, reply, cut=fault == "truncate")


class FaultyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, port: int, latency: float, fault_rate: float, faults: list[str], slow: float,
                 fail_marker: str | None, seed: int, judge_replies: bool = False, models: list[str] | None = None,
                 root_tag: str = "r1", log: str | None = None, local: LocalModel | None = None):
        super().__init__(("127.0.0.1", port), Handler)
        self.judge_replies, self.models, self.root_tag, self.log, self.local = (
            judge_replies, models or ["scripted"], root_tag, log, local)
        self.in_flight = 0
        self.latency, self.fault_rate, self.faults, self.slow = latency, fault_rate, faults, slow
        self.fail_marker = fail_marker
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stats: dict[str, int] = {"requests": 0}
        self.faulted: set[str] = set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="Seconds before every answer.")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="Share of requests that get a fault.")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"Kinds to draw from: {', '.join(FAULTS)}.")
    parser.add_argument("--slow", type=float, default=3.0, help="Seconds a 'slow' fault waits before dropping.")
    parser.add_argument("--fail-marker", help="Always answer 500 when a message contains this text.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=600, help="Stop by itself after this long.")
    parser.add_argument("--judge-replies", action="store_true", help="Answer chat requests as a judge (judge_reply).")
    parser.add_argument("--models", default="scripted", help="Model names GET /v1/models lists, the base first.")
    parser.add_argument("--root-tag", default="r1", help="Part of every listed model's root (a served revision).")
    parser.add_argument("--log", help="Append every request's model and messages to this JSON Lines file.")
    parser.add_argument("--local", help="Answer chat requests with this built-in local model (e.g. smollm2-135m).")
    parser.add_argument("--local-max-tokens", type=int, default=16)
    args = parser.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}")
    local = LocalModel(args.local, args.local_max_tokens) if args.local else None
    server = FaultyServer(args.port, args.latency, args.fault_rate, faults, args.slow, args.fail_marker, args.seed,
                          args.judge_replies, [m for m in args.models.split(",") if m], args.root_tag, args.log, local)
    timer = threading.Timer(args.max_seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    print(f"listening http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
