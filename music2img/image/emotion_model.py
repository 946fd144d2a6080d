"""Valence and arousal conveyed by a photo: a regressor on hand-crafted light, colour and texture
features (:mod:`music2img.image.features`) beside a pretrained detector's content features
(:mod:`music2img.image.detector_features`).

>>> model = ImageEmotionModel.load()               # assets/image_emotion, checksum verified
>>> model.predict([pil_image, "photo.jpg", array])  # (n, 2): valence, arousal on the 1–9 scale
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, clone
from sklearn.decomposition import PCA
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.linear_model import RidgeCV
from sklearn.multioutput import MultiOutputRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from ..assets import IMAGE_MODEL_DIR
from ..errors import ImageError, ModelFileError
from ..files import atomic_path, load_checked_joblib, save_checked_joblib, sha256sum
from ..va import VA_MAX, VA_MIN
from . import detector_features as detector
from . import features as hand
from .features import SCHEMA1_NAMES, feature_group

#: The model's features: the hand-crafted ones, then the detector's.
FEATURE_NAMES: tuple[str, ...] = hand.FEATURE_NAMES + detector.FEATURE_NAMES
SCHEMA_VERSION = f"{hand.SCHEMA_VERSION}+{detector.SCHEMA_VERSION}"

ImageLike = Image.Image | str | os.PathLike | np.ndarray

MODEL_FILE = "model.joblib"
CONFIG_FILE = "model.json"


def load_rgb(image: ImageLike) -> np.ndarray:
    """``H × W × 3`` ``uint8`` RGB array of a PIL image, an image file path or an array.

    Raises :class:`ImageError` for a file that cannot be read or an array of the wrong shape.
    Grey and RGBA inputs are converted (alpha composited on white).
    """
    if isinstance(image, (str, os.PathLike)):
        try:
            with Image.open(image) as im:
                return load_rgb(im)
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
            raise ImageError(f"cannot read image {os.fspath(image)!r}: {exc}") from None
    if isinstance(image, Image.Image):
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba)
        try:
            arr = np.asarray(image.convert("RGB"))
        except OSError as exc:
            raise ImageError(f"cannot decode image: {exc}") from None
    elif isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        if arr.ndim == 3 and arr.shape[2] == 4:
            arr = arr[..., :3]
        if arr.dtype != np.uint8:
            if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
                raise ImageError("image array must be finite numbers")
            scale = 255.0 if arr.size and float(np.max(arr)) <= 1.0 else 1.0
            arr = np.clip(arr.astype(np.float64) * scale + 0.5, 0, 255).astype(np.uint8)
    else:
        raise ImageError(f"expected a PIL image, a path or an array, got {type(image).__name__}")
    if arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 8:
        raise ImageError(f"expected an RGB image of at least 8×8 pixels, got array of shape {arr.shape}")
    return arr


class AveragedRegressor(RegressorMixin, BaseEstimator):
    """Mean prediction of several single-output regressors, each fitted on its own feature columns.

    Parameters
    ----------
    members : list of ``(name, columns, estimator)``; ``columns`` are indices into the feature
        matrix (``None``: all). ``sample_weight`` given to :meth:`fit` reaches every member (the last
        step of a pipeline).
    """

    def __init__(self, members: list[tuple[str, list[int] | None, Any]]):
        self.members = members

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> AveragedRegressor:
        self.estimators_ = []
        for _, columns, estimator in self.members:
            estimator = clone(estimator)
            if sample_weight is None:
                kwargs = {}
            elif isinstance(estimator, Pipeline):
                kwargs = {f"{estimator.steps[-1][0]}__sample_weight": sample_weight}
            else:
                kwargs = {"sample_weight": sample_weight}
            estimator.fit(X if columns is None else X[:, columns], y, **kwargs)
            self.estimators_.append(estimator)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        return np.mean(
            [
                est.predict(X if columns is None else X[:, columns])
                for (_, columns, _), est in zip(self.members, self.estimators_)
            ],
            axis=0,
        )


#: Feature groups left out of the v2 recipe's tree and ridge members (measured: they help only the SVR).
DENSE_GROUPS = ("gist", "grid")
HAND_COLUMNS = list(range(len(hand.FEATURE_NAMES)))


class CappedPCA(TransformerMixin, BaseEstimator):
    """Principal components, at most ``n_components`` of them (fewer when the training data has fewer
    samples or features, e.g. a small dataset of one's own)."""

    def __init__(self, n_components: int = 128, random_state: int = 0):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Any = None) -> CappedPCA:
        self.pca_ = PCA(min(self.n_components, *np.shape(X)), random_state=self.random_state).fit(X)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        return self.pca_.transform(X)


def _svr(C: float = 1.0, components: int | None = None) -> Pipeline:
    reduce = [CappedPCA(components)] if components else []
    return make_pipeline(StandardScaler(), *reduce, SVR(kernel="rbf", C=C, epsilon=0.2, gamma="scale"))


def _ridge() -> Pipeline:
    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-1, 5, 13)))


def make_regressor(seed: int = 0) -> Any:
    """The shipped regressor, unfitted: per dimension the mean of an RBF support-vector regressor (C = 2)
    on the first 128 principal components and ridge, both of all standardised features (hand-crafted
    and detector; chosen by cross-validation within and across rated photo sets, see
    ``assets/image_emotion/MODEL_CARD.md``; the components keep the SVR's stored support vectors small
    at the same scores)."""
    return MultiOutputRegressor(
        AveragedRegressor([("svr", None, _svr(C=2.0, components=128)), ("ridge", None, _ridge())])
    )


def make_v2_regressor(seed: int = 0) -> Any:
    """The v2 image model's recipe, unfitted, for comparison: hand-crafted features only, per dimension
    the mean of an RBF SVR on all of them, extra trees and ridge on those outside :data:`DENSE_GROUPS`."""
    compact = [i for i in HAND_COLUMNS if feature_group(FEATURE_NAMES[i]) not in DENSE_GROUPS]
    return MultiOutputRegressor(
        AveragedRegressor(
            [
                ("svr", HAND_COLUMNS, _svr()),
                (
                    "extra_trees",
                    compact,
                    ExtraTreesRegressor(
                        n_estimators=100, min_samples_leaf=8, max_features=0.3, random_state=seed, n_jobs=1
                    ),
                ),
                ("ridge", compact, _ridge()),
            ]
        )
    )


def make_v1_regressor() -> Any:
    """The v1 image model's recipe, unfitted, for comparison: per dimension an RBF support-vector
    regressor on the standardised schema-1 features (:data:`~music2img.image.features.SCHEMA1_NAMES`)."""
    columns = [FEATURE_NAMES.index(name) for name in SCHEMA1_NAMES]
    return MultiOutputRegressor(AveragedRegressor([("svr", columns, _svr())]))


#: The two parts of the feature vector: schema, length and function of an RGB array.
_PARTS = (
    (hand.SCHEMA_VERSION, len(hand.FEATURE_NAMES), hand.image_features),
    (detector.SCHEMA_VERSION, len(detector.FEATURE_NAMES), detector.detector_features),
)


def rgb_features(rgb: np.ndarray) -> np.ndarray:
    """Feature vector (``float64``, ordered as :data:`FEATURE_NAMES`) of one ``uint8`` RGB array."""
    return np.concatenate([compute(rgb) for _, _, compute in _PARTS])


def image_file_features(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """Features of an image file; each part (hand-crafted, detector) is cached in ``cache_dir``
    (keyed by its schema and the file content) when given. :class:`ImageError` for an unreadable file."""
    if cache_dir is None:
        return rgb_features(load_rgb(path))
    try:
        digest = sha256sum(path)
    except OSError as exc:
        raise ImageError(f"cannot read image {os.fspath(path)!r}: {exc}") from None
    parts, rgb = [], None
    for schema, length, compute in _PARTS:
        target = Path(cache_dir) / schema / digest[:2] / f"{digest}.npy"
        if target.is_file():
            part = np.load(target)
            if part.shape == (length,):
                parts.append(part)
                continue
        rgb = load_rgb(path) if rgb is None else rgb
        part = compute(rgb)
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, part)
        parts.append(part)
    return np.concatenate(parts)


def features_of(
    images: Iterable[ImageLike], progress: bool = False, cache_dir: str | os.PathLike | None = None
) -> np.ndarray:
    """``(n, n_features)`` feature matrix of images given as PIL images, paths or arrays
    (``progress`` shows a tqdm bar; features of image files are cached in ``cache_dir`` when given)."""
    rows = [
        image_file_features(img, cache_dir) if isinstance(img, (str, os.PathLike)) else rgb_features(load_rgb(img))
        for img in tqdm(images, desc="image features", unit="img", disable=not progress)
    ]
    return np.vstack(rows) if rows else np.empty((0, len(FEATURE_NAMES)))


class ImageEmotionModel:
    """Predicts the (valence, arousal) a photo conveys, on the 1–9 SAM scale.

    Parameters
    ----------
    regressor : fitted scikit-learn estimator mapping features to two outputs (valence, arousal).
    feature_names : feature names the regressor was trained on (must match the current schema).
    schema_version : :data:`SCHEMA_VERSION` at training time.
    metadata : free-form JSON-able facts (training data, cross-validated scores) kept in ``model.json``.
    """

    def __init__(self, regressor: Any, feature_names: Sequence[str], schema_version: str, metadata: dict | None = None):
        if schema_version != SCHEMA_VERSION or tuple(feature_names) != FEATURE_NAMES:
            raise ModelFileError(
                f"image model was trained on feature schema {schema_version!r} "
                f"({len(feature_names)} features) but this code computes {SCHEMA_VERSION!r} "
                f"({len(FEATURE_NAMES)} features); retrain with train/image_emotion.py"
            )
        self.regressor = regressor
        self.feature_names = tuple(feature_names)
        self.schema_version = schema_version
        self.metadata = dict(metadata or {})

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """``(n, 2)`` valence/arousal, clipped to 1–9, from a ``(n, n_features)`` matrix."""
        features = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if features.shape[0] == 0:
            return np.empty((0, 2))
        pred = np.asarray(self.regressor.predict(features), dtype=np.float64).reshape(len(features), 2)
        return np.clip(pred, VA_MIN, VA_MAX)

    def predict(self, images: ImageLike | Iterable[ImageLike]) -> np.ndarray:
        """``(n, 2)`` valence/arousal of PIL images, image paths or ``H × W × 3`` arrays.

        A single image (not in a list) is accepted too and gives shape ``(1, 2)``.
        Raises :class:`ImageError` for an unreadable image.
        """
        if isinstance(images, (Image.Image, str, os.PathLike)) or (isinstance(images, np.ndarray) and images.ndim == 3):
            images = [images]
        return self.predict_features(features_of(images))

    def save(self, path: str | os.PathLike = IMAGE_MODEL_DIR) -> Path:
        """Write ``model.joblib`` (compressed) and ``model.json`` (config + SHA-256) into folder ``path``."""
        config = {
            "schema_version": self.schema_version,
            "feature_names": list(self.feature_names),
            "outputs": ["valence", "arousal"],
            "metadata": self.metadata,
        }
        return save_checked_joblib(
            self.regressor, path, config, model_file=MODEL_FILE, config_file=CONFIG_FILE, compress=("xz", 6)
        )

    @classmethod
    def load(cls, path: str | os.PathLike = IMAGE_MODEL_DIR) -> ImageEmotionModel:
        """Load a saved model, verifying the checksum before unpickling; :class:`ModelFileError` if
        missing, corrupt or built for another feature schema."""
        regressor, config = load_checked_joblib(
            path,
            model_file=MODEL_FILE,
            config_file=CONFIG_FILE,
            required=("feature_names", "schema_version"),
            what="image emotion model",
            hint="train one with train/image_emotion.py",
        )
        return cls(regressor, config["feature_names"], config["schema_version"], config.get("metadata"))
