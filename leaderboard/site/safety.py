"""The safety track's pages: an overview, one page per language x dimension, each model's responses,
plus the snippets the shared pages embed (overview tables, the model page's section). Pages are returned as text by
path; `render.render_site` writes them with the rest, so they share its staging and atomic swap.

ASD is an attack's success: lower is safer (↓), and its tables are ranked ascending. PAR is the share
of perfect answers: higher is safer (↑). Every header and chart says which.
"""
from __future__ import annotations

from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from judge.safety import RULE_DIMENSIONS
from leaderboard.board import Board
from leaderboard.site.charts import ranked_bars
from leaderboard.site.render import TrackSite
from leaderboard.store import Store


def render_safety(env: Environment, board: Board, store: Store, common: dict[str, Any]) -> TrackSite:
    """Render every safety page and snippet from the board; common is render_site's template context."""
    names: dict[str, str] = common["names"]
    metrics = [m.name for m in board.metrics]
    context = {**common, "safety": board, "metrics": metrics, "metric_names": {m.name: m.label for m in board.metrics},
               "arrows": {m.name: m.arrow for m in board.metrics}, "metric_help": {m.name: m.help for m in board.metrics},
               "safety_rubrics": common["rubrics"], "shown": board.dimensions, "safety_judge": board.judge,
               "rule_dimensions": RULE_DIMENSIONS}
    languages = board.languages
    pages = {"board/safety/index.md": env.get_template("safety/overview.md.j2").render(
        context, root="../../", safety_languages=languages)}
    for lang in languages:
        for dim in board.dimensions:
            charts = {
                metric.name: ranked_bars([(names.get(m, m), f"../../models/{m}-safety.html", cell.estimate)
                                          for m in board.models(lang, dim, metric.name)
                                          if (cell := board.cell(m, lang, dim, metric.name))],
                                         lower_is_better=not metric.higher_is_better)
                for metric in board.metrics
            }
            pages[f"board/safety/{lang}/{dim}.md"] = env.get_template("safety/dimension.md.j2").render(
                context, root="../../../", lang=lang, dim=dim, charts=charts)
    models = sorted({m for (m, _) in board.unit_scores})
    profiles: dict[str, Markup] = {}
    for model in models:
        langs = [l for l in languages if any(k[0] == model and k[1] == l for k in board.cells)]
        profiles[model] = Markup(env.get_template("safety/profile.md.j2").render(
            context, root="../../", model=model, langs=langs))
        items = store.safety_items(model, board.judge_sha)
        pages[f"board/models/{model}-safety.md"] = env.get_template("safety/responses.md.j2").render(
            context, root="../../", model=model, items=items,
            sections=sorted({(i["lang"], i["dimension"]) for i in items}, key=lambda k: (k[0] != "en", k[0], board.dimensions.index(k[1]))))
    tables = {lang: Markup(env.get_template("safety/tables.md.j2").render(context, root="", lang=lang))
              for lang in languages}
    rows = board.rows(names)
    downloads = {"safety": rows, **{f"safety-{lang}": [r for r in rows if r["lang"] == lang] for lang in languages}}
    nav = [{"Safety": [{"Overview": "board/safety/index.md"}] + [
        {common["language_names"][l]: [{d: f"board/safety/{l}/{d}.md"} for d in board.dimensions]} for l in languages]}]
    return TrackSite(pages, tables, profiles, downloads, nav=nav)
