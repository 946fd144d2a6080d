"""EmotionLandscapePipeline: inputs, outputs, guidance, schedulers, saving and loading."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler
from factories_diffusion import make_tiny_pipeline, make_tiny_unet
from PIL import Image

from music2img.diffusion.pipeline import EmotionLandscapePipeline, load_pipeline
from music2img.diffusion.schedulers import (
    SCHEDULERS,
    make_scheduler,
    training_scheduler,
)
from music2img.diffusion.unet import UNet2DOutput
from music2img.errors import EmotionRangeError, ModelFileError


@pytest.fixture
def pipe():
    unet = make_tiny_unet()
    with torch.no_grad():  # make the emotion matter, as after training
        for name, p in unet.named_parameters():
            if ".adain." in name:
                p.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    p = EmotionLandscapePipeline(unet=unet, scheduler=make_scheduler("ddim", training_scheduler().config))
    p.set_progress_bar_config(disable=True)
    return p


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_scalar_and_list_inputs_and_output_types(pipe):
    out = pipe(3.0, 7.0, num_inference_steps=2, generator=_gen())
    assert len(out.images) == 1 and isinstance(out.images[0], Image.Image) and out.images[0].size == (16, 16)
    arr = pipe([2, 8], [3, 6], num_images_per_prompt=3, num_inference_steps=2, output_type="np",
               generator=_gen()).images
    assert isinstance(arr, np.ndarray) and arr.shape == (6, 16, 16, 3) and 0 <= arr.min() and arr.max() <= 1
    pt = pipe(np.array([5.0]), torch.tensor([5.0]), num_inference_steps=2, output_type="pt", return_dict=False)[0]
    assert isinstance(pt, torch.Tensor) and pt.shape == (1, 3, 16, 16)


def test_generator_determinism(pipe):
    def run(seed):
        return pipe(4.0, 6.0, num_inference_steps=3, output_type="np", generator=_gen(seed)).images

    assert np.array_equal(run(0), run(0))
    assert not np.allclose(run(0), run(1))


def test_given_latents_replace_the_drawn_noise(pipe):
    noise = torch.randn((2, 3, 16, 16), generator=_gen(3))
    drawn = pipe([4.0, 6.0], [5.0, 5.0], num_inference_steps=3, output_type="np", generator=_gen(3)).images
    given = pipe([4.0, 6.0], [5.0, 5.0], num_inference_steps=3, output_type="np", latents=noise).images
    np.testing.assert_array_equal(drawn, given)
    with pytest.raises(ValueError, match="latents must have shape"):
        pipe(4.0, 5.0, num_inference_steps=2, latents=noise)


def test_emotion_changes_the_image(pipe):
    a = pipe(1.0, 1.0, num_inference_steps=3, output_type="np", generator=_gen()).images
    b = pipe(9.0, 9.0, num_inference_steps=3, output_type="np", generator=_gen()).images
    assert np.abs(a - b).max() > 1e-3


@pytest.mark.parametrize("value", [(0.5, 5), (5, 9.5), (float("nan"), 5), ("x", 5), ([2, 3], [4])])
def test_bad_emotion_raises(pipe, value):
    with pytest.raises(EmotionRangeError):
        pipe(*value, num_inference_steps=1)


def _spy(pipe, monkeypatch):
    """Record the batch size and drop mask of every UNet call; predict 1 conditioned, 0 unconditioned."""
    calls = []

    def forward(sample, timestep, valence, arousal, drop_emotion=None, return_dict=True):
        calls.append((sample.shape[0], None if drop_emotion is None else drop_emotion.tolist()))
        eps = torch.ones_like(sample)
        if drop_emotion is not None:
            eps[drop_emotion] = 0.0
        return UNet2DOutput(sample=eps)

    monkeypatch.setattr(pipe.unet, "forward", forward)
    return calls


def test_guidance_is_one_batched_forward_per_step(pipe, monkeypatch):
    calls = _spy(pipe, monkeypatch)
    seen = []
    step = pipe.scheduler.step
    monkeypatch.setattr(pipe.scheduler, "step", lambda eps, t, x, **kw: (seen.append(eps), step(eps, t, x, **kw))[1])
    pipe([2, 8], [2, 8], guidance_scale=3.0, num_inference_steps=4, output_type="np")
    assert calls == [(4, [False, False, True, True])] * 4
    assert all(torch.all(e == 3.0) for e in seen)  # ε_u + s (ε_c − ε_u) with ε_c = 1, ε_u = 0
    calls.clear()
    pipe([2, 8], [2, 8], guidance_scale=1.0, num_inference_steps=4, output_type="np")
    assert calls == [(2, None)] * 4


def test_callback_reports_progress(pipe):
    got = []
    pipe(5, 5, num_inference_steps=3, callback=lambda i, n, t: got.append((i, n, t)))
    assert [(i, n) for i, n, _ in got] == [(1, 3), (2, 3), (3, 3)]
    assert got[0][2] > got[-1][2]


@pytest.mark.parametrize("name,cls,default", [("ddim", DDIMScheduler, 50), ("dpm", DPMSolverMultistepScheduler, 25)])
def test_scheduler_swap_and_default_steps(pipe, monkeypatch, name, cls, default):
    pipe.scheduler = make_scheduler(name, pipe.scheduler.config)
    assert isinstance(pipe.scheduler, cls) and SCHEDULERS[name] is cls
    assert pipe.scheduler.config.num_train_timesteps == 1000
    assert pipe.scheduler.config.beta_schedule == training_scheduler().config.beta_schedule
    calls = _spy(pipe, monkeypatch)
    pipe(5, 5, guidance_scale=2.0, output_type="np")
    assert len(calls) == default


def test_unknown_scheduler():
    with pytest.raises(ValueError, match="unknown scheduler"):
        make_scheduler("euler", training_scheduler().config)


def test_save_and_load_roundtrip(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "p")
    loaded = EmotionLandscapePipeline.from_pretrained(tmp_path / "p", low_cpu_mem_usage=False)
    loaded.set_progress_bar_config(disable=True)
    assert type(loaded.unet).__name__ == "EmotionUNet" and isinstance(loaded.scheduler, DDIMScheduler)
    kw = dict(num_inference_steps=3, output_type="np")
    assert np.array_equal(pipe([2, 7], [8, 3], generator=_gen(), **kw).images,
                          loaded([2, 7], [8, 3], generator=_gen(), **kw).images)


def test_factory_pipeline_saves_training_scheduler(tmp_path):
    pipe = load_pipeline(make_tiny_pipeline(tmp_path / "tiny"))
    assert isinstance(pipe.scheduler, DDPMScheduler) and pipe.unet.dtype == torch.float32


def test_load_from_repo_id_offline(tmp_path):
    """The hub code path: a repo id resolved from a local Hugging Face cache, nothing downloaded."""
    snapshot = tmp_path / "hub" / "models--someone--tiny-landscapes" / "snapshots" / ("a" * 40)
    make_tiny_pipeline(snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("a" * 40)
    pipe = load_pipeline("someone/tiny-landscapes", cache_dir=tmp_path / "hub")
    assert type(pipe.unet).__name__ == "EmotionUNet"


def test_missing_or_incomplete_model(tmp_path):
    with pytest.raises(ModelFileError, match="model_index.json"):
        load_pipeline(tmp_path / "nothing")
    folder = make_tiny_pipeline(tmp_path / "tiny")
    shutil.rmtree(folder / "unet")
    with pytest.raises(ModelFileError):
        load_pipeline(folder)


def test_folder_saved_before_the_stage_layout_loads(tmp_path):
    """Folders saved before the package was split by stage name the UNet's old module."""
    folder = make_tiny_pipeline(tmp_path / "old")
    index = json.loads((folder / "model_index.json").read_text())
    assert index["unet"] == ["music2img.diffusion.unet", "EmotionUNet"]
    index["unet"] = ["music2img.unet", "EmotionUNet"]
    (folder / "model_index.json").write_text(json.dumps(index))
    pipe = load_pipeline(folder)
    assert type(pipe.unet).__name__ == "EmotionUNet" and isinstance(pipe.scheduler, DDPMScheduler)


def test_guidance_interval_guides_only_its_part_of_the_steps(pipe, monkeypatch):
    calls = _spy(pipe, monkeypatch)
    pipe([2, 8], [2, 8], guidance_scale=3.0, guidance_interval=(0.25, 0.75), num_inference_steps=4, output_type="np")
    assert [b for b, _ in calls] == [2, 4, 4, 2]
    calls.clear()
    pipe(5, 5, guidance_scale=3.0, guidance_interval=(0.0, 0.5), num_inference_steps=5, output_type="np")
    assert [b for b, _ in calls] == [2, 2, 2, 1, 1]


@pytest.mark.parametrize("interval", [(0.5, 0.25), (-0.1, 1.0), (0.0, 1.5)])
def test_bad_guidance_interval(pipe, interval):
    with pytest.raises(ValueError, match="guidance_interval"):
        pipe(5, 5, guidance_interval=interval, num_inference_steps=2)


def test_unipc_runs_in_the_pipeline(pipe):
    pipe.scheduler = make_scheduler("unipc", pipe.scheduler.config)
    out = pipe(5, 5, num_inference_steps=3, output_type="np", generator=_gen()).images
    assert np.isfinite(out).all()


def test_the_shipped_pipeline_paints_128_pixel_pictures_and_checks_them():
    """assets/diffusion: the 128×128 model, its landscape checker (redraws on by default) and a picture."""
    from music2img.assets import DIFFUSION_MODEL_DIR

    shipped = load_pipeline(DIFFUSION_MODEL_DIR)
    assert shipped.unet.config.sample_size == 128 and shipped.landscape_checker is not None
    assert shipped.landscape_checker.config.threshold > 0
    shipped.set_progress_bar_config(disable=True)
    out = shipped(5.0, 5.0, num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="np")
    assert out.images.shape == (1, 128, 128, 3) and len(out.redraws) == 1
