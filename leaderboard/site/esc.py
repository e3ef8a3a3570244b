"""The ESC track's pages: one page per language x dimension, each model's dialogues, the comparison page, plus the
snippets the shared pages embed (overview tables, the model page's section) and the data compare.js reads.

A model's dialogues are most of the site's weight, so a transcript page carries them as data, not HTML: an index
(id, topic, scores: what the filters need) as JSON, and the dialogues themselves as one deflate-compressed, base64
payload per card topic, each in a `<script>` data block of the page. site/assets/transcripts.js draws the list
from the index and decodes a topic's payload (DecompressionStream) when one of its dialogues is first opened,
writing every text with textContent: it stays text, never HTML or Markdown. Nothing is fetched, so the pages work
from disk as from a server.
"""
from __future__ import annotations

import base64
import hashlib
import json
import zlib
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from judge.dimensions import ESC_DIMENSIONS, ESC_SCALE
from leaderboard.board import Board
from leaderboard.esc.probes import PROBE_CARDS, Probes, flags
from leaderboard.esc.rolecards import RoleCard
from leaderboard.site.charts import radar, ranked_bars
from leaderboard.stats import compare_settings
from leaderboard.store import Store
from leaderboard.track import TrackSite


def script_json(data: Any) -> Markup:
    """JSON safe inside a <script> element: '<', '>' and '&' as \\u escapes, so no text can close the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


PAYLOAD_FORMAT = "zlib-9 JSON [[index, card id, card text, source file, line, [[role, text], ...]], ...]"
"""What a payload is; part of its cache key, so a change of format is never served from the cache."""


class Payloads:
    """The transcript pages' compressed dialogues, cached in the store by what they hold: a row's content hash
    stands for its messages, so a key is made without reading any text, and only new payloads are compressed
    (deflate at level 9 reads 5 MB of text a second: most of a build's time, were every page compressed every time).
    The cached ones of every page are read in one pass over the cache table (DuckDB scans it for any lookup)."""

    def __init__(self, store: Store, pages: dict[tuple[str, str], list[dict[str, Any]]]):
        self.store = store
        self.rows = {(model, lang, topic): [[i, d["card_id"], d["card"], d["source_file"], d["source_line"], d["content_hash"]]
                                            for i, d in enumerate(dialogues) if d["topic"] == topic]
                     for (model, lang), dialogues in pages.items() for topic in sorted({d["topic"] for d in dialogues})}
        self.keys = {page: hashlib.sha256(json.dumps([PAYLOAD_FORMAT, page[1], r], ensure_ascii=False).encode()).hexdigest()
                     for page, r in self.rows.items()}
        self.cached = store.site_payloads(list(self.keys.values()))

    def page(self, model: str, lang: str, dialogues: list[dict[str, Any]]) -> list[tuple[str, str]]:
        """(topic, base64 payload) per card topic of one transcript page; what the cache lacks is compressed now."""
        topics = sorted({d["topic"] for d in dialogues})
        missing = [i for t in topics if self.keys[(model, lang, t)] not in self.cached for i, *_ in self.rows[(model, lang, t)]]
        texts = self.store.messages(model, [dialogues[i]["dialogue_id"] for i in missing]) if missing else {}
        out = []
        for topic in topics:
            key = self.keys[(model, lang, topic)]
            if (payload := self.cached.pop(key, None)) is None:
                data = [[*row[:5], [[m["role"], m["content"]] for m in texts[dialogues[row[0]]["dialogue_id"]]]]
                        for row in self.rows[(model, lang, topic)]]
                payload = zlib.compress(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), 9)
                self.store.add_site_payloads({key: payload})
            out.append((topic, base64.b64encode(payload).decode("ascii")))
        return out

    def prune(self) -> None:
        """Forget the payloads no page uses any more (a page's rows changed, a model left)."""
        self.store.keep_site_payloads(list(self.keys.values()))


def index(dialogues: list[dict[str, Any]]) -> Markup:
    """A transcript page's index: what every dialogue is listed, filtered and sorted by."""
    return script_json({"dims": list(ESC_DIMENSIONS), "dialogues": [
        [d["dialogue_id"], d["topic"], [d["scores"].get(dim) for dim in ESC_DIMENSIONS]] for d in dialogues]})


def render_esc(env: Environment, board: Board, store: Store, common: dict[str, Any],
               cards: dict[tuple[str, str], RoleCard], probes: Probes) -> TrackSite:
    """Render every ESC page and snippet from the board; cards name each dialogue's topic, each model's own probe
    runs flag it when it scores like or below a trick."""
    names: dict[str, str] = common["names"]
    languages = board.languages
    context = {**common, "board": board, "probes": probes, "flags": flags(board, probes), "probe_cards": PROBE_CARDS}
    site = TrackSite()
    rows = board.rows(names)
    site.pages["board/compare.md"] = env.get_template("esc/compare.md.j2").render(context, root="../", stats=compare_settings())
    for lang in languages:
        site.tables[lang] = Markup(env.get_template("esc/tables.md.j2").render(context, root="", lang=lang))
        site.downloads[f"esc-{lang}"] = [r for r in rows if r["lang"] == lang]
        for dim in board.dimensions:
            ranked = [m for m in board.models(lang, dim) if board.cell(m, lang, dim)]
            chart = ranked_bars([(names[m], f"../../models/{m}.html", board.cell(m, lang, dim).estimate)  # type: ignore[union-attr]
                                 for m in ranked])
            site.pages[f"board/esc/{lang}/{dim}.md"] = env.get_template("esc/dimension.md.j2").render(
                context, root="../../../", lang=lang, dim=dim, chart=chart)
            site.downloads[f"esc-{lang}-{dim}"] = [r for r in rows if r["lang"] == lang and r["dimension"] == dim]
    compare_data: dict[str, dict[str, dict[str, list[int]]]] = {lang: {} for lang in languages}
    models = sorted({m for (m, _) in board.unit_scores})
    pages: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (model, language) -> its dialogues, without their text
    for model in models:
        stored = store.dialogues(model)
        for lang in board.model_languages(model):
            scores = board.unit_scores[(model, lang)]
            pages[(model, lang)] = [{**d, "scores": scores[d["dialogue_id"]], "topic": card.topic if card else "unknown",
                                     "card": card.text if card else None}
                                    for d in stored if d["lang"] == lang and d["dialogue_id"] in scores
                                    for card in [cards.get((lang, d["card_id"] or ""))]]
    payloads = Payloads(store, pages)
    medians = {lang: {d: board.median(lang, d) for d in board.dimensions  # a dimension no judgement labelled has none
                      if any(board.cell(m, lang, d) for m in board.models(lang, d))} for lang in languages}
    context["medians"] = medians  # once, not once per model page (each is a pass over the board)
    context["field"] = {lang: len(board.models(lang)) for lang in languages}
    for model in models:
        langs = board.model_languages(model)
        radars = {
            lang: radar(ESC_DIMENSIONS, {
                "lb-median": {d: v for d, v in medians[lang].items() if d in ESC_DIMENSIONS},
                "lb-model": {d: c.estimate.mean for d in ESC_DIMENSIONS if (c := board.cell(model, lang, d))},
            })
            for lang in langs
        }
        site.profiles[model] = Markup(env.get_template("esc/profile.md.j2").render(
            context, root="../../", model=model, langs=langs, radars=radars))
        sub = common["submissions"][model]
        for lang in langs:
            dialogues = pages[(model, lang)]
            for d in dialogues:
                compare_data[lang].setdefault(model, {})[d["card_id"] or d["dialogue_id"]] = [
                    d["scores"].get(dim) for dim in ESC_DIMENSIONS]  # None: unscored there
            page = {"model": model, "sub": sub, "lang": lang, "dims": ESC_DIMENSIONS, "count": len(dialogues),
                    "topics": sorted({d["topic"] for d in dialogues}), "index": index(dialogues),
                    "payloads": payloads.page(model, lang, dialogues)}
            site.pages[f"board/models/{model}-{lang}.md"] = env.get_template("esc/transcripts.md.j2").render(
                context, root="../../", **page)
            site.pages[f"board/models/{model}-{lang}.fragment"] = env.get_template("esc/dialogues.html.j2").render(
                context, root="../../", **page)
            site.downloads[f"{model}-{lang}-dialogues"] = [
                {"model": model, "lang": lang, "dialogue_id": d["dialogue_id"], "card_id": d["card_id"],
                 "topic": d["topic"], **{dim: d["scores"].get(dim) for dim in ESC_DIMENSIONS}, "judge": board.judge}
                for d in dialogues
            ]
    payloads.prune()
    site.scripts["dialogue-scores.js"] = ("LB_DIALOGUES", {
        "dimensions": list(ESC_DIMENSIONS), "names": names, "languages": languages, "scores": compare_data,
        "scale": ESC_SCALE, "stats": compare_settings(),
    })
    site.nav = [
        {"Dimensions": [{common["language_names"][l]: [{d: f"board/esc/{l}/{d}.md"} for d in board.dimensions]}
                        for l in languages]},
        {"Compare": "board/compare.md"},
    ]
    return site
