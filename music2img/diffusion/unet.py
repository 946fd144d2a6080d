"""The emotion-conditioned denoiser: a small pixel-space UNet with AdaIN emotion conditioning.

Conditioning (one design, used everywhere):

* the diffusion timestep goes through a sinusoidal embedding and an MLP and is **added as a
  per-channel bias** after the first convolution of every residual block (as in DDPM);
* the emotion (valence, arousal on the 1–9 scale, normalised inside the model to [-1, 1]) goes
  through an MLP to an ``emotion_embed_dim`` vector ``e``; every residual block modulates its
  second normalisation with **AdaIN**, ``h = norm(h) · (1 + γ(e)) + β(e)``, where γ and β come from
  a per-block linear layer that is zero-initialised, so an untrained model ignores the emotion;
* a learned "no emotion" vector replaces ``e`` where ``drop_emotion`` is true, which is what
  classifier-free guidance needs (see :class:`music2img.diffusion.pipeline.EmotionLandscapePipeline`);
* optionally (``guidance_embedding``, off in the trained teachers) a guidance scale ``w`` goes through
  a sinusoidal embedding and an MLP whose last layer is zero-initialised and is **added to the
  timestep embedding**, as in latent consistency models: a student distilled from guided sampling
  (``train/distill.py``) then paints at the ``w`` it is given, in one forward per step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_2d import UNet2DOutput
from torch import nn

from ..va import VA_MAX, VA_MID, VA_MIN

__all__ = ["EmotionUNet", "UNet2DOutput", "normalize_va", "timestep_embedding"]

#: The guidance scale is multiplied by this before its sinusoidal embedding, so that scales 1–15 span
#: frequencies the way timesteps 0–1000 do.
GUIDANCE_EMBED_SCALE = 50.0


def normalize_va(va: torch.Tensor) -> torch.Tensor:
    """Map values on the 1–9 scale linearly to [-1, 1] (5 → 0)."""
    return (va - VA_MID) / ((VA_MAX - VA_MIN) / 2)


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``[cos, sin]`` of shape ``(batch, dim)`` of (possibly fractional) timesteps."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half)
    args = timesteps.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


class ResBlock(nn.Module):
    """GroupNorm → SiLU → conv → (+ time bias) → AdaIN(emotion) → SiLU → dropout → conv, plus a skip."""

    def __init__(self, in_ch: int, out_ch: int, time_dim: int, emotion_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch, affine=False)
        self.adain = nn.Linear(emotion_dim, 2 * out_ch)
        nn.init.zeros_(self.adain.weight)
        nn.init.zeros_(self.adain.bias)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor, eemb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_proj(temb)[:, :, None, None]
        gamma, beta = self.adain(eemb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + gamma) + beta
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, with a residual connection."""

    def __init__(self, channels: int, groups: int, head_dim: int = 32):
        super().__init__()
        self.heads = max(1, channels // head_dim)
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        q, k, v = (
            self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, hgt * wid).transpose(-1, -2).unbind(1)
        )
        h = F.scaled_dot_product_attention(q, k, v)  # (b, heads, hw, c/heads)
        return x + self.out(h.transpose(-1, -2).reshape(b, c, hgt, wid))


class Level(nn.Module):
    """Residual blocks (each optionally followed by attention) at one resolution."""

    def __init__(
        self,
        channels: list[tuple[int, int]],
        attention: bool,
        time_dim: int,
        emotion_dim: int,
        groups: int,
        dropout: float,
    ):
        super().__init__()
        self.resnets = nn.ModuleList(ResBlock(i, o, time_dim, emotion_dim, groups, dropout) for i, o in channels)
        self.attentions = nn.ModuleList(SelfAttention(o, groups) if attention else nn.Identity() for _, o in channels)


class EmotionUNet(ModelMixin, ConfigMixin):
    r"""A UNet that predicts the noise of an image given the timestep and a (valence, arousal) pair.

    Parameters:
        sample_size: Height and width of the images.
        in_channels, out_channels: Image channels in and predicted-noise channels out.
        block_out_channels: Channels at each resolution level; every level but the last halves the resolution.
        layers_per_block: Residual blocks per level on the way down (one more on the way up).
        attention_resolutions: Feature-map sizes (e.g. ``(16,)``) that get self-attention after each
            residual block; the middle block always has attention.
        norm_num_groups: Groups of every GroupNorm.
        dropout: Dropout inside the residual blocks.
        emotion_embed_dim: Size of the emotion embedding (and of the learned "no emotion" vector).
        time_embed_dim: Size of the timestep embedding; ``None`` means ``4 * block_out_channels[0]``.
        guidance_embedding: Take a guidance scale as an input (``forward(..., guidance=w)``), embedded
            and added to the timestep embedding; starts as a no-op (zero-initialised output layer).
    """

    @register_to_config
    def __init__(
        self,
        sample_size: int = 128,
        in_channels: int = 3,
        out_channels: int = 3,
        block_out_channels: tuple[int, ...] = (24, 48, 96, 192, 256),
        layers_per_block: int = 1,
        attention_resolutions: tuple[int, ...] = (16,),
        norm_num_groups: int = 8,
        dropout: float = 0.0,
        emotion_embed_dim: int = 256,
        time_embed_dim: int | None = None,
        guidance_embedding: bool = False,
    ):
        super().__init__()
        chs = list(block_out_channels)
        tdim = time_embed_dim or 4 * chs[0]
        edim = emotion_embed_dim
        self.time_mlp = nn.Sequential(nn.Linear(chs[0], tdim), nn.SiLU(), nn.Linear(tdim, tdim), nn.SiLU())
        self.emotion_mlp = nn.Sequential(nn.Linear(2, edim), nn.SiLU(), nn.Linear(edim, edim), nn.SiLU())
        self.null_emotion = nn.Parameter(torch.randn(edim) * 0.02)
        if guidance_embedding:
            self.guidance_mlp = nn.Sequential(nn.Linear(chs[0], tdim), nn.SiLU(), nn.Linear(tdim, tdim))
            nn.init.zeros_(self.guidance_mlp[2].weight)
            nn.init.zeros_(self.guidance_mlp[2].bias)
        self.conv_in = nn.Conv2d(in_channels, chs[0], 3, padding=1)

        args = (tdim, edim, norm_num_groups, dropout)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skip_chs, ch, res = [chs[0]], chs[0], sample_size
        for i, out in enumerate(chs):
            pairs = [(ch if j == 0 else out, out) for j in range(layers_per_block)]
            self.down.append(Level(pairs, res in attention_resolutions, *args))
            ch = out
            skip_chs += [out] * layers_per_block
            last = i == len(chs) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(ch, ch, 3, stride=2, padding=1))
            if not last:
                skip_chs.append(ch)
                res //= 2
        self.mid = Level([(ch, ch), (ch, ch)], False, *args)
        self.mid_attention = SelfAttention(ch, norm_num_groups)

        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, out in reversed(list(enumerate(chs))):
            pairs = []
            for _ in range(layers_per_block + 1):
                pairs.append((ch + skip_chs.pop(), out))
                ch = out
            self.up.append(Level(pairs, res in attention_resolutions, *args))
            if i > 0:  # nearest ×2, then a conv that already narrows to the next level's width
                self.upsample.append(nn.Conv2d(ch, chs[i - 1], 3, padding=1))
                ch, res = chs[i - 1], res * 2
            else:
                self.upsample.append(nn.Identity())
        self.norm_out = nn.GroupNorm(norm_num_groups, ch)
        self.conv_out = nn.Conv2d(ch, out_channels, 3, padding=1)

    def emotion_parameters(self) -> dict[str, nn.Parameter]:
        """The parameters that carry the emotion, by name: the emotion MLP, the "no emotion" vector and
        every residual block's AdaIN projection (what re-conditioning on new labels trains)."""
        return {
            name: p
            for name, p in self.named_parameters()
            if name.startswith(("emotion_mlp.", "null_emotion")) or ".adain." in name
        }

    def embed_emotion(
        self, valence: torch.Tensor, arousal: torch.Tensor, drop_emotion: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The emotion embedding ``(batch, emotion_embed_dim)``; rows where ``drop_emotion`` is true get the null
        vector."""
        va = normalize_va(torch.stack([valence, arousal], dim=-1).to(self.null_emotion.dtype))
        emb = self.emotion_mlp(va)
        if drop_emotion is not None:
            emb = torch.where(drop_emotion.to(emb.device).reshape(-1, 1), self.null_emotion.to(emb.dtype), emb)
        return emb

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        valence: torch.Tensor | float,
        arousal: torch.Tensor | float,
        drop_emotion: torch.Tensor | None = None,
        return_dict: bool = True,
        guidance: torch.Tensor | float | None = None,
    ) -> UNet2DOutput | tuple[torch.Tensor]:
        r"""Predict the noise in ``sample``.

        Args:
            sample: Noisy images ``(batch, in_channels, height, width)``.
            timestep: Diffusion step(s), a number or a tensor of shape ``()`` or ``(batch,)``.
            valence, arousal: Emotion on the 1–9 scale, numbers or tensors of shape ``(batch,)``.
            drop_emotion: Optional boolean ``(batch,)``; true rows use the learned "no emotion" embedding.
            return_dict: Return a :class:`UNet2DOutput` rather than a tuple.
            guidance: The guidance scale ``w`` (a number or ``(batch,)``); required by, and only
                accepted by, a model with ``guidance_embedding``.
        """
        b, device = sample.shape[0], sample.device

        def batch(x) -> torch.Tensor:
            return torch.as_tensor(x, device=device).float().reshape(-1).expand(b)

        dim = self.config.block_out_channels[0]
        temb = self.time_mlp(timestep_embedding(batch(timestep), dim).to(sample.dtype))
        if (guidance is None) == self.config.guidance_embedding:
            raise ValueError(
                "this UNet takes a guidance scale (guidance=w)"
                if guidance is None
                else "this UNet has no guidance input (guidance_embedding=False)"
            )
        if guidance is not None:
            temb = temb + self.guidance_mlp(
                timestep_embedding(GUIDANCE_EMBED_SCALE * batch(guidance), dim).to(sample.dtype)
            )
        eemb = self.embed_emotion(batch(valence), batch(arousal), drop_emotion).to(sample.dtype)

        h = self.conv_in(sample)
        skips = [h]
        for level, down in zip(self.down, self.downsample):
            for resnet, attn in zip(level.resnets, level.attentions):
                h = attn(resnet(h, temb, eemb))
                skips.append(h)
            if not isinstance(down, nn.Identity):
                h = down(h)
                skips.append(h)
        h = self.mid.resnets[0](h, temb, eemb)
        h = self.mid.resnets[1](self.mid_attention(h), temb, eemb)
        for level, up in zip(self.up, self.upsample):
            for resnet, attn in zip(level.resnets, level.attentions):
                h = attn(resnet(torch.cat([h, skips.pop()], dim=1), temb, eemb))
            if not isinstance(up, nn.Identity):
                h = up(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        out = self.conv_out(F.silu(self.norm_out(h)))
        if not return_dict:
            return (out,)
        return UNet2DOutput(sample=out)
