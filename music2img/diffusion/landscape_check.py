"""``LandscapeChecker``: does a generated picture look like the training photos at all?

A sampler occasionally paints no landscape (flat pink, magenta streaks, acid-green mush). The
check measures how far a picture's cheap statistics lie from the training photos': the
:func:`music2img.image.features.image_features` (light, colour, hue, colour names, layout, edges,
texture, spectrum, haze; ~5 ms a picture) are standardised, and the Mahalanobis distance to the
photos' mean under their (Ledoit–Wolf shrunk) covariance is compared with a threshold: the
``quantile`` of the same distance over held-out training photos. A picture beyond it is further
from the photos than all but ``1 − quantile`` of real photos are, so by construction about
``1 − quantile`` of real photos fail (the false-positive rate, measured on photos the fit did not see).
It is the pipeline's counterpart of a safety checker: :class:`~music2img.diffusion.pipeline.EmotionLandscapePipeline`
redraws the pictures it rejects.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from ..image.features import FEATURE_NAMES, image_features


def _distance(features: np.ndarray, mean: np.ndarray, scale: np.ndarray, whiten: np.ndarray) -> np.ndarray:
    z = (np.atleast_2d(np.asarray(features, np.float64)) - mean) / scale
    return np.linalg.norm(z @ whiten.T, axis=1)


class LandscapeChecker(ModelMixin, ConfigMixin):
    r"""Mahalanobis distance of a picture's image features to the training photos'.

    Parameters:
        n_features: Length of :func:`~music2img.image.features.image_features` it was fitted on.
        threshold: Largest distance a picture may have and pass.
        quantile: Share of held-out training photos within ``threshold`` when it was fitted.
    """

    @register_to_config
    def __init__(self, n_features: int = len(FEATURE_NAMES), threshold: float = float("inf"), quantile: float = 1.0):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(n_features, dtype=torch.float64))
        # W (upper-triangular): distance² = |W z|², z = (features − mean) / scale
        self.register_buffer("whiten", torch.eye(n_features, dtype=torch.float64))

    @classmethod
    def fit(cls, features: np.ndarray, held_out: np.ndarray, quantile: float = 0.99) -> LandscapeChecker:
        """Fit on the ``(n, d)`` features of training photos; set the threshold at ``quantile`` of the
        distances of ``held_out`` photos' features (photos not in ``features``)."""
        from sklearn.covariance import LedoitWolf

        features, held_out = np.asarray(features, np.float64), np.asarray(held_out, np.float64)
        if features.ndim != 2 or features.shape[1] != len(FEATURE_NAMES) or len(features) < 3 or len(held_out) < 1:
            raise ValueError(
                f"expected (n ≥ 3, {len(FEATURE_NAMES)}) features and some held-out rows, "
                f"got {features.shape} and {held_out.shape}"
            )
        if not 0.0 < quantile <= 1.0:
            raise ValueError(f"quantile must be in (0, 1], got {quantile}")
        mean, scale = features.mean(0), features.std(0) + 1e-9
        precision = LedoitWolf(assume_centered=True).fit((features - mean) / scale).precision_
        whiten = np.linalg.cholesky(precision).T  # precision = Wᵀ W
        threshold = float(np.quantile(_distance(held_out, mean, scale, whiten), quantile))
        checker = cls(n_features=features.shape[1], threshold=threshold, quantile=float(quantile))
        with torch.no_grad():
            for name, value in (("mean", mean), ("scale", scale), ("whiten", whiten)):
                getattr(checker, name).copy_(torch.from_numpy(value))
        return checker

    def distance_of_features(self, features: np.ndarray) -> np.ndarray:
        """Distance of each row of ``(n, d)`` image features."""
        return _distance(features, *(getattr(self, k).double().cpu().numpy() for k in ("mean", "scale", "whiten")))

    def distance(self, images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Distance of each ``(h, w, 3)`` picture (``uint8`` or floats in [0, 1])."""
        return self.distance_of_features(np.stack([image_features(np.asarray(im)) for im in images]))

    def is_landscape(self, images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Boolean per picture: within the threshold."""
        return self.distance(images) <= self.config.threshold


def photo_split(
    n: int, seed: int = 0, calibrate: float = 0.1, test: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of ``n`` training photos split at random into the part a checker is fitted on, the part
    its threshold is set on, and a test part left for measuring how many real photos it rejects."""
    order = np.random.default_rng(seed).permutation(n)
    n_cal, n_test = int(round(n * calibrate)), int(round(n * test))
    return np.sort(order[n_cal + n_test :]), np.sort(order[:n_cal]), np.sort(order[n_cal : n_cal + n_test])
