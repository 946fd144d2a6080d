"""The measures of generated pictures (music2img.diffusion.evaluation) on tiny synthetic images."""

import json

import numpy as np
import pytest
import torch
from factories_diffusion import make_tiny_pipeline, make_tiny_unet
from PIL import Image

from music2img.diffusion import evaluation as ev
from music2img.diffusion.pipeline import EmotionLandscapePipeline, load_pipeline, save_component
from music2img.diffusion.scene_check import SceneChecker
from music2img.diffusion.schedulers import make_scheduler, training_scheduler


def test_detail_separates_a_smear_from_texture():
    rng = np.random.default_rng(0)
    sharp = rng.uniform(0, 1, (4, 32, 32, 3))
    flat = np.full((4, 32, 32, 3), 0.5)
    assert np.all(ev.laplacian_variance(flat) == 0) and np.all(ev.laplacian_variance(sharp) > 100)
    assert ev.detail_ratio(sharp, sharp, size=32) == pytest.approx(1.0)
    assert ev.detail_ratio(flat + rng.normal(0, 0.01, flat.shape), sharp, size=32) < 0.01


def test_frechet_distance_is_zero_for_one_set_and_grows_with_a_shift():
    x = np.random.default_rng(0).normal(size=(400, 5))
    assert ev.frechet_distance(x, x) == pytest.approx(0, abs=1e-6)
    assert ev.frechet_distance(x + 1, x) == pytest.approx(5, rel=0.05)
    assert ev.frechet_distance(x * 2, x) > ev.frechet_distance(x * 1.5, x) > 0.5


def test_emotion_control_diversity_and_nearest():
    asked = np.array([[1, 9], [5, 5], [9, 1]], float)
    assert ev.emotion_control(asked, asked) == {"spearman_valence": 1.0, "spearman_arousal": 1.0}
    assert ev.emotion_control(asked, asked[::-1])["spearman_valence"] == -1.0
    refs = np.eye(4)
    idx, dist = ev.nearest(refs[[2, 0]] + 0.1, refs)
    assert idx.tolist() == [2, 0] and dist == pytest.approx([0.2, 0.2])


def _pipe():
    pipe = EmotionLandscapePipeline(
        unet=make_tiny_unet(), scheduler=make_scheduler("ddim", training_scheduler().config)
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_generate_grid_matches_single_calls_and_caches(tmp_path):
    pipe, calls = _pipe(), []

    def sample(vs, as_, gens):
        calls.append(len(vs))
        return pipe(vs, as_, num_inference_steps=2, generator=gens, output_type="np").images

    points = ev.grid_points((3.0, 7.0))
    first = ev.generate_grid(pipe, points, [0, 1], steps=2, guidance=3.0, cache=tmp_path, sample=sample)
    assert first.images.shape == (2, 4, 16, 16, 3) and calls == [4, 4] and first.seconds_per_image > 0
    single = pipe(7.0, 3.0, num_inference_steps=2, generator=torch.Generator().manual_seed(1), output_type="np").images[
        0
    ]
    assert np.abs(first.images[1, 1] - single).max() <= 1 / 255 + 1e-6  # seed s = the picture a user gets
    again = ev.generate_grid(pipe, points, [0, 1], steps=2, guidance=3.0, cache=tmp_path, sample=sample)
    assert calls == [4, 4] and np.array_equal(again.images, first.images) and np.isnan(again.seconds_per_image)
    ev.generate_grid(pipe, points, [0], steps=2, guidance=3.0, cache=tmp_path, tag="other", sample=sample)
    assert calls == [4, 4, 4]  # another tag paints again
    assert first.requested.shape == (8, 2) and first.requested[5].tolist() == [7.0, 3.0]
    assert ev.diversity_across_seeds(first) > 0


def test_the_default_samplers_cache_names_its_guidance_lowpass(tmp_path, monkeypatch):
    pipe, seen = _pipe(), []
    call = type(pipe).__call__
    monkeypatch.setattr(type(pipe), "__call__", lambda self, *a, **kw: (seen.append(kw), call(self, *a, **kw))[1])
    points = ev.grid_points((3.0,))
    ev.generate_grid(pipe, points, [0], steps=2, guidance=3.0, cache=tmp_path)
    assert seen[-1]["guidance_lowpass"] == ev.GUIDANCE_LOWPASS
    assert seen[-1]["guidance_lowpass_valence"] == ev.GUIDANCE_LOWPASS_VALENCE
    ev.generate_grid(pipe, points, [0], steps=2, guidance=3.0, cache=tmp_path)
    assert len(seen) == 1  # cached
    monkeypatch.setattr(ev, "GUIDANCE_LOWPASS", ev.GUIDANCE_LOWPASS + 4.0)  # pictures of other defaults: not reused
    ev.generate_grid(pipe, points, [0], steps=2, guidance=3.0, cache=tmp_path)
    assert len(seen) == 2 and seen[-1]["guidance_lowpass"] == ev.GUIDANCE_LOWPASS


def test_the_weights_digest_names_the_weights_and_checkers_not_the_folder(tmp_path):
    a, b = make_tiny_pipeline(tmp_path / "a"), make_tiny_pipeline(tmp_path / "b")
    assert ev.weights_digest(load_pipeline(a)) == ev.weights_digest(load_pipeline(b))  # same weights, two folders
    save_component(b, "scene_checker", SceneChecker())
    assert ev.weights_digest(load_pipeline(a)) != ev.weights_digest(load_pipeline(b))  # a checker changes what is kept
    stricter = b / "scene_checker" / "config.json"
    before = ev.weights_digest(load_pipeline(b))
    stricter.write_text(json.dumps({**json.loads(stricter.read_text()), "threshold": 0.8, "early_threshold": 0.1}))
    assert ev.weights_digest(load_pipeline(b)) != before  # and so do its thresholds
    other = make_tiny_pipeline(tmp_path / "c", seed=1)
    assert ev.weights_digest(load_pipeline(a)) != ev.weights_digest(load_pipeline(other))
    expert = load_pipeline(other).unet.half()
    digests = set()
    for first in (500, 600):  # a high-noise expert, and the timestep it takes over at, change the pictures
        save_component(a, "high_noise_unet", expert, high_noise_from=first)
        digests.add(ev.weights_digest(load_pipeline(a)))
    assert len(digests) == 2 and ev.weights_digest(load_pipeline(a)) in digests


def test_photo_statistics_and_sheet(tmp_path):
    rng = np.random.default_rng(0)
    files = []
    for i in range(3):
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(files[-1])
    stats = ev.photo_statistics(files, size=32, thumb=8, progress=False)
    assert stats["thumbs"].shape == (3, 8, 8, 3) and stats["features"].shape[0] == 3 and np.all(stats["laplacian"] > 0)
    ev.save_grid(tmp_path / "sheet.png", rng.uniform(0, 1, (5, 8, 8, 3)), 2, pad=1, scale=2)
    assert Image.open(tmp_path / "sheet.png").size == (2 * (2 * 9 + 1), 2 * (3 * 9 + 1))


def test_sheets_take_uint8_pictures_as_they_are():
    floats = np.random.default_rng(0).random((4, 8, 8, 3)).astype(np.float32)
    pictures = ev.to_uint8(floats)
    assert ev.to_uint8(pictures) is pictures  # scaling uint8 by 255 again would wrap around
    assert np.array_equal(np.asarray(ev.tile(pictures, 2)), np.asarray(ev.tile(floats, 2)))
    with pytest.raises(TypeError, match="int64"):
        ev.to_uint8(pictures.astype(np.int64))
