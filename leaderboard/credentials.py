"""Credentials pasted into a submission are refused before anything is stored or rendered.

Every file of a submission is scanned with detect-secrets (Yelp's maintained detector: AWS, GitHub, GitLab,
Slack, Stripe, private keys, JWTs, keyword assignments, base64 entropy...). Two of its plugins are left
out because a submission is full of what they flag without being secret: hex strings (content hashes, run ids,
seeker_sha256) and public IP addresses. Its allowlist comment (`pragma: allowlist secret`) is not honoured: the
submitter writes the files. What it misses in free text is added here: OpenAI-style `sk-...` keys (its
OpenAI plugin knows only the old `T3BlbkFJ` form), `Bearer` tokens, and any long token of mixed letters and
digits with base64-like entropy, which is how a key pasted into a dialogue looks.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from detect_secrets.core.scan import scan_file
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString
from detect_secrets.settings import default_settings, get_settings, transient_settings

from judge.errors import Problem

MESSAGE = "this looks like a secret: remove it and rotate it"
LEFT_OUT_PLUGINS = {"HexHighEntropyString", "IPPublicDetector"}
LEFT_OUT_FILTERS = {"detect_secrets.filters.allowlist.is_line_allowlisted"}
PATTERNS: dict[str, re.Pattern[str]] = {
    "OpenAI-style API key": re.compile(r"\bsk-(?:[a-z]+-)?[A-Za-z0-9_-]{20,}"),
    "bearer token": re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{20,}", re.IGNORECASE),
}
TOKEN = re.compile(r"[A-Za-z0-9]{32,}")
ENTROPY_LIMIT = 4.5
"""Bits per character over which a run of 32+ letters and digits, mixed case, counts as a key (detect-secrets' own
base64 limit); hex hashes stay below it, and words, paths and names are broken up by their separators."""


CLEAN_CACHE = Path.home() / ".cache" / "esc-leaderboard" / "clean-files"
"""Markers of files found clean, by content and scanner: detect-secrets reads ~3 s per MB, and a build rescans
every submission."""


def _scanner_id() -> str:
    """What a clean verdict depends on besides the file: detect-secrets' version and this module."""
    return hashlib.sha256(metadata.version("detect-secrets").encode() + Path(__file__).read_bytes()).hexdigest()[:16]


def _settings() -> dict[str, Any]:
    """detect-secrets' defaults without the plugins and filters that do not fit a submission."""
    with default_settings():
        chosen = get_settings()
        return {"plugins_used": [{"name": name, **config} for name, config in chosen.plugins.items()
                                 if name not in LEFT_OUT_PLUGINS],
                "filters_used": [{"path": path, **config} for path, config in chosen.filters.items()
                                 if path not in LEFT_OUT_FILTERS]}


def _keylike(token: str) -> bool:
    has_classes = all(re.search(c, token) for c in ("[a-z]", "[A-Z]", "[0-9]"))
    return has_classes and Base64HighEntropyString().calculate_shannon_entropy(token) > ENTROPY_LIMIT


def _own_findings(text: str) -> Iterator[tuple[int, str, str]]:
    """(line, kind, matched text) of what the patterns and the entropy rule find, line by line."""
    for number, line in enumerate(text.splitlines(), 1):
        for kind, pattern in PATTERNS.items():
            if match := pattern.search(line):
                yield number, kind, match.group()
        if token := next((m.group() for m in TOKEN.finditer(line) if _keylike(m.group())), None):
            yield number, "high-entropy token", token


def _json_field(line: str, needle: str) -> str | None:
    """The path of the JSON field holding the finding on a JSON Lines line."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None

    def walk(value: Any, path: str) -> Iterator[str]:
        if isinstance(value, dict):
            for key, item in value.items():
                yield from walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                yield from walk(item, f"{path}[{i}]")
        elif isinstance(value, str) and needle in json.dumps(value, ensure_ascii=False):
            yield path

    return next(walk(data, ""), None)


def _yaml_fields(text: str) -> dict[int, str]:
    """Line -> dotted key of a YAML mapping, for every line a key starts on."""
    from leaderboard.submission import node_lines

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    return {line: ".".join(map(str, path)) for path, line in sorted(node_lines(node).items(), key=lambda kv: kv[1])
            if path} if node is not None else {}


def scan(folder: Path) -> list[Problem]:
    """A problem for every line of the folder's files that holds a likely credential; the secret is never repeated."""
    found: dict[tuple[Path, int], tuple[str, str]] = {}
    scanner = _scanner_id()
    marks = {p: CLEAN_CACHE / f"{hashlib.sha256(p.read_bytes()).hexdigest()}-{scanner}"
             for p in Path(folder).rglob("*") if p.is_file() and not p.is_symlink()}
    files = sorted(p for p, mark in marks.items() if not mark.exists())
    with transient_settings(_settings()):
        for path in files:
            for secret in scan_file(str(path)):
                found.setdefault((path, secret.line_number), (secret.type, secret.secret_value))
    problems: list[Problem] = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, kind, value in _own_findings(text):
            found.setdefault((path, number), (kind, value))
        lines = text.splitlines()
        keys = _yaml_fields(text) if path.suffix in (".yaml", ".yml") else {}
        for (where, number), (kind, value) in sorted(found.items()):
            if where != path:
                continue
            if path.suffix == ".jsonl" and number <= len(lines):
                field = _json_field(lines[number - 1], value)
            else:
                field = next((key for line, key in sorted(keys.items(), reverse=True) if line <= number), None)
            problems.append(Problem(path, number, field, f"{MESSAGE} ({kind})"))
    for path in set(files) - {p.file for p in problems}:
        CLEAN_CACHE.mkdir(parents=True, exist_ok=True)
        marks[path].touch()
    return problems
