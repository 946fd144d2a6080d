"""How the conditional and "no emotion" noise predictions become one: classifier-free guidance, two known
remedies for the over-saturated colours that strong guidance paints, and guidance of the low frequencies only.

* **Guidance rescale** (Lin et al., 2023, §3.4): the guided prediction's standard deviation is pulled back
  towards the conditional one's by ``rescale`` (diffusers' :func:`rescale_noise_cfg`).
* **Adaptive projected guidance** (APG; Sadat et al., 2024): the guidance update is split into the part
  parallel to the conditional prediction (which mostly raises saturation) and the part orthogonal to it
  (which carries the condition); only ``eta`` of the parallel part is kept, the update's norm is capped at
  ``norm_threshold`` and updates are averaged with negative ``momentum`` over the steps. As in the paper it
  acts on the denoised estimate x̂₀ (diffusers' :func:`normalized_guidance` does the projection).
* **Low-pass guidance**: guidance pushes only the low spatial frequencies beyond the conditional prediction,
  ``ε = ε_c + (s − 1) · G_σ(ε_c − ε_u)`` with ``G_σ`` a Gaussian blur of ``lowpass`` = σ pixels; the detail is
  the conditional prediction's, not amplified ``s`` times. Frequency-decoupled guidance (Sadat et al., 2025)
  scales the frequency bands separately; this is its two-band case with the high band's scale 1. Here the
  emotion's light and colour lie in the low frequencies, and the textures strong guidance paints for an emotion
  (walls of tree trunks at low valence and arousal) in the high ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch and diffusers load on first use, so that the defaults stay cheap to import
    import torch


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x`` (``(n, c, h, w)``) blurred by a Gaussian of ``sigma`` pixels, edges reflected; the kernel reaches
    3 σ, or one pixel less than the shorter side."""
    import torch

    radius = max(1, min(int(3 * sigma), *(d - 1 for d in x.shape[-2:])))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32, device=x.device)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).to(x.dtype)
    c = x.shape[1]
    out = torch.nn.functional.pad(x, (radius, radius, radius, radius), mode="reflect")
    out = torch.nn.functional.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return torch.nn.functional.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def lowpass_weights(valence: Sequence[float], span: tuple[float, float] | None) -> np.ndarray:
    """How much of the low-pass each picture gets by its valence: 1 at ``span[0]`` and below, 0 at ``span[1]`` and
    above, linear between; ``span`` ``None``: 1 for every picture."""
    valence = np.asarray(valence, dtype=np.float64)
    if span is None:
        return np.ones_like(valence)
    low, high = span
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        raise ValueError(f"guidance_lowpass_valence must be (low, high) with low ≤ high, got {span}")
    if low == high:
        return (valence <= low).astype(np.float64)
    return np.clip((high - valence) / (high - low), 0.0, 1.0)


@dataclass(frozen=True)
class AdaptiveProjection:
    """Settings of adaptive projected guidance (the paper's η, r and β)."""

    eta: float = 0.0
    norm_threshold: float = 0.0
    momentum: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"eta must lie in [0, 1], got {self.eta}")
        if self.norm_threshold < 0:
            raise ValueError(f"norm_threshold must be ≥ 0 (0: no cap), got {self.norm_threshold}")
        if not -1.0 < self.momentum < 1.0:
            raise ValueError(f"momentum must lie in (-1, 1), got {self.momentum}")


class Guider:
    """Combines the two predictions of one sampling run (keeps APG's running average between steps).

    Args:
        scale: Guidance scale ``s`` (``ε = ε_u + s (ε_c − ε_u)`` for plain guidance).
        rescale: Guidance rescale φ in [0, 1] (0: off).
        projection: :class:`AdaptiveProjection` settings, or ``None`` for plain guidance.
        alphas_cumprod: The schedule's ᾱ, to move between noise and x̂₀; without it APG acts on the noise
            predictions directly.
        lowpass: σ in pixels of the Gaussian low-pass the guided prediction's departure from the conditional one
            goes through (0: off), after plain or projected guidance.
        lowpass_weight: Per picture, how much of the low-pass applies (``(n,)`` in [0, 1], e.g. from
            :func:`lowpass_weights`; 0 keeps the picture's guidance whole); ``None``: all of it for every picture.
    """

    def __init__(
        self,
        scale: float,
        rescale: float = 0.0,
        projection: AdaptiveProjection | None = None,
        alphas_cumprod: torch.Tensor | None = None,
        lowpass: float = 0.0,
        lowpass_weight: torch.Tensor | None = None,
    ):
        if not 0.0 <= rescale <= 1.0:
            raise ValueError(f"guidance_rescale must lie in [0, 1], got {rescale}")
        if not 0.0 <= lowpass < float("inf"):
            raise ValueError(f"guidance_lowpass must be a width in pixels ≥ 0 (0: off), got {lowpass}")
        from diffusers.guiders.adaptive_projected_guidance import MomentumBuffer

        self.scale, self.rescale, self.projection = scale, rescale, projection
        self.alphas_cumprod = alphas_cumprod
        self.lowpass, self.lowpass_weight = lowpass, lowpass_weight
        self.momentum = MomentumBuffer(projection.momentum) if projection and projection.momentum else None

    def __call__(
        self, eps_cond: torch.Tensor, eps_uncond: torch.Tensor, sample: torch.Tensor, timestep: torch.Tensor | int
    ) -> torch.Tensor:
        """The guided noise prediction at ``sample`` (x_t) and ``timestep``."""
        import torch
        from diffusers.guiders.guider_utils import rescale_noise_cfg

        if self.projection is None:
            eps = eps_uncond + self.scale * (eps_cond - eps_uncond)
        elif self.alphas_cumprod is None:
            eps = self._project(eps_cond, eps_uncond)
        else:
            abar = self.alphas_cumprod[int(timestep)].to(sample.device, torch.float32)
            a, b = abar.sqrt(), (1 - abar).sqrt()
            x0 = self._project((sample - b * eps_cond) / a, (sample - b * eps_uncond) / a)
            eps = (sample - a * x0) / b
        if self.lowpass > 0:
            update = eps - eps_cond
            low = gaussian_blur(update, self.lowpass)
            w = 1.0 if self.lowpass_weight is None else self.lowpass_weight.to(eps).view(-1, 1, 1, 1)
            eps = eps_cond + update + w * (low - update)
        if self.rescale > 0:
            eps = rescale_noise_cfg(eps, eps_cond, self.rescale)
        return eps

    def _project(self, cond: torch.Tensor, uncond: torch.Tensor) -> torch.Tensor:
        from diffusers.guiders.adaptive_projected_guidance import normalized_guidance

        p = self.projection
        return normalized_guidance(cond, uncond, self.scale, self.momentum, p.eta, p.norm_threshold)
