"""``Upscaler``: a pretrained super-resolution network that paints the 128-px pictures at 512 px.

The networks are idealo's Residual Dense Network (RDN, Zhang et al. 2018) and its residual-in-residual
variant (RRDN, as in ESRGAN), trained on DIV2K and published as TensorFlow.js Keras layers models in
the npm packages ``@upscalerjs/esrgan-slim`` / ``-medium`` / ``-thick`` (MIT). ``train/convert_upscaler.py``
converts them once; the convolutions keep the Keras layer names (``F_1_1``, ``LFF_1``, ``GFF_2``, …).
:class:`~music2img.diffusion.pipeline.EmotionLandscapePipeline` runs one as its optional ``upscaler``
component; without one it resamples with :func:`lanczos_resize`.

A saved upscaler folder holds, besides diffusers' ``config.json`` and weights, the licence
(``LICENSE``) and ``checksums.json`` (SHA-256 of both); :meth:`Upscaler.from_pretrained` checks them
before reading the weights and raises :class:`~music2img.errors.ModelFileError` when one is missing
or altered.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from PIL import Image
from torch import nn

from ..errors import ModelFileError
from ..files import atomic_path, sha256sum, verify_sha256

WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
LICENSE_NAME = "LICENSE"
CHECKSUMS_NAME = "checksums.json"


def _conv(c_in: int, c_out: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, padding=k // 2)


class Upscaler(ModelMixin, ConfigMixin):
    r"""RDN or RRDN super-resolution by ``scale``: ``(n, 3, h, w)`` in [0, 1] → ``(n, 3, scale·h, scale·w)``.

    Parameters:
        architecture: ``"rdn"`` (upsampled by nearest-neighbour repetition, then a convolution) or
            ``"rrdn"`` (residual-in-residual dense blocks, upsampled by pixel shuffle).
        scale: Upscaling factor.
        blocks: RDN: residual dense blocks (``D``); RRDN: residual-in-residual blocks (``T``).
        dense_blocks: RRDN only: dense blocks per residual-in-residual block (``D``).
        layers: Convolutions per dense block (``C``).
        growth: Channels each of those adds (``G``).
        features: Channels between blocks (``G0``).
        pixel_range: The range the network was trained on, 0–``pixel_range`` (255 for RDN, 1 for RRDN).
        name: What the CLI calls it (``--upscaler NAME``).
        license: The licence's name; its text is the ``LICENSE`` file saved beside the weights.
        source: Where the weights come from (package and version).
    """

    @register_to_config
    def __init__(
        self,
        architecture: str = "rdn",
        scale: int = 4,
        blocks: int = 10,
        dense_blocks: int = 3,
        layers: int = 1,
        growth: int = 64,
        features: int = 64,
        pixel_range: float = 255.0,
        name: str = "upscaler",
        license: str = "",
        source: str = "",
    ):
        super().__init__()
        if architecture not in ("rdn", "rrdn"):
            raise ValueError(f"architecture must be 'rdn' or 'rrdn', got {architecture!r}")
        g0, g, c = features, growth, layers
        convs: dict[str, nn.Conv2d] = {}
        if architecture == "rdn":
            convs["F_m1"], convs["F_0"] = _conv(3, g0, 3), _conv(g0, g0, 3)
            for d in range(1, blocks + 1):
                for i in range(1, c + 1):
                    convs[f"F_{d}_{i}"] = _conv(g0 + (i - 1) * g, g, 3)
                convs[f"LFF_{d}"] = _conv(g0 + c * g, g0, 1)
            convs["GFF_1"], convs["GFF_2"] = _conv(blocks * g0, g0, 1), _conv(g0, g0, 3)
            convs["UPN1"], convs["UPN2"], convs["UPN3"] = _conv(g0, 64, 5), _conv(64, 32, 3), _conv(32, 3 * scale**2, 3)
            convs["SR"] = _conv(3 * scale**2, 3, 3)
        else:
            convs["Pre_blocks_conv"] = _conv(3, g0, 3)
            for t in range(1, blocks + 1):
                for d in range(1, dense_blocks + 1):
                    for i in range(1, c + 1):
                        convs[f"F_{t}_{d}_{i}"] = _conv(g0 + (i - 1) * g, g, 3)
                    convs[f"LFF_{t}_{d}"] = _conv(g0 + c * g, g0, 3)
            convs["post_blocks_conv"], convs["PreShuffle"] = _conv(g0, g0, 3), _conv(g0, 3 * scale**2, 3)
            convs["SR"] = _conv(3, 3, 3)
        self.conv = nn.ModuleDict(convs)
        #: The licence's text, written beside the weights by :meth:`save_pretrained`.
        self.license_text: str | None = None

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that an output pixel depends on (tiles overlap by this much)."""
        return sum(conv.kernel_size[0] // 2 for conv in self.conv.values())

    def _dense(self, x: torch.Tensor, prefix: str) -> torch.Tensor:
        """A dense block's convolutions, each fed all features before it; returns them concatenated."""
        for i in range(1, self.config.layers + 1):
            x = torch.cat([x, F.relu(self.conv[f"F_{prefix}_{i}"](x))], 1)
        return x

    def _subpixel_sr(self) -> tuple[torch.Tensor, torch.Tensor]:
        """RDN's last convolution, applied after nearest-neighbour upsampling by ``s``, as one 3×3
        convolution at the low resolution with ``3·s²`` outputs followed by a pixel shuffle: output
        pixel ``(s·y + i, s·x + j)`` sees low-resolution offset ``⌊(i + dy) / s⌋`` for kernel tap ``dy``.
        The same numbers at a sixteenth of the positions (and no 16× larger intermediate)."""
        weight, bias, s = self.conv["SR"].weight, self.conv["SR"].bias, self.config.scale
        out = weight.new_zeros(3, s, s, weight.shape[1], 3, 3)
        for i in range(s):
            for dy in (-1, 0, 1):
                for j in range(s):
                    for dx in (-1, 0, 1):
                        out[:, i, j, :, (i + dy) // s + 1, (j + dx) // s + 1] += weight[:, :, dy + 1, dx + 1]
        return out.reshape(3 * s * s, weight.shape[1], 3, 3), bias.repeat_interleave(s * s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output for ``x`` ``(n, 3, h, w)`` in [0, 1], unclipped, on the same scale."""
        conv, cfg = self.conv, self.config
        x = x * cfg.pixel_range
        if cfg.architecture == "rdn":
            shallow = conv["F_m1"](x)
            h, local = conv["F_0"](shallow), []
            for d in range(1, cfg.blocks + 1):
                h = conv[f"LFF_{d}"](self._dense(h, str(d))) + h
                local.append(h)
            h = conv["GFF_2"](conv["GFF_1"](torch.cat(local, 1))) + shallow
            y = F.pixel_shuffle(
                F.conv2d(conv["UPN3"](F.relu(conv["UPN2"](F.relu(conv["UPN1"](h))))), *self._subpixel_sr(), padding=1),
                cfg.scale,
            )
        else:
            shallow = conv["Pre_blocks_conv"](x)
            h = shallow
            for t in range(1, cfg.blocks + 1):
                r = h
                for d in range(1, cfg.dense_blocks + 1):
                    r = r + 0.2 * conv[f"LFF_{t}_{d}"](self._dense(r, f"{t}_{d}"))
                h = h + 0.2 * r
            h = conv["post_blocks_conv"](h) + shallow
            y = conv["SR"](F.pixel_shuffle(conv["PreShuffle"](h), cfg.scale))
        return y / cfg.pixel_range

    @torch.no_grad()
    def upscale(self, images: torch.Tensor, tile: int | None = None) -> torch.Tensor:
        """``images`` ``(n, 3, h, w)`` in [0, 1] → ``(n, 3, scale·h, scale·w)`` in [0, 1].

        ``tile``: run the network on ``tile × tile`` input tiles, each padded by the receptive field
        (:attr:`receptive_radius`), so the memory needed stays that of one tile and the result equals
        the untiled one (no seams); ``None`` runs the whole picture at once.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (n, 3, h, w), got {tuple(images.shape)}")
        x = images.to(self.device, self.dtype)
        n, _, h, w = x.shape
        s = self.config.scale
        if tile is None or (tile >= h and tile >= w):
            return self(x).clamp(0, 1)
        if tile < 1:
            raise ValueError(f"tile must be positive, got {tile}")
        r = self.receptive_radius
        out = x.new_empty(n, 3, s * h, s * w)
        for top in range(0, h, tile):
            for left in range(0, w, tile):
                y0, x0 = max(top - r, 0), max(left - r, 0)
                y1, x1 = min(top + tile + r, h), min(left + tile + r, w)
                piece = self(x[:, :, y0:y1, x0:x1])
                bottom, right = min(top + tile, h), min(left + tile, w)
                out[:, :, s * top : s * bottom, s * left : s * right] = piece[
                    :, :, s * (top - y0) : s * (bottom - y0), s * (left - x0) : s * (right - x0)
                ]
        return out.clamp(0, 1)

    def save_pretrained(self, save_directory: str | os.PathLike, *args, license_text: str | None = None, **kwargs):
        """diffusers' ``save_pretrained``, then the licence (``license_text``, or the ``LICENSE`` this
        upscaler was loaded with) and ``checksums.json`` beside the weights."""
        license_text = license_text or self.license_text
        if not license_text:
            raise ValueError("an upscaler is saved with its licence: set license_text")
        super().save_pretrained(save_directory, *args, **kwargs)
        folder = Path(save_directory)
        os.chmod(folder / WEIGHTS_NAME, 0o644)  # diffusers writes 0600; shipped files must be readable by others
        with atomic_path(folder / LICENSE_NAME) as tmp:
            tmp.write_text(license_text, encoding="utf-8")
        sums = {name: sha256sum(folder / name) for name in (WEIGHTS_NAME, LICENSE_NAME)}
        with atomic_path(folder / CHECKSUMS_NAME) as tmp:
            tmp.write_text(json.dumps(sums, indent=2) + "\n")
        self.license_text = license_text

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, subfolder: str | None = None, **kwargs):
        """Load a saved upscaler after checking its weights and licence against ``checksums.json``;
        :class:`~music2img.errors.ModelFileError` names the file that is missing or altered."""
        folder = Path(pretrained_model_name_or_path) / (subfolder or "")
        sums_path = folder / CHECKSUMS_NAME
        if not sums_path.is_file():
            raise ModelFileError(
                f"no upscaler checksums at {sums_path}: the upscaler folder is incomplete "
                "(convert it again with train/convert_upscaler.py)"
            )
        try:
            sums = json.loads(sums_path.read_text())
            expected = {name: str(sums[name]) for name in (WEIGHTS_NAME, LICENSE_NAME)}
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"{sums_path} is not a valid checksum list ({type(exc).__name__}: {exc})") from None
        for name, digest in expected.items():
            verify_sha256(folder / name, digest)
        model = super().from_pretrained(pretrained_model_name_or_path, subfolder=subfolder, **kwargs)
        model.license_text = (folder / LICENSE_NAME).read_text(encoding="utf-8")
        return model


def lanczos_resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """``images`` ``(n, 3, h, w)`` in [0, 1] resampled to ``size × size`` with Lanczos (PIL, in floats)."""
    arrays = images.detach().float().cpu().numpy()
    out = np.stack(
        [
            [np.asarray(Image.fromarray(channel, mode="F").resize((size, size), Image.LANCZOS)) for channel in image]
            for image in arrays
        ]
    )
    return torch.from_numpy(out).to(images.device, images.dtype).clamp(0, 1)
