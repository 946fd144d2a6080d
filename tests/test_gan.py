"""The GAN baseline's parts on tiny models: shapes, fade-in, ERU gating, gradient penalty, AFM loss, pipeline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from factories_diffusion import make_tiny_gan_pipeline, make_tiny_pipeline

from music2img.diffusion import evaluation as ev
from music2img.diffusion.gan import (
    EmotionalResidualUnit,
    EmotionGANPipeline,
    ProgressiveCritic,
    ProgressiveGenerator,
    affective_feature_matching,
    gradient_penalty,
    load_gan_pipeline,
)
from music2img.errors import EmotionRangeError, ModelFileError

TINY = {"resolution": 16, "channels": (8, 8, 4)}


@pytest.fixture
def models():
    torch.manual_seed(0)
    return ProgressiveGenerator(latent_dim=8, **TINY).eval(), ProgressiveCritic(emotion_dim=6, **TINY).eval()


def _inputs(b=4):
    g = torch.Generator().manual_seed(1)
    return torch.randn(b, 8, generator=g), torch.linspace(1, 9, b), torch.linspace(9, 1, b)


def test_every_stage_has_its_resolution(models):
    gen, critic = models
    z, v, a = _inputs()
    for level, size in enumerate((4, 8, 16)):
        for alpha in (0.0, 0.5, 1.0):
            x = gen(z, v, a, level, alpha)
            assert x.shape == (4, 3, size, size) and torch.isfinite(x).all()
            out = critic(x, alpha)
            assert out.score.shape == (4,) and out.va.shape == (4, 2) and out.features.shape == (4, 6)
    assert gen(z, v, a).shape[-1] == 16  # full resolution by default
    with pytest.raises(ValueError, match="level"):
        gen(z, v, a, 3)
    with pytest.raises(ValueError, match="alpha"):
        gen(z, v, a, 1, 1.5)
    with pytest.raises(ValueError, match="channel widths"):
        ProgressiveGenerator(resolution=32, channels=(8, 8))
    with pytest.raises(ValueError, match="power of two"):
        ProgressiveCritic(resolution=24, channels=(8, 8, 8))


def test_fade_in_blends_the_previous_stage(models):
    gen, critic = models
    z, v, a = _inputs()
    with torch.no_grad():
        old = F.interpolate(gen(z, v, a, 1, 1.0), scale_factor=2.0, mode="nearest")
        new = gen(z, v, a, 2, 1.0)
        assert torch.allclose(gen(z, v, a, 2, 0.0), old, atol=1e-6)
        assert torch.allclose(gen(z, v, a, 2, 0.25), 0.75 * old + 0.25 * new, atol=1e-5)
        assert not torch.allclose(old, new, atol=1e-3)
        # the critic at alpha 0 sees the image as the previous stage did
        x = torch.randn(4, 3, 16, 16)
        faded, before = critic(x, 0.0), critic(F.avg_pool2d(x, 2), 1.0)
        assert torch.allclose(faded.score, before.score, atol=1e-5) and torch.allclose(faded.va, before.va, atol=1e-5)
        assert not torch.allclose(critic(x, 1.0).score, before.score, atol=1e-3)


def test_emotional_residual_unit_gates_a_residual():
    eru = EmotionalResidualUnit(3)
    h = torch.randn(2, 3, 5, 5)
    va = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])  # valence +1 and -1 (normalised), arousal 0
    with torch.no_grad():
        eru.conv.weight.zero_()
        eru.conv.bias[:3] = 1.0  # value = 1 everywhere
        eru.conv.bias[3:] = -2.0  # gate = σ(-2)
        assert torch.allclose(eru(h, va), h + torch.sigmoid(torch.tensor(-2.0)), atol=1e-6)
        eru.conv.weight[3:, 3, 1, 1] = 4.0 / eru.conv.scale  # gate += 4 · valence map (centre tap of channel 3)
        out = eru(h, va)
    assert torch.allclose(out[0], h[0] + torch.sigmoid(torch.tensor(2.0)), atol=1e-6)
    assert torch.allclose(out[1], h[1] + torch.sigmoid(torch.tensor(-6.0)), atol=1e-6)


def test_generator_follows_the_emotion(models):
    gen, _ = models
    z = _inputs()[0][:1].repeat(2, 1)
    with torch.no_grad():
        x = gen(z, torch.tensor([2.0, 8.0]), torch.tensor([5.0, 5.0]))
    assert (x[0] - x[1]).abs().mean() > 1e-3  # same latent, different valence → different picture


def test_gradient_penalty_of_a_linear_critic():
    w = torch.zeros(1, 3, 4, 4)
    w[0, 0, 0, 0], w[0, 1, 2, 3] = 2.0, math.sqrt(5.0)  # ‖w‖ = 3: every gradient has norm 3

    def critic(x):
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(10 * (3 - 1) ** 2)
    assert gradient_penalty(critic, real, fake, weight=1.0).item() == pytest.approx(4.0)
    assert gradient_penalty(lambda x: critic(x) / 3, real, fake).item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_trains_the_critic(models):
    _, critic = models
    real, fake = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)
    gp = gradient_penalty(lambda x: critic(x).score, real, fake, generator=torch.Generator().manual_seed(0))
    gp.backward()
    assert gp.item() > 0 and critic.final_linear.weight.grad.abs().sum() > 0


def test_affective_feature_matching():
    f = torch.randn(4, 6)
    assert affective_feature_matching(f, f.clone()).item() == 0.0
    fake = (f + 0.5).requires_grad_(True)
    real = f.clone().requires_grad_(True)
    loss = affective_feature_matching(real, fake)
    assert loss.item() == pytest.approx(0.25)
    loss.backward()
    assert real.grad is None and fake.grad.abs().sum() > 0  # real pictures are the fixed target


def test_pipeline_round_trip(models, tmp_path):
    gen, _ = models
    pipe = EmotionGANPipeline(gan=gen.half())
    pipe.save_pretrained(tmp_path / "gan_pipe", safe_serialization=True)
    loaded = load_gan_pipeline(tmp_path / "gan_pipe")
    assert loaded.gan.dtype == torch.float32 and loaded.gan.config.resolution == 16
    gens = [torch.Generator().manual_seed(s) for s in (0, 0, 1)]
    images = loaded([2, 2, 2], [8, 8, 8], generator=gens, output_type="np").images
    assert images.shape == (3, 16, 16, 3) and images.min() >= 0 and images.max() <= 1
    assert np.array_equal(images[0], images[1]) and not np.array_equal(images[0], images[2])
    pil = loaded(5, 5, num_images_per_prompt=2).images
    assert len(pil) == 2 and pil[0].size == (16, 16)
    with pytest.raises(EmotionRangeError):
        loaded(0.5, 5)
    with pytest.raises(ModelFileError, match="no GAN pipeline"):
        load_gan_pipeline(tmp_path / "missing")


def test_the_evaluation_takes_a_gan(tmp_path):
    pipe = ev.load_generator(make_tiny_gan_pipeline(tmp_path / "gan_pipe"))
    assert isinstance(pipe, EmotionGANPipeline) and not ev.is_diffusion(pipe)
    assert ev.is_diffusion(ev.load_generator(make_tiny_pipeline(tmp_path / "diffusion")))
    first = ev.generate_grid(pipe, ev.grid_points(), [0, 1], steps=0, guidance=0, cache=tmp_path / "cache")
    again = ev.generate_grid(pipe, ev.grid_points(), [0, 1], steps=0, guidance=0, cache=tmp_path / "cache")
    assert first.images.shape == (2, 25, 16, 16, 3) and np.array_equal(first.images, again.images)
    assert first.seconds_per_image > 0 and np.isnan(again.seconds_per_image)  # the second run painted nothing
    assert ev.diversity_across_seeds(first) > 0
