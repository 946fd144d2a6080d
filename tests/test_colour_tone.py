"""benchmarks/colour_tone.py: its settings, and the levels stretch and the toe it screens."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from conftest import load_script
from PIL import Image

from music2img.diffusion.scene_layouts import SceneLayouts


def test_settings_parse_with_a_black_share_or_a_toe():
    bench = load_script("benchmarks/colour_tone.py")
    assert bench.setting("cl:1:0.075") == ("cl", 1.0, 0.075, 0.0, 0.0)
    assert bench.setting("lc:0.8:0.075:0.03") == ("lc", 0.8, 0.075, 0.03, 0.0)
    assert bench.setting("cl:1:0.075:t2") == ("cl", 1.0, 0.075, 0.0, 2.0)
    assert [str(bench.setting(t)) for t in ("cl:1:0.075", "cl:0.8:0:0.03", "cl:1:0.075:t2")] == [
        "cl:1:0.075",
        "cl:0.8:0:0.03",
        "cl:1:0.075:t2",
    ]
    for bad in ("xy:1:0", "cl:1", "cl:1:0:0:0", "cl:1:0:1.5", "cl:1:0:t-1", "cl:a:0", "cl:1:0:tx"):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.setting(bad)


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


def test_the_toe_blackens_each_pictures_share_and_leaves_the_rest():
    """At shares 2 % and 5 %: that share of each picture has its darkest channel at 0, and no pixel whose darkest
    channel lies above twice the share's level moves; the darkest channels stay in order."""
    bench = load_script("benchmarks/colour_tone.py")
    images = _images()
    out = bench.apply(images, np.ones(2), bench.setting("cl:0:0:t1"), black_shares=np.array([0.02, 0.05]))
    t, t_out = images.amin(1).reshape(2, -1), out.amin(1).reshape(2, -1)
    assert torch.allclose((t_out == 0).float().mean(1), torch.tensor([0.02, 0.05]), atol=0.002)
    for i, share in enumerate((0.02, 0.05)):
        lo = torch.quantile(t[i], share)
        above = (images[i].amin(0) > 2 * lo).flatten()
        assert torch.equal(out[i].reshape(3, -1)[:, above], images[i].reshape(3, -1)[:, above])
        assert (torch.diff(t_out[i][torch.argsort(t[i])]) >= -1e-6).all()


def test_layouts_are_matched_to_their_photos_black_shares(tmp_path):
    """Three photos, two made into layouts: each layout gets its own photo's share of pixels with a channel at 0,
    the photo that made none is ignored."""
    bench = load_script("benchmarks/colour_tone.py")
    rng = np.random.default_rng(0)
    photos = rng.integers(1, 256, (3, 128, 128, 3)).astype(np.uint8)
    photos[0, :16, :, 0] = 0  # 1/8 of its pixels have a red channel at 0
    photos[1, :32, :32] = 0  # 1/16 black
    files = []
    for i, photo in enumerate(photos):
        Image.fromarray(photo).save(tmp_path / f"{i}.png")
        files.append(tmp_path / f"{i}.png")
    layouts = SceneLayouts.from_photos(torch.from_numpy(photos[:2]).permute(0, 3, 1, 2).contiguous(), [[3, 3], [7, 7]])
    assert np.allclose(bench.layout_black_shares(layouts, files), [1 / 8, 1 / 16])
    assert np.isnan(bench.layout_black_shares(layouts, files[2:])).all()
