"""The parts a music emotion model's feature vector is made of, and their composition.

- ``librosa``: the hand-made descriptors of :mod:`music2img.music.features` (schema ``5``);
- ``musicnn``: tag probabilities and embedding statistics of the pretrained musicnn taggers
  (:mod:`music2img.music.musicnn_features`, schema ``musicnn-2``; needs torch).

A model names its parts through its schema version, the parts' versions joined by ``+``
(``"5"``, ``"musicnn-2"``, ``"5+musicnn-2"``), and its features are the parts' names in that order.
Each part is cached on its own (:mod:`music2img.music.feature_cache`), so adding one reuses the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..errors import ModelFileError

#: Every part, in the order they are concatenated.
PARTS = ("librosa", "musicnn")
#: The parts of the hand-made feature vector alone.
DEFAULT_PARTS = ("librosa",)


@dataclass(frozen=True)
class FeaturePart:
    """One part: its schema version, feature names and ``windows(y, sr, spans) → (len(spans), n)``."""

    name: str
    schema_version: str
    feature_names: list[str]
    windows: Callable[[np.ndarray, int, list[tuple[float, float]]], np.ndarray]


def feature_part(name: str) -> FeaturePart:
    """The part called ``name`` (its module is imported on first use)."""
    if name == "librosa":
        from . import features

        return FeaturePart(name, features.SCHEMA_VERSION, features.FEATURE_NAMES, features.extract_windows)
    if name == "musicnn":
        from . import musicnn_features

        return FeaturePart(
            name, musicnn_features.SCHEMA_VERSION, musicnn_features.FEATURE_NAMES, musicnn_features.musicnn_windows
        )
    raise ValueError(f"unknown feature part {name!r}; expected one of {', '.join(PARTS)}")


def check_parts(parts: Sequence[str]) -> tuple[str, ...]:
    """``parts`` as a tuple in :data:`PARTS` order; ValueError if empty, unknown or repeated."""
    parts = tuple(parts)
    if not parts or len(set(parts)) != len(parts) or not set(parts) <= set(PARTS):
        raise ValueError(f"feature parts must be distinct names of {', '.join(PARTS)}, got {list(parts)}")
    return tuple(p for p in PARTS if p in parts)


def schema_version(parts: Sequence[str]) -> str:
    """The schema version of a model on ``parts``: their versions joined by ``+``."""
    return "+".join(feature_part(p).schema_version for p in check_parts(parts))


def feature_names(parts: Sequence[str]) -> list[str]:
    """The feature names of a model on ``parts``, in order."""
    return [n for p in check_parts(parts) for n in feature_part(p).feature_names]


def parts_of_schema(version: str) -> tuple[str, ...]:
    """The parts of a model whose schema version is ``version``; :class:`ModelFileError` when a part's
    version is not the one this code computes. A part is imported only when the version names one more."""
    wanted, parts = str(version).split("+"), []
    for p in PARTS:
        if wanted and wanted[0] == feature_part(p).schema_version:
            parts.append(p)
            wanted.pop(0)
    if wanted:
        current = ", ".join(f"{p} v{feature_part(p).schema_version}" for p in PARTS)
        raise ModelFileError(
            f"the model was fitted on feature schema v{version} but this version of music2img "
            f"computes {current}; retrain it with train/music_emotion.py"
        )
    return tuple(parts)


def window_features(
    y: np.ndarray, sr: int, spans: list[tuple[float, float]], parts: Sequence[str] = DEFAULT_PARTS
) -> np.ndarray:
    """Feature rows ``(len(spans), len(feature_names(parts)))`` of the windows ``spans`` (start, end
    seconds) of a mono signal ``y`` at ``sr`` Hz: each part's rows side by side. Several parts are
    computed at the same time, one thread each (librosa's and torch's kernels release the GIL: for a
    3-minute song on two cores the librosa part takes 1.3 s, musicnn 0.9 s, both together 1.6 s,
    ``benchmarks/music_predict.py``)."""
    parts = check_parts(parts)
    if len(parts) == 1:
        return feature_part(parts[0]).windows(y, sr, spans).astype(np.float32)
    with ThreadPoolExecutor(len(parts)) as pool:
        rows = list(pool.map(lambda p: feature_part(p).windows(y, sr, spans), parts))
    return np.hstack(rows).astype(np.float32)
