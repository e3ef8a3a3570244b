"""Hard limits on what the project reads from users, checked before anything is parsed in full.

They keep a hostile or broken file from exhausting memory or time: a file's size is checked with
stat, a line's length before it is decoded as JSON, and nesting depth by the JSON parser itself.
"""
from __future__ import annotations

MAX_TRANSCRIPT_FILE_BYTES = 64 * 2**20
"""One transcript file: 64 MiB, far above 655 five-round dialogues (about 3 MiB)."""

MAX_LINE_BYTES = 4 * 2**20
"""One dialogue (one JSON line): 4 MiB, room for a session of MAX_MESSAGES messages of a few hundred words."""

MAX_MESSAGES = 1000
"""Messages in one dialogue: ESC-Eval has 11, ESConv sessions run past 64, counselling chat logs to several
hundred. The judge reads a dialogue of any length whole: a segment per reply, in windows (judge.segments)."""

MAX_MESSAGE_CHARS = 16_000
"""Characters in one turn."""

MAX_YAML_BYTES = 64 * 2**10
"""submission.yaml."""

SUBMISSION_FILE = "submission.yaml"
"""The file that makes a folder a submission (`judge score` reads only its transcripts/ or responses/)."""

MAX_SUBMISSION_BYTES = 256 * 2**20
"""All files of one submission folder together."""

MAX_SUBMISSION_FILES = 64
"""Files in one submission folder."""
