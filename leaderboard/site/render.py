"""Render the board into Markdown pages (jinja2), inline SVG charts and machine-readable downloads.

Pages are written to a fresh folder first and moved into `site/` only once all of them rendered,
so a failure never leaves a half-rendered site. Every interpolated value is HTML-escaped.
"""
from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from judge.dimensions import ESC_DIMENSIONS
from leaderboard.board import AVERAGE, BOARD_SCHEMA_VERSION, EscBoard
from leaderboard.site.charts import radar, ranked_bars
from leaderboard.esc.probes import flags
from leaderboard.esc.rolecards import card_set
from leaderboard.safety.metrics import SafetyBoard
from leaderboard.site.safety import render_safety
from leaderboard.store import Store

GENERATED = ("index.md", "board")
"""What the build writes into the docs folder; everything else there is hand-written."""

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese (中文)"}

RUBRICS = {
    AVERAGE: "Mean of the seven dimensions per dialogue.",
    "fluency": "Fluency: replies read naturally, are coherent and consistent with what came before.",
    "expression": "Expression (diversity): varied wording and forms of support, not one template repeated.",
    "empathy": "Empathy: recognises and reflects the seeker's feelings and situation.",
    "information": "Information (suggestion effectiveness): concrete, useful, well-fitted suggestions.",
    "skill": "Skill (emotional knowledge): uses sound emotional-support strategies at the right moment.",
    "humanoid": "Humanoid: talks like a caring person, not like an AI assistant reading out lists.",
    "overall": "Overall: how much a person would prefer this supporter.",
}


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("leaderboard.site", "templates"), autoescape=True, undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


class Downloads:
    """Every table of the site as CSV and JSON, under board/downloads/."""

    def __init__(self, folder: Path, stamp: dict[str, str]):
        self.folder, self.stamp = folder, stamp
        folder.mkdir(parents=True, exist_ok=True)

    def table(self, name: str, rows: Sequence[dict[str, Any]]) -> None:
        document = {"schema_version": BOARD_SCHEMA_VERSION, **self.stamp, "rows": list(rows)}
        (self.folder / f"{name}.json").write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
        with (self.folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
            fields = ["schema_version", *(rows[0] if rows else ["model"])]
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows({"schema_version": BOARD_SCHEMA_VERSION, **row} for row in rows)

    def script(self, name: str, variable: str, data: Any) -> None:
        """Data for a page's script as a .js file: loads from a file server and from disk alike."""
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
        (self.folder / name).write_text(f"window.{variable} = {text};\n", encoding="utf-8")


@dataclass(frozen=True)
class Rendered:
    """What the MkDocs step needs from rendering: the stamp of every page and the generated nav."""

    stamp: dict[str, str]
    nav: list[Any]


def origin(kind: str) -> str:
    """'verified' when the maintainers generated the dialogues themselves (endpoint submissions)."""
    return "verified" if kind == "endpoint" else "community"


def render_site(board: EscBoard, store: Store, docs_dir: Path, data_version: str,
                safety: SafetyBoard | None = None, probes: EscBoard | None = None) -> Rendered:
    """Write the generated pages into docs_dir."""
    env = environment()
    submissions = {s["submission_id"]: s for s in store.submissions()}
    names = {k: s["name"] for k, s in submissions.items()}
    stamp = {
        "data_version": data_version,
        "judge": board.judge,
        "built_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    languages = board.languages
    common = {
        "board": board, "names": names, "language_names": LANGUAGE_NAMES, "rubrics": RUBRICS,
        "languages": languages, "language_labels": [LANGUAGE_NAMES[l] for l in languages], **stamp,
        "origins": {k: origin(s["kind"]) for k, s in submissions.items()},
        "probes": probes, "flags": flags(board, probes) if probes else {},
    }
    staging = docs_dir.parent / f".{docs_dir.name}-render"
    if staging.exists():
        shutil.rmtree(staging)
    downloads = Downloads(staging / "board" / "downloads", stamp)
    rows = board.rows(names)
    downloads.table("leaderboard", rows)
    guard = render_safety(env, safety, store, common) if safety else None
    pages: dict[str, str] = {
        "index.md": env.get_template("overview.md.j2").render(common, root="", safety_tables=guard.tables if guard else None),
        "board/compare.md": env.get_template("esc/compare.md.j2").render(common, root="../"),
    }
    for lang in languages:
        downloads.table(f"esc-{lang}", [r for r in rows if r["lang"] == lang])
        for dim in board.dimensions:
            ranked = board.models(lang, dim)
            chart = ranked_bars([(names[m], f"../../models/{m}.html", board.cells[(m, lang, dim)].estimate) for m in ranked])
            pages[f"board/esc/{lang}/{dim}.md"] = env.get_template("esc/dimension.md.j2").render(
                common, root="../../../", lang=lang, dim=dim, chart=chart
            )
            downloads.table(f"esc-{lang}-{dim}", [r for r in rows if r["lang"] == lang and r["dimension"] == dim])
    cards = card_set()
    provenance = store.provenance()
    compare_data: dict[str, dict[str, dict[str, list[int]]]] = {lang: {} for lang in languages}
    for model, sub in submissions.items():
        langs = [l for l in languages if (model, l) in board.dialogue_scores]
        radars = {
            lang: radar(ESC_DIMENSIONS, {
                "lb-median": {d: board.median(lang, d) for d in ESC_DIMENSIONS},
                "lb-model": {d: board.cells[(model, lang, d)].estimate.mean for d in ESC_DIMENSIONS if (model, lang, d) in board.cells},
            })
            for lang in langs
        }
        pages[f"board/models/{model}.md"] = env.get_template("model.md.j2").render(
            common, root="../../", model=model, sub=sub, meta=json.loads(sub["metadata"]), langs=langs,
            radars=radars, judge=board.judge, safety_profile=guard.profiles.get(model) if guard else None,
            provenance=provenance.get(model, {}),
        )
        stored = store.dialogues(model)
        for lang in langs:
            scores = board.dialogue_scores[(model, lang)]
            dialogues = []
            for i, d in enumerate(x for x in stored if x["lang"] == lang and x["dialogue_id"] in scores):
                card = cards.get((lang, d["card_id"] or ""))
                dialogues.append({**d, "anchor": i, "scores": scores[d["dialogue_id"]],
                                  "topic": card.topic if card else "unknown", "card": card.text if card else None})
                compare_data[lang].setdefault(model, {})[d["card_id"] or d["dialogue_id"]] = [
                    scores[d["dialogue_id"]][dim] for dim in ESC_DIMENSIONS]
            page = {"model": model, "sub": sub, "lang": lang, "dims": ESC_DIMENSIONS, "dialogues": dialogues,
                    "topics": sorted({d["topic"] for d in dialogues})}
            pages[f"board/models/{model}-{lang}.md"] = env.get_template("esc/transcripts.md.j2").render(common, root="../../", **page)
            pages[f"board/models/{model}-{lang}.fragment"] = env.get_template("esc/dialogues.html.j2").render(common, root="../../", **page)
            downloads.table(f"{model}-{lang}-dialogues", [
                {"model": model, "lang": lang, "dialogue_id": d["dialogue_id"], "card_id": d["card_id"],
                 "topic": d["topic"], **d["scores"], "judge": board.judge} for d in dialogues
            ])
    counts = {m: sum(len(board.dialogue_scores.get((m, l), {})) for l in languages) for m in submissions}
    pages["board/models/index.md"] = env.get_template("models.md.j2").render(
        common, root="../../", submissions=submissions, dialogue_counts=counts)
    downloads.script("dialogue-scores.js", "LB_DIALOGUES", {
        "dimensions": list(ESC_DIMENSIONS), "names": names, "languages": languages, "scores": compare_data,
    })
    if guard:
        pages.update(guard.pages)
        for name, table in guard.downloads.items():
            downloads.table(name, table)
    for rel, text in pages.items():
        path = staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for rel in GENERATED:
        target = docs_dir / rel
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        (staging / rel).replace(target)
    shutil.rmtree(staging)
    nav = [
        {"Leaderboard": "index.md"},
        {"Dimensions": [{LANGUAGE_NAMES[l]: [{d: f"board/esc/{l}/{d}.md"} for d in board.dimensions]} for l in languages]},
        {"Models": "board/models/index.md"},
        {"Compare": "board/compare.md"},
    ]
    if guard:
        nav += guard.nav
    return Rendered(stamp, nav)
