"""Tiny music emotion models for tests (no real training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestRegressor

from music2img.music.emotion_model import MusicEmotionModel
from music2img.music.features import FEATURE_NAMES, SCHEMA_VERSION


def make_tiny_music_model(path: str | Path, seed: int = 0) -> Path:
    """Fit a 5-tree forest on random features with the real :data:`FEATURE_NAMES`, save it to the
    folder ``path`` and return the folder. Its predictions are meaningless but on the 1–9 scale."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, len(FEATURE_NAMES))).astype(np.float32)
    Y = rng.uniform(1.0, 9.0, size=(40, 2))
    forest = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=seed).fit(X, Y)
    path = Path(path)
    MusicEmotionModel(forest, FEATURE_NAMES, SCHEMA_VERSION, metadata={"tiny": True}).save(path)
    return path
