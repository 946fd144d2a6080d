"""The colour ceiling and the lower black point, in either order and at several settings, on the same pictures.

    python benchmarks/colour_tone.py --data ../shared/data/images/landscapes --labels assets/landscape_labels.csv \\
        --rater2 work/rater_v2 --reference 2000 --seeds 12 --first-seed 168 --cache work/pq \\
        --settings cl:1.1:0 lc:1.0:0.075 cl:1.0:0.075 cl:1.1:0.075 cl:1.0:0.05 cl:1.0:0.1 cl:0.8:0.075:0.03

Paints the grid × ``--seeds`` as ``picture_quality.py``'s ``as-painted`` variant does (today's defaults before the
ceiling and the black point; read from ``--cache`` when it holds them), then applies each ``ORDER:K:D`` setting with the
pipeline's own functions (:mod:`music2img.diffusion.colour`): the ceiling at ``K`` times the layouts' expected
colourfulness (0: none) and the black point lowered by ``D`` (0: none), ``cl`` ceiling first (the pipeline's order),
``lc`` black point first; ``ORDER:K:D:B`` then sets the darkest ``B`` of each picture's pixels (by its darkest channel)
to black and its brightest to white, stretching its levels between (a screen, not a pipeline step);
``ORDER:K:D:tS[:L]`` instead puts the pipeline's toe (:func:`~music2img.diffusion.colour.toe`) under each picture's
shadows at ``S`` times the black share of the photo whose layout it was painted over, its level capped at ``L``
(default :data:`~music2img.diffusion.colour.TOE_MAX_LEVEL`; 1: no cap). Cached pictures do not keep their layouts,
so each is matched to one by its block means
(:meth:`~music2img.diffusion.scene_layouts.SceneLayouts.painted_over`); on seeds 396–407 the toe so applied gave
the pipeline's colour statistics within 0.04. ``picture_quality.py --variants black-point default`` measures the toe
through the pipeline. Each setting is measured as ``picture_quality.py`` measures a variant, and
the black points (the 1st percentile of the darkest channel) of its pictures are printed by quantile beside the photos'
(``--photos`` random training photos).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.diffusion_quality import PhotoReference, cached_photo_statistics
from benchmarks.distillation import HandCraftedRater
from benchmarks.picture_quality import VARIANTS, measure, paint_variant
from music2img.assets import DIFFUSION_MODEL_DIR, IMAGE_MODEL_DIR
from music2img.diffusion import defaults
from music2img.diffusion.colour import TOE_MAX_LEVEL, black_point_of, limit_colourfulness, lower_black_point, toe
from music2img.diffusion.emotion_map import map_to_labels
from music2img.diffusion.evaluation import GRID, Generated, grid_points, photo_colour_statistics
from music2img.diffusion.pipeline import load_pipeline
from music2img.diffusion.schedulers import make_scheduler
from music2img.image.emotion_model import ImageEmotionModel
from music2img.image.labelled_folder import load_image, read_labels
from music2img.image.scene_model import PICTURE_SCENE_MODEL_DIR, SceneModel

QUANTILES = (50, 75, 90, 95, 99)
COLUMNS = ["saturated_ratio", "colourfulness_ratio", "clipped_ratio", "detail", "frechet_features", "frechet_pixels",
           "spearman_valence", "spearman_valence_rater2", "spearman_arousal", "spearman_arousal_rater2"]  # fmt: skip


class Setting(NamedTuple):
    """The ceiling (0: none) and the black point drop (0: none) in ``order``, then levels stretched with a ``black``
    share, or a toe at ``toe`` times each picture's layout's photo's black share, its level at most ``cap`` (0:
    neither)."""

    order: str
    ceiling: float
    drop: float
    black: float = 0.0
    toe: float = 0.0
    cap: float = TOE_MAX_LEVEL

    def __str__(self) -> str:
        last = f":{self.black:g}" if self.black else ""
        last += (f":t{self.toe:g}" + (f":{self.cap:g}" if self.cap != TOE_MAX_LEVEL else "")) if self.toe else ""
        return f"{self.order}:{self.ceiling:g}:{self.drop:g}{last}"


def setting(text: str) -> Setting:
    """``ORDER:K:D``, ``ORDER:K:D:B`` or ``ORDER:K:D:tS[:L]`` → :class:`Setting`."""
    order, *values = text.split(":")
    toe = len(values) > 2 and values[2].startswith("t")
    if order not in ("cl", "lc") or len(values) not in ((3, 4) if toe else (2, 3)):
        raise argparse.ArgumentTypeError(f"expected cl|lc:K:D[:B|:tS[:L]], got {text!r}")
    try:
        k, d = float(values[0]), float(values[1])
        if toe:
            t, cap = float(values[2][1:]), float(values[3]) if len(values) == 4 else TOE_MAX_LEVEL
            if not (t > 0 and 0 <= cap <= 1):
                raise argparse.ArgumentTypeError(f"the toe's S must be > 0 and its cap L in [0, 1], got {text!r}")
            return Setting(order, k, d, toe=t, cap=cap)
        b = float(values[2]) if len(values) == 3 else 0.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers in cl|lc:K:D[:B|:tS[:L]], got {text!r}") from None
    if not 0.0 <= b < 1.0:
        raise argparse.ArgumentTypeError(f"the black share B must be in [0, 1), got {text!r}")
    return Setting(order, k, d, b)


def stretch_levels(images: torch.Tensor, black: float) -> torch.Tensor:
    """``images`` (``(n, 3, h, w)`` in [0, 1]) with the darkest ``black`` share of each one's pixels (by the darkest
    channel) at 0 and its brightest pixel at 1, the levels stretched linearly between."""
    n = len(images)
    low = torch.quantile(images.amin(1).reshape(n, -1), black, dim=1).view(n, 1, 1, 1)
    high = images.amax(1).reshape(n, -1).amax(1).view(n, 1, 1, 1)
    return ((images - low) / (high - low).clamp(min=0.05)).clamp(0, 1)


def apply(images: torch.Tensor, limits: np.ndarray, s: Setting, black_shares: np.ndarray | None = None) -> torch.Tensor:
    """``images`` (``(n, 3, h, w)`` in [0, 1]) through the ceiling and the black point in ``s.order``, then, with a
    ``s.black`` share, :func:`stretch_levels`, or with ``s.toe`` the toe at that many times ``black_shares`` (each
    picture's layout's photo's)."""
    steps = {
        "c": lambda x: limit_colourfulness(x, s.ceiling * limits) if s.ceiling else x,
        "l": lambda x: lower_black_point(x, s.drop) if s.drop else x,
    }
    for step in s.order:
        images = steps[step](images)
    if s.toe:
        return toe(images.clamp(0, 1), np.clip(s.toe * np.asarray(black_shares), 0.0, 1.0), max_level=s.cap)
    return stretch_levels(images.clamp(0, 1), s.black) if s.black else images


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(DIFFUSION_MODEL_DIR))
    p.add_argument("--data", type=Path, required=True, help="training photo folder")
    p.add_argument("--labels", type=Path, help="its labels CSV")
    p.add_argument("--photos", type=int, default=300, help="random training photos the colour is compared with")
    p.add_argument("--reference", type=int, help="random training photos the Fréchet distances are measured against")
    p.add_argument("--rater2", type=Path, help="older image emotion model on the hand-crafted features")
    p.add_argument("--seeds", type=int, default=12)
    p.add_argument("--first-seed", type=int, default=168)
    shipped = Setting("cl", defaults.COLOUR_CEILING or 0.0, defaults.BLACK_POINT_DROP or 0.0)
    p.add_argument("--settings", type=setting, nargs="+", default=[shipped])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    files, _ = read_labels(args.data, args.labels)
    if args.reference and args.reference < len(files):
        files = [files[i] for i in sorted(np.random.default_rng(1).choice(len(files), args.reference, replace=False))]
    reference = PhotoReference(
        cached_photo_statistics(files, args.cache), args.seeds * len(GRID) ** 2, args.seeds, np.random.default_rng(0)
    )
    photo_colour = photo_colour_statistics(files, args.photos)
    pick = np.random.default_rng(0).choice(len(files), min(args.photos, len(files)), replace=False)
    photos = torch.from_numpy(np.stack([load_image(files[i], 128) for i in pick]).astype(np.float32) / 255)
    rater = ImageEmotionModel.load(IMAGE_MODEL_DIR)
    rater2 = HandCraftedRater(args.rater2) if args.rater2 else None
    scene = SceneModel.load(PICTURE_SCENE_MODEL_DIR)

    pipe = load_pipeline(args.model)
    if pipe.layouts is None:
        p.error(f"{args.model} has no scene layouts: neither the ceiling nor the black point applies")
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = make_scheduler(defaults.SCHEDULER, pipe.scheduler.config)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    painted = paint_variant(pipe, VARIANTS["as-painted"], seeds, defaults.STEPS, args.cache)
    points = np.asarray(grid_points())
    q = pipe.config.emotion_quantiles
    mapped = map_to_labels(points[:, 0].tolist(), points[:, 1].tolist(), q) if q else points.T.tolist()
    limits = np.tile(pipe.layouts.expected_colourfulness(*mapped, painted.images.shape[2]), len(seeds))
    raw = torch.from_numpy(painted.flat).permute(0, 3, 1, 2)
    black_shares = None
    if any(s.toe for s in args.settings):
        if not pipe.layouts.black_shares.any():
            p.error(f"{args.model}'s layouts do not know their photos' black shares: run train/layout_black_shares.py")
        requests = np.tile(np.asarray(mapped).T, (len(seeds), 1))
        black_shares = pipe.layouts.black_shares[pipe.layouts.painted_over(raw, *requests.T)].numpy()

    quantiles = np.percentile(black_point_of(photos).numpy(), QUANTILES)
    print(f"black point at quantiles {QUANTILES}: photos {np.round(quantiles, 3).tolist()}")
    for s in args.settings:
        images = apply(raw, limits, s, black_shares)
        generated = Generated(
            images.permute(0, 2, 3, 1).numpy().reshape(painted.images.shape), painted.points, painted.seeds, np.nan
        )
        row = measure(generated, reference, photo_colour, rater, rater2, scene, pipe.landscape_checker)
        black = np.percentile(black_point_of(torch.from_numpy(generated.flat).permute(0, 3, 1, 2)).numpy(), QUANTILES)
        print(str(s), json.dumps({k: row.get(k) for k in COLUMNS}), "black point", np.round(black, 3).tolist())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
