"""benchmarks/colour_tone.py: its settings, and the levels stretch it screens."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from conftest import load_script


def test_settings_parse_with_a_black_share_or_a_toe():
    bench = load_script("benchmarks/colour_tone.py")
    cap = bench.TOE_MAX_LEVEL
    assert bench.setting("cl:1:0.075") == ("cl", 1.0, 0.075, 0.0, 0.0, cap)
    assert bench.setting("lc:0.8:0.075:0.03") == ("lc", 0.8, 0.075, 0.03, 0.0, cap)
    assert bench.setting("cl:1:0.075:t2") == ("cl", 1.0, 0.075, 0.0, 2.0, cap)
    assert bench.setting("cl:1:0.075:t2:1") == ("cl", 1.0, 0.075, 0.0, 2.0, 1.0)
    texts = ("cl:1:0.075", "cl:0.8:0:0.03", "cl:1:0.075:t2", "cl:1:0.075:t2:1")
    assert [str(bench.setting(t)) for t in texts] == list(texts)
    for bad in ("xy:1:0", "cl:1", "cl:1:0:0:0", "cl:1:0:1.5", "cl:a:0", "cl:1:0:t0", "cl:1:0:tx", "cl:1:0:t2:2"):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.setting(bad)


def test_each_picture_is_matched_to_the_layout_it_was_painted_over_and_toed_by_its_photo():
    """Three flat layouts of one emotion, photos 0 %, 10 % and 30 % black; pictures near each layout's grey (noise
    added) find their own, and the toe setting blackens twice its photo's share, as the pipeline's toe does."""
    from music2img.diffusion.colour import toe
    from music2img.diffusion.scene_layouts import SceneLayouts

    bench = load_script("benchmarks/colour_tone.py")
    levels = [40, 120, 200]
    photos = torch.tensor(levels, dtype=torch.uint8).view(3, 1, 1, 1).expand(3, 3, 16, 16).contiguous()
    layouts = SceneLayouts.from_photos(photos, np.full((3, 2), 5.0), side=4, neighbours=3)
    layouts.set_black_shares([0.0, 0.1, 0.3])
    noise = 0.05 * torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    pictures = (torch.tensor([200, 40, 120, 40]).view(4, 1, 1, 1) / 255 + noise).clamp(0, 1)
    found = layouts.painted_over(pictures, [5.0] * 4, [5.0] * 4)
    assert found == [2, 0, 1, 0]
    shares = layouts.black_shares[found].numpy()
    out = bench.apply(pictures, np.ones(4), bench.setting("cl:0:0:t2:1"), shares)
    assert torch.allclose(out, toe(pictures, 2 * shares, max_level=1.0))
    assert torch.allclose((out.amin(1) == 0).float().mean((1, 2)), torch.tensor([0.6, 0.0, 0.2, 0.0]), atol=0.01)


def _images() -> torch.Tensor:
    return 0.2 + 0.5 * torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_levels_set_the_darkest_share_to_black_and_the_brightest_pixel_to_white():
    """Pictures in [0.2, 0.7]: after the stretch about 3 % of each one's pixels are black, its brightest is white,
    the order of pixels kept; with no black share the pictures pass unchanged."""
    bench = load_script("benchmarks/colour_tone.py")
    images = _images()
    out = bench.apply(images, np.ones(2), bench.setting("cl:0:0:0.03"))
    darkest = out.amin(1).reshape(2, -1)
    assert torch.allclose((darkest == 0).float().mean(1), torch.full((2,), 0.03), atol=0.002)
    assert torch.allclose(out.reshape(2, -1).amax(1), torch.ones(2))
    flat_in, flat_out = images[0, 0].flatten(), out[0, 0].flatten()
    lit = flat_out > 0
    assert torch.equal(torch.argsort(flat_in[lit]), torch.argsort(flat_out[lit]))
    assert torch.equal(bench.apply(images, np.ones(2), bench.setting("cl:0:0")), images)
