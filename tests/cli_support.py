"""The project's commands run as a user runs them: a real process of an installed entry point, its output captured."""
from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path = ROOT, stdin: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """args as typed at a shell (`judge score FILE`), run in the checkout unless cwd says otherwise."""
    return subprocess.run(list(args), capture_output=True, text=True, input=stdin, cwd=cwd, timeout=timeout)
