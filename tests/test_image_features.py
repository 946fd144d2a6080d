import json
from pathlib import Path

import numpy as np
import pytest

from music2img.image.features import (
    FEATURE_NAMES,
    SCHEMA1_NAMES,
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
    for img in (
        _scene(100),
        rng.integers(0, 256, (70, 90, 3), dtype=np.uint8),
        np.zeros((32, 32, 3), np.uint8),
        np.full((40, 40, 3), 255, np.uint8),
    ):
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


def schema1_pictures() -> list[np.ndarray]:
    """Seeded pictures whose schema-1 features ``tests/data/image_features_schema1.json`` records: a
    landscape-like sky over ground, a noisy checkerboard, plain noise."""
    rng = np.random.default_rng(11)
    scene = np.empty((48, 64, 3), np.uint8)
    scene[:20], scene[20:] = (110, 160, 230), (60, 120, 40)
    scene = np.clip(scene + rng.normal(0, 12, scene.shape), 0, 255).astype(np.uint8)
    board = (np.indices((40, 40)).sum(0) // 5 % 2 * 200 + 25).astype(np.uint8)
    board = np.stack([board, board // 2, 255 - board], -1) + rng.normal(0, 5, (40, 40, 3))
    board = np.clip(board, 0, 255).astype(np.uint8)
    return [scene, board, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)]


def test_schema1_features_lead_unchanged():
    """The leading features have schema 1's names and values: those its code (commit d5f0b12^,
    ``image-features-1``) computed for :func:`schema1_pictures`."""
    recorded = json.loads((Path(__file__).parent / "data" / "image_features_schema1.json").read_text())
    assert recorded["schema"] == "image-features-1" and SCHEMA_VERSION != "image-features-1"
    assert FEATURE_NAMES[: len(SCHEMA1_NAMES)] == SCHEMA1_NAMES == tuple(recorded["names"]) and len(SCHEMA1_NAMES) == 88
    for picture, values in zip(schema1_pictures(), recorded["values"], strict=True):
        np.testing.assert_allclose(image_features(picture)[: len(SCHEMA1_NAMES)], values, rtol=1e-5, atol=1e-6)


def test_landscape_features():
    """Horizon, contrast, vividness, diagonal lines and haze move the way their names say."""
    sky_low = np.zeros((64, 64, 3), np.uint8)
    sky_low[:40] = (120, 170, 240)  # bright blue sky over the top 40 rows
    sky_low[40:] = (40, 70, 30)  # dark ground
    f = _feat(sky_low)
    assert f["sky.horizon"] == pytest.approx(40 / 64, abs=1 / 64) and f["sky.step"] > 0.3
    assert f["sky.blue_share"] > 0.9 and f["sky.dark_share"] == 0 and f["ground.light"] < f["sky.light"]
    storm = np.zeros((64, 64, 3), np.uint8)
    storm[:32] = (45, 45, 55)
    storm[32:] = (90, 90, 95)
    assert _feat(storm)["sky.dark_share"] == 1.0 and _feat(storm)["sky.step"] < 0
    mist = np.full((64, 64, 3), 200, np.uint8)
    mist[30:34] = 180
    stark = mist.copy()
    stark[:, :32] = 10
    fm, fs = _feat(mist), _feat(stark)
    for name in ("drama.range", "drama.michelson", "drama.coarse_contrast", "drama.highlight_shadow"):
        assert fs[name] > fm[name] + 0.1, name
    assert fm["haze.dark_channel"] > fs["haze.dark_channel"] and fm["haze.transmission"] < fs["haze.transmission"]
    fire = np.zeros((64, 64, 3), np.uint8)
    fire[...] = (250, 90, 10)
    ff = _feat(fire)
    assert ff["drama.fire_share"] == 1.0 and ff["drama.vivid_share"] == 1.0 and fm["drama.vivid_share"] == 0.0
    assert ff["vm.arousal"] > fm["vm.arousal"] and fm["vm.pleasure"] == pytest.approx(0.69 * 200 / 255, abs=0.01)
    yy, xx = np.indices((64, 64))
    diagonal = np.tile((((xx + yy) // 4) % 2 * 255).astype(np.uint8)[..., None], 3)
    upright = np.tile(((xx // 4) % 2 * 255).astype(np.uint8)[..., None], 3)
    fd, fu = _feat(diagonal), _feat(upright)
    assert fd["orient.diagonal"] > 0.8 and fu["orient.diagonal"] < 0.2 and fd["orient.coherence"] > 0.8
    # gist: vertical stripes put their energy in the horizontal-frequency orientation (o0), not o2
    assert sum(fu[f"gist.s1o0c{c}"] for c in range(4)) > 5 * sum(fu[f"gist.s1o2c{c}"] for c in range(4))
    assert f["grid.L00"] > f["grid.L22"] + 0.3 and f["grid.b00"] < f["grid.b22"]
