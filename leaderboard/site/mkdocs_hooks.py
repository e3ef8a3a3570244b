"""MkDocs hooks: pages whose body is pre-rendered HTML skip Markdown, and the site works from disk.

Fragments. A page whose body is mostly untrusted text (every dialogue or every safety answer of a model) keeps in
its Markdown only its header, its headings and a marker per part; the parts were rendered (and escaped) by jinja2
into a `.fragment` file beside it, which MkDocs itself never copies (see exclude_docs), separated by PART, and are
put in place of the markers here, in order. So no answer is ever read as Markdown (a code fence in one would
swallow the rest of the page), and parsing a megabyte of HTML as Markdown, most of a build's time, is skipped.

From disk. Over file:// browsers fetch no JSON and start no worker from a file. The theme then reads the search
index from `search/search_index.js`, written here; the search worker's source is written as a script too, which
site/assets/offline.js starts from a blob (a worker browsers do allow there).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority

MARKER = '<div data-lb-fragment=""></div>'
PART = "<!-- lb-fragment-part -->"
"""Between the parts of a fragment; escaped text never contains it (its `<` is `&lt;`)."""
SEARCH_WORKER = "LB_SEARCH_WORKER"
"""The window variable search/search_worker.js sets to the theme's search worker source (read by offline.js)."""


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    fragment = page.meta.get("fragment")
    if not fragment:
        return html
    for part in (Path(config["docs_dir"]) / fragment).read_text(encoding="utf-8").split(PART):
        html = html.replace(MARKER, part, 1)
    return html


@event_priority(-100)  # after the search plugin has written its index
def on_post_build(config: Any) -> None:
    site = Path(config["site_dir"])
    index = site / "search" / "search_index.json"
    workers = sorted((site / "assets" / "javascripts" / "workers").glob("search.*.min.js"))
    if not index.is_file() or not workers:
        return
    (site / "search" / "search_index.js").write_text(f"var __index = {index.read_text(encoding='utf-8')};\n", encoding="utf-8")
    source = json.dumps(workers[0].read_text(encoding="utf-8"), ensure_ascii=False)
    (site / "search" / "search_worker.js").write_text(f"window.{SEARCH_WORKER} = {source};\n", encoding="utf-8")
