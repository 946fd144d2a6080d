"""The music → (valence, arousal) model: a scikit-learn regressor on :mod:`music2img.music.features`
(and, when it was trained on them, the musicnn features; :mod:`music2img.music.feature_parts`).

A song is analysed in windows (:func:`music2img.music.audio.frame_windows`: 30 s, non-overlapping, at
most :data:`~music2img.music.audio.MAX_WINDOWS` spread over the song); each window gets its own
prediction and the song's emotion is the mean over windows, weighted by window length.

A saved model is a folder::

    model.joblib   the fitted regressor (joblib, compressed)
    model.json     sha256 of model.joblib, feature schema version and names, the spread
                   calibration (:mod:`music2img.music.calibration`) and metadata

:meth:`MusicEmotionModel.load` checks the SHA-256 *before* unpickling, so a replaced or truncated
file is refused rather than executed.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from ..assets import MUSIC_MODEL_DIR
from ..errors import ModelFileError
from ..files import load_checked_joblib, save_checked_joblib
from ..va import VA_MAX, VA_MIN, quadrant
from . import feature_parts
from .audio import SAMPLE_RATE, check_signal, frame_windows, load_audio, resample
from .calibration import SpreadCalibration
from .feature_parts import DEFAULT_PARTS, window_features

MODEL_FILE = "model.joblib"
CONFIG_FILE = "model.json"


def song_windows(
    y: np.ndarray, sr: int = SAMPLE_RATE, parts: tuple[str, ...] = DEFAULT_PARTS
) -> tuple[list[tuple[float, float]], np.ndarray, float]:
    """``(spans, X, duration)``: a mono signal's analysis windows (seconds), their feature rows (of the
    feature ``parts``) and its length in seconds, at :data:`~music2img.music.audio.SAMPLE_RATE`. Raises
    :class:`~music2img.errors.AudioError` for audio that is too short, too long or silent."""
    y = np.asarray(y, dtype=np.float32)
    check_signal(y, sr)
    y = resample(y, sr, SAMPLE_RATE)
    spans = frame_windows(y, SAMPLE_RATE)
    return spans, window_features(y, SAMPLE_RATE, spans, parts), len(y) / SAMPLE_RATE


@dataclass
class WindowEmotion:
    """Emotion of one analysis window (times in seconds, values on the 1–9 scale)."""

    start: float
    end: float
    valence: float
    arousal: float


@dataclass
class SongEmotion:
    """Emotion of a whole song: the aggregate of its windows."""

    valence: float
    arousal: float
    quadrant: str
    duration: float
    windows: list[WindowEmotion]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class MusicEmotionModel:
    """A fitted regressor from features (:func:`~music2img.music.feature_parts.feature_names` of its
    parts) to (valence, arousal).

    Parameters
    ----------
    regressor
        A fitted scikit-learn estimator whose ``predict`` returns ``(n, 2)`` (valence, arousal).
    feature_names : list of str
        The features it was fitted on; must equal those this code computes for its parts.
    schema_version : str
        The feature schema version it was fitted on (its parts' versions joined by ``+``, see
        :func:`~music2img.music.feature_parts.schema_version`); each part's must be the current one.
    metadata : dict, optional
        Anything JSON-serialisable to keep with the model (training data, metrics, parameters).
    calibration : SpreadCalibration, optional
        Fitted on out-of-fold predictions; applied to the regressor's output before clipping, so
        every caller gets predictions with the targets' spread. ``None``: raw regressor output.
    """

    def __init__(
        self,
        regressor,
        feature_names: list[str],
        schema_version: str,
        metadata: dict | None = None,
        calibration: SpreadCalibration | None = None,
    ):
        self.parts = feature_parts.parts_of_schema(schema_version)
        expected = feature_parts.feature_names(self.parts)
        if list(feature_names) != expected:
            raise ModelFileError(
                f"the model was fitted on {len(feature_names)} features of schema v{schema_version} that differ "
                f"from the {len(expected)} this version of music2img computes for it; retrain it with "
                "train/music_emotion.py"
            )
        self.regressor = regressor
        self.feature_names = list(feature_names)
        self.schema_version = str(schema_version)
        self.metadata = dict(metadata or {})
        self.calibration = calibration

    @classmethod
    def load(cls, path: str | os.PathLike = MUSIC_MODEL_DIR) -> MusicEmotionModel:
        """Load a model folder written by :meth:`save`; raises :class:`ModelFileError` if it is
        missing, fails its checksum or was made for another feature schema."""
        regressor, config = load_checked_joblib(
            path,
            model_file=MODEL_FILE,
            config_file=CONFIG_FILE,
            required=("feature_names", "schema_version"),
            what="music emotion model",
            hint="train one with train/music_emotion.py",
        )
        calibration = None
        if config.get("calibration") is not None:
            try:
                calibration = SpreadCalibration.from_dict(config["calibration"])
            except ValueError as exc:
                raise ModelFileError(f"{path}: {exc}") from None
        return cls(regressor, config["feature_names"], config["schema_version"], config.get("metadata"), calibration)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``model.joblib`` (compressed) and ``model.json`` into the folder ``path``, each atomically."""
        config = {
            "schema_version": self.schema_version,
            "feature_names": self.feature_names,
            "targets": ["valence", "arousal"],
            "metadata": self.metadata,
            "calibration": self.calibration.to_dict() if self.calibration is not None else None,
        }
        save_checked_joblib(self.regressor, path, config, model_file=MODEL_FILE, config_file=CONFIG_FILE, compress=3)

    def predict_features(self, X: np.ndarray) -> np.ndarray:
        """``(n, 2)`` (valence, arousal) for feature rows ``X`` of shape ``(n, n_features)``: the
        regressor's output, calibrated when the model has a calibration, clipped to 1–9."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(f"expected features of shape (n, {len(self.feature_names)}), got {X.shape}")
        va = np.asarray(self.regressor.predict(X), dtype=float).reshape(len(X), 2)
        if self.calibration is not None:
            va = self.calibration.transform(va)
        return np.clip(va, VA_MIN, VA_MAX)

    def predict_audio(self, y: np.ndarray, sr: int = SAMPLE_RATE) -> SongEmotion:
        """Emotion of a mono signal: per-window predictions and their length-weighted mean.

        Raises :class:`~music2img.errors.AudioError` for audio that is too short, too long or silent.
        """
        spans, X, duration = song_windows(y, sr, self.parts)
        return self.predict_windows(spans, X, duration)

    def predict_windows(self, spans: list[tuple[float, float]], X: np.ndarray, duration: float) -> SongEmotion:
        """A song's emotion from the features ``X`` of its windows ``spans`` (see :func:`song_windows`)."""
        va = self.predict_features(X)
        weights = np.array([e - s for s, e in spans])
        valence, arousal = (float(v) for v in np.average(va, axis=0, weights=weights))
        windows = [WindowEmotion(s, e, float(v), float(a)) for (s, e), (v, a) in zip(spans, va)]
        return SongEmotion(valence, arousal, quadrant(valence, arousal), duration, windows)

    def predict_file(self, path: str | os.PathLike) -> SongEmotion:
        """Emotion of an audio file; raises :class:`~music2img.errors.AudioError` for unusable audio."""
        return self.predict_audio(load_audio(path, SAMPLE_RATE), SAMPLE_RATE)
