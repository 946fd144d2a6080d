"""Measures of a generator's pictures: generation over the valence/arousal plane, detail, colour,
Fréchet distance, emotion control, diversity and nearest training photos.

A generator is a diffusion :class:`~music2img.diffusion.pipeline.EmotionLandscapePipeline` or the GAN
baseline's :class:`~music2img.diffusion.gan.EmotionGANPipeline` (:func:`load_generator` loads either).
Shared by ``train/evaluate_diffusion.py``, ``benchmarks/diffusion_quality.py`` and
``benchmarks/generator_comparison.py``. Images are ``(n, h, w, 3)`` float arrays in ``[0, 1]``
unless named otherwise.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import linalg, ndimage
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from ..files import atomic_path
from ..image.features import colourfulness, rgb_to_hsv
from .defaults import GUIDANCE_LOWPASS, GUIDANCE_LOWPASS_VALENCE

#: Valence (arousal) values of the 5 × 5 evaluation grid.
GRID = (2.0, 3.5, 5.0, 6.5, 8.0)
#: Luminance weights (ITU-R BT.601), as PIL's ``convert("L")``.
LUMA = np.array([0.299, 0.587, 0.114])


def grid_points(values: Sequence[float] = GRID) -> list[tuple[float, float]]:
    """``(valence, arousal)`` pairs of a square grid, valence fastest."""
    return [(v, a) for a in values for v in values]


@dataclass
class Generated:
    """Pictures of ``points`` × ``seeds``: ``images[s, k]`` is seed ``seeds[s]`` at ``points[k]``,
    quantised to 8 bits as a saved PNG would be."""

    images: np.ndarray  # (seeds, points, h, w, 3) float32 in [0, 1]
    points: list[tuple[float, float]]
    seeds: list[int]
    seconds_per_image: float  # wall time of the sampling calls that ran (nan when all came from the cache)

    @property
    def flat(self) -> np.ndarray:
        """All pictures as ``(seeds × points, h, w, 3)``, seed-major."""
        return self.images.reshape(-1, *self.images.shape[2:])

    @property
    def requested(self) -> np.ndarray:
        """``(seeds × points, 2)`` requested valence/arousal in the order of :attr:`flat`."""
        return np.tile(np.asarray(self.points, dtype=float), (len(self.seeds), 1))


def load_generator(model: str | os.PathLike):
    """A saved GAN pipeline folder (``model_index.json`` names ``gan``) or a diffusion pipeline, in float32 on the
    CPU."""
    index = Path(model) / "model_index.json"
    if index.is_file() and "gan" in json.loads(index.read_text()):
        from .gan import load_gan_pipeline

        return load_gan_pipeline(model)
    from .pipeline import load_pipeline

    return load_pipeline(model)


def is_diffusion(pipe) -> bool:
    """Whether ``pipe`` samples with a scheduler (steps, guidance) rather than in one pass like the GAN."""
    return hasattr(pipe, "scheduler")


def weights_digest(pipe) -> str:
    """A short digest of a pipeline's network (UNet or GAN generator) weights and config (not where it was loaded
    from), and of its high-noise UNet, scene layouts and landscape and scene checkers when it has them, with their
    configs (names cached pictures; the checkers and their thresholds choose the pictures a redrawing caller gets)."""
    diffusion = is_diffusion(pipe)
    parts = ("unet", "high_noise_unet", "layouts", "landscape_checker", "scene_checker") if diffusion else ("gan",)
    nets = [getattr(pipe, name, None) for name in parts]
    h = hashlib.sha256()
    if diffusion and nets[1] is not None:
        h.update(f"high_noise_from={pipe.config.high_noise_from}".encode())
    for net in filter(None, nets):
        h.update(repr(sorted((k, v) for k, v in net.config.items() if not k.startswith("_"))).encode())
        for name, tensor in sorted(net.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()[:16]


def generate_grid(
    pipe,
    points: Sequence[tuple[float, float]],
    seeds: Sequence[int],
    *,
    steps: int,
    guidance: float,
    guidance_interval: tuple[float, float] = (0.0, 1.0),
    cache: str | os.PathLike | None = None,
    tag: str = "",
    sample: Callable[..., np.ndarray] | None = None,
) -> Generated:
    """Paint every point with every seed; seed ``s`` gives the first draw of the picture
    ``MusicToImage.generate`` and ``music2img generate --seed s`` paint for that point (nothing
    is redrawn by a pipeline's landscape checker unless ``sample`` does it).

    One batched call per seed. With ``cache`` (a folder), each seed's pictures are kept in an
    ``.npz`` named by the weights, scheduler, settings, points and ``tag`` (name whatever else
    changes the pictures there), so interrupted or repeated runs only paint what is missing.
    ``sample(valence, arousal, generators)`` replaces the plain pipeline call when given (it must
    return ``(n, h, w, 3)`` floats). A GAN pipeline ignores ``steps`` and ``guidance``.
    """
    points = [(float(v), float(a)) for v, a in points]
    diffusion = is_diffusion(pipe)
    # the plain pipeline call's settings that change its pictures besides the ones below (in the cache key)
    own = {"guidance_lowpass": GUIDANCE_LOWPASS, "guidance_lowpass_valence": GUIDANCE_LOWPASS_VALENCE}
    own = own if sample is None and diffusion else {}
    if sample is None:

        def sample(vs, as_, generators):
            settings = (
                {
                    "guidance_scale": guidance,
                    "guidance_interval": guidance_interval,
                    "num_inference_steps": steps,
                    "max_redraws": 0,
                    **own,
                }
                if diffusion
                else {}
            )
            return pipe(vs, as_, generator=generators, output_type="np", **settings).images

    sampler = pipe.scheduler if diffusion else None
    scheduler = sorted((k, v) for k, v in sampler.config.items() if not k.startswith("_")) if diffusion else []
    key = hashlib.sha256(
        repr(
            (
                weights_digest(pipe) if cache else "",
                type(sampler).__name__,
                scheduler,
                steps,
                guidance,
                tuple(guidance_interval),
                points,
                tag,
                *own.items(),
            )
        ).encode()
    )
    images, seconds, painted = [], 0.0, 0
    for seed in tqdm(list(seeds), desc="painting", unit="seed"):
        file = Path(cache) / f"{key.hexdigest()[:20]}_seed{seed}.npz" if cache else None
        if file is not None and file.is_file():
            images.append(np.load(file)["images"].astype(np.float32) / 255)
            continue
        start = time.perf_counter()
        batch = sample(
            [v for v, _ in points], [a for _, a in points], [torch.Generator().manual_seed(int(seed)) for _ in points]
        )
        batch = np.clip(np.asarray(batch) * 255 + 0.5, 0, 255).astype(np.uint8)  # what a saved PNG holds
        seconds += time.perf_counter() - start
        painted += len(points)
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(file) as tmp:
                with open(tmp, "wb") as f:
                    np.savez_compressed(f, images=batch)
        images.append(batch.astype(np.float32) / 255)
    return Generated(np.stack(images), points, [int(s) for s in seeds], seconds / painted if painted else float("nan"))


def to_uint8(images: np.ndarray) -> np.ndarray:
    """``[0, 1]`` floats → ``uint8``, rounded; ``uint8`` pictures are returned as they are (scaling them
    would wrap around)."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(f"expected pictures as floats in [0, 1] or uint8, got {images.dtype}")
    return np.clip(images * 255 + 0.5, 0, 255).astype(np.uint8)


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Resize ``(n, h, w, 3)`` pictures to ``size × size``: Lanczos up (as the app shows small
    pictures), box filter down; float32 in ``[0, 1]``."""
    if images.shape[1] == size:
        return np.asarray(images, dtype=np.float32)
    method = Image.LANCZOS if images.shape[1] < size else Image.BOX
    return (
        np.stack([np.asarray(Image.fromarray(im).resize((size, size), method)) for im in to_uint8(images)]).astype(
            np.float32
        )
        / 255
    )


def laplacian_variance(images: np.ndarray) -> np.ndarray:
    """Per picture, the variance of the Laplacian of the luminance (0–255 scale): fine detail."""
    luma = np.asarray(images, dtype=np.float64) @ LUMA * 255
    return np.array([ndimage.laplace(y).var() for y in luma])


def detail_ratio(generated: np.ndarray, photos: np.ndarray, size: int = 128) -> float:
    """Median :func:`laplacian_variance` of the generated pictures ÷ that of the photos, both at
    ``size × size`` (1 = as detailed as the photos; a smear is near 0, noise far above 1)."""
    return float(
        np.median(laplacian_variance(resize(generated, size))) / np.median(laplacian_variance(resize(photos, size)))
    )


def colour_statistics(images: np.ndarray) -> dict[str, float]:
    """How strongly ``(n, h, w, 3)`` pictures in ``[0, 1]`` are coloured: the share of pixels with HSV
    saturation above 0.85, the median Hasler–Süsstrunk colourfulness, and the share of pixels with a
    channel clipped at 0 or 255 (rounded to ``uint8`` first, as the pictures are saved)."""
    rgb = to_uint8(images)
    x = rgb.astype(np.float32) / 255
    sat = rgb_to_hsv(x)[1]
    return {
        "saturated": float(np.mean(sat > 0.85)),
        "colourfulness": float(np.median([colourfulness(im) for im in x])),
        "clipped": float(np.mean(((rgb == 0) | (rgb == 255)).any(-1))),
    }


def photo_colour_statistics(
    files: Sequence[str | os.PathLike], n: int = 300, size: int = 128, seed: int = 0
) -> dict[str, float]:
    """:func:`colour_statistics` of ``n`` photos of ``files`` drawn at random (seeded), at ``size`` pixels."""
    from ..image.labelled_folder import load_image

    pick = np.random.default_rng(seed).choice(len(files), min(n, len(files)), replace=False)
    return colour_statistics(np.stack([load_image(files[i], size).transpose(1, 2, 0) for i in pick]) / 255)


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``x`` and of ``y``:
    ``|μx − μy|² + tr(Σx + Σy − 2 (Σx Σy)^½)``."""
    mx, my = x.mean(0), y.mean(0)
    cx, cy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = linalg.sqrtm(cx @ cy)
    if np.iscomplexobj(root):
        root = root.real
    return float(((mx - my) ** 2).sum() + np.trace(cx + cy - 2 * root))


def pairwise_rms(images: np.ndarray) -> float:
    """Mean RMS pixel distance over all pairs of ``images`` (n, h, w, 3) in [0, 1]."""
    pairs = itertools.combinations(range(len(images)), 2)
    return float(np.mean([np.sqrt(np.mean((images[i] - images[j]) ** 2)) for i, j in pairs]))


def diversity_across_seeds(generated: Generated) -> float:
    """:func:`pairwise_rms` between the seeds at each point, averaged over the points."""
    return float(np.mean([pairwise_rms(generated.images[:, k]) for k in range(len(generated.points))]))


def emotion_control(requested: np.ndarray, rated: np.ndarray) -> dict[str, float]:
    """Spearman ρ between requested and rated valence and arousal (``(n, 2)`` arrays)."""
    return {
        f"spearman_{name}": float(spearmanr(requested[:, i], rated[:, i]).statistic)
        for i, name in enumerate(("valence", "arousal"))
    }


def nearest(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index and L2 distance of each query row's nearest reference row (both ``(n, d)``)."""
    q, r = np.asarray(queries, np.float64), np.asarray(references, np.float64)
    d2 = (q**2).sum(1)[:, None] - 2 * q @ r.T + (r**2).sum(1)[None]
    idx = d2.argmin(1)
    return idx, np.sqrt(np.maximum(d2[np.arange(len(q)), idx], 0))


def tile(images: np.ndarray, columns: int, *, pad: int = 2, scale: int = 1, flip_rows: bool = False) -> Image.Image:
    """Tile ``images`` row by row on white (``flip_rows`` puts the first row at the bottom, e.g.
    arousal up); ``scale`` enlarges the sheet (nearest neighbour)."""
    images = to_uint8(images)
    n, r = len(images), images.shape[1]
    rows = -(-n // columns)
    sheet = np.full((rows * (r + pad) + pad, columns * (r + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        row = rows - 1 - i // columns if flip_rows else i // columns
        y, x = pad + row * (r + pad), pad + (i % columns) * (r + pad)
        sheet[y : y + r, x : x + r] = im
    picture = Image.fromarray(sheet)
    if scale != 1:
        picture = picture.resize((sheet.shape[1] * scale, sheet.shape[0] * scale), Image.NEAREST)
    return picture


def save_grid(
    path: str | os.PathLike, images: np.ndarray, columns: int, *, pad: int = 2, scale: int = 1, flip_rows: bool = False
) -> None:
    """:func:`tile` ``images`` into a PNG file."""
    picture = tile(images, columns, pad=pad, scale=scale, flip_rows=flip_rows)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")


def photo_statistics(
    files: Sequence[str | os.PathLike], size: int = 128, thumb: int = 32, progress: bool = True
) -> dict[str, np.ndarray]:
    """What the measures compare generated pictures with, for each photo decoded at ``size × size``
    as training decodes it: ``thumbs`` (``thumb × thumb`` uint8), ``features``
    (:func:`music2img.image.features.image_features`) and ``laplacian`` (:func:`laplacian_variance`)."""
    from ..image.features import image_features
    from ..image.labelled_folder import load_image

    out = {"thumbs": [], "features": [], "laplacian": []}
    for f in tqdm(files, desc="photo statistics", unit="img", disable=not progress):
        im = load_image(f, size).transpose(1, 2, 0)
        out["thumbs"].append(np.asarray(Image.fromarray(im).resize((thumb, thumb), Image.BOX)))
        out["features"].append(image_features(im))
        out["laplacian"].append(laplacian_variance(im[None] / 255.0)[0])
    return {k: np.asarray(v) for k, v in out.items()}
