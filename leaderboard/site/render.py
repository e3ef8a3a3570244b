"""Render every track's board into Markdown pages (jinja2), inline SVG charts and machine-readable downloads.

The shared pages (overview, models, each model's page) are drawn here; each track adds its own pages
and the snippets the shared pages embed (`Track.pages`, in leaderboard/site/<track>.py). Pages are
written to a fresh folder first and moved into `site/` only once all of them rendered, so a failure
never leaves a half-rendered site. Every interpolated value is HTML-escaped.
"""
from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from leaderboard.board import BOARD_SCHEMA_VERSION, Board
from leaderboard.store import Store

if TYPE_CHECKING:
    from leaderboard.tracks import Track

GENERATED = ("index.md", "board")
"""What the build writes into the docs folder; everything else there is hand-written."""

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese (中文)"}


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("leaderboard.site", "templates"), autoescape=True, undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


@dataclass
class TrackSite:
    """What a track adds to the site: its pages, the snippets shared pages embed, its downloads and nav."""

    pages: dict[str, str] = field(default_factory=dict)
    tables: dict[str, Markup] = field(default_factory=dict)  # language -> its tables on the overview
    profiles: dict[str, Markup] = field(default_factory=dict)  # model -> its section of the model page
    downloads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # download name -> rows
    scripts: dict[str, tuple[str, Any]] = field(default_factory=dict)  # file name -> (window variable, data)
    nav: list[Any] = field(default_factory=list)


class Downloads:
    """Every table of the site as CSV and JSON, under board/downloads/, each naming the judge of every track in it."""

    def __init__(self, folder: Path, stamp: dict[str, str], judges: Mapping[str, str]):
        self.folder, self.stamp, self.judges = folder, stamp, judges
        folder.mkdir(parents=True, exist_ok=True)

    def table(self, name: str, rows: Sequence[dict[str, Any]], tracks: Sequence[str]) -> None:
        document = {"schema_version": BOARD_SCHEMA_VERSION, **self.stamp,
                    "judges": {t: self.judges[t] for t in tracks}, "rows": list(rows)}
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
    """'verified' when the maintainers generated the model's output themselves (endpoint submissions)."""
    return "verified" if kind == "endpoint" else "community"


def render_site(boards: Sequence[tuple[Track, Board]], store: Store, docs_dir: Path, data_version: str) -> Rendered:
    """Write the generated pages of every track's board, and the shared pages, into docs_dir."""
    env = environment()
    submissions = {s["submission_id"]: s for s in store.submissions()}
    names = {k: s["name"] for k, s in submissions.items()}
    judges = {b.track: b.judge for _, b in boards}
    stamp = {
        "data_version": data_version,
        "judges": " · ".join(f"{judge} ({track})" for track, judge in judges.items()),
        "built_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    languages = sorted({l for _, b in boards for l in b.languages}, key=lambda l: (l != "en", l))
    partial = {model: {track.name: short for track, board in boards if (short := board.partial(model))} for model in submissions}
    common = {
        "partial": {model: tracks for model, tracks in partial.items() if tracks},
        "names": names, "submissions": submissions, "language_names": LANGUAGE_NAMES, "languages": languages,
        "language_labels": [LANGUAGE_NAMES[l] for l in languages], "data_version": data_version,
        "built_at": stamp["built_at"], "origins": {k: origin(s["kind"]) for k, s in submissions.items()},
    }
    staging = docs_dir.parent / f".{docs_dir.name}-render"
    if staging.exists():
        shutil.rmtree(staging)
    downloads = Downloads(staging / "board" / "downloads", {k: v for k, v in stamp.items() if k != "judges"}, judges)
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
    return Rendered(stamp, nav)
