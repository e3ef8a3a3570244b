"""The ESC scorer: transcripts in, one score per ESC-Eval dimension per dialogue out."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from judge import measures
from judge.dimensions import canonical
from judge.runtime import OnnxJudge, label_scores
from judge.segments import reply_rounds, round_segments
from judge.transcript import Transcript


@dataclass(frozen=True)
class DialogueScore:
    """What a judge says of one dialogue; this is the `judge score` output record."""

    id: str
    track: str
    scores: dict[str, int]
    expected: dict[str, float]
    judge: str
    unscored: tuple[str, ...] = ()
    """Dimensions whose judgement gave no valid label (an endpoint judge's reply without one): no score, never 0."""
    replies: dict[str, str] = field(default_factory=dict)
    """An endpoint judge's raw reply per dimension."""

    def to_json(self) -> dict:
        return {"id": self.id, "track": self.track, "scores": self.scores, "expected": self.expected, "judge": self.judge}


def score_transcripts(
    judge: OnnxJudge, transcripts: list[Transcript], on_batch: Callable[[int], None] | None = None
) -> list[DialogueScore]:
    if not isinstance(judge, OnnxJudge):  # a prompt judge (judge.prompt_runtime) reads whole dialogues itself
        return judge.score_transcripts(transcripts, on_batch)
    manifest = judge.bundle.manifest
    if manifest.track != "esc":
        raise ValueError(f"judge {manifest.name} is for the {manifest.track} track, not for ESC dialogues")
    logits = judge.predict([round_segments(t, manifest.input) for t in transcripts], on_batch)
    scores, expected = label_scores(logits, [d.labels for d in manifest.dimensions])
    scores, expected = measures.apply(  # countable rubrics (judge.measures) blended in, per the manifest
        judge.bundle.dimensions, (manifest.model_extra or {}).get("measures", {}),
        [reply_rounds(t) for t in transcripts], scores, expected,
    )
    names = [canonical(n) for n in judge.bundle.dimensions]  # ESC-RANK code names read as the paper's
    return [
        DialogueScore(
            t.id,
            "esc",
            {n: int(scores[i, k]) for k, n in enumerate(names)},
            {n: round(float(expected[i, k]), 4) for k, n in enumerate(names)},
            judge.bundle.id,
        )
        for i, t in enumerate(transcripts)
    ]
