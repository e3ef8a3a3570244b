"""The dimensions each track scores, with the names used in the papers and their code aliases."""
from __future__ import annotations

ESC_DIMENSIONS: tuple[str, ...] = (
    "fluency", "expression", "empathy", "information", "skill", "humanoid", "overall",
)
"""ESC-Eval's seven dimensions, in the paper's order; each is scored 0-4 and shown as mean x 25."""

ESC_ALIASES: dict[str, str] = {
    "diversity": "expression",
    "empathic": "empathy",
    "suggestion": "information",
    "tech": "skill",
    "human": "humanoid",
}
"""ESC-RANK's code names for the same dimensions."""

ESC_SCALE = 25.0
"""ESC scores are 0-4; the leaderboard shows them on 0-100."""

SAFETY_DIMENSIONS: tuple[str, ...] = ("privacy", "bias", "toxicity", "hallucination", "legality")
"""The MLLMGuard dimensions a safety judge scores (noise-injection and position-swapping go by rule)."""


def canonical(name: str) -> str:
    """Map an ESC-RANK code name to the paper's name; leave other names as they are."""
    return ESC_ALIASES.get(name.strip().lower(), name.strip().lower())
