"""The registry of tracks: every track the leaderboard runs, each an implementation of the spec in leaderboard/track.py.

It sits above the tracks (leaderboard/<track>/track.py), which sit above the spec and the site modules they use,
so no module imports the registry from below it (the layers are checked by import-linter, pyproject.toml).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from leaderboard.esc.track import EscTrack
from leaderboard.safety.track import SafetyTrack
from leaderboard.track import Track


def tracks(role_cards: Sequence[Path] = ()) -> list[Track]:
    """The registry: every track, with the protocol data its submissions are checked against."""
    return [EscTrack(role_cards), SafetyTrack()]
