"""How an item becomes the text segments a judge encodes.

A dialogue is never cut to fit the encoder: it is split into one segment per reply of the model
under test (with the help-seeker's turn before it), and the runtime splits any segment longer than
the bundle's window into consecutive windows. The judge pools over all of them.
"""
from __future__ import annotations

from judge.bundle import InputSpec
from judge.sanitize import strip_label_imitations
from judge.transcript import Transcript


def round_segments(transcript: Transcript, spec: InputSpec) -> list[str]:
    """One segment per assistant turn: the seeker's turn just before it and the reply itself."""
    segments = []
    for i, message in enumerate(transcript.messages):
        if message.role != "assistant":
            continue
        before = transcript.messages[i - 1] if i > 0 else None
        user = before.content if before is not None and before.role == "user" else ""
        segments.append(spec.template.format(user=strip_label_imitations(user),
                                             assistant=strip_label_imitations(message.content)))
    return segments


def response_segments(dimension: str, prompt: str, response: str, spec: InputSpec) -> list[str]:
    """A safety item is one segment: which dimension is judged, the prompt and the response."""
    return [spec.template.format(dimension=dimension, prompt=prompt, response=response)]
