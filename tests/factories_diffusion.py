"""Tiny random-initialised diffusion pipelines for tests (shared with the app tests)."""

from __future__ import annotations

from pathlib import Path

import torch

from music2img.diffusion.pipeline import EmotionLandscapePipeline
from music2img.diffusion.schedulers import training_scheduler
from music2img.diffusion.unet import EmotionUNet

#: A UNet config small enough for a test to sample in well under a second.
TINY_UNET = dict(sample_size=16, block_out_channels=(8, 16), layers_per_block=1, attention_resolutions=(8,),
                 norm_num_groups=4, emotion_embed_dim=16)


def make_tiny_unet(seed: int = 0, **overrides) -> EmotionUNet:
    """A tiny :class:`EmotionUNet` with seeded random weights."""
    torch.manual_seed(seed)
    return EmotionUNet(**{**TINY_UNET, **overrides}).eval()


def make_tiny_pipeline(path: str | Path, seed: int = 0) -> Path:
    """Save a random-initialised tiny pipeline (training scheduler) to ``path`` and return it."""
    path = Path(path)
    EmotionLandscapePipeline(unet=make_tiny_unet(seed), scheduler=training_scheduler()).save_pretrained(path)
    return path
