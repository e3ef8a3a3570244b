"""Submissions: a folder `submissions/<org>__<model>/` with `submission.yaml` and its transcripts.

The schema is the pydantic model below, published as JSON Schema (`leaderboard schema`). Every
problem is reported with the file, line and field it concerns, and all of them at once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from judge.errors import InputError, Problem, reason
from judge.jsonl import item_problems, parse_lines, read_text
from judge.language import LangTag
from judge.limits import SUBMISSION_FILE
from judge.transcript import Transcript, transcript_file
from leaderboard.safety.prompt_set import DIMENSIONS

FOLDER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}__[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
def _plain(value: str) -> str:
    if re.search(r"[<>\x00-\x1f\x7f]", value):
        raise ValueError("must be plain text: no '<', '>' or control characters")
    return value


Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True), AfterValidator(_plain)]


class Endpoint(BaseModel):
    """An OpenAI-compatible endpoint; the API key is named by an environment variable, never written here."""

    model_config = ConfigDict(extra="forbid")
    base_urls: list[AnyHttpUrl] = Field(min_length=1, description="One or more base URLs serving the same model.")
    model: Text = Field(description="Model id to send in requests.")
    api_key_env: Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = Field(
        None, description="Name of the environment variable holding the API key."
    )
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, gt=0, le=8192)


class Submission(BaseModel):
    """The published schema of submission.yaml."""

    model_config = ConfigDict(extra="forbid", title="Leaderboard submission")
    name: Text = Field(description="Display name of the model.")
    organisation: Text
    model_link: AnyHttpUrl
    license: Text
    parameters: int | None = Field(None, gt=0, description="Parameter count, if known.")
    languages: list[LangTag] = Field(min_length=1)
    tracks: list[Literal["esc", "safety"]] = Field(min_length=1)
    kind: Literal["transcripts", "endpoint", "responses"]
    endpoint: Endpoint | None = None
    notes: Annotated[str, StringConstraints(max_length=2000), AfterValidator(_plain)] | None = None

    @model_validator(mode="after")
    def _endpoint_when_needed(self) -> "Submission":
        if self.kind == "endpoint" and self.endpoint is None:
            raise ValueError("kind 'endpoint' needs an 'endpoint' section (base_urls, model, api_key_env)")
        return self


def json_schema() -> dict[str, Any]:
    return Submission.model_json_schema()


def node_lines(node: yaml.Node, prefix: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Line of every key path in a YAML document, so schema errors can name their line."""
    lines = {prefix: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines[prefix + (key.value,)] = key.start_mark.line + 1
            lines.update({k: v for k, v in node_lines(value, prefix + (key.value,)).items() if k != prefix + (key.value,)})
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(node_lines(item, prefix + (i,)))
    return lines


def _line_for(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    while loc not in lines and loc:
        loc = loc[:-1]
    return lines.get(loc, 1)


def load_submission_yaml(path: Path) -> Submission:
    """Parse and check submission.yaml (plain YAML only: tags and aliases are not accepted)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError([Problem(path, None, None, "not UTF-8 text")]) from None
    except OSError as err:
        raise InputError([Problem(path, None, None, f"cannot read: {err.strerror}")]) from None
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise InputError([Problem(path, event.start_mark.line + 1, None, "YAML anchors and aliases are not accepted")])
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise InputError([Problem(path, mark.line + 1 if mark else None, None, f"bad YAML: {getattr(err, 'problem', err)}")]) from None
    if node is None or not isinstance(data, dict):
        raise InputError([Problem(path, 1, None, "expected a mapping of fields (name, organisation, ...)")])
    try:
        return Submission.model_validate(data)
    except ValidationError as err:
        lines = node_lines(node)
        problems = [
            Problem(path, _line_for(lines, tuple(e["loc"])), ".".join(map(str, e["loc"])) or "(file)", reason(e))
            for e in err.errors()
        ]
        raise InputError(problems) from None


class ResponseRecord(BaseModel):
    """One line of `responses/*.jsonl` (safety track): a model's answer to one image-text prompt."""

    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    dimension: Literal[DIMENSIONS]  # type: ignore[valid-type]
    lang: LangTag
    prompt: Annotated[str, StringConstraints(min_length=1)]
    image: Annotated[str, StringConstraints(min_length=1, max_length=500)] = Field(
        description="The image's path in the prompt set, e.g. privacy/imgs/en-01.png.")
    response: str


@dataclass(frozen=True)
class SafetyResponse:
    """A checked response line and where it came from."""

    record: ResponseRecord
    source: Path
    line: int

    @property
    def id(self) -> str:
        return self.record.id


def _response(data: Any, path: Path, line: int) -> tuple[SafetyResponse | None, list[Problem]]:
    try:
        return SafetyResponse(ResponseRecord.model_validate(data), path, line), []
    except ValidationError as err:
        return None, [Problem(path, line, ".".join(map(str, e["loc"])) or None, reason(e)) for e in err.errors()]


def response_file(path: Path) -> tuple[list[SafetyResponse], list[Problem]]:
    """The responses of a JSON Lines file that pass, and every problem of the file (line and field)."""
    out, problems = parse_lines(path, read_text(path), _response)
    return out, problems + item_problems(path, out, problems, "responses")


def read_responses(path: Path) -> list[SafetyResponse]:
    """Read a responses JSON Lines file, or raise InputError with every problem's line and field."""
    out, problems = response_file(path)
    if problems:
        raise InputError(problems)
    return out


@dataclass(frozen=True)
class LoadedSubmission:
    """A checked submission folder with its dialogues and its safety responses."""

    id: str
    folder: Path
    meta: Submission
    transcripts: list[Transcript]
    responses: list[SafetyResponse] = field(default_factory=list)


def read_submission(folder: Path) -> tuple[LoadedSubmission | None, list[Problem]]:
    """A submission folder read as far as it goes, with every problem found: its name, its YAML, every line. The lines
    that pass are kept (None only when the YAML cannot be read), so the tracks' protocol checks run on them in the
    same pass and a bad line never hides the rest of the file's problems, nor makes a language look absent."""
    folder = Path(folder)
    problems: list[Problem] = []
    if not FOLDER_PATTERN.match(folder.name):
        problems.append(Problem(folder, None, None, "folder name must be <org>__<model> (letters, digits, '.', '_', '-')"))
    meta = None
    try:
        meta = load_submission_yaml(folder / SUBMISSION_FILE)
    except InputError as err:
        problems += err.problems
    transcripts: list[Transcript] = []
    files = sorted((folder / "transcripts").glob("*.jsonl")) if (folder / "transcripts").is_dir() else []
    for file in files:
        try:
            got, wrong = transcript_file(file)
        except InputError as err:
            got, wrong = [], err.problems
        transcripts += got
        problems += wrong
    if meta and "esc" in meta.tracks and meta.kind == "transcripts":
        if not files:
            problems.append(Problem(folder / "transcripts", None, None, "no transcripts/*.jsonl files"))
        for t in transcripts:
            if t.lang not in meta.languages:
                problems.append(Problem(t.source, t.line, "lang", f"{t.lang!r} is not among the submission's languages {meta.languages}"))
        found = {t.lang for t in transcripts}
        for lang in meta.languages:
            if files and lang not in found:
                problems.append(Problem(folder / SUBMISSION_FILE, None, "languages",
                                        f"lists {lang!r} but no valid transcript is in that language"))
    responses: list[SafetyResponse] = []
    answer_files = sorted((folder / "responses").glob("*.jsonl")) if (folder / "responses").is_dir() else []
    for file in answer_files:
        try:
            answered, refused = response_file(file)
        except InputError as err:
            answered, refused = [], err.problems
        responses += answered
        problems += refused
    if meta and "safety" in meta.tracks and meta.kind == "responses" and not answer_files:
        problems.append(Problem(folder / "responses", None, None, "no responses/*.jsonl files"))
    first: dict[str, SafetyResponse] = {}
    for r in responses:
        if meta and r.record.lang not in meta.languages:
            problems.append(Problem(r.source, r.line, "lang", f"{r.record.lang!r} is not among the submission's languages {meta.languages}"))
        if r.record.id in first and first[r.record.id].source != r.source:
            problems.append(Problem(r.source, r.line, "id", f"id {r.record.id!r} is also used in {first[r.record.id].source.name}"))
        first.setdefault(r.record.id, r)
    seen: dict[str, Transcript] = {}
    for t in transcripts:
        if t.id in seen and seen[t.id].source != t.source:
            problems.append(Problem(t.source, t.line, "id", f"id {t.id!r} is also used in {seen[t.id].source.name}"))
        seen.setdefault(t.id, t)
    return (LoadedSubmission(folder.name, folder, meta, transcripts, responses) if meta else None), problems


def load_submission(folder: Path) -> LoadedSubmission:
    """Check a submission folder completely: its name, its YAML, every transcript line."""
    sub, problems = read_submission(folder)
    if problems or sub is None:
        raise InputError(problems)
    return sub


def submission_folders(root: Path) -> list[Path]:
    """Every folder below root holding a submission.yaml (or looking like it should)."""
    root = Path(root)
    if (root / SUBMISSION_FILE).is_file():
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
