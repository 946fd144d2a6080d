"""Synthetic scenes and close-ups for the scene model and the scene check."""

from __future__ import annotations

import numpy as np


def scene_picture(rng: np.random.Generator) -> np.ndarray:
    """A smooth sky over a horizon and textured ground, at a random height and colour (128 × 128 uint8)."""
    h = int(rng.integers(40, 80))
    img = np.zeros((128, 128, 3))
    top, bottom = rng.uniform(0.5, 1.0, 3) * [0.6, 0.8, 1.0], rng.uniform(0.1, 0.5, 3) * [0.6, 1.0, 0.5]
    img[:h] = np.linspace(top, top * 0.7, h)[:, None]
    img[h:] = bottom + rng.normal(0, 0.08, (128 - h, 128, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def texture_picture(rng: np.random.Generator) -> np.ndarray:
    """A close-up: vertical bark-like stripes with grain filling the frame (128 × 128 uint8)."""
    base = rng.uniform(0.2, 0.6, 3) * [1.0, 0.7, 0.4]
    stripes = np.sin(np.arange(128) / rng.uniform(2, 6))[None, :, None] * 0.15
    img = base + stripes + rng.normal(0, 0.1, (128, 128, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)
