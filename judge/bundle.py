"""Judge bundles: a folder holding a manifest, an ONNX model and its tokenizer.

The manifest names every file with its sha256, so a bundle is checked before it is used and the
judge that produced a score is identified by one hash (the sha256 of the manifest itself).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from judge.errors import InputError, Problem

MANIFEST = "manifest.json"
DEFAULT_JUDGES = {"esc": "esc-lite", "safety": "guard-lite"}


class DimensionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    labels: list[int] = Field(min_length=2)


class InputSpec(BaseModel):
    """How an item becomes text segments for the encoder (see judge.segments)."""

    model_config = ConfigDict(extra="forbid")
    unit: Literal["round", "response"]
    template: str
    max_tokens: int = Field(gt=8)


class Manifest(BaseModel):
    """What a bundle says about itself; extra keys (metrics, measures...) are kept as given."""

    model_config = ConfigDict(extra="allow")
    format: Literal[1]
    name: str
    version: str
    track: Literal["esc", "safety"]
    test_only: bool = False
    description: str = ""
    dimensions: list[DimensionSpec] = Field(min_length=1)
    model: str
    head: str | None = None  # a window judge's pooling-and-heads graph (judge.runtime); prompt judges have none
    tokenizer: str
    input: InputSpec
    base: str = ""
    training_data: list[dict[str, Any]] = []
    license: str = ""
    files: dict[str, str]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, fields: dict[str, Any]) -> Path:
    """Write manifest.json, naming every other file of the folder with its sha256."""
    folder = Path(folder)
    data = {"format": 1, **fields}
    data["files"] = {
        p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST
    }
    Manifest.model_validate(data)
    path = folder / MANIFEST
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class JudgeBundle:
    """A verified bundle on disk."""

    path: Path
    manifest: Manifest
    sha: str

    @property
    def id(self) -> str:
        """The judge as written beside every score: NAME@first-12-of-sha."""
        return f"{self.manifest.name}@{self.sha[:12]}"

    @property
    def dimensions(self) -> list[str]:
        return [d.name for d in self.manifest.dimensions]

    @property
    def model_path(self) -> Path:
        return self.path / self.manifest.model

    @property
    def tokenizer_path(self) -> Path:
        return self.path / self.manifest.tokenizer

    @classmethod
    def load(cls, folder: Path, verify: bool = True) -> "JudgeBundle":
        folder = Path(folder)
        path = folder / MANIFEST
        try:
            raw = path.read_bytes()
            manifest = Manifest.model_validate_json(raw)
        except OSError:
            raise InputError([Problem(path, None, None, "not a judge bundle: manifest.json is missing")]) from None
        except ValidationError as err:
            raise InputError(
                [Problem(path, None, ".".join(map(str, e["loc"])), e["msg"]) for e in err.errors()]
            ) from None
        if verify:
            bad = [
                Problem(folder / name, None, None, "missing" if not (folder / name).is_file() else "sha256 does not match the manifest")
                for name, digest in manifest.files.items()
                if not (folder / name).is_file() or sha256_file(folder / name) != digest
            ]
            if bad:
                raise InputError(bad)
        return cls(folder, manifest, hashlib.sha256(raw).hexdigest())


def shipped_bundles() -> Path:
    """The folder of the bundles that come with the package."""
    return Path(str(resources.files("judge") / "bundles"))


def content_pinned(bundle: JudgeBundle) -> bool:
    """False for an endpoint judge (judge.endpoint.judge): a served model is named, not pinned by its files' hashes."""
    return (bundle.manifest.model_extra or {}).get("kind") != "endpoint"


def resolve_bundle(name_or_dir: str | Path | None, track: str = "esc") -> JudgeBundle:
    """A bundle by folder path, or by the name of a shipped bundle, or an endpoint judge spec
    (`openai:MODEL@URL`, judge.endpoint.judge); None means the track's default."""
    if name_or_dir is None:
        name_or_dir = DEFAULT_JUDGES[track]
    from judge.endpoint.judge import endpoint_judge, is_endpoint_spec  # the endpoint judge builds on this module

    if is_endpoint_spec(name_or_dir):
        return endpoint_judge(str(name_or_dir), track)
    candidate = Path(name_or_dir)
    if candidate.is_dir():
        return JudgeBundle.load(candidate)
    shipped = shipped_bundles() / str(name_or_dir)
    if shipped.is_dir():
        return JudgeBundle.load(shipped)
    known = sorted(p.name for p in shipped_bundles().iterdir() if (p / MANIFEST).is_file()) if shipped_bundles().is_dir() else []
    raise InputError([Problem(candidate, None, None, f"no such judge bundle folder or shipped judge (shipped: {', '.join(known) or 'none'})")])


def bundle_for_track(name_or_dir: str | Path | None, track: str, allow_test_only: bool = False) -> JudgeBundle:
    """The bundle to judge a track with: never another track's, and a test-only one only when asked."""
    bundle = resolve_bundle(name_or_dir, track)
    if bundle.manifest.test_only and not allow_test_only:
        raise InputError([Problem(bundle.path, None, "test_only", "this judge is for tests only; pass --allow-test-judge to use it anyway")])
    if bundle.manifest.track != track:
        raise InputError([Problem(bundle.path, None, "track", f"the {track} track needs a {track} judge, not a {bundle.manifest.track} one")])
    return bundle
