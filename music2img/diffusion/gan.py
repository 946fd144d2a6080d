"""The emotional-landscape GAN baseline (Park & Lee, "Emotional Landscape Image Generation Using
Generative Adversarial Networks", ACCV 2020), kept beside the diffusion model for comparison.

* :class:`ProgressiveGenerator`: a progressive-growing generator (4×4 → ``resolution``; each new
  resolution is faded in with ``alpha`` from 0 to 1) whose every block ends in an
  :class:`EmotionalResidualUnit`: valence and arousal, broadcast as two constant maps, are
  concatenated with the features and convolved into a value and a gate; ``h + σ(gate) · value``.
* :class:`ProgressiveCritic`: the matching WGAN critic, which also predicts (valence, arousal)
  from an emotion feature vector. :func:`gradient_penalty` (WGAN-GP, weight 10) and
  :func:`affective_feature_matching` (the AFM loss: the critic's emotion features of a generated
  picture against those of the real picture whose labels it was generated with) are the losses
  the paper adds to the Wasserstein ones.
* :class:`EmotionGANPipeline`: (valence, arousal) → pictures, called like
  :class:`~music2img.diffusion.pipeline.EmotionLandscapePipeline` (without steps or guidance).

Layers use the equalised learning rate, pixel normalisation and a minibatch standard-deviation
feature of progressive GANs (Karras et al., ICLR 2018). Valence and arousal enter normalised to
[-1, 1] (:func:`~music2img.diffusion.unet.normalize_va`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline, ImagePipelineOutput
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils.torch_utils import randn_tensor
from torch import nn

from ..errors import ModelFileError
from ..files import verify_weight_hashes
from .pipeline import RecordsWeightHashes, check_request, to_output
from .unet import normalize_va

__all__ = [
    "CriticOutput",
    "EmotionGANPipeline",
    "EmotionalResidualUnit",
    "ProgressiveCritic",
    "ProgressiveGenerator",
    "affective_feature_matching",
    "gradient_penalty",
    "load_gan_pipeline",
]


class EqualizedConv2d(nn.Conv2d):
    """A convolution whose N(0, 1) weights are scaled by He's constant at run time (equalised learning rate)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, gain: float = math.sqrt(2)):
        super().__init__(in_ch, out_ch, kernel, padding=kernel // 2)
        nn.init.normal_(self.weight)
        nn.init.zeros_(self.bias)
        self.scale = gain / math.sqrt(in_ch * kernel * kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.scale, self.bias)


class EqualizedLinear(nn.Linear):
    """A linear layer with the equalised learning rate."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2)):
        super().__init__(in_features, out_features)
        nn.init.normal_(self.weight)
        nn.init.zeros_(self.bias)
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise every pixel's feature vector to unit RMS."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class EmotionalResidualUnit(nn.Module):
    """``h + σ(gate) · value``, where ``value, gate = conv([h, v-map, a-map])`` and the maps are the
    normalised valence and arousal broadcast over the feature map."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = EqualizedConv2d(channels + 2, 2 * channels, 3, gain=1.0)

    def forward(self, h: torch.Tensor, va: torch.Tensor) -> torch.Tensor:
        maps = va.to(h.dtype)[:, :, None, None].expand(-1, -1, *h.shape[2:])
        value, gate = self.conv(torch.cat([h, maps], dim=1)).chunk(2, dim=1)
        return h + torch.sigmoid(gate) * value


def _levels(resolution: int, channels: Sequence[int]) -> int:
    levels = int(math.log2(resolution)) - 1
    if resolution < 4 or 2 ** (levels + 1) != resolution:
        raise ValueError(f"resolution must be a power of two ≥ 4, got {resolution}")
    if len(channels) != levels:
        raise ValueError(
            f"{resolution}×{resolution} needs {levels} channel widths (4×4 … {resolution}×{resolution}), "
            f"got {len(channels)}"
        )
    return levels


def _check_stage(level: int | None, alpha: float, levels: int) -> int:
    level = levels - 1 if level is None else level
    if not 0 <= level < levels:
        raise ValueError(f"level must lie in 0…{levels - 1}, got {level}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    return level


class ProgressiveGenerator(ModelMixin, ConfigMixin):
    r"""Latent vector + (valence, arousal) → image at 4·2^level pixels, each block ending in an ERU.

    Parameters:
        resolution: Final height and width (a power of two).
        latent_dim: Size of the latent vector ``z``.
        channels: Feature widths from 4×4 up to ``resolution`` (one per level).
    """

    @register_to_config
    def __init__(self, resolution: int = 64, latent_dim: int = 128, channels: tuple[int, ...] = (128, 128, 64, 32, 16)):
        super().__init__()
        self.levels = _levels(resolution, channels)
        c = list(channels)
        self.input = EqualizedLinear(latent_dim, c[0] * 16, gain=math.sqrt(2) / 4)
        self.blocks = nn.ModuleList([nn.ModuleList([EqualizedConv2d(c[0], c[0], 3)])])
        for i in range(1, self.levels):
            self.blocks.append(nn.ModuleList([EqualizedConv2d(c[i - 1], c[i], 3), EqualizedConv2d(c[i], c[i], 3)]))
        self.erus = nn.ModuleList(EmotionalResidualUnit(ch) for ch in c)
        self.to_rgb = nn.ModuleList(EqualizedConv2d(ch, 3, 1, gain=1.0) for ch in c)

    def forward(
        self,
        z: torch.Tensor,
        valence: torch.Tensor,
        arousal: torch.Tensor,
        level: int | None = None,
        alpha: float = 1.0,
    ) -> torch.Tensor:
        r"""Images ``(batch, 3, r, r)`` around [-1, 1] at ``r = 4·2^level`` (default: the full resolution).

        Args:
            z: Latent vectors ``(batch, latent_dim)``.
            valence, arousal: Emotion on the 1–9 scale, ``(batch,)``.
            level: Growth stage (0 = 4×4).
            alpha: Fade-in of ``level``: the output is ``(1 − α)·up(rgb_{level−1}) + α·rgb_level``.
        """
        level = _check_stage(level, alpha, self.levels)
        va = normalize_va(torch.stack([valence, arousal], dim=-1).to(z.device, torch.float32))
        h = pixel_norm(_act(self.input(pixel_norm(z)).view(z.shape[0], -1, 4, 4)))
        previous = None
        for i in range(level + 1):
            if i > 0:
                previous = h
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            for conv in self.blocks[i]:
                h = pixel_norm(_act(conv(h)))
            h = self.erus[i](h, va)
        rgb = self.to_rgb[level](h)
        if level > 0 and alpha < 1.0:
            rgb = torch.lerp(
                F.interpolate(self.to_rgb[level - 1](previous), scale_factor=2.0, mode="nearest"), rgb, alpha
            )
        return rgb


def minibatch_stddev(x: torch.Tensor, group: int) -> torch.Tensor:
    """Append the mean standard deviation of the features over groups of ``group`` samples as a channel."""
    b, c, h, w = x.shape
    g = math.gcd(group, b)
    std = x.view(g, -1, c, h, w).var(dim=0, unbiased=False).add(1e-8).sqrt().mean(dim=(1, 2, 3))
    return torch.cat([x, std.view(-1, 1, 1, 1).repeat(g, 1, h, w)], dim=1)


@dataclass
class CriticOutput:
    """What the critic says of a batch: Wasserstein ``score`` ``(b,)``, predicted normalised
    (valence, arousal) ``va`` ``(b, 2)`` and the emotion ``features`` ``(b, emotion_dim)`` it predicts them from."""

    score: torch.Tensor
    va: torch.Tensor
    features: torch.Tensor


class ProgressiveCritic(ModelMixin, ConfigMixin):
    r"""The WGAN critic that grows with the generator and also predicts (valence, arousal).

    Parameters:
        resolution: Final height and width (a power of two).
        channels: Feature widths from 4×4 up to ``resolution`` (one per level).
        emotion_dim: Size of the emotion feature vector (the AFM loss compares these).
        minibatch_group: Group size of the minibatch standard-deviation feature.
    """

    @register_to_config
    def __init__(
        self,
        resolution: int = 64,
        channels: tuple[int, ...] = (128, 128, 64, 32, 16),
        emotion_dim: int = 64,
        minibatch_group: int = 4,
    ):
        super().__init__()
        self.levels = _levels(resolution, channels)
        c = list(channels)
        self.from_rgb = nn.ModuleList(EqualizedConv2d(3, ch, 1) for ch in c)
        self.blocks = nn.ModuleList([nn.ModuleList()])  # level 0 is the final block below
        for i in range(1, self.levels):
            self.blocks.append(nn.ModuleList([EqualizedConv2d(c[i], c[i], 3), EqualizedConv2d(c[i], c[i - 1], 3)]))
        self.final_conv = EqualizedConv2d(c[0] + 1, c[0], 3)
        self.final_linear = EqualizedLinear(c[0] * 16, c[0])
        self.score = EqualizedLinear(c[0], 1, gain=1.0)
        self.emotion = EqualizedLinear(c[0], emotion_dim)
        self.va_head = EqualizedLinear(emotion_dim, 2, gain=1.0)

    def forward(self, x: torch.Tensor, alpha: float = 1.0) -> CriticOutput:
        """Judge images ``(b, 3, r, r)``; ``r`` picks the growth stage, ``alpha`` its fade-in."""
        level = int(math.log2(x.shape[-1])) - 2
        level = _check_stage(level, alpha, self.levels)
        h = _act(self.from_rgb[level](x))
        for i in range(level, 0, -1):
            for conv in self.blocks[i]:
                h = _act(conv(h))
            h = F.avg_pool2d(h, 2)
            if i == level and alpha < 1.0:
                h = torch.lerp(_act(self.from_rgb[level - 1](F.avg_pool2d(x, 2))), h, alpha)
        h = _act(self.final_conv(minibatch_stddev(h, self.config.minibatch_group)))
        h = _act(self.final_linear(h.flatten(1)))
        features = _act(self.emotion(h))
        return CriticOutput(score=self.score(h).squeeze(1), va=self.va_head(features), features=features)


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    weight: float = 10.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP: ``weight · E[(‖∇ critic(x̂)‖₂ − 1)²]`` at random points ``x̂`` between real and fake images."""
    eps = torch.rand(real.shape[0], 1, 1, 1, generator=generator).to(real.device, real.dtype)
    mixed = torch.lerp(fake.detach(), real.detach(), eps).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return weight * (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def affective_feature_matching(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """AFM loss: mean squared distance between the critic's emotion features of each real picture and
    of the picture generated with its labels (the real side is a fixed target)."""
    return F.mse_loss(fake_features, real_features.detach())


class EmotionGANPipeline(RecordsWeightHashes, DiffusionPipeline):
    r"""Generate landscape images with a :class:`ProgressiveGenerator` (registered as ``gan``).

    Called like :class:`~music2img.diffusion.pipeline.EmotionLandscapePipeline`, without
    ``guidance_scale`` and ``num_inference_steps``: one forward pass per batch.
    """

    def __init__(self, gan: ProgressiveGenerator):
        super().__init__()
        self.register_modules(gan=gan)

    @torch.no_grad()
    def __call__(
        self,
        valence: float | Sequence[float],
        arousal: float | Sequence[float],
        num_images_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> ImagePipelineOutput | tuple:
        r"""Generate ``len(valence) × num_images_per_prompt`` images (grouped by emotion pair); the arguments
        are those of
        :meth:`EmotionLandscapePipeline.__call__ <music2img.diffusion.pipeline.EmotionLandscapePipeline.__call__>`,
        ``generator`` drawing the latent vectors (one generator per image gives per-image seeds)."""
        vs, as_ = check_request(valence, arousal, num_images_per_prompt, output_type)
        device, dtype = self._execution_device, self.gan.dtype
        v = torch.tensor(vs, device=device).repeat_interleave(num_images_per_prompt)
        a = torch.tensor(as_, device=device).repeat_interleave(num_images_per_prompt)
        z = randn_tensor((len(v), self.gan.config.latent_dim), generator=generator, device=device, dtype=dtype)
        image = to_output(self.gan(z, v, a), output_type)
        if not return_dict:
            return (image,)
        return ImagePipelineOutput(images=image)


def load_gan_pipeline(folder: str | os.PathLike, device: str | torch.device = "cpu") -> EmotionGANPipeline:
    """Load a saved :class:`EmotionGANPipeline` folder in float32 on ``device``.

    Raises :class:`~music2img.errors.ModelFileError` when the folder is missing or is not a GAN pipeline,
    or a weight file fails the checksum recorded in ``weights.sha256`` (none recorded: a warning).
    """
    index = os.path.join(folder, "model_index.json")
    if os.path.isfile(index):
        verify_weight_hashes(folder, "GAN pipeline")
    try:
        with open(index, encoding="utf-8") as f:
            if "gan" not in json.load(f):
                raise ValueError("its model_index.json names no 'gan' generator")
        gan = ProgressiveGenerator.from_pretrained(folder, subfolder="gan", low_cpu_mem_usage=False)
    except (OSError, ValueError, TypeError) as err:
        raise ModelFileError(f"no GAN pipeline at {folder}: {err} (train one with train/gan.py)") from err
    return EmotionGANPipeline(gan=gan.float().eval()).to(device)
