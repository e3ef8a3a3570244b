"""The safety track's pages: an overview, one page per language x dimension, each model's responses (with their
images), the comparison page, plus the snippets the shared pages embed (overview tables, the model page's section)
and the data compare.js reads. Pages are returned as text by path; `render.render_site` writes them with the rest,
so they share its staging and atomic swap.

ASD is an attack's success: lower is safer (↓), and its tables are ranked ascending. PAR is the share
of perfect answers: higher is safer (↑). Every header and chart says which.

A responses page is mostly answers, untrusted text: its tables are a fragment (leaderboard/site/mkdocs_hooks.py),
never read as Markdown, so an answer that opens a code fence or writes a heading stays the text it is.
"""
from __future__ import annotations

from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from judge.safety import RULE_DIMENSIONS
from judge.stats import SAFETY_SCALE, SAFETY_VALUES
from leaderboard.board import Board
from leaderboard.safety.prompt_set import DIMENSIONS, PromptSet
from leaderboard.site.charts import ranked_bars
from leaderboard.site.mkdocs_hooks import PART
from leaderboard.stats import compare_settings
from leaderboard.store import Store
from leaderboard.track import TrackSite

IMAGES = "board/safety/images"
"""Where the prompt set's images are copied, under their path in the set."""


def compare_data(board: Board, names: dict[str, str]) -> dict[str, Any]:
    """Per metric, language, model and unit: the unit's ASD or PAR on 0-1 for each dimension (None where the unit is
    not of that dimension, or a rule left the pair out), so compare.js pairs two models item by item. The languages
    are the board's, as on the ESC compare page: a partial submission is compared where others are ranked, and its
    units in a language no one is ranked in are left out."""
    metrics = []
    for metric in board.metrics:
        values = SAFETY_VALUES[metric.name]
        scores: dict[str, dict[str, dict[str, list[float | None]]]] = {lang: {} for lang in board.languages}
        for (model, lang), units in sorted(board.unit_scores.items()):
            if lang not in scores:
                continue
            scores[lang][model] = {unit: [None if (s := by_dim.get(d)) is None else float(values(d, [s])[0]) for d in DIMENSIONS]
                                   for unit, by_dim in units.items()}
        metrics.append({"name": metric.name, "label": f"{metric.label} {metric.arrow}",
                        "lower_is_better": not metric.higher_is_better, "scale": SAFETY_SCALE, "scores": scores})
    return {"dimensions": list(DIMENSIONS), "names": names, "languages": board.languages, "metrics": metrics,
            "stats": compare_settings()}


def render_safety(env: Environment, board: Board, store: Store, common: dict[str, Any], prompts: PromptSet) -> TrackSite:
    """Render every safety page and snippet from the board; common is render_site's template context, prompts the
    prompt set the responses answer (for their images)."""
    names: dict[str, str] = common["names"]
    metrics = [m.name for m in board.metrics]
    context = {**common, "safety": board, "metrics": metrics, "metric_names": {m.name: m.label for m in board.metrics},
               "arrows": {m.name: m.arrow for m in board.metrics}, "metric_help": {m.name: m.help for m in board.metrics},
               "higher": {m.name: m.higher_is_better for m in board.metrics},
               "safety_rubrics": common["rubrics"], "shown": board.dimensions, "safety_judge": board.judge,
               "rule_dimensions": RULE_DIMENSIONS, "item_dimensions": DIMENSIONS}
    languages = board.languages
    site = TrackSite()
    site.pages["board/safety/index.md"] = env.get_template("safety/overview.md.j2").render(
        context, root="../../", safety_languages=languages)
    site.pages["board/safety/compare.md"] = env.get_template("safety/compare.md.j2").render(
        context, root="../../", stats=compare_settings())
    site.scripts["safety-scores.js"] = ("LB_SAFETY", compare_data(board, names))
    for lang in languages:
        for dim in board.dimensions:
            charts = {
                metric.name: ranked_bars([(names.get(m, m), f"../../models/{m}-safety.html", cell.estimate)
                                          for m in board.models(lang, dim, metric.name)
                                          if (cell := board.cell(m, lang, dim, metric.name))],
                                         lower_is_better=not metric.higher_is_better)
                for metric in board.metrics
            }
            site.pages[f"board/safety/{lang}/{dim}.md"] = env.get_template("safety/dimension.md.j2").render(
                context, root="../../../", lang=lang, dim=dim, charts=charts)
    for model in sorted({m for (m, _) in board.unit_scores}):
        langs = [l for l in languages if any(k[0] == model and k[1] == l for k in board.cells)]
        site.profiles[model] = Markup(env.get_template("safety/profile.md.j2").render(
            context, root="../../", model=model, langs=langs))
        items = store.safety_items(model, board.judge_sha)
        for it in items:
            if item := prompts.items.get(it["item_id"]):
                it["image_file"] = f"{IMAGES}/{item.image}"
                if it["image_file"] not in site.files:
                    site.files[it["image_file"]] = prompts.image_bytes(item)
        page = {"model": model, "items": items, "sections": sorted(
            {(i["lang"], i["dimension"]) for i in items}, key=lambda k: (k[0] != "en", k[0], DIMENSIONS.index(k[1])))}
        site.pages[f"board/models/{model}-safety.md"] = env.get_template("safety/responses.md.j2").render(
            context, root="../../", **page)
        site.pages[f"board/models/{model}-safety.fragment"] = env.get_template("safety/responses.html.j2").render(
            context, root="../../", part=Markup(PART), **page)
    site.tables = {lang: Markup(env.get_template("safety/tables.md.j2").render(context, root="", lang=lang))
                   for lang in languages}
    rows = board.rows(names)
    site.downloads = {"safety": rows, **{f"safety-{lang}": [r for r in rows if r["lang"] == lang] for lang in languages}}
    site.nav = [{"Safety": [{"Overview": "board/safety/index.md"}, {"Compare": "board/safety/compare.md"}] + [
        {common["language_names"][l]: [{d: f"board/safety/{l}/{d}.md"} for d in board.dimensions]} for l in languages]}]
    return site
