"""music2img.music.calibration: order-preserving spread calibration, and the model applying it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from factories_music import make_tiny_music_model

from music2img.errors import ModelFileError
from music2img.music.calibration import SpreadCalibration
from music2img.music.emotion_model import CONFIG_FILE, MusicEmotionModel
from music2img.music.features import FEATURE_NAMES


def _shrunk(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Targets, and predictions that keep their rough order but shrink them towards the mean."""
    rng = np.random.default_rng(seed)
    targets = np.column_stack([rng.normal(5.0, 1.6, n), rng.normal(4.8, 0.9, n)])
    predictions = 5.0 + 0.4 * (targets - 5.0) + rng.normal(0, 0.2, targets.shape)
    return predictions, targets


@pytest.mark.parametrize("method", ["linear", "quantile"])
def test_restores_spread_and_keeps_order(method):
    P, T = _shrunk()
    cal = SpreadCalibration(method).fit(P, T)
    out = cal.transform(P)
    assert out.shape == P.shape
    np.testing.assert_allclose(out.std(axis=0), T.std(axis=0), rtol=0.05)
    np.testing.assert_allclose(out.mean(axis=0), T.mean(axis=0), atol=0.05)
    assert np.all(cal.scale() > 2.0)
    # Order kept: sorting by the prediction sorts the calibrated values too.
    for j in range(2):
        order = np.argsort(P[:, j])
        assert np.all(np.diff(out[order, j]) >= 0)
    # New predictions, outside the fitted range too.
    grid = np.column_stack([np.linspace(0, 10, 50)] * 2)
    assert np.all(np.diff(cal.transform(grid), axis=0) >= 0)


def test_quantile_matches_distribution_and_clamps():
    P, T = _shrunk()
    cal = SpreadCalibration("quantile").fit(P, T)
    out = cal.transform(P)
    np.testing.assert_allclose(
        np.quantile(out, [0.1, 0.5, 0.9], axis=0), np.quantile(T, [0.1, 0.5, 0.9], axis=0), atol=0.1
    )
    far = cal.transform(np.array([[-100.0, -100.0], [100.0, 100.0]]))
    np.testing.assert_allclose(far, [T.min(axis=0), T.max(axis=0)])


def test_linear_is_exact_moment_match():
    P, T = _shrunk(n=50, seed=3)
    out = SpreadCalibration("linear").fit(P, T).transform(P)
    np.testing.assert_allclose(out.mean(axis=0), T.mean(axis=0))
    np.testing.assert_allclose(out.std(axis=0), T.std(axis=0))
    np.testing.assert_allclose(np.corrcoef(out[:, 0], P[:, 0])[0, 1], 1.0)


@pytest.mark.parametrize("method", ["linear", "quantile"])
def test_round_trip_through_json(method):
    P, T = _shrunk()
    cal = SpreadCalibration(method).fit(P, T)
    again = SpreadCalibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    np.testing.assert_allclose(again.transform(P), cal.transform(P))


def test_bad_input():
    with pytest.raises(ValueError, match="unknown calibration method"):
        SpreadCalibration("isotonic-ish")
    P, T = _shrunk(n=20)
    with pytest.raises(ValueError, match="constant"):
        SpreadCalibration("linear").fit(np.full_like(P, 5.0), T)
    with pytest.raises(ValueError, match="constant"):
        SpreadCalibration("quantile").fit(np.full_like(P, 5.0), T)
    with pytest.raises(ValueError, match="same shape"):
        SpreadCalibration().fit(P, T[:-1])
    with pytest.raises(ValueError, match="expected 2 dimensions"):
        SpreadCalibration().fit(P, T).transform(P[:, :1])
    with pytest.raises(ValueError, match="malformed"):
        SpreadCalibration.from_dict({"method": "linear", "knots": [{"x": [2.0, 1.0], "y": [1.0, 2.0]}]})
    with pytest.raises(ValueError, match="malformed"):
        SpreadCalibration.from_dict({"method": "linear"})


def test_model_applies_calibration(tmp_path):
    raw = MusicEmotionModel.load(make_tiny_music_model(tmp_path / "raw"))
    X = np.random.default_rng(2).standard_normal((30, len(FEATURE_NAMES))).astype(np.float32)
    P = raw.regressor.predict(X)
    cal = SpreadCalibration("linear").fit(P, 5.0 + 3.0 * (P - P.mean(axis=0)))
    MusicEmotionModel(raw.regressor, FEATURE_NAMES, raw.schema_version, {"tiny": True}, cal).save(tmp_path / "cal")
    model = MusicEmotionModel.load(tmp_path / "cal")
    va = model.predict_features(X)
    np.testing.assert_allclose(va, np.clip(cal.transform(P), 1, 9))
    assert va.std(axis=0).min() > 1.5 * raw.predict_features(X).std(axis=0).max()
    # A model saved without one predicts the raw output; a broken calibration is refused.
    assert json.loads((tmp_path / "raw" / CONFIG_FILE).read_text())["calibration"] is None
    config = json.loads((tmp_path / "cal" / CONFIG_FILE).read_text())
    config["calibration"]["knots"][0]["x"] = [3.0, 1.0]
    (tmp_path / "cal" / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="malformed calibration"):
        MusicEmotionModel.load(tmp_path / "cal")
