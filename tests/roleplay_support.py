"""Shared by the role-play tests and the speed benchmark: the scripted server process, cards, and checks."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from openai_server import scripted_reply

SERVER = Path(__file__).with_name("openai_server.py")
REPO = SERVER.parent.parent


@contextmanager
def openai_server(*args: str, max_seconds: float = 300) -> Iterator[str]:
    """Start tests/openai_server.py as a separate process on loopback; yields its base URL. It stops by itself."""
    proc = subprocess.Popen([sys.executable, str(SERVER), "--port", "0", "--max-seconds", str(max_seconds), *args],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening "), f"server did not start: {line!r}"
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def server_stats(base_url: str) -> dict[str, int]:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats", timeout=5) as answer:
        return json.loads(answer.read())


def write_cards(path: Path, n: int, lang: str = "en", poisoned: tuple[int, ...] = ()) -> Path:
    """n cards in the project's JSONL format; `poisoned` ones carry POISON, which the server can always fail."""
    topics = ["family", "work_study", "society_other"]
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            text = f"Age: {20 + i}\nProblem: worry number {i}" + (" POISON" if i in poisoned else "")
            fh.write(json.dumps({"id": f"c{i:03d}", "lang": lang, "topic": topics[i % 3], "card": text}) + "\n")
    return path


def write_submission(folder: Path, base_urls: list[str], langs: tuple[str, ...] = ("en",)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "submission.yaml").write_text(yaml.safe_dump({
        "name": "Scripted", "organisation": "Tests", "model_link": "https://example.org/scripted",
        "license": "MIT", "languages": list(langs), "tracks": ["esc"], "kind": "endpoint",
        "endpoint": {"base_urls": base_urls, "model": "scripted", "temperature": 0.0, "max_tokens": 32},
    }))
    return folder


def check_transcripts(path: Path, cards: Path, rounds: int,
                      system_prompt: str = "You are a helpful assistant!") -> list[dict[str, Any]]:
    """Every line whole and unique, every turn exactly what the server said for that very conversation."""
    from leaderboard.esc.rolecards import load_card_file
    from leaderboard.esc.roleplay import GREETINGS, ROLE_PROMPTS

    card_text = {c.id: c.text for c in load_card_file(cards)}

    assert path.read_bytes().endswith(b"\n"), "last line is half-written"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), f"duplicated dialogues: {sorted(i for i in ids if ids.count(i) > 1)}"
    for r in records:
        msgs = r["messages"]
        assert len(msgs) == 2 * rounds + 1, f"{r['id']} has {len(msgs)} messages"
        assert msgs[0] == {"role": "assistant", "content": GREETINGS[r["lang"]]}
        supporter = [{"role": "system", "content": system_prompt}]
        for i in range(1, len(msgs)):
            if msgs[i]["role"] == "assistant":
                expected = scripted_reply(supporter + msgs[1:i])
            else:
                role_prompt = ROLE_PROMPTS[r["lang"]].format(card=card_text[r["card_id"]])
                swapped = [{"role": "user" if m["role"] == "assistant" else "assistant", "content": m["content"]}
                           for m in msgs[:i]]
                expected = scripted_reply([{"role": "system", "content": role_prompt}, *swapped])
            assert msgs[i]["content"] == expected, f"{r['id']} turn {i} does not answer its own conversation"
    return records
