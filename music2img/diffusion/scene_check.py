"""``SceneChecker``: is a painted picture a scene with depth, or a texture filling the frame?

In the sad half of the plane the model paints walls of tree trunks, rock and ice smears and featureless haze
beside its scenes. The check reads what a picture shows through the object detector's layers
(:func:`music2img.image.detector_features.detector_features`: CenterNet on MobileNetV3, the image emotion
model's network, shipped with the package) and a logistic regression on them, trained by
``train/scene_checker.py`` on the diffusion model's own pictures labelled by eye
(``assets/picture_scene_model``: ``labels.csv``, and ``checker_labels.csv``, ``happy_labels.csv`` and
``strict_labels.csv``, pictures the pipeline returned and first draws it rated high, where the check erred
most). In the happy, calm corner it also rejects bands of sunset colour without a horizon. Like the landscape
check, it is a pipeline component: :class:`~music2img.diffusion.pipeline.EmotionLandscapePipeline` paints the
pictures it rejects again from new noise and a new layout. Hand-crafted features (the pictures' scene model
that measures scenes) tell a misty forest floor from a trunk wall less well (cross-validated ROC AUC 0.80
against 0.86 on the current defaults' pictures; ``assets/diffusion/MODEL_CARD.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from ..image.detector_features import FEATURE_NAMES, SCHEMA_VERSION, TFJSGraph, detector_features, load_detector


@lru_cache(maxsize=1)
def _detector() -> TFJSGraph:
    return load_detector()


class SceneChecker(ModelMixin, ConfigMixin):
    r"""Logistic regression on a picture's standardised detector features: the probability it is a scene.

    Parameters:
        n_features: Length of the detector features it was fitted on.
        threshold: Smallest scene probability a picture may have and pass.
        early_threshold: Smallest scene probability the model's estimate of a picture early in its painting may
            have and the painting go on (the pipeline's ``early_check``); 0 never stops one.
        schema_version: :data:`~music2img.image.detector_features.SCHEMA_VERSION` it was fitted on.
    """

    @register_to_config
    def __init__(
        self,
        n_features: int = len(FEATURE_NAMES),
        threshold: float = 0.5,
        early_threshold: float = 0.0,
        schema_version: str = SCHEMA_VERSION,
    ):
        super().__init__()
        if schema_version != SCHEMA_VERSION:
            raise ValueError(
                f"scene checker was fitted on detector features {schema_version!r}, this code computes "
                f"{SCHEMA_VERSION!r}; refit it with train/scene_checker.py"
            )
        self.register_buffer("mean", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(n_features, dtype=torch.float64))
        self.register_buffer("coef", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("intercept", torch.zeros((), dtype=torch.float64))

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        scene: np.ndarray,
        c: float = 0.01,
        threshold: float = 0.5,
        early_threshold: float = 0.0,
    ) -> SceneChecker:
        """Fit on ``(n, d)`` detector features of pictures and their 0/1 ``scene`` labels (L2 penalty ``1 / c``
        on the standardised features)."""
        from sklearn.linear_model import LogisticRegression

        features, scene = np.asarray(features, np.float64), np.asarray(scene)
        if features.ndim != 2 or features.shape[1] != len(FEATURE_NAMES) or len(features) != len(scene):
            raise ValueError(
                f"expected (n, {len(FEATURE_NAMES)}) features and n labels, got {features.shape} and {scene.shape}"
            )
        if set(np.unique(scene)) != {0, 1}:
            raise ValueError("scene labels must be 0 and 1, both present")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        if not 0.0 <= early_threshold < threshold:
            raise ValueError(f"early_threshold must be in [0, threshold), got {early_threshold}")
        mean, scale = features.mean(0), features.std(0) + 1e-9
        model = LogisticRegression(C=c, max_iter=5000).fit((features - mean) / scale, scene)
        checker = cls(n_features=features.shape[1], threshold=float(threshold), early_threshold=float(early_threshold))
        with torch.no_grad():
            fitted = {"mean": mean, "scale": scale, "coef": model.coef_[0], "intercept": model.intercept_[0]}
            for name, value in fitted.items():
                getattr(checker, name).copy_(torch.as_tensor(value, dtype=torch.float64))
        return checker

    def probability_of_features(self, features: np.ndarray) -> np.ndarray:
        """Scene probability of each row of ``(n, d)`` detector features."""
        mean, scale, coef = (getattr(self, k).double().cpu().numpy() for k in ("mean", "scale", "coef"))
        z = (np.atleast_2d(np.asarray(features, np.float64)) - mean) / scale
        return 1.0 / (1.0 + np.exp(-(z @ coef + float(self.intercept))))

    def probability(self, images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Scene probability of each ``(h, w, 3)`` uint8 picture."""
        return self.probability_of_features(np.stack([detector_features(np.asarray(im), _detector()) for im in images]))

    def is_scene(self, images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Boolean per picture: probability at least the threshold."""
        return self.probability(images) >= self.config.threshold
