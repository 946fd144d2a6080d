import numpy as np
import pytest

from music2img.image.features import (
    FEATURE_NAMES,
    SCHEMA_VERSION,
    batch_features,
    colourfulness,
    image_features,
    prepare,
)


def _scene(size: int) -> np.ndarray:
    """A smooth synthetic landscape: blue sky gradient over green ground with a sun disc."""
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    sky = y < 0.5
    img[sky] = np.stack([0.3 + 0.4 * y, 0.5 + 0.3 * y, 0.95 - 0.2 * y], -1)[sky]
    img[~sky] = np.stack([0.2 + 0.1 * x, 0.55 - 0.2 * y, 0.15 + 0 * x], -1)[~sky]
    img[(x - 0.7) ** 2 + (y - 0.25) ** 2 < 0.01] = (1.0, 0.9, 0.4)
    return (img * 255).astype(np.uint8)


def _feat(img):
    return dict(zip(FEATURE_NAMES, image_features(img)))


def test_schema_and_finite():
    assert SCHEMA_VERSION and len(FEATURE_NAMES) == len(set(FEATURE_NAMES)) > 50
    rng = np.random.default_rng(0)
    for img in (_scene(100), rng.integers(0, 256, (70, 90, 3), dtype=np.uint8), np.zeros((32, 32, 3), np.uint8),
                np.full((40, 40, 3), 255, np.uint8)):
        f = image_features(img)
        assert f.shape == (len(FEATURE_NAMES),) and np.isfinite(f).all()
    assert batch_features([_scene(64), _scene(80)]).shape == (2, len(FEATURE_NAMES))
    assert batch_features([]).shape == (0, len(FEATURE_NAMES))


def test_directions():
    warm = np.zeros((64, 64, 3), np.uint8)
    warm[...] = (250, 170, 30)
    warm[::8] = (240, 60, 20)
    grey = np.full((64, 64, 3), 50, np.uint8)
    fw, fg = _feat(warm), _feat(grey)
    for name in ("light.mean", "color.colourfulness", "color.sat_mean", "color.warmth", "color.b_mean"):
        assert fw[name] > fg[name] + 0.05, name
    assert fg["name.black"] == 1.0 or fg["name.grey"] == 1.0
    assert colourfulness(np.full((8, 8, 3), 0.5)) == pytest.approx(0.0)
    edgy = np.tile(((np.indices((64, 64)).sum(0) // 4) % 2 * 255).astype(np.uint8)[..., None], 3)
    assert _feat(edgy)["edge.mean"] > fg["edge.mean"] + 0.05


def test_size_invariance():
    small, large = image_features(_scene(64)), image_features(_scene(256))
    scale = np.maximum(np.abs(large), 0.05)
    rel = np.abs(small - large) / scale
    assert np.median(rel) < 0.05
    f_small, f_large = dict(zip(FEATURE_NAMES, small)), dict(zip(FEATURE_NAMES, large))
    for name in ("light.mean", "color.sat_mean", "color.colourfulness", "layout.top_minus_bottom_b", "hue.cos"):
        assert f_small[name] == pytest.approx(f_large[name], abs=0.03), name


def test_prepare_crops_and_rejects():
    out = prepare(np.zeros((30, 90, 3), np.uint8), size=16)
    assert out.shape == (16, 16, 3) and out.dtype == np.float32
    with pytest.raises(ValueError):
        prepare(np.zeros((10, 10)))
