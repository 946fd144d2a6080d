"""The colour ceiling (pictures more colourful than their layouts' photos are desaturated to a limit), the lower
black point and the shadow toe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from factories_diffusion import make_tiny_unet

from music2img.diffusion.colour import LUMA, black_point_of, limit_colourfulness, lower_black_point, toe
from music2img.diffusion.pipeline import EmotionLandscapePipeline
from music2img.diffusion.scene_layouts import SceneLayouts
from music2img.diffusion.schedulers import make_scheduler, training_scheduler
from music2img.image.features import colourfulness


def _colourful(images: torch.Tensor) -> np.ndarray:
    return np.array([colourfulness(x) for x in images.permute(0, 2, 3, 1).numpy()])


def _luma(images: torch.Tensor) -> torch.Tensor:
    return (images * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1)


def test_a_picture_above_its_limit_falls_to_it_keeping_its_light_and_range():
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    before = _colourful(images)
    limits = [before[0] / 2, before[1] * 2, 0.0]
    out = limit_colourfulness(images, limits)
    after = _colourful(out)
    assert after[0] == pytest.approx(limits[0], rel=1e-4)  # lowered exactly to the limit
    assert torch.equal(out[1], images[1])  # within its limit: untouched
    assert after[2] == pytest.approx(0.0, abs=1e-3)  # limit 0: grey
    assert torch.allclose(_luma(out), _luma(images), atol=1e-5)
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize(
    ("shape", "limits", "match"),
    [((2, 3, 8, 8), [1.0], "n limits"), ((2, 1, 8, 8), [1.0, 1.0], "n limits"), ((1, 3, 8, 8), [-1.0], "limits")],
)
def test_bad_limits_are_refused(shape, limits, match):
    with pytest.raises(ValueError, match=match):
        limit_colourfulness(torch.rand(shape), limits)


def _layouts(weights: list[float]) -> SceneLayouts:
    photos = torch.zeros(3, 3, 16, 16, dtype=torch.uint8)
    photos[0] = 128  # grey
    photos[1, 0, :8], photos[1, 2, 8:] = 200, 200  # red over blue
    photos[2, 1] = 180  # all green
    layouts = SceneLayouts.from_photos(photos, [[5, 5]] * 3, side=4, neighbours=3)
    layouts.set_weights(weights)
    return layouts


def test_the_reference_is_the_drawn_layouts_colourfulness_expected_over_their_weights():
    each = [
        _layouts([1.0 * (i == k) + 1e-9 for i in range(3)]).expected_colourfulness([5], [5], 16)[0] for k in range(3)
    ]
    assert each[0] == pytest.approx(0.0, abs=1e-3) and each[1] > each[2] > 10
    both = _layouts([0, 1, 3]).expected_colourfulness([5], [5], 16)[0]
    assert both == pytest.approx((each[1] + 3 * each[2]) / 4, rel=1e-3)


def test_a_reference_nothing_can_be_drawn_for_is_zero():
    assert _layouts([0, 0, 0]).expected_colourfulness([5, 5], [5, 5], 16).tolist() == [0.0, 0.0]


def _paint(ceiling: float | None, strength: float = 0.5) -> np.ndarray:
    pipe = EmotionLandscapePipeline(
        unet=make_tiny_unet(),
        scheduler=make_scheduler("unipc", training_scheduler().config),
        layouts=_layouts([0, 1, 1]),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe(
        [5.0, 5.0], [5.0, 5.0], num_inference_steps=4, generator=[torch.Generator().manual_seed(s) for s in (0, 1)],
        output_type="np", layout_strength=strength, colour_ceiling=ceiling,
    ).images  # fmt: skip


def test_the_pipeline_holds_pictures_painted_over_layouts_to_their_ceiling():
    free, held = _paint(None), _paint(0.25)
    limit = 0.25 * _layouts([0, 1, 1]).expected_colourfulness([5], [5], free.shape[1])[0]
    assert min(colourfulness(x) for x in free) > 1.2 * limit  # the tiny model paints above it
    assert max(colourfulness(x) for x in held) == pytest.approx(limit, rel=0.05)  # quantised to 8 bits
    assert np.array_equal(_paint(None, 1.0), _paint(0.25, 1.0))  # from noise alone: no layout, no ceiling
    with pytest.raises(ValueError, match="colour_ceiling"):
        _paint(0.0)


def test_without_the_pipelines_layouts_a_given_layout_is_the_reference():
    scheduler = make_scheduler("unipc", training_scheduler().config)
    pipe = EmotionLandscapePipeline(unet=make_tiny_unet(), scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    grey = torch.zeros(2, 3, 4, 4)  # colourfulness 0: the pictures painted over it are greyed

    def paint(ceiling):
        return pipe(
            [5.0, 5.0], [5.0, 5.0], num_inference_steps=4, generator=[torch.Generator().manual_seed(s) for s in (0, 1)],
            output_type="np", layout_strength=0.5, layout=grey, colour_ceiling=ceiling,
        ).images  # fmt: skip

    assert min(colourfulness(x) for x in paint(None)) > 5 and max(colourfulness(x) for x in paint(1.0)) < 1


def _hazy(n: int = 3) -> torch.Tensor:
    """Pictures whose darkest channel never falls below 0.05, 0.2, 0.4, … and that hold pure white."""
    images = torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    floors = torch.tensor([0.05, 0.2, 0.4][:n]).view(-1, 1, 1, 1)
    images = floors + (1 - floors) * images
    images[:, :, 0, 0] = 1.0
    return images


def test_the_black_point_falls_by_the_drop_to_no_lower_than_zero_white_and_hues_kept():
    images = _hazy()
    before = black_point_of(images)
    assert torch.all(before > torch.tensor([0.05, 0.2, 0.4]))
    out = lower_black_point(images, 0.1)
    assert torch.allclose(black_point_of(out), (before - 0.1).clamp(min=0), atol=1e-3)
    assert torch.allclose(out[:, :, 0, 0], torch.ones(3, 3))  # white stays white
    # one linear map per picture: the channels' differences all grow by the same factor
    gain = (out[:, 0] - out[:, 1]) / (images[:, 0] - images[:, 1])
    expected = (1 - (before - 0.1).clamp(min=0)) / (1 - before)
    assert torch.allclose(gain.flatten(1).nanmedian(1).values, expected, rtol=1e-4)
    assert torch.allclose(lower_black_point(images, 0.0), images, atol=1e-6)
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize(
    ("shape", "drop", "match"),
    [
        ((2, 1, 8, 8), 0.1, "images"),
        ((1, 3, 8, 8), -0.1, "drop"),
        ((1, 3, 8, 8), 1.5, "drop"),
        ((1, 3, 8, 8), float("nan"), "drop"),
    ],
)
def test_bad_drops_are_refused(shape, drop, match):
    with pytest.raises(ValueError, match=match):
        lower_black_point(torch.rand(shape), drop)


def test_the_pipeline_lowers_the_black_point_of_pictures_painted_over_layouts_only():
    pipe = EmotionLandscapePipeline(
        unet=make_tiny_unet(), scheduler=make_scheduler("unipc", training_scheduler().config)
    )
    pipe.set_progress_bar_config(disable=True)

    def black_point(drop: float | None, strength: float = 0.25) -> torch.Tensor:
        return black_point_of(
            pipe(
                [5.0, 5.0], [5.0, 5.0], num_inference_steps=4,
                generator=[torch.Generator().manual_seed(s) for s in (0, 1)], output_type="pt",
                layout_strength=strength, layout=torch.full((2, 3, 4, 4), 0.5), colour_ceiling=None,
                black_point_drop=drop,
            ).images
        )  # fmt: skip

    before = black_point(None)
    assert torch.all(before > 0.05)  # the last step over a light grey layout leaves lifted shadows to lower
    assert torch.allclose(black_point(0.05), before - 0.05, atol=1e-4)
    assert torch.equal(black_point(None, 1.0), black_point(0.05, 1.0))  # from noise alone: as painted
    for bad in (-0.1, 2.0):
        with pytest.raises(ValueError, match="black_point_drop"):
            black_point(bad)


def test_the_black_point_is_lowered_after_the_ceiling_which_would_lift_it_again():
    pipe = EmotionLandscapePipeline(
        unet=make_tiny_unet(), scheduler=make_scheduler("unipc", training_scheduler().config)
    )
    pipe.set_progress_bar_config(disable=True)
    layout = torch.zeros(2, 3, 4, 4)
    layout[:, 0], layout[:, 1], layout[:, 2] = 0.8, 0.2, 0.5  # a reddish layout: its own colour is the reference

    def black_point(ceiling: float | None, drop: float | None) -> torch.Tensor:
        return black_point_of(
            pipe(
                [5.0, 5.0], [5.0, 5.0], num_inference_steps=4,
                generator=[torch.Generator().manual_seed(s) for s in (0, 1)], output_type="pt",
                layout_strength=0.25, layout=layout, colour_ceiling=ceiling, black_point_drop=drop,
            ).images
        )  # fmt: skip

    greyed = black_point(0.3, None)
    assert torch.all(greyed > black_point(None, None) + 0.1)  # the pull towards the luma lifts the shadows
    assert torch.allclose(black_point(0.3, 0.05), greyed - 0.05, atol=1e-4)  # lowered from where the ceiling left it


def _lifted() -> torch.Tensor:
    return 0.2 + 0.5 * torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_the_toe_blackens_each_pictures_share_and_leaves_the_rest():
    """At shares 2 % and 5 %, uncapped: that share of each picture has its darkest channel at 0, no pixel whose darkest
    channel lies above twice the share's level moves, the darkest channels stay in order; a share of 0 changes
    nothing."""
    images = _lifted()
    out = toe(images, [0.02, 0.05], max_level=1.0)
    t, t_out = images.amin(1).reshape(2, -1), out.amin(1).reshape(2, -1)
    assert torch.allclose((t_out == 0).float().mean(1), torch.tensor([0.02, 0.05]), atol=0.002)
    for i, share in enumerate((0.02, 0.05)):
        lo = torch.quantile(t[i], share)
        above = (images[i].amin(0) > 2 * lo).flatten()
        assert 0.1 < above.float().mean() < 0.9  # some pixels move, some do not
        assert torch.equal(out[i].reshape(3, -1)[:, above], images[i].reshape(3, -1)[:, above])
        assert (torch.diff(t_out[i][torch.argsort(t[i])]) >= -1e-6).all()
    # every channel loses the same: the distances between a pixel's channels stay
    assert torch.allclose(out[0] - out[0].amin(0), images[0] - images[0].amin(0), atol=1e-6)
    assert torch.equal(toe(images, [0.0, 0.0], max_level=1.0), images)


def test_the_toe_moves_nothing_above_twice_its_highest_level():
    """Asked for 60 % black, the toe blackens only pixels whose darkest channel is at most ``max_level``, moves none
    above twice that, and without a cap blackens the 60 %."""
    images = _lifted()
    t = images.amin(1)
    capped = toe(images, [0.6, 0.6], max_level=0.25)
    assert torch.equal((capped.amin(1) == 0), t <= 0.25)
    above = (t > 0.5)[:, None].expand_as(images)
    assert above.any() and torch.equal(capped[above], images[above])
    assert torch.allclose(
        (toe(images, [0.6, 0.6], max_level=1.0).amin(1) == 0).float().mean((1, 2)), torch.tensor(0.6), atol=0.01
    )


@pytest.mark.parametrize(
    ("shape", "shares", "match"),
    [((2, 3, 8, 8), [0.1], "shares"), ((2, 1, 8, 8), [0.1, 0.1], "images"), ((1, 3, 8, 8), [-0.1], "shares"),
     ((1, 3, 8, 8), [1.5], "shares"), ((1, 3, 8, 8), [float("nan")], "shares")],
)  # fmt: skip
def test_bad_shares_are_refused(shape, shares, match):
    with pytest.raises(ValueError, match=match):
        toe(torch.rand(shape), shares)
    with pytest.raises(ValueError, match="max_level"):
        toe(torch.rand(1, 3, 8, 8), [0.1], max_level=-0.1)


def _toe_pipe(shares: list[float]) -> EmotionLandscapePipeline:
    layouts = _layouts([0, 1, 3])
    layouts.set_black_shares(shares)
    pipe = EmotionLandscapePipeline(
        unet=make_tiny_unet(), scheduler=make_scheduler("unipc", training_scheduler().config), layouts=layouts
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _toed(pipe: EmotionLandscapePipeline, shadow_toe: float | None, strength: float = 0.5):
    return pipe(
        [5.0, 5.0, 5.0], [5.0, 5.0, 5.0], num_inference_steps=4, output_type="pt", layout_strength=strength,
        generator=[torch.Generator().manual_seed(s) for s in (0, 1, 2)], colour_ceiling=None, black_point_drop=None,
        shadow_toe=shadow_toe,
    )  # fmt: skip


def test_the_pipeline_toes_each_picture_by_the_black_share_of_its_layouts_photo():
    """Layouts whose photos were 0 %, 4 % and 8 % black: each picture gets the toe at twice its own layout's share,
    exactly as :func:`toe` gives it; without the toe, with layouts saved before the shares were kept, or from noise,
    none."""
    pipe = _toe_pipe([0.0, 0.04, 0.08])
    plain, toed = _toed(pipe, None), _toed(pipe, 2.0)
    assert plain.layouts == toed.layouts and len(set(toed.layouts)) > 1
    shares = [2 * [0.0, 0.04, 0.08][i] for i in toed.layouts]
    assert torch.allclose(toed.images, toe(plain.images, shares), atol=1e-6)
    black = (toed.images.amin(1) == 0).float().mean((1, 2))
    assert all(b >= s - 0.01 for b, s in zip(black.tolist(), shares))
    assert torch.equal(_toed(_toe_pipe([0.0, 0.0, 0.0]), 2.0).images, plain.images)
    assert torch.equal(_toed(pipe, 2.0, strength=1.0).images, _toed(pipe, None, strength=1.0).images)
    with pytest.raises(ValueError, match="shadow_toe"):
        _toed(pipe, -1.0)
