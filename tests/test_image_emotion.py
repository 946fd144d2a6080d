import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.exceptions import NotFittedError

from music2img.errors import ImageError, ModelFileError
from music2img.image import detector_features as detector
from music2img.image import features as hand
from music2img.image.emotion_model import (
    FEATURE_NAMES,
    SCHEMA_VERSION,
    AveragedRegressor,
    CappedPCA,
    ImageEmotionModel,
    features_of,
    image_file_features,
    load_rgb,
    make_regressor,
    make_v1_regressor,
    make_v2_regressor,
)
from music2img.image.features import SCHEMA1_NAMES

REPO = Path(__file__).resolve().parent.parent


def _images(n, seed=0, size=48):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        base = rng.integers(0, 256, 3)
        img = np.clip(base + rng.normal(0, 10 + 6 * i, (size, size, 3)), 0, 255).astype(np.uint8)
        out.append(img)
    return out


@pytest.fixture(scope="module")
def tiny_model():
    imgs = _images(16)
    X = features_of(imgs)
    y = np.column_stack([np.linspace(1, 9, 16), np.linspace(9, 1, 16)])
    return ImageEmotionModel(make_regressor().fit(X, y), FEATURE_NAMES, SCHEMA_VERSION, {"note": "tiny"})


def test_predict_inputs(tiny_model, tmp_path):
    img = _images(1, seed=5)[0]
    path = tmp_path / "a.png"
    Image.fromarray(img).save(path)
    from_array = tiny_model.predict([img])
    assert from_array.shape == (1, 2) and np.all((from_array >= 1) & (from_array <= 9))
    both = tiny_model.predict([Image.fromarray(img), path, img.astype(np.float32) / 255])
    assert np.allclose(both, from_array, atol=1e-6)
    assert tiny_model.predict(path).shape == (1, 2) and tiny_model.predict([]).shape == (0, 2)
    assert tiny_model.predict([Image.fromarray(img).convert("RGBA").resize((64, 64))]).shape == (1, 2)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ImageError):
        tiny_model.predict([tmp_path / "bad.png"])
    with pytest.raises(ImageError):
        load_rgb(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ImageError):
        load_rgb(42)


def test_save_load_checksum(tiny_model, tmp_path):
    folder = tiny_model.save(tmp_path / "m")
    loaded = ImageEmotionModel.load(folder)
    imgs = _images(3, seed=9)
    assert np.allclose(loaded.predict(imgs), tiny_model.predict(imgs))
    assert loaded.metadata == {"note": "tiny"}
    assert json.loads((folder / "model.json").read_text())["schema_version"] == SCHEMA_VERSION
    with open(folder / "model.joblib", "ab") as f:
        f.write(b"tampered")
    with pytest.raises(ModelFileError, match="checksum"):
        ImageEmotionModel.load(folder)
    with pytest.raises(ModelFileError, match="not found"):
        ImageEmotionModel.load(tmp_path / "nowhere")
    with pytest.raises(ModelFileError, match="schema"):
        ImageEmotionModel(tiny_model.regressor, FEATURE_NAMES[:-1], SCHEMA_VERSION)


def test_cli_json_and_bad_file(tiny_model, tmp_path):
    from music2img.cli import main

    folder = tiny_model.save(tmp_path / "m")
    good = tmp_path / "good.png"
    Image.fromarray(_images(1)[0]).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    proc = subprocess.run(
        [sys.executable, "-m", "music2img", "image-emotion", str(good), str(bad), "--json", "--model", str(folder)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert set(lines[0]) == {"file", "valence", "arousal"} and 1 <= lines[0]["valence"] <= 9
    assert lines[1]["file"] == str(bad) and "error" in lines[1]
    assert "bad.jpg" in proc.stderr
    assert main(["image-emotion", str(good), "--model", str(folder)]) == 0


def test_averaged_regressor_columns_and_weights():
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = 2 * X[:, 0] - X[:, 2]
    avg = AveragedRegressor(
        [("first", [0], LinearRegression()), ("all", None, make_pipeline(StandardScaler(), LinearRegression()))]
    )
    pred = avg.fit(X, y).predict(X)
    alone = LinearRegression().fit(X[:, [0]], y).predict(X[:, [0]])
    assert np.allclose(pred, (alone + y) / 2)
    # a zero weight removes a row's influence, through a pipeline too
    y_bad = y.copy()
    y_bad[0] = 100.0
    w = np.ones(40)
    w[0] = 0.0
    without = avg.fit(X[1:], y[1:]).predict(X)
    assert np.allclose(avg.fit(X, y_bad, sample_weight=w).predict(X), without)
    assert not np.allclose(avg.fit(X, y_bad).predict(X), without)
    assert not hasattr(AveragedRegressor([("a", None, LinearRegression())]), "estimators_")


def test_older_recipes_use_their_own_features_only():
    imgs = _images(12, seed=3)
    X = features_of(imgs)
    assert X.shape == (12, len(FEATURE_NAMES)) and FEATURE_NAMES == hand.FEATURE_NAMES + detector.FEATURE_NAMES
    y = np.column_stack([np.linspace(1, 9, 12), np.linspace(9, 1, 12)])
    v1, v2 = make_v1_regressor().fit(X, y), make_v2_regressor().fit(X, y)
    changed = X.copy()
    changed[:, len(hand.FEATURE_NAMES) :] += 5.0  # the detector's features must not matter to v1 and v2
    assert np.allclose(v2.predict(changed), v2.predict(X))
    changed[:, len(SCHEMA1_NAMES) :] += 5.0  # nor schema-2 additions to v1
    assert np.allclose(v1.predict(changed), v1.predict(X))
    v3 = make_regressor().fit(X, y, sample_weight=np.linspace(0.5, 1, 12))
    assert v3.predict(X).shape == (12, 2) and not np.allclose(v3.predict(changed), v3.predict(X))


def test_feature_cache(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(_images(1, seed=4)[0]).save(path)
    fresh = image_file_features(path)
    cached = image_file_features(path, tmp_path / "cache")
    files = sorted((tmp_path / "cache").rglob("*.npy"))  # one per part, under the part's schema
    assert np.array_equal(fresh, cached) and len(files) == 2
    assert {f.relative_to(tmp_path / "cache").parts[0] for f in files} == {hand.SCHEMA_VERSION, detector.SCHEMA_VERSION}
    for f in files:  # a hit is read back, not recomputed
        np.save(f, np.full(np.load(f).shape, 7.0))
    assert np.all(image_file_features(path, tmp_path / "cache") == 7.0)
    assert np.all(features_of([path], cache_dir=tmp_path / "cache") == 7.0)
    hand_file = next(f for f in files if hand.SCHEMA_VERSION in str(f))
    np.save(hand_file, np.zeros(3))  # a part of the wrong length is recomputed
    again = image_file_features(path, tmp_path / "cache")
    assert np.array_equal(again[: len(hand.FEATURE_NAMES)], fresh[: len(hand.FEATURE_NAMES)])
    assert np.all(again[len(hand.FEATURE_NAMES) :] == 7.0)
    with pytest.raises(ImageError):
        image_file_features(tmp_path / "missing.png", tmp_path / "cache")


def test_capped_pca_fits_small_data():
    X = np.random.default_rng(0).normal(size=(10, 6))
    assert CappedPCA(128).fit(X).transform(X).shape == (10, 6)
    assert CappedPCA(3).fit(X).transform(X[:4]).shape == (4, 3)
    with pytest.raises(NotFittedError, match="CappedPCA instance is not fitted yet"):
        CappedPCA(3).transform(X)
