"""Charts drawn at build time as inline SVG: no chart library, no request, readable without JS."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from leaderboard.stats import Estimate


def ranked_bars(rows: Sequence[tuple[str, str, Estimate]], *, width: int = 640, lower_is_better: bool = False) -> Markup:
    """Horizontal bars on 0-100, best first, with the 95% CI as a whisker. rows: (label, href, estimate)."""
    bar_h, gap, label_w, pad = 18, 6, 190, 40
    plot_w = width - label_w - pad
    height = len(rows) * (bar_h + gap) + 24
    parts = [f'<svg class="lb-chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'aria-label="Scores with 95% confidence intervals, {"lower" if lower_is_better else "higher"} is better">']
    for tick in range(0, 101, 25):
        x = label_w + plot_w * tick / 100
        parts.append(f'<line class="lb-grid" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 18}"/>'
                     f'<text class="lb-tick" x="{x:.1f}" y="{height - 4}" text-anchor="middle">{tick}</text>')
    for i, (label, href, e) in enumerate(rows):
        y = i * (bar_h + gap)
        short = label if len(label) <= 28 else label[:27] + "…"
        parts.append(
            f'<a href="{escape(href)}"><title>{escape(label)}: {e.mean:.1f} (95% CI {e.low:.1f}–{e.high:.1f}, n={e.n})</title>'
            f'<text class="lb-label" x="{label_w - 6}" y="{y + bar_h - 5}" text-anchor="end">{escape(short)}</text>'
            f'<rect class="lb-barfill" x="{label_w}" y="{y}" width="{plot_w * e.mean / 100:.1f}" height="{bar_h}"/>'
            f'<line class="lb-whisker" x1="{label_w + plot_w * e.low / 100:.1f}" y1="{y + bar_h / 2}" '
            f'x2="{label_w + plot_w * e.high / 100:.1f}" y2="{y + bar_h / 2}"/>'
            f'<text class="lb-value" x="{label_w + plot_w * e.high / 100 + 4:.1f}" y="{y + bar_h - 5}">{e.mean:.1f}</text></a>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def radar(axes: Sequence[str], series: Mapping[str, Mapping[str, float]], *, size: int = 360) -> Markup:
    """A radar of 0-100 scores; series maps a CSS class ('lb-model', 'lb-median') to axis -> value."""
    c, r = size / 2, size / 2 - 60
    def point(k: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * k / len(axes)
        return c + r * value / 100 * math.cos(angle), c + r * value / 100 * math.sin(angle)

    parts = [f'<svg class="lb-chart lb-radar" role="img" viewBox="0 0 {size} {size}" width="{size}" aria-label="Radar chart">']
    for ring in (25, 50, 75, 100):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(k, ring) for k in range(len(axes))))
        parts.append(f'<polygon class="lb-grid" points="{pts}"/>')
    for k, axis in enumerate(axes):
        x, y = point(k, 100)
        lx, ly = point(k, 118)
        parts.append(f'<line class="lb-grid" x1="{c}" y1="{c}" x2="{x:.1f}" y2="{y:.1f}"/>'
                     f'<text class="lb-label" x="{lx:.1f}" y="{ly + 4:.1f}" text-anchor="middle">{escape(axis)}</text>')
    for css, values in series.items():
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(k, values.get(a, 0.0)) for k, a in enumerate(axes)))
        parts.append(f'<polygon class="{escape(css)}" points="{pts}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
