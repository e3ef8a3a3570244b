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
"""
from __future__ import annotations

import argparse
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
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.loads(raw or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        messages = body.get("messages", [])
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
        else:
            reply = {
                "id": f"chatcmpl-{srv.stats['requests']}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": scripted_reply(messages)}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            self._send(200, reply, cut=fault == "truncate")


class FaultyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, port: int, latency: float, fault_rate: float, faults: list[str], slow: float,
                 fail_marker: str | None, seed: int):
        super().__init__(("127.0.0.1", port), Handler)
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
    args = parser.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}")
    server = FaultyServer(args.port, args.latency, args.fault_rate, faults, args.slow, args.fail_marker, args.seed)
    timer = threading.Timer(args.max_seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    print(f"listening http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
