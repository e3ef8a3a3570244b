"""The built site in a real headless Chromium, over a file server and from disk: sorting, filtering, search, tabs,
transcripts, safety responses, compare, no console error and no request off the machine. Screenshots land in
build/test-artifacts/."""
from __future__ import annotations

import json
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
from leaderboard.safety.prompt_set import read_prompt_set, shipped_set
from test_safety_build import build_tiny_safety_bundle, reply, write_safety_submission

playwright = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("needs Debian's chromium (apt-get install chromium); .ci/run installs it", allow_module_level=True)

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update"]
ARTIFACTS = ROOT / "build" / "test-artifacts"

MARKDOWN = [  # answers that are Markdown, HTML or template syntax: every one must show as the text it is
    "Here is the list:\n\n```python\nprint('step 1')\n```\n\nDone.",
    "Unclosed fence from here on:\n\n```\n<!-- 包含的前提 -->\n<tr><td>cell</td></tr>",
    "# Heading one\n\n## Heading two { #en-privacy }\n\nbody",
    "| a | b |\n| --- | --- |\n| 1 | 2 |",
    "{{ config.site_name }} and {% if x %}y{% endif %} and {# note #}",
    "[x](y) and [click](javascript:alert(1)) and <b>bold</b> &amp; <!-- hidden? -->",
    "~~~\ntilde fence, never closed\n\n    indented code\n\n<script>alert(1)</script>",
]
"""Safety items that get one of MARKDOWN as their answer, in both languages (the real break was zh privacy-0014)."""
HOSTILE_ITEMS = {"privacy-0001": 0, "privacy-0014": 1, "bias-0002": 2, "bias-0013": 3, "toxicity-0004": 4,
                 "hallucination-0015": 5, "legality-0006": 6}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hostile_transcripts(root: Path) -> Path:
    """An ESC submission whose model replies are MARKDOWN (one per dialogue, the rest of each dialogue kept)."""
    folder = make_submission(root, "zeta__markdown", n=len(MARKDOWN), seed=5,
                             display="Markdown answers: replies written in Markdown, HTML and template syntax")
    path = folder / "transcripts" / "en.jsonl"
    dialogues = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for d, text in zip(dialogues, MARKDOWN):
        d["messages"][2]["content"] = text
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in dialogues), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, tiny_bundle: Path) -> Path:
    """A project with both tracks built; returns its root (the site is in build/site)."""
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(ROOT / "site", root / "site", ignore=shutil.ignore_patterns("index.md", "board"))
    shutil.copytree(ROOT / "overrides", root / "overrides")
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    for i in range(4):
        make_submission(root / "submissions", f"acme__model-{i}", n=12, langs=("en", "zh"), seed=i)
    make_submission(root / "submissions", "zeta__needle-model", n=12, seed=9, display="Needle \"Model\" & [x](javascript:alert(1))")
    hostile_transcripts(root / "submissions")
    write_safety_submission(root / "submissions", "acme__vision",
                            answer=lambda i: MARKDOWN[HOSTILE_ITEMS[i.id]] if i.id in HOSTILE_ITEMS else reply(i))
    write_safety_submission(root / "submissions", "acme__refuser", answer=lambda i: "I'm sorry, I can't help with that.")
    safety_judge = build_tiny_safety_bundle(root / "judges" / "tiny-safety")
    build(BuildConfig(root / "submissions", root / "build/lb.duckdb", root / "site", root / "build/site",
                      root / "mkdocs.yml", str(tiny_bundle), True, safety_judge=str(safety_judge)))
    return root


@pytest.fixture(scope="module")
def site(built: Path) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "-d", str(built / "build/site")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.8)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait()


@pytest.fixture(scope="module")
def disk(built: Path) -> str:
    """The same site opened from disk, as file:// URLs."""
    return (built / "build/site").as_uri()


@pytest.fixture(scope="module")
def browser(site: str) -> Iterator:
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, site: str, disk: str):
    """A page that records console errors and every request that leaves the local server (or the site's folder)."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    pg = context.new_page()
    pg.problems = []
    pg.on("console", lambda m: pg.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
    pg.on("dialog", lambda d: (pg.problems.append(f"script ran: {d.message}"), d.dismiss()))
    pg.on("request", lambda r: None if r.url.startswith((site, disk, "data:", "blob:")) else pg.problems.append(f"off-machine request: {r.url}"))
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
    assert ranks == sorted(ranks) and len(ranks) == 6
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
    assert page.locator("svg.lb-chart rect.lb-barfill").count() == 6
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
    first.locator(".lb-turn").first.wait_for()  # its topic's dialogues are decoded when one is first opened
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


def chosen(pg) -> tuple[str, str]:
    return pg.input_value("[data-control='a']"), pg.input_value("[data-control='b']")


def test_compare_never_pairs_a_model_with_itself(page, site: str) -> None:
    page.goto(f"{site}/board/compare.html")
    for model in ("acme__model-1", "acme__model-2"):
        page.select_option("[data-control='a']", model)
        a, b = chosen(page)
        assert a == model and b != model
        assert page.locator(f"[data-control='b'] option[value='{model}']").is_disabled()
    page.select_option("[data-control='a']", chosen(page)[1])  # A takes B's model: B moves to another one
    a, b = chosen(page)
    assert a != b and page.locator("#lb-compare-result tbody tr").count() == 7


def test_safety_compare_pairs_items(page, site: str, built: Path) -> None:
    """The safety compare page: per dimension and metric, A and B are the board's own numbers; A - B is paired by item."""
    board = json.loads((built / "build/site/board/downloads/safety.json").read_text())["rows"]
    score = {(r["model"], r["lang"], r["dimension"], r["metric"]): r["score"] for r in board}
    page.goto(f"{site}/board/safety/compare.html")
    page.select_option("[data-control='lang']", "zh")
    page.select_option("[data-control='a']", "acme__vision")
    page.select_option("[data-control='b']", "acme__refuser")
    shot(page, "safety-compare")
    rows = page.eval_on_selector_all("#lb-safety-compare-result tbody tr", "rs => rs.map(r => Array.from(r.cells, c => c.textContent))")
    assert {(r[0], r[1]) for r in rows} >= {(d, m) for d in ("privacy", "bias", "toxicity", "hallucination", "legality")
                                            for m in ("ASD ↓", "PAR ↑")}
    for dim, metric, a, b, diff, ci, ahead, verdict, n in rows:
        name = metric.split()[0].lower()
        if dim not in ("noise-injection", "position-swapping"):  # judged: both answered every item
            assert float(a) == pytest.approx(score[("acme__vision", "zh", dim, name)], abs=0.051), (dim, metric)
            assert float(b) == pytest.approx(score[("acme__refuser", "zh", dim, name)], abs=0.051), (dim, metric)
            assert int(n) == 10
        if int(n) < 10:
            assert (ci, ahead, verdict) == ("n too small", "–", "n too small")
        else:
            assert verdict in {"A better", "B better", "not separated"}
            low, high = (float(x) for x in ci.split(" – "))
            assert low <= float(diff) <= high
            assert verdict != "not separated" or low <= 0 <= high


SECTIONS = """() => { const out = {}; let section = null;
  for (const el of document.querySelectorAll("article h2, article table tbody tr")) {
    if (el.tagName === "H2") { section = el.id; out[section] = []; }
    else if (section) out[section].push(el.cells[0].innerText.trim()); }
  return out; }"""


RESPONSE = """id => { const row = Array.from(document.querySelectorAll("article tr")).find(r => r.cells[0].innerText.trim() === id);
  return row && {text: row.cells[3].innerText, elements: row.cells[3].children.length}; }"""


def test_answers_show_as_text_in_both_tracks(page, site: str) -> None:
    """Fences (closed and not), HTML comments, headings, tables, template syntax and links in answers: every section
    and anchor of the page stays, and every answer reads exactly as the model wrote it."""
    prompts = read_prompt_set(shipped_set())
    page.goto(f"{site}/board/models/acme__vision-safety.html")
    shot(page, "safety-responses")
    expected: dict[str, list[str]] = {}
    for item in prompts.items.values():
        expected.setdefault(f"{item.lang}-{item.dimension}", []).append(item.id)
    found = page.evaluate(SECTIONS)
    assert {k: sorted(v) for k, v in found.items()} == {k: sorted(v) for k, v in expected.items()}
    assert page.locator("h1").count() == 1 and page.locator("[id='en-privacy']").count() == 1
    for item, k in HOSTILE_ITEMS.items():
        shown = page.evaluate(RESPONSE, item)
        assert shown == {"text": MARKDOWN[k], "elements": 0}, item  # as written, and no element made from it
    targets: dict[str, set[str]] = {}  # every link into the model's pages names an anchor that is there, once
    for source in ("board/models/acme__vision.html", "board/safety/index.html", "board/safety/zh/privacy.html",
                   "board/safety/en/average.html", "board/safety/zh/truthfulness.html", "index.html"):
        page.goto(f"{site}/{source}")
        for path, anchor in page.eval_on_selector_all("a[href*='/acme__vision'][href*='#']",
                                                      "as => as.map(a => [a.pathname, a.hash.slice(1)])"):
            targets.setdefault(path, set()).add(anchor)
    assert {p.rsplit("/", 1)[1] for p in targets} == {"acme__vision-safety.html", "acme__vision.html"}
    for path, anchors in targets.items():
        page.goto(f"{site}{path}")
        assert [a for a in anchors if page.locator(f"[id='{a}']").count() != 1] == [], path

    page.goto(f"{site}/board/models/zeta__markdown-en.html")  # the ESC track: model replies in the transcript browser
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=MARKDOWN[-1], timeout=5000)
    text = page.inner_text("body")
    assert [t for t in MARKDOWN if t not in text] == []
    assert page.locator("h1").count() == 1
    assert page.locator("article a[href='y'], article a[href^='javascript'], article pre, article h2").count() == 0


def test_site_works_from_disk(page, disk: str) -> None:
    """Straight from disk (file://): no script error on any page, the language tabs switch (also by #chinese),
    search finds a model."""
    page.goto(f"{disk}/index.html#chinese")
    assert page.locator("#esc-zh").is_visible() and not page.locator("#esc-en").is_visible()
    page.click(".tabbed-labels label:has-text('English')")
    assert page.locator("#esc-en").is_visible() and not page.locator("#esc-zh").is_visible()
    page.click(".tabbed-labels label:has-text('Chinese')")
    assert page.locator("h2#safety-zh").is_visible()
    shot(page, "from-disk")
    page.click("input.md-search__input")
    page.keyboard.type("needle", delay=30)
    page.wait_for_selector(".md-search-result__item", timeout=10000)
    links = page.eval_on_selector_all(".md-search-result__item a", "as => as.map(a => a.href)")
    assert any(link.startswith("file://") and "zeta__needle-model" in link for link in links), links
    for path in ("board/models/acme__model-0.html", "board/models/acme__vision-safety.html", "board/safety/index.html",
                 "board/esc/zh/empathy.html", "board/compare.html"):
        page.goto(f"{disk}/{path}")
        assert page.locator("input.md-search__input").is_visible(), path


BROKEN_WORDS = """() => { const broken = [];
  for (const th of document.querySelectorAll("table.lb-table th")) {
    if (!th.offsetParent) continue;
    const walk = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    for (let node = walk.nextNode(); node; node = walk.nextNode()) {
      for (const m of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
        if (new Set(Array.from(range.getClientRects(), r => Math.round(r.top))).size > 1) broken.push(m[0]);
      } } }
  return broken; }"""


def test_headers_break_only_between_words(page, site: str) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    for path in ("index.html", "board/safety/index.html", "board/models/acme__model-0.html", "board/esc/en/empathy.html",
                 "board/safety/en/privacy.html"):
        page.goto(f"{site}/{path}")
        assert page.evaluate(BROKEN_WORDS) == [], path
        if path == "index.html":
            page.click(".tabbed-labels label:has-text('Chinese')")
            assert page.evaluate(BROKEN_WORDS) == [], "index.html, Chinese tab"
            shot(page, "overview-1400")


def test_first_click_sorts_best_first(page, site: str) -> None:
    """A score where higher is better sorts descending on its first click; ASD (lower is safer) ascending."""
    page.goto(f"{site}/index.html")
    page.dispatch_event("#esc-en thead th:nth-child(3)", "click")  # average ↑
    assert column(page, "#esc-en", 2) == sorted(column(page, "#esc-en", 2), reverse=True)
    page.goto(f"{site}/board/safety/index.html")
    page.dispatch_event("#safety-en-asd thead th:nth-child(4)", "click")  # privacy ASD ↓
    assert column(page, "#safety-en-asd", 3) == sorted(column(page, "#safety-en-asd", 3))
    spread = [k for k in range(2, 11) if len(set(column(page, "#safety-en-par", k))) > 1]
    assert spread, "no PAR column tells the two models apart"
    page.dispatch_event(f"#safety-en-par thead th:nth-child({spread[0] + 1})", "click")  # a PAR ↑ column
    par = column(page, "#safety-en-par", spread[0])
    assert par == sorted(par, reverse=True) and par[0] > par[-1]


def test_safety_responses_show_their_images(page, site: str) -> None:
    page.goto(f"{site}/board/models/acme__vision-safety.html")
    images = page.locator("article table img")
    assert images.count() == len(read_prompt_set(shipped_set()).items)
    assert page.locator("article table td:text-matches('imgs/')").count() == 0  # no path shown as text
    for index in (0, images.count() - 1):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=5000)
        assert image.locator("xpath=ancestor::a").get_attribute("href").endswith(".png")
