"""Requests on the 1–9 scale → the emotions a diffusion model was trained on, by quantiles.

A model only learns the part of the valence/arousal plane its training labels cover (the v1
landscape labels: arousal 1.9–7.9, half of it within 4.5–5.6), so a request for arousal 8.5 asks
for what it rarely saw. Mapping each dimension through the labels' quantiles makes the request
a rank: ``1`` means "as low as the training photos go", ``5`` their median, ``9`` "as high as they
go", and every request lands where the model has seen photos.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..va import VA_MAX, VA_MIN

#: Quantiles stored per dimension (0, 1/32, …, 1).
N_QUANTILES = 33


def label_quantiles(labels: np.ndarray, n: int = N_QUANTILES) -> list[list[float]]:
    """``[valence quantiles, arousal quantiles]`` of ``(m, 2)`` training labels at ``n`` evenly spaced
    levels from 0 to 1, rounded to 4 decimals (what a pipeline keeps in its config)."""
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[1] != 2 or len(labels) < 2 or not np.isfinite(labels).all():
        raise ValueError(f"expected finite (m ≥ 2, 2) valence/arousal labels, got shape {labels.shape}")
    levels = np.linspace(0.0, 1.0, n)
    return [np.round(np.quantile(labels[:, i], levels), 4).tolist() for i in range(2)]


def map_to_labels(
    valence: Sequence[float], arousal: Sequence[float], quantiles: Sequence[Sequence[float]]
) -> tuple[list[float], list[float]]:
    """Map requests on the 1–9 scale onto the labels' distribution: a request ``r`` becomes the
    labels' quantile at level ``(r − 1) / 8`` (linear between the stored levels)."""
    out = []
    for values, q in zip((valence, arousal), quantiles):
        q = np.asarray(q, dtype=np.float64)
        levels = np.linspace(0.0, 1.0, len(q))
        out.append(np.interp((np.asarray(values, dtype=np.float64) - VA_MIN) / (VA_MAX - VA_MIN), levels, q).tolist())
    return out[0], out[1]
