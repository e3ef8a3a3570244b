"""Render every track's board into Markdown pages (jinja2), inline SVG charts and machine-readable downloads.

The shared pages (overview, models, each model's page) are drawn here; each track adds its own pages
and the snippets the shared pages embed (`Track.pages`, in leaderboard/site/<track>.py). Pages are
written to a fresh folder first and moved into `site/` only once all of them rendered, so a failure
never leaves a half-rendered site. Every interpolated value is HTML-escaped.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from judge.spreadsheet import write_csv
from leaderboard.board import BOARD_SCHEMA_VERSION, Board
from leaderboard.site.judges import render_judges
from leaderboard.store import Store
from leaderboard.track import Track

GENERATED = ("index.md", "board")
"""What the build writes into the docs folder; everything else there is hand-written."""

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese (中文)"}


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("leaderboard.site", "templates"), autoescape=True, undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


class Downloads:
    """Every table of the site as CSV and JSON, under board/downloads/, each naming the judge of every track in it."""

    def __init__(self, folder: Path, stamp: dict[str, str], judges: Mapping[str, str], pinned: Mapping[str, bool]):
        self.folder, self.stamp, self.judges, self.pinned = folder, stamp, judges, pinned
        folder.mkdir(parents=True, exist_ok=True)

    def table(self, name: str, rows: Sequence[dict[str, Any]], tracks: Sequence[str]) -> None:
        """A judge that is not pinned by content (an endpoint judge) is named as such: per track in the JSON, and in
        a column beside every row's judge."""
        rows = [{**r, "judge_content_pinned": self.pinned.get(r["judge"], True)} if "judge" in r else r for r in rows]
        document = {"schema_version": BOARD_SCHEMA_VERSION, **self.stamp,
                    "judges": {t: self.judges[t] for t in tracks},
                    "judges_content_pinned": {t: self.pinned.get(self.judges[t], True) for t in tracks}, "rows": list(rows)}
        (self.folder / f"{name}.json").write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
        with (self.folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
            fields = list(rows[0]) if rows else ["model"]
            write_csv(fh, ["schema_version", *fields], ([BOARD_SCHEMA_VERSION, *(row.get(f, "") for f in fields)] for row in rows))

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
    """'verified' when the maintainers generated the model's output themselves (endpoint submissions)."""
    return "verified" if kind == "endpoint" else "community"


def render_site(boards: Sequence[tuple[Track, Board]], store: Store, docs_dir: Path, data_version: str) -> Rendered:
    """Write the generated pages of every track's board, and the shared pages, into docs_dir."""
    env = environment()
    submissions = {s["submission_id"]: s for s in store.submissions()}
    names = {k: s["name"] for k, s in submissions.items()}
    judges = {b.track: b.judge for _, b in boards}
    pinned = {j["judge_id"]: j["content_pinned"] for j in store.judges()}
    stamp = {
        "data_version": data_version,
        "judges": " · ".join(f"{judge} ({track}{'' if pinned.get(judge, True) else ', endpoint judge: not content-pinned'})"
                             for track, judge in judges.items()),
        "built_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    languages = sorted({l for _, b in boards for l in b.languages}, key=lambda l: (l != "en", l))
    partial = {model: {track.name: short for track, board in boards if (short := board.partial(model))} for model in submissions}
    common = {
        "partial": {model: tracks for model, tracks in partial.items() if tracks},
        "names": names, "submissions": submissions, "language_names": LANGUAGE_NAMES, "languages": languages,
        "language_labels": [LANGUAGE_NAMES[l] for l in languages], "data_version": data_version,
        "language_anchors": [LANGUAGE_NAMES[l].split()[0].lower() for l in languages],  # index.html#chinese
        "built_at": stamp["built_at"], "origins": {k: origin(s["kind"]) for k, s in submissions.items()},
    }
    staging = docs_dir.parent / f".{docs_dir.name}-render"
    if staging.exists():
        shutil.rmtree(staging)
    downloads = Downloads(staging / "board" / "downloads", {k: v for k, v in stamp.items() if k != "judges"}, judges, pinned)
    downloads.table("leaderboard", [row for _, b in boards for row in b.rows(names)], list(judges))
    sites = {track.name: track.site(env, board, store, common) for track, board in boards}
    for (track, _), site in zip(boards, sites.values()):
        for name, rows in site.downloads.items():
            downloads.table(name, rows, [track.name])
        for name, (variable, data) in site.scripts.items():
            downloads.script(name, variable, data)
    counts = store.content_counts()
    brought = {m: [(track, counts[(track.name, m)]) for track, _ in boards if (track.name, m) in counts] for m in submissions}
    provenance = store.provenance()
    pages: dict[str, str] = {
        "index.md": env.get_template("overview.md.j2").render(
            common, root="", tables={lang: [s.tables[lang] for s in sites.values() if lang in s.tables] for lang in languages}),
        "board/models/index.md": env.get_template("models.md.j2").render(common, root="../../", submissions=submissions,
                                                                        brought=brought),
    }
    for model, sub in submissions.items():
        pages[f"board/models/{model}.md"] = env.get_template("model.md.j2").render(
            common, root="../../", model=model, sub=sub, meta=json.loads(sub["metadata"]), brought=brought[model],
            judges={track.name: board.judge for track, board in boards if (track.name, model) in counts},
            profiles=[s.profiles[model] for s in sites.values() if model in s.profiles],
            provenance=provenance.get(model, {}),
        )
    for site in sites.values():
        pages.update(site.pages)
        for rel, data in site.files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    pages["board/judges.md"] = render_judges(env, store, [track.name for track, _ in boards], common)
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
    nav: list[Any] = [{"Leaderboard": "index.md"}, {"Models": "board/models/index.md"}]
    for site in sites.values():
        nav += site.nav
    nav.append({"Judges in this release": "board/judges.md"})
    return Rendered(stamp, nav)
