"""The valence/arousal scale shared by every model: 1–9, neutral at 5 (as in SAM ratings)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .errors import EmotionRangeError

VA_MIN = 1.0
VA_MAX = 9.0
VA_MID = 5.0
#: The two dimensions, in the order of every (valence, arousal) pair and array column.
DIMENSIONS = ("valence", "arousal")

#: Russell quadrants, in the numbering of the 4Q dataset.
QUADRANTS = ("Q1", "Q2", "Q3", "Q4")
QUADRANT_NAMES = {
    "Q1": "happy / excited",
    "Q2": "angry / tense",
    "Q3": "sad / depressed",
    "Q4": "calm / relaxed",
}


def check_va(valence: float, arousal: float) -> tuple[float, float]:
    """Return ``(valence, arousal)`` as floats, or raise :class:`EmotionRangeError`."""
    out = []
    for name, value in (("valence", valence), ("arousal", arousal)):
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise EmotionRangeError(f"{name} must be a number on the 1–9 scale, got {value!r}") from None
        if not math.isfinite(x) or not VA_MIN <= x <= VA_MAX:
            raise EmotionRangeError(f"{name} must be between {VA_MIN:g} and {VA_MAX:g}, got {value!r}")
        out.append(x)
    return out[0], out[1]


def quadrant(valence: float, arousal: float) -> str:
    """Russell quadrant of a point: Q1 (+V +A), Q2 (−V +A), Q3 (−V −A), Q4 (+V −A)."""
    high_v, high_a = valence >= VA_MID, arousal >= VA_MID
    if high_a:
        return "Q1" if high_v else "Q2"
    return "Q4" if high_v else "Q3"


def quadrants(valence: Iterable[float], arousal: Iterable[float]) -> np.ndarray:
    """Vectorised :func:`quadrant`."""
    return np.array([quadrant(v, a) for v, a in zip(valence, arousal)])


_VALENCE_WORDS = (
    (2.5, "very negative"),
    (4.0, "negative"),
    (6.0, "neutral"),
    (7.5, "positive"),
    (math.inf, "very positive"),
)
_AROUSAL_WORDS = (
    (2.5, "very calm"),
    (4.0, "calm"),
    (6.0, "moderate energy"),
    (7.5, "energetic"),
    (math.inf, "very energetic"),
)


def describe(valence: float, arousal: float) -> str:
    """A few words for a point on the plane, e.g. ``"positive, energetic — happy / excited"``."""
    v_word = next(w for limit, w in _VALENCE_WORDS if valence < limit)
    a_word = next(w for limit, w in _AROUSAL_WORDS if arousal < limit)
    return f"{v_word}, {a_word} — {QUADRANT_NAMES[quadrant(valence, arousal)]}"
