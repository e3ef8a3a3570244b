"""MkDocs hook: pages that are mostly pre-rendered HTML (every dialogue of a model) skip Markdown.

Such a page's Markdown holds only its header and a marker; its body was rendered (and escaped) by
jinja2 into a `.fragment` file beside it, which MkDocs itself never copies (see exclude_docs), and is
put in place of the marker here. Parsing a megabyte of HTML as Markdown was most of a build's time.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

MARKER = '<div data-lb-fragment=""></div>'


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    fragment = page.meta.get("fragment")
    if not fragment:
        return html
    return html.replace(MARKER, (Path(config["docs_dir"]) / fragment).read_text(encoding="utf-8"), 1)
