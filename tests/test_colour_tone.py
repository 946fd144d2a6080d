"""benchmarks/colour_tone.py: its settings, and the levels stretch it screens."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from conftest import load_script


def test_settings_parse_with_or_without_a_black_share():
    bench = load_script("benchmarks/colour_tone.py")
    assert bench.setting("cl:1:0.075") == ("cl", 1.0, 0.075, 0.0)
    assert bench.setting("lc:0.8:0.075:0.03") == ("lc", 0.8, 0.075, 0.03)
    assert [str(bench.setting(t)) for t in ("cl:1:0.075", "cl:0.8:0:0.03")] == ["cl:1:0.075", "cl:0.8:0:0.03"]
    for bad in ("xy:1:0", "cl:1", "cl:1:0:0:0", "cl:1:0:1.5", "cl:a:0", "cl:1:0:t2"):
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
