"""Figures for the valence/arousal plane and a song's emotion over time.

Figures are built with :class:`matplotlib.figure.Figure` directly (Agg canvas, no pyplot state),
so they are safe to make from concurrent web requests and are freed with their last reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .va import QUADRANT_NAMES, VA_MAX, VA_MID, VA_MIN

if TYPE_CHECKING:
    from .music.emotion_model import SongEmotion

#: Quadrant → (corner of the plane the name sits in, shading colour).
_QUADRANT_STYLE = {
    "Q1": ((VA_MAX - 0.2, VA_MAX - 0.2, "right", "top"), "#fde68a"),
    "Q2": ((VA_MIN + 0.2, VA_MAX - 0.2, "left", "top"), "#fca5a5"),
    "Q3": ((VA_MIN + 0.2, VA_MIN + 0.2, "left", "bottom"), "#a5b4fc"),
    "Q4": ((VA_MAX - 0.2, VA_MIN + 0.2, "right", "bottom"), "#86efac"),
}
_POINT_COLOURS = ("#4338ca", "#b45309", "#be123c", "#047857", "#6b7280")


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def va_plane(
    points: Sequence[tuple[float, float]],
    labels: Sequence[str] | None = None,
    trajectory: Sequence[tuple[float, float]] | None = None,
    *,
    size: float = 4.6,
) -> Figure:
    """The valence/arousal plane (1–9) with the four shaded, named quadrants.

    Parameters
    ----------
    points : sequence of ``(valence, arousal)``
        Points to mark, e.g. a song's overall emotion.
    labels : sequence of str, optional
        One annotation per point.
    trajectory : sequence of ``(valence, arousal)``, optional
        A path drawn faintly under the points, e.g. a song's per-window emotion.
    size : float
        Figure width and height in inches (100 dpi).
    """
    if labels is not None and len(labels) != len(points):
        raise ValueError(f"got {len(labels)} labels for {len(points)} points")
    fig = _new_figure(size, size)
    ax = fig.add_subplot()
    for q, ((x, y, ha, va), colour) in _QUADRANT_STYLE.items():
        x0 = VA_MID if ha == "right" else VA_MIN
        y0 = VA_MID if va == "top" else VA_MIN
        ax.add_patch(
            Rectangle(
                (x0, y0), VA_MID - VA_MIN, VA_MID - VA_MIN, facecolor=colour, alpha=0.35, edgecolor="none", zorder=0
            )
        )
        ax.text(x, y, QUADRANT_NAMES[q], ha=ha, va=va, fontsize=10, color="#374151", weight="bold")
    ax.axhline(VA_MID, color="#9ca3af", lw=0.8)
    ax.axvline(VA_MID, color="#9ca3af", lw=0.8)
    if trajectory is not None and len(trajectory) > 1:
        tv, ta = np.asarray(trajectory, dtype=float).T
        ax.plot(tv, ta, "-o", color="#1f2937", alpha=0.3, lw=1.2, ms=3, zorder=2, label="sections")
    for i, (v, a) in enumerate(points):
        colour = _POINT_COLOURS[i % len(_POINT_COLOURS)]
        ax.scatter([v], [a], s=140, color=colour, edgecolor="white", linewidth=1.8, zorder=3)
        if labels is not None:
            ax.annotate(
                labels[i], (v, a), xytext=(8, 8), textcoords="offset points", fontsize=10, color=colour, weight="bold"
            )
    ax.set(
        xlim=(VA_MIN, VA_MAX),
        ylim=(VA_MIN, VA_MAX),
        xlabel="valence  (negative → positive)",
        ylabel="arousal  (calm → energetic)",
    )
    ax.set_xticks(range(int(VA_MIN), int(VA_MAX) + 1))
    ax.set_yticks(range(int(VA_MIN), int(VA_MAX) + 1))
    ax.set_aspect("equal")
    ax.tick_params(labelsize=8)
    for spine in ax.spines.values():
        spine.set_color("#d1d5db")
    return fig


def emotion_timeline(song: SongEmotion, *, width: float = 6.4, height: float = 2.6) -> Figure:
    """Valence and arousal of each analysis window over time, with the song's overall values dashed."""
    fig = _new_figure(width, height)
    ax = fig.add_subplot()
    mid = np.array([(w.start + w.end) / 2 for w in song.windows], dtype=float)
    for name, colour, values, overall in (
        ("valence", "#4338ca", [w.valence for w in song.windows], song.valence),
        ("arousal", "#c2410c", [w.arousal for w in song.windows], song.arousal),
    ):
        ax.plot(mid, values, "-o", color=colour, lw=2, ms=4, label=name)
        ax.axhline(overall, color=colour, ls="--", lw=1, alpha=0.6)
    ax.axhline(VA_MID, color="#9ca3af", lw=0.8)
    ax.set(
        xlim=(0, max(song.duration, float(mid.max(initial=0.0)))),
        ylim=(VA_MIN, VA_MAX),
        xlabel="time (s)",
        ylabel="1–9 scale",
    )
    ax.legend(loc="upper right", fontsize=8, ncols=2, frameon=False)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.25)
    return fig
