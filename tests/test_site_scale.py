"""The site at full size: a model on ESC-Eval's 655 cards (both tracks), made by benchmarks/site_build.py's generator
and built from the cache, opened from disk in the real Chromium. Every dialogue of the model opens and shows exactly
the text its submission holds, nothing is fetched, and no page is over 2 MB."""
from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT

playwright = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) is not installed")
from test_site_browser import CHROMIUM, FLAGS  # after the skip above; it skips without Chromium

PAGE_LIMIT = 2 * 2**20
MODEL = "bench__model-000"


def benchmark() -> Any:
    spec = importlib.util.spec_from_file_location("site_build", ROOT / "benchmarks" / "site_build.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One full-size model built twice from the cache (the benchmark refuses a build that judges anything)."""
    work = tmp_path_factory.mktemp("scale")
    return work, benchmark().run(1, work, None, None, seed=3)


@pytest.fixture(scope="module")
def page(built: tuple[Path, dict[str, Any]]) -> Iterator[Any]:
    work, _ = built
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        pg = chromium.new_context(viewport={"width": 1300, "height": 900}).new_page()
        pg.problems = []
        disk = (work / "build/site").as_uri()
        pg.on("console", lambda m: pg.problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
        pg.on("request", lambda r: None if r.url.startswith((disk, "data:", "blob:")) else pg.problems.append(r.url))
        yield pg
        chromium.close()


SHOWN = """() => Array.from(document.querySelectorAll('details.lb-dialogue')).map(d => ({
  id: d.dataset.id, turns: Array.from(d.querySelectorAll('.lb-turn .lb-text')).map(t => t.textContent),
  elements: d.querySelectorAll('.lb-text *').length}))"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_dialogue_of_a_model_opens_from_disk(built: tuple[Path, dict[str, Any]], page: Any, lang: str) -> None:
    work, _ = built
    source = work / "submissions" / MODEL / "transcripts" / f"{lang}.jsonl"
    expected = {d["id"]: [m["content"] for m in d["messages"]]
                for d in map(json.loads, source.read_text(encoding="utf-8").splitlines())}
    page.goto((work / "build/site/board/models" / f"{MODEL}-{lang}.html").as_uri())
    assert page.locator("details.lb-dialogue").count() == len(expected) == {"en": 331, "zh": 324}[lang]
    page.evaluate("document.querySelectorAll('details.lb-dialogue').forEach(d => { d.open = true; })")
    page.wait_for_function("() => Array.from(document.querySelectorAll('details.lb-dialogue'))"
                           ".every(d => d.dataset.filled === 'yes')", timeout=60_000)
    shown = page.evaluate(SHOWN)
    assert {d["id"]: d["turns"] for d in shown} == expected  # every turn, as written
    assert sum(d["elements"] for d in shown) == 0  # text only: nothing in it became an element
    assert page.problems == []


def test_no_page_over_2_mb(built: tuple[Path, dict[str, Any]]) -> None:
    work, result = built
    heavy = {p.name: p.stat().st_size for p in (work / "build/site").rglob("*.html") if p.stat().st_size > PAGE_LIMIT}
    assert heavy == {} and result["largest_page"]["kb"] * 1024 <= PAGE_LIMIT
    assert result["judged"] == 0 and result["transcript_pages"]["count"] == 2
