"""Features of analysis windows from the pretrained musicnn taggers (:mod:`music2img.music.musicnn`).

Per window, for each tagger (``msd``: Million Song Dataset, ``mtt``: MagnaTagATune): the mean
probability of each of its 50 tags over :data:`PATCHES_PER_WINDOW` evenly spaced 3 s patches of the
window (``msd.tag.sad``, ``mtt.tag.slow``, …), and the mean and standard deviation over those
patches of each unit of its 200-unit penultimate embedding (``msd.emb017_mean``,
``msd.emb017_std``). Three patches of a 30 s window measure as well as all ten in the nested
evaluation (the music model card) at under a third of the cost. Windows are cut from the signal at
the analysis rate and resampled to musicnn's 16 kHz, so the audio is decoded once for both feature
parts (:mod:`music2img.music.feature_parts`).
"""

from __future__ import annotations

import numpy as np

from .audio import resample
from .musicnn import EMBEDDING_SIZE, SR, TAGS, log_mel_patches, musicnn_patches

#: Bump when the names, order or computation of these features change (cached parts carry it).
SCHEMA_VERSION = "musicnn-2"
#: Patches of a window the taggers read (evenly spaced; all of them when a window has fewer).
PATCHES_PER_WINDOW = 3
#: Tagger → prefix of its features.
TAGGERS = {"MSD_musicnn": "msd", "MTT_musicnn": "mtt"}
#: Names of the entries of :func:`musicnn_windows`' rows, in order.
FEATURE_NAMES: list[str] = [
    name
    for model, key in TAGGERS.items()
    for name in [f"{key}.tag.{t.lower().replace(' ', '_')}" for t in TAGS[model]]
    + [f"{key}.emb{i:03d}_{stat}" for stat in ("mean", "std") for i in range(EMBEDDING_SIZE)]
]


def spaced_patches(patches: np.ndarray, k: int = PATCHES_PER_WINDOW) -> np.ndarray:
    """``k`` evenly spaced patches of ``patches`` (first and last included; the middle one when ``k`` is 1), or all."""
    n = len(patches)
    if n <= k:
        return patches
    return patches[np.round(np.linspace(0, n - 1, k)).astype(int) if k > 1 else [n // 2]]


def musicnn_windows(y: np.ndarray, sr: int, spans: list[tuple[float, float]]) -> np.ndarray:
    """Feature rows of the windows ``spans`` (start, end seconds) of a mono signal ``y`` at ``sr`` Hz,
    ``(len(spans), len(FEATURE_NAMES))`` float32. A window shorter than 3 s is one zero-padded patch."""
    patches = [spaced_patches(log_mel_patches(resample(y[round(s * sr) : round(e * sr)], sr, SR))) for s, e in spans]
    bounds = np.cumsum([0] + [len(p) for p in patches])
    every = np.concatenate(patches)
    rows = [[] for _ in spans]
    for model in TAGGERS:
        tags, emb = musicnn_patches(every, model)
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
            rows[i] += [tags[a:b].mean(axis=0), emb[a:b].mean(axis=0), emb[a:b].std(axis=0)]
    return np.stack([np.concatenate(r) for r in rows]).astype(np.float32)


def musicnn_features(y: np.ndarray, sr: int) -> np.ndarray:
    """Feature vector of one mono clip (one window), ``(len(FEATURE_NAMES),)`` float32."""
    return musicnn_windows(y, sr, [(0.0, len(y) / sr)])[0]
