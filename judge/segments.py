"""How an item becomes the text segments a judge encodes.

A dialogue is never cut to fit the encoder: it is split into one segment per reply of the model
under test (with the help-seeker's turn before it), and the runtime splits any segment longer than
the bundle's window into consecutive windows. The judge pools over all of them.
"""
from __future__ import annotations

from judge.bundle import InputSpec
from judge.sanitize import strip_label_imitations
from judge.transcript import Transcript


def reply_rounds(transcript: Transcript) -> list[tuple[str, str]]:
    """(seeker's turn just before it, reply) per assistant turn; "" when no seeker turn precedes it."""
    rounds = []
    for i, message in enumerate(transcript.messages):
        if message.role != "assistant":
            continue
        before = transcript.messages[i - 1] if i > 0 else None
        rounds.append((before.content if before is not None and before.role == "user" else "", message.content))
    return rounds


def round_segments(transcript: Transcript, spec: InputSpec) -> list[str]:
    """One segment per assistant turn: the seeker's turn just before it and the reply itself."""
    return [spec.template.format(user=strip_label_imitations(u), assistant=strip_label_imitations(a))
            for u, a in reply_rounds(transcript)]


def response_segments(dimension: str, prompt: str, response: str, spec: InputSpec) -> list[str]:
    """A safety item is one segment: which dimension is judged, the prompt and the response."""
    return [spec.template.format(dimension=dimension, prompt=prompt, response=response)]
