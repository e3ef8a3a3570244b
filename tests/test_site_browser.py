"""The built site in a real headless Chromium: sorting, filtering, search, transcripts, compare,
no console error and no request off the machine. Screenshots land in build/test-artifacts/."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, make_submission
from leaderboard.pipeline import BuildConfig, build

playwright = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("needs Debian's chromium (apt-get install chromium); .ci/run installs it", allow_module_level=True)

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update"]
ARTIFACTS = ROOT / "build" / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, tiny_bundle: Path) -> Iterator[str]:
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(ROOT / "site", root / "site", ignore=shutil.ignore_patterns("index.md", "board"))
    shutil.copytree(ROOT / "overrides", root / "overrides")
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    for i in range(4):
        make_submission(root / "submissions", f"acme__model-{i}", n=12, langs=("en", "zh"), seed=i)
    make_submission(root / "submissions", "zeta__needle-model", n=12, seed=9, display="Needle \"Model\" & [x](javascript:alert(1))")
    build(BuildConfig(root / "submissions", root / "build/lb.duckdb", root / "site", root / "build/site",
                      root / "mkdocs.yml", str(tiny_bundle), True))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "-d", str(root / "build/site")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.8)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait()


@pytest.fixture(scope="module")
def browser(site: str) -> Iterator:
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, site: str):
    """A page that records console errors and every request that leaves the local server."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    pg = context.new_page()
    pg.problems = []
    pg.on("console", lambda m: pg.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
    pg.on("dialog", lambda d: (pg.problems.append(f"script ran: {d.message}"), d.dismiss()))
    pg.on("request", lambda r: None if r.url.startswith((site, "data:", "blob:")) else pg.problems.append(f"off-machine request: {r.url}"))
    yield pg
    assert pg.problems == []
    context.close()


def shot(pg, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def column(pg, table: str, index: int) -> list[float]:
    return [float(v) for v in pg.eval_on_selector_all(
        f"{table} tbody tr", f"rows => rows.filter(r => !r.hidden).map(r => r.cells[{index}].dataset.sort)")]


def test_overview_sorts_and_filters(page, site: str) -> None:
    page.goto(f"{site}/index.html")
    shot(page, "overview")
    ranks = column(page, "#esc-en", 0)
    assert ranks == sorted(ranks) and len(ranks) == 5
    page.click("#esc-en thead th:nth-child(11)")  # n column: ascending
    assert column(page, "#esc-en", 10) == sorted(column(page, "#esc-en", 10))
    page.click("#esc-en thead th:nth-child(1)")
    page.click("#esc-en thead th:nth-child(1)")  # rank, descending
    assert column(page, "#esc-en", 0) == sorted(ranks, reverse=True)
    page.fill("input[data-table='esc-en']", "needle")
    visible = page.eval_on_selector_all("#esc-en tbody tr", "rows => rows.filter(r => !r.hidden).map(r => r.cells[1].textContent)")
    assert len(visible) == 1 and visible[0].startswith('Needle "Model" & [x](javascript:alert(1))')  # shown as text, not as markup


def test_search_finds_a_model(page, site: str) -> None:
    page.goto(f"{site}/index.html")
    page.click("input.md-search__input")
    page.keyboard.type("needle", delay=30)
    page.wait_for_selector(".md-search-result__item", timeout=10000)
    links = page.eval_on_selector_all(".md-search-result__item a", "as => as.map(a => a.href)")
    assert any("zeta__needle-model" in link for link in links), links


def test_dimension_and_model_pages(page, site: str) -> None:
    page.goto(f"{site}/board/esc/en/empathy.html")
    assert page.locator("svg.lb-chart rect.lb-barfill").count() == 5
    shot(page, "dimension")
    page.goto(f"{site}/board/models/acme__model-1.html")
    assert page.locator("svg.lb-radar polygon.lb-model").count() == 2  # en and zh
    assert page.locator("text=Data version").count() >= 1
    shot(page, "model")


def test_transcript_page_opens_and_filters(page, site: str) -> None:
    page.goto(f"{site}/board/models/acme__model-0.html")
    page.click("text=Browse every English dialogue")
    page.wait_for_url("**/acme__model-0-en.html")
    dialogues = page.locator("details.lb-dialogue")
    assert dialogues.count() == 12
    first = dialogues.first
    first.locator("summary").click()
    assert first.locator(".lb-turn").count() == 11 and first.locator(".lb-turn").first.is_visible()
    page.select_option("[data-control='order']", "desc")
    page.select_option("[data-control='dim']", "information")
    values = page.eval_on_selector_all("details.lb-dialogue", "ds => ds.filter(d => !d.hidden).map(d => Number(d.dataset.information))")
    assert values == sorted(values, reverse=True)
    target = str(values[-1])
    page.select_option("[data-control='score']", target)
    shown = page.eval_on_selector_all("details.lb-dialogue", "ds => ds.filter(d => !d.hidden).map(d => d.dataset.information)")
    assert shown and set(shown) == {target}


def test_compare_page_runs_a_paired_bootstrap(page, site: str) -> None:
    page.goto(f"{site}/board/compare.html")
    page.select_option("[data-control='a']", "acme__model-0")
    page.select_option("[data-control='b']", "acme__model-1")
    rows = page.locator("#lb-compare-result tbody tr")
    assert rows.count() == 7
    verdicts = page.eval_on_selector_all("#lb-compare-result tbody tr", "rs => rs.map(r => r.cells[6].textContent)")
    assert set(verdicts) <= {"A better", "B better", "not separated"}
    page.select_option("[data-control='b']", "acme__model-0")  # a model against itself is never separated
    assert page.eval_on_selector_all("#lb-compare-result tbody tr", "rs => rs.map(r => r.cells[3].textContent)") == ["0.0"] * 7
