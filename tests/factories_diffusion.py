"""Tiny random-initialised diffusion (and GAN) pipelines for tests (shared with the app tests)."""

from __future__ import annotations

from pathlib import Path

import torch

from music2img.diffusion.gan import EmotionGANPipeline, ProgressiveGenerator
from music2img.diffusion.pipeline import EmotionLandscapePipeline
from music2img.diffusion.schedulers import consistency_scheduler, training_scheduler
from music2img.diffusion.unet import EmotionUNet

#: A UNet config small enough for a test to sample in well under a second.
TINY_UNET = dict(
    sample_size=16,
    block_out_channels=(8, 16),
    layers_per_block=1,
    attention_resolutions=(8,),
    norm_num_groups=4,
    emotion_embed_dim=16,
)


def make_tiny_unet(seed: int = 0, **overrides) -> EmotionUNet:
    """A tiny :class:`EmotionUNet` with seeded random weights."""
    torch.manual_seed(seed)
    return EmotionUNet(**{**TINY_UNET, **overrides}).eval()


def make_tiny_pipeline(path: str | Path, seed: int = 0) -> Path:
    """Save a random-initialised tiny pipeline (training scheduler) to ``path`` and return it."""
    path = Path(path)
    EmotionLandscapePipeline(unet=make_tiny_unet(seed), scheduler=training_scheduler()).save_pretrained(path)
    return path


def make_tiny_student_pipeline(path: str | Path, seed: int = 0) -> Path:
    """Save a random-initialised tiny consistency student (LCM scheduler, guidance input) to ``path`` and return it."""
    path = Path(path)
    unet = make_tiny_unet(seed, guidance_embedding=True)
    EmotionLandscapePipeline(unet=unet, scheduler=consistency_scheduler(training_scheduler().config)).save_pretrained(
        path
    )
    return path


def make_tiny_gan_pipeline(path: str | Path, seed: int = 0) -> Path:
    """Save a random-initialised tiny 16×16 GAN pipeline to ``path`` and return it."""
    path = Path(path)
    torch.manual_seed(seed)
    EmotionGANPipeline(gan=ProgressiveGenerator(resolution=16, latent_dim=8, channels=(8, 8, 4))).save_pretrained(path)
    return path


def perturb_emotion(unet: EmotionUNet, seed: int = 1) -> EmotionUNet:
    """Give the AdaIN projections random weights so that the emotion changes the pictures, as after training."""
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if ".adain." in name:
                p.normal_(0, 0.5, generator=torch.Generator().manual_seed(seed))
    return unet


def make_labelled_folder(path: str | Path, n: int = 8, size: int = 20, seed: int = 0) -> Path:
    """``n`` random RGB PNGs in ``path`` with ``labels.csv`` (file, valence, arousal spread over 1–9); returns the
    CSV."""
    import numpy as np
    from PIL import Image

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = ["file,valence,arousal"]
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path / f"{i}.png")
        rows.append(f"{i}.png,{1 + 8 * i / max(n - 1, 1):.3f},{9 - 8 * i / max(n - 1, 1):.3f}")
    (path / "labels.csv").write_text("\n".join(rows) + "\n")
    return path / "labels.csv"


def make_checked_pipeline(**components) -> EmotionLandscapePipeline:
    """A tiny pipeline with DDIM and the given optional components (``landscape_checker``, ``scene_checker``, …)."""
    from music2img.diffusion.schedulers import make_scheduler

    pipe = EmotionLandscapePipeline(
        unet=make_tiny_unet(), scheduler=make_scheduler("ddim", training_scheduler().config), **components
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def paint_pair(pipe: EmotionLandscapePipeline, seed: int = 0, steps: int = 2, **kwargs) -> tuple:
    """Pictures at (3, 5) and (7, 5) in ``steps`` steps, one generator each seeded ``seed``, and the
    ``(step, total)`` pairs the callback saw."""
    seen = []
    images = pipe(
        [3.0, 7.0],
        [5.0, 5.0],
        num_inference_steps=steps,
        output_type="np",
        generator=[torch.Generator().manual_seed(seed) for _ in range(2)],
        callback=lambda i, n, t: seen.append((i, n)),
        **kwargs,
    ).images
    return images, seen
