"""Render the board into Markdown pages (jinja2) and machine-readable downloads.

Pages are written to a fresh folder first and moved into `site/` only once all of them rendered,
so a failure never leaves a half-rendered site. Every interpolated value is HTML-escaped.
"""
from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from judge.dimensions import ESC_DIMENSIONS
from leaderboard.board import AVERAGE, BOARD_SCHEMA_VERSION, EscBoard
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
        loader=PackageLoader("leaderboard", "templates"), autoescape=True, undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def write_downloads(folder: Path, rows: list[dict[str, Any]], stamp: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    document = {"schema_version": BOARD_SCHEMA_VERSION, **stamp, "rows": rows}
    (folder / "leaderboard.json").write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    with (folder / "leaderboard.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["schema_version", *(rows[0] if rows else ["model"])])
        writer.writeheader()
        for row in rows:
            writer.writerow({"schema_version": BOARD_SCHEMA_VERSION, **row})


def render_site(board: EscBoard, store: Store, docs_dir: Path, data_version: str) -> dict[str, str]:
    """Write the generated pages into docs_dir; returns the stamp they carry."""
    env = environment()
    submissions = {s["submission_id"]: s for s in store.submissions()}
    names = {k: s["name"] for k, s in submissions.items()}
    stamp = {
        "data_version": data_version,
        "judge": board.judge,
        "built_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    common = {"board": board, "names": names, "language_names": LANGUAGE_NAMES, **stamp}
    staging = docs_dir.parent / f".{docs_dir.name}-render"
    if staging.exists():
        shutil.rmtree(staging)
    pages: dict[str, str] = {"index.md": env.get_template("overview.md.j2").render(common, root="")}
    for lang in board.languages:
        for dim in board.dimensions:
            pages[f"board/esc/{lang}/{dim}.md"] = env.get_template("dimension.md.j2").render(
                common, root="../../../", lang=lang, dim=dim, rubric=RUBRICS[dim]
            )
    for model, sub in submissions.items():
        meta = json.loads(sub["metadata"])
        langs = [l for l in board.languages if (model, l) in board.dialogue_scores]
        pages[f"board/models/{model}.md"] = env.get_template("model.md.j2").render(
            common, root="../../", model=model, sub=sub, meta=meta, langs=langs
        )
        dialogues = store.dialogues(model)
        for lang in langs:
            scores = board.dialogue_scores[(model, lang)]
            pages[f"board/models/{model}-{lang}.md"] = env.get_template("transcripts.md.j2").render(
                common, root="../../", model=model, sub=sub, lang=lang, dims=ESC_DIMENSIONS, scores=scores,
                dialogues=[d for d in dialogues if d["lang"] == lang and d["dialogue_id"] in scores],
            )
    for rel, text in pages.items():
        path = staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    write_downloads(staging / "board" / "downloads", board.rows(names), stamp)
    for rel in GENERATED:
        target = docs_dir / rel
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        (staging / rel).replace(target)
    shutil.rmtree(staging)
    return stamp
