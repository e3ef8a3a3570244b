"""Every script in benchmarks/ runs, in its `--smoke` size (seconds), so a benchmark cannot silently break again.

A new benchmark is picked up by its file alone, and fails here until it has a `--smoke` flag. Only that it runs to
the end is checked: speed and weight are what the benchmarks themselves report, not what a test asserts."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT, shared_or_skip

BENCHMARKS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py"))
NEEDS_SHARED = {"guard_speed.py": ("data", "safety")}
"""Benchmarks that read ../shared (the rest run from a clean clone)."""


def test_the_list_is_not_empty() -> None:
    assert "site_build.py" in BENCHMARKS


@pytest.mark.parametrize("script", BENCHMARKS)
def test_benchmark_smoke_run(script: str, tmp_path) -> None:
    if script in NEEDS_SHARED:
        shared_or_skip(*NEEDS_SHARED[script])
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--smoke"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{script} --smoke exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
