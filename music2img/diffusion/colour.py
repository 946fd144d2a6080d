"""Colour and tone of a picture painted over scene layouts, held to the photos'.

**A colour ceiling.** Strong guidance paints more colour than photos hold (sunsets of twice a sunset photo's
colourfulness). A picture painted over scene layouts can be held to the colour of the photos of its emotion: where its
Hasler–Süsstrunk colourfulness exceeds ``ceiling`` times the colourfulness expected of the layouts drawn for its
emotion (:meth:`~music2img.diffusion.scene_layouts.SceneLayouts.expected_colourfulness`), every pixel is moved
towards its own luminance until it equals it. The two opponent channels the measure is made of (red–green,
yellow–blue) scale by the same factor, so the colourfulness falls exactly to the limit; the light (Rec. 601 luma), the
composition and the detail stay, and no channel leaves [0, 1].

**A lower black point.** The pictures' shadows are lifted: their black point (the 1st percentile of the darkest
channel) sits about 0.075 above the photos' at every quantile from the median to the 99th, a grey haze over the sad
half. :func:`lower_black_point` lowers it by a fixed amount, to no lower than 0, and stretches the levels linearly
so that white stays white: a hazy picture keeps more of its haze than a clear one keeps of its grey. It comes after
the ceiling, whose pull towards the luma lifts dark, tinted pixels; the stretch raises the colourfulness by its
contrast gain, ``(1 − b') / (1 − b)`` (1.0–1.1 for most pictures).

**A toe under the shadows.** Photos hold real black: 2.8 % of a landscape photo's pixels have a channel at 0, the
pictures' about 1 %, so they hold too few deep, saturated shadows. :func:`toe` darkens each picture's darkest pixels
until a given share of them is black on its darkest channel, and leaves every pixel brighter than twice that level
as it is; the pipeline sets the share from the photo whose layout the picture was painted over
(``SceneLayouts.black_shares``), so a hazy photo's picture keeps its haze and a dark forest's gets deep shadows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..image.features import colourfulness

#: Rec. 601 luma weights of R, G and B.
LUMA = (0.299, 0.587, 0.114)
#: The highest darkest-channel level :func:`toe` blackens up to. A sunset photo whose ground is a black silhouette (41 %
#: of its pixels) asked a picture over its layout for 83 % black, and the toe turned its sky brown; capped at 0.1 it
#: moves no pixel whose darkest channel is above 0.2 (the diffusion model card, "A toe under the shadows").
TOE_MAX_LEVEL = 0.1


def colourfulness_of(images: torch.Tensor) -> np.ndarray:
    """Hasler–Süsstrunk colourfulness of each of ``images`` (``(n, 3, h, w)`` in [0, 1])."""
    return np.array([colourfulness(x) for x in images.permute(0, 2, 3, 1).float().cpu().numpy()])


def limit_colourfulness(images: torch.Tensor, limits: Sequence[float]) -> torch.Tensor:
    """``images`` (``(n, 3, h, w)`` in [0, 1]) with each one's colourfulness lowered to its limit where above it:
    ``luma + s · (x − luma)`` with ``s = limit / colourfulness``; a picture within its limit is returned as it is."""
    limits = np.asarray(limits, dtype=np.float64)
    if images.ndim != 4 or images.shape[1] != 3 or len(limits) != len(images):
        raise ValueError(f"need (n, 3, h, w) images and n limits, got {tuple(images.shape)} and {len(limits)}")
    if not (np.isfinite(limits) & (limits >= 0)).all():
        raise ValueError(f"limits must be finite and ≥ 0, got {limits}")
    now = colourfulness_of(images)
    over = np.flatnonzero(now > limits)
    out = images.clone()
    if len(over):
        x = images[torch.as_tensor(over)]
        s = torch.as_tensor(limits[over] / now[over], dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
        luma = (x * torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
        out[torch.as_tensor(over)] = luma + s * (x - luma)
    return out


def black_point_of(images: torch.Tensor) -> torch.Tensor:
    """The black point of each of ``images`` (``(n, 3, h, w)`` in [0, 1]): the 1st percentile of its darkest
    channel, shape ``(n,)``."""
    return torch.quantile(images.float().amin(1).flatten(1), 0.01, dim=1)


def lower_black_point(images: torch.Tensor, drop: float) -> torch.Tensor:
    """``images`` (``(n, 3, h, w)`` in [0, 1]) with each one's black point ``b`` (:func:`black_point_of`) lowered to
    ``b' = max(b − drop, 0)``: ``b' + (x − b) · (1 − b') / (1 − b)``, clipped to [0, 1]; white stays white, hues stay,
    and the contrast grows by ``(1 − b') / (1 − b)``."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"need (n, 3, h, w) images, got {tuple(images.shape)}")
    if not (math.isfinite(drop) and 0.0 <= drop <= 1.0):
        raise ValueError(f"drop must be in [0, 1], got {drop}")
    black = black_point_of(images).to(images.dtype).clamp(max=0.99).view(-1, 1, 1, 1)
    lowered = (black - drop).clamp(min=0.0)
    return (lowered + (images - black) * (1 - lowered) / (1 - black)).clamp(0, 1)


def toe(images: torch.Tensor, shares: Sequence[float], max_level: float = TOE_MAX_LEVEL) -> torch.Tensor:
    """``images`` (``(n, 3, h, w)`` in [0, 1]) with a toe under each one's shadows: with ``lo`` the ``shares`` quantile
    of its darkest channel, but no higher than ``max_level``, a pixel whose darkest channel is ``t`` loses ``t`` from
    every channel up to ``lo``, ``2·lo − t`` up to ``2·lo``, and nothing above. That share of the picture becomes black
    on its darkest channel (its other channels' distance from it kept) where it lies in the shadows, the curve is
    continuous, nothing brighter than ``2·max_level`` moves, and a share of 0 leaves the picture as it is."""
    shares = np.asarray(shares, dtype=np.float64)
    if images.ndim != 4 or images.shape[1] != 3 or len(shares) != len(images):
        raise ValueError(f"need (n, 3, h, w) images and n shares, got {tuple(images.shape)} and {len(shares)}")
    if not (np.isfinite(shares) & (shares >= 0) & (shares <= 1)).all():
        raise ValueError(f"shares must be in [0, 1], got {shares}")
    if not (math.isfinite(max_level) and 0.0 <= max_level <= 1.0):
        raise ValueError(f"max_level must be in [0, 1], got {max_level}")
    t = images.amin(1, keepdim=True)
    lo = torch.stack([torch.quantile(ti.float().flatten(), float(q)) if q > 0 else ti.new_zeros(()).float()
                      for ti, q in zip(t, shares)]).clamp(max=max_level).to(images.dtype).view(-1, 1, 1, 1)  # fmt: skip
    return (images - torch.where(t <= lo, t, (2 * lo - t).clamp(min=0))).clamp(0, 1)
