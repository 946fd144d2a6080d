"""Guidance: plain CFG, guidance rescale, adaptive projected and low-pass guidance, alone and in the pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from factories_diffusion import make_tiny_unet, perturb_emotion

from music2img.diffusion.guidance import AdaptiveProjection, Guider, gaussian_blur, lowpass_weights
from music2img.diffusion.pipeline import EmotionLandscapePipeline
from music2img.diffusion.schedulers import make_scheduler, training_scheduler

ABAR = training_scheduler().alphas_cumprod


def _predictions(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn((2, 3, 8, 8), generator=g) for _ in range(3)]  # ε_c, ε_u, x_t


def _x0(x, eps, t):
    a = ABAR[t]
    return (x - (1 - a).sqrt() * eps) / a.sqrt()


def test_plain_guidance_is_the_cfg_formula():
    c, u, x = _predictions()
    assert torch.allclose(Guider(4.0)(c, u, x, 500), u + 4.0 * (c - u))


def test_projection_that_keeps_everything_is_plain_guidance():
    c, u, x = _predictions()
    keep_all = Guider(4.0, projection=AdaptiveProjection(eta=1.0), alphas_cumprod=ABAR)
    assert torch.allclose(keep_all(c, u, x, 500), u + 4.0 * (c - u), atol=1e-4)


def test_projection_drops_the_update_parallel_to_the_conditional_estimate():
    c, u, x = _predictions(1)
    t = 300
    guided = Guider(5.0, projection=AdaptiveProjection(eta=0.0), alphas_cumprod=ABAR)(c, u, x, t)
    x0_c, x0_u, x0 = _x0(x, c, t), _x0(x, u, t), _x0(x, guided, t)
    update = (x0 - x0_u).flatten(1)
    cosine = torch.nn.functional.cosine_similarity(update.double(), x0_c.flatten(1).double(), dim=1)
    assert cosine.abs().max() < 1e-4
    # and the orthogonal part is kept: the update is not zero
    assert update.norm(dim=1).min() > 0.1 * (x0_c - x0_u).flatten(1).norm(dim=1).min()


def test_norm_threshold_caps_the_update_and_momentum_carries_over_steps():
    c, u, x = _predictions(2)
    capped = Guider(1.0, projection=AdaptiveProjection(eta=1.0, norm_threshold=0.5), alphas_cumprod=ABAR)
    x0 = _x0(x, capped(c, u, x, 400), 400)
    assert torch.allclose(
        (x0 - _x0(x, u, 400)).flatten(1).norm(dim=1), torch.full((2,), 0.5, dtype=x0.dtype), atol=1e-3
    )
    moving = Guider(3.0, projection=AdaptiveProjection(eta=1.0, momentum=-0.5), alphas_cumprod=ABAR)
    first = moving(c, u, x, 400)
    assert torch.allclose(first, u + 3.0 * (c - u), atol=1e-4)  # nothing to average yet
    assert not torch.allclose(moving(c, u, x, 400), first, atol=1e-3)  # the same step again now differs


def test_rescale_matches_the_conditional_spread():
    c, u, x = _predictions(3)
    out = Guider(9.0, rescale=1.0)(c, u, x, 500)
    assert torch.allclose(out.std(dim=(1, 2, 3)), c.std(dim=(1, 2, 3)), rtol=1e-4)
    assert not torch.allclose(Guider(9.0, rescale=0.5)(c, u, x, 500), out)


def test_gaussian_blur_keeps_smooth_fields_and_removes_fine_texture():
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    ramp = (y / 31).expand(2, 3, 32, 32)
    assert torch.allclose(gaussian_blur(torch.full((1, 3, 32, 32), 0.7), 4.0), torch.full((1, 3, 32, 32), 0.7))
    assert torch.allclose(gaussian_blur(ramp, 2.0)[..., 8:24, :], ramp[..., 8:24, :], atol=1e-5)  # linear inside
    stripes = ((x % 4) < 2).float().expand(1, 3, 32, 32) * 2 - 1  # vertical stripes 2 px wide, like trunks
    blurred = gaussian_blur(stripes, 4.0).abs()
    assert blurred[..., 12:20].max() < 0.01 and blurred.max() < 0.15  # the reflected edges keep a trace
    # wider than the picture: the kernel is cut at the side, nothing fails
    assert gaussian_blur(ramp[..., :8, :8], 40.0).shape == (2, 3, 8, 8)


def test_lowpass_guidance_applies_only_the_updates_low_frequencies():
    c, u, x = _predictions(4)
    guided = Guider(9.0, lowpass=2.0)(c, u, x, 500)
    assert torch.allclose(guided, c + 8.0 * gaussian_blur(c - u, 2.0), atol=1e-5)
    # fine stripes in the update are the conditional prediction's, not amplified
    stripes = (torch.arange(8.0) % 2).expand(2, 3, 8, 8) * 2 - 1
    assert torch.allclose(Guider(9.0, lowpass=3.0)(u + stripes, u, x, 500), u + stripes, atol=0.05)
    # a uniform update (a colour shift) passes whole
    assert torch.allclose(Guider(9.0, lowpass=3.0)(u + 0.1, u, x, 500), u + 0.9, atol=1e-5)


def test_lowpass_weights_ramp_down_over_the_valence_span():
    assert lowpass_weights([1.0, 3.5, 4.25, 5.0, 9.0], (3.5, 5.0)).tolist() == [1.0, 1.0, 0.5, 0.0, 0.0]
    assert lowpass_weights([2.0, 8.0], None).tolist() == [1.0, 1.0]
    assert lowpass_weights([4.0, 4.5], (4.0, 4.0)).tolist() == [1.0, 0.0]
    for span in [(5.0, 3.5), (float("nan"), 5.0)]:
        with pytest.raises(ValueError, match="guidance_lowpass_valence"):
            lowpass_weights([5.0], span)


def test_lowpass_weight_blends_per_picture():
    c, u, x = _predictions(5)
    plain, low = Guider(9.0)(c, u, x, 500), Guider(9.0, lowpass=2.0)(c, u, x, 500)
    mixed = Guider(9.0, lowpass=2.0, lowpass_weight=torch.tensor([0.0, 0.5]))(c, u, x, 500)
    assert torch.allclose(mixed[0], plain[0], atol=1e-5)
    assert torch.allclose(mixed[1], (plain[1] + low[1]) / 2, atol=1e-5)


@pytest.mark.parametrize("lowpass", [-1.0, float("inf"), float("nan")])
def test_bad_lowpass_is_refused(lowpass):
    with pytest.raises(ValueError, match="guidance_lowpass"):
        Guider(3.0, lowpass=lowpass)


@pytest.mark.parametrize("kwargs", [dict(eta=1.5), dict(norm_threshold=-1.0), dict(momentum=1.0)])
def test_bad_projection_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        AdaptiveProjection(**kwargs)


def test_bad_rescale_is_refused():
    with pytest.raises(ValueError, match="guidance_rescale"):
        Guider(3.0, rescale=1.5)


def test_pipeline_paints_with_each_guidance():
    unet = make_tiny_unet()
    perturb_emotion(unet)  # the emotion moves the pictures, as after training
    pipe = EmotionLandscapePipeline(unet=unet, scheduler=make_scheduler("unipc", training_scheduler().config))
    pipe.set_progress_bar_config(disable=True)

    def run(**kw):
        return pipe(
            3.0,
            7.0,
            guidance_scale=6.0,
            num_inference_steps=4,
            output_type="np",
            generator=torch.Generator().manual_seed(0),
            **{"guidance_lowpass": 0.0, **kw},
        ).images

    plain = run(guidance_rescale=0.0, guidance_projection=None)
    assert np.allclose(run(guidance_rescale=0.0, guidance_projection=AdaptiveProjection(eta=1.0)), plain, atol=1e-4)
    for kw in (
        dict(guidance_rescale=0.7, guidance_projection=None),
        dict(guidance_rescale=0.0, guidance_projection=AdaptiveProjection(eta=0.0, momentum=-0.5)),
        dict(guidance_rescale=0.0, guidance_projection=None, guidance_lowpass=2.0, guidance_lowpass_valence=None),
    ):
        other = run(**kw)
        assert other.shape == plain.shape and np.isfinite(other).all() and not np.allclose(other, plain, atol=1e-3)
    # the low-pass spares pictures of valence above its span (this one asks for 3.0)
    spared = run(guidance_rescale=0.0, guidance_projection=None, guidance_lowpass=2.0, guidance_lowpass_valence=(1, 2))
    assert np.allclose(spared, plain, atol=1e-4)
