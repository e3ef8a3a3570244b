"""The ESC track's pages: one page per language x dimension, each model's dialogues, the comparison page, plus the
snippets the shared pages embed (overview tables, the model page's section) and the data compare.js reads."""
from __future__ import annotations

from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from judge.dimensions import ESC_DIMENSIONS, ESC_SCALE
from leaderboard.board import Board
from leaderboard.esc.probes import flags
from leaderboard.esc.rolecards import RoleCard
from leaderboard.site.charts import radar, ranked_bars
from leaderboard.site.render import TrackSite
from leaderboard.stats import compare_settings
from leaderboard.store import Store


def render_esc(env: Environment, board: Board, store: Store, common: dict[str, Any],
               cards: dict[tuple[str, str], RoleCard], probes: Board | None) -> TrackSite:
    """Render every ESC page and snippet from the board; cards name each dialogue's topic, probes flag look-alikes."""
    names: dict[str, str] = common["names"]
    languages = board.languages
    context = {**common, "board": board, "probes": probes, "flags": flags(board, probes) if probes else {}}
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
    for model in sorted({m for (m, _) in board.unit_scores}):
        langs = board.model_languages(model)
        radars = {
            lang: radar(ESC_DIMENSIONS, {
                "lb-median": {d: board.median(lang, d) for d in ESC_DIMENSIONS},
                "lb-model": {d: c.estimate.mean for d in ESC_DIMENSIONS if (c := board.cell(model, lang, d))},
            })
            for lang in langs
        }
        site.profiles[model] = Markup(env.get_template("esc/profile.md.j2").render(
            context, root="../../", model=model, langs=langs, radars=radars))
        sub = common["submissions"][model]
        stored = store.dialogues(model)
        for lang in langs:
            scores = board.unit_scores[(model, lang)]
            dialogues = []
            for i, d in enumerate(x for x in stored if x["lang"] == lang and x["dialogue_id"] in scores):
                card = cards.get((lang, d["card_id"] or ""))
                dialogues.append({**d, "anchor": i, "scores": scores[d["dialogue_id"]],
                                  "topic": card.topic if card else "unknown", "card": card.text if card else None})
                compare_data[lang].setdefault(model, {})[d["card_id"] or d["dialogue_id"]] = [
                    scores[d["dialogue_id"]][dim] for dim in ESC_DIMENSIONS]  # type: ignore[misc]
            page = {"model": model, "sub": sub, "lang": lang, "dims": ESC_DIMENSIONS, "dialogues": dialogues,
                    "topics": sorted({d["topic"] for d in dialogues})}
            site.pages[f"board/models/{model}-{lang}.md"] = env.get_template("esc/transcripts.md.j2").render(
                context, root="../../", **page)
            site.pages[f"board/models/{model}-{lang}.fragment"] = env.get_template("esc/dialogues.html.j2").render(
                context, root="../../", **page)
            site.downloads[f"{model}-{lang}-dialogues"] = [
                {"model": model, "lang": lang, "dialogue_id": d["dialogue_id"], "card_id": d["card_id"],
                 "topic": d["topic"], **d["scores"], "judge": board.judge} for d in dialogues
            ]
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
