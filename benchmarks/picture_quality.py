"""Do the pictures look like photographs of scenes? Guidance variants and models side by side.

    nice -n 10 python benchmarks/picture_quality.py --model assets/diffusion --data ../shared/data/images/landscapes \\
        --labels assets/landscape_labels.csv --rater2 work/rater_v2 --seeds 12 --variants clip default \\
        --cache work/picture_quality --out work/picture_quality

Every (model, variant) paints the 5 × 5 valence/arousal grid (2 … 8) × ``--seeds`` seeds exactly as
``music2img generate --seed s`` does (requests mapped onto the labels, the landscape check's redraw),
at the variant's guidance. A variant (:data:`VARIANTS`, :class:`Variant`) names the guidance scale, the guided
part of the steps, guidance rescale, adaptive projected guidance, the layout strength and the guidance
low-pass. Measured against ``--photos`` random training photos:

* **colour**: share of pixels with HSV saturation > 0.85, median Hasler–Süsstrunk colourfulness (also per
  quadrant), share of pixels with a channel clipped at 0 or 255 — and each as a ratio to the photos';
* **detail** and **Fréchet distances** (features, pixels) as in ``benchmarks/diffusion_quality.py``;
* **emotion control**: Spearman ρ of requested vs rated valence/arousal, by the shipped image emotion
  model and by ``--rater2`` (an older model on the hand-crafted features only; the independent one);
* **scenes**: share of pictures the scene model for the diffusion model's pictures
  (:data:`~music2img.image.scene_model.PICTURE_SCENE_MODEL_DIR`, trained on seeds 0–23 of its pictures: measure
  with ``--first-seed 24``) calls a scene, overall and per quadrant (the 2 × 2 grid cells of each corner; the
  centre lines are left out);
  and the share the landscape check rejects;
* **seconds per picture** while painting (the machine's load included).

The film's keyframes: ``--scheduler dpm --steps 10 --variants film-clip film`` (guidance 3 on every step). Writes
``picture_quality.json`` and a seed sheet per (model, variant) into ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.diffusion_quality import PhotoReference, cached_photo_statistics, markdown
from benchmarks.distillation import HandCraftedRater
from music2img import film
from music2img.assets import DIFFUSION_MODEL_DIR, IMAGE_MODEL_DIR
from music2img.diffusion import defaults
from music2img.diffusion.evaluation import (
    GRID,
    colour_statistics,
    emotion_control,
    generate_grid,
    grid_points,
    photo_colour_statistics,
    save_grid,
    to_uint8,
)
from music2img.diffusion.guidance import AdaptiveProjection
from music2img.diffusion.pipeline import load_pipeline
from music2img.diffusion.schedulers import DYNAMIC_THRESHOLD, STATIC_CLIP, make_scheduler
from music2img.files import atomic_path
from music2img.image.emotion_model import ImageEmotionModel
from music2img.image.features import colourfulness, image_features
from music2img.image.labelled_folder import read_labels
from music2img.image.scene_model import PICTURE_SCENE_MODEL_DIR, THRESHOLD, SceneModel
from music2img.va import quadrants


class Variant(NamedTuple):
    """How a variant paints: guidance scale, the guided part of the steps, guidance rescale, adaptive projection,
    scheduler options over :func:`make_scheduler`'s, layout strength (1: from noise), the guidance low-pass σ, the
    colour ceiling, the sad half's layout strength, the black point's drop and the shadow toe."""

    scale: float
    interval: tuple[float, float]
    rescale: float = 0.0
    projection: AdaptiveProjection | None = None
    options: dict = {}
    layout: float = 1.0
    lowpass: float = 0.0
    lowpass_valence: tuple[float, float] | None = None
    ceiling: float | None = None
    sad_layout: float | None = None
    black_point: float | None = None
    toe: float | None = None


#: ``clip`` is the x̂₀ clipping the solvers used until 2026-12-04 and again since the scene layouts, ``dyn…``
#: dynamic thresholding at the given ``sample_max_value`` (and percentile); ``noise`` the defaults of 2026-12-05
#: before the layouts, from noise alone; ``layout-dyn`` the first layout defaults, with dynamic thresholding;
#: ``layout`` the layout defaults before the low-pass guidance, ``lowpass…`` those with it at the σ named on every
#: picture; ``default`` is today's.
_DYN = {"thresholding": True, "sample_max_value": 1.5}
_HALF = (0.0, 0.5)
VARIANTS = {
    "clip": Variant(9.0, _HALF, options=STATIC_CLIP),
    "clip-rescale0.7": Variant(9.0, _HALF, 0.7, options=STATIC_CLIP),
    "clip-apg": Variant(9.0, _HALF, projection=AdaptiveProjection(eta=0.0, momentum=-0.5), options=STATIC_CLIP),
    "clip-apg-r3": Variant(
        9.0, _HALF, projection=AdaptiveProjection(eta=0.0, norm_threshold=3.0, momentum=-0.5), options=STATIC_CLIP
    ),
    "clip-apg-half": Variant(
        9.0, _HALF, projection=AdaptiveProjection(eta=0.5, norm_threshold=3.0), options=STATIC_CLIP
    ),
    "clip-late": Variant(9.0, (0.08, 0.58), options=STATIC_CLIP),
    "late": Variant(9.0, (0.17, 0.67), options=DYNAMIC_THRESHOLD),
    "dyn1.2-q995": Variant(9.0, _HALF, options={**_DYN, "sample_max_value": 1.2, "dynamic_thresholding_ratio": 0.995}),
    "dyn1.5-q995": Variant(9.0, _HALF, options={**_DYN, "dynamic_thresholding_ratio": 0.995}),
    "dyn2-q995": Variant(9.0, _HALF, options={**_DYN, "sample_max_value": 2.0, "dynamic_thresholding_ratio": 0.995}),
    "dyn1.5-q999": Variant(9.0, _HALF, options={**_DYN, "dynamic_thresholding_ratio": 0.999}),
    "dyn1.5-q99": Variant(9.0, _HALF, options={**_DYN, "dynamic_thresholding_ratio": 0.99}),
    "dyn1.5-q98": Variant(9.0, _HALF, options=DYNAMIC_THRESHOLD),
    "film-clip": Variant(film.GUIDANCE_SCALE, (0.0, 1.0), options=STATIC_CLIP),
    "film": Variant(film.GUIDANCE_SCALE, (0.0, 1.0), options=DYNAMIC_THRESHOLD),
    "noise": Variant(9.0, _HALF, options=DYNAMIC_THRESHOLD),
    "layout-k2": Variant(9.0, _HALF, options=DYNAMIC_THRESHOLD, layout=5 / 6),
    "layout-g6": Variant(6.0, _HALF, options=DYNAMIC_THRESHOLD, layout=11 / 12),
    "layout-g4": Variant(4.0, _HALF, options=DYNAMIC_THRESHOLD, layout=11 / 12),
    "layout-g6-k2": Variant(6.0, _HALF, options=DYNAMIC_THRESHOLD, layout=5 / 6),
    "layout-dyn": Variant(9.0, _HALF, options=DYNAMIC_THRESHOLD, layout=11 / 12),
    "layout": Variant(9.0, _HALF, layout=11 / 12),
    **{f"lowpass{s}": Variant(9.0, _HALF, layout=11 / 12, lowpass=float(s)) for s in (8, 16, 24, 32)},
    "default": Variant(
        defaults.GUIDANCE_SCALE,
        defaults.GUIDANCE_INTERVAL,
        defaults.GUIDANCE_RESCALE,
        defaults.GUIDANCE_PROJECTION,
        {},
        defaults.LAYOUT_STRENGTH,
        defaults.GUIDANCE_LOWPASS,
        defaults.GUIDANCE_LOWPASS_VALENCE,
        defaults.COLOUR_CEILING,
        defaults.SAD_LAYOUT_STRENGTH,
        defaults.BLACK_POINT_DROP,
        defaults.SHADOW_TOE,
    ),
}
#: the defaults of 2026-12-06 since the layout prior, those with the colour ceiling (at 1.1), and those with the sad
#: half's layout strength as well (before the black point)
VARIANTS["prior"] = VARIANTS["default"]._replace(ceiling=None, sad_layout=None, black_point=None, toe=None)
VARIANTS["ceiling"] = VARIANTS["default"]._replace(ceiling=1.1, sad_layout=None, black_point=None, toe=None)
VARIANTS["sad-layout"] = VARIANTS["default"]._replace(ceiling=1.1, black_point=None, toe=None)
#: the defaults with the black point, before the shadow toe
VARIANTS["black-point"] = VARIANTS["default"]._replace(toe=None)
#: the defaults with the layouts' label factors and the colour ceiling at 1.0, before it went to 0.95
VARIANTS["ceiling-1.0"] = VARIANTS["default"]._replace(ceiling=1.0)
#: today's defaults as painted, before the colour ceiling, the black point and the toe
VARIANTS["as-painted"] = VARIANTS["default"]._replace(ceiling=None, black_point=None, toe=None)


def paint_as_app(pipe, variant: Variant, steps: int, vs: list, as_: list, gens: list) -> np.ndarray:
    """The pictures ``music2img generate`` paints (mapping and redraw on) at a variant's guidance."""
    return pipe(
        vs,
        as_,
        guidance_scale=variant.scale,
        guidance_interval=variant.interval,
        guidance_rescale=variant.rescale,
        guidance_projection=variant.projection,
        guidance_lowpass=variant.lowpass,
        guidance_lowpass_valence=variant.lowpass_valence,
        num_inference_steps=steps,
        generator=gens,
        output_type="np",
        layout_strength=variant.layout,
        colour_ceiling=variant.ceiling,
        sad_layout_strength=variant.sad_layout,
        black_point_drop=variant.black_point,
        shadow_toe=variant.toe,
        max_redraws=defaults.MAX_REDRAWS,
    ).images


def paint_variant(pipe, v: Variant, seeds: range, steps: int, cache: Path | None):
    """The grid × ``seeds`` as :func:`paint_as_app` paints it (the pipeline's scheduler set for the variant), from
    ``cache`` where it holds them (keyed by everything the variant changes)."""
    layout = (v.layout,) if v.layout < 1 and pipe.layouts is not None else ()
    # σ, the high band's scale (0 screened on 2026-12-05) and the valences low-passed (every one when left out)
    lowpass = ((v.lowpass, 1.0) + ((v.lowpass_valence,) if v.lowpass_valence else ())) if v.lowpass else ()
    ceiling = ("ceiling", v.ceiling) if v.ceiling and layout else ()
    ceiling += ("sad layout", v.sad_layout) if v.sad_layout and layout else ()
    ceiling += ("black point", v.black_point) if v.black_point and layout else ()
    ceiling += ("toe", v.toe) if v.toe and layout else ()
    return generate_grid(
        pipe,
        grid_points(),
        seeds,
        steps=steps,
        guidance=v.scale,
        guidance_interval=v.interval,
        cache=cache,
        sample=functools.partial(paint_as_app, pipe, v, steps),
        tag=repr(("app", v.rescale, v.projection, defaults.MAX_REDRAWS) + layout + lowpass + ceiling),
    )


def per_quadrant(values: np.ndarray, requested: np.ndarray, reduce=np.mean) -> dict[str, float]:
    """``values`` (one per picture) reduced per quadrant of the requested emotion (points on the centre lines left
    out): the mean (the share of true ones), or ``reduce``."""
    off_centre = (requested != 5.0).all(1)
    quadrant = quadrants(requested[:, 0], requested[:, 1])
    return {q: round(float(reduce(values[off_centre & (quadrant == q)])), 3) for q in ("Q1", "Q2", "Q3", "Q4")}


def measure(
    generated,
    reference: PhotoReference,
    photo_colour: dict,
    rater: ImageEmotionModel,
    rater2: HandCraftedRater | None,
    scene: SceneModel,
    checker,
) -> dict:
    row, _, _ = reference.measure(generated, rater, len(generated.seeds))
    colour = colour_statistics(generated.flat)
    row.update({k: round(v, 4) for k, v in colour.items()})
    row.update({f"{k}_ratio": round(colour[k] / photo_colour[k], 2) for k in colour})
    features = np.stack([image_features(im) for im in to_uint8(generated.flat)])
    if rater2 is not None:
        row.update(
            {
                f"{k}_rater2": round(v, 3)
                for k, v in emotion_control(generated.requested, rater2.predict_features(features)).items()
            }
        )
    is_scene = scene.predict_proba_features(features) >= THRESHOLD
    row["scenes"] = round(float(is_scene.mean()), 3)
    row["scenes_per_quadrant"] = per_quadrant(is_scene, generated.requested)
    colourful = np.array([colourfulness(im) for im in to_uint8(generated.flat).astype(np.float32) / 255])
    row["colourfulness_per_quadrant"] = per_quadrant(colourful, generated.requested, np.median)
    row["non_landscapes"] = (
        None
        if checker is None
        else round(float((checker.distance_of_features(features) > checker.config.threshold).mean()), 3)
    )
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", help="pipeline folder (repeatable; default: the shipped one)")
    p.add_argument("--variants", nargs="+", default=["clip", "default"], choices=list(VARIANTS))
    p.add_argument("--data", type=Path, required=True, help="training photo folder")
    p.add_argument("--labels", type=Path, help="its labels CSV")
    p.add_argument("--photos", type=int, default=300, help="random training photos the colour is compared with")
    p.add_argument(
        "--reference",
        type=int,
        help="random training photos the Fréchet distances are measured against "
        "(default: all; fewer give larger distances)",
    )
    p.add_argument("--rater", type=Path, default=IMAGE_MODEL_DIR)
    p.add_argument(
        "--rater2", type=Path, help="older image emotion model on the hand-crafted features (independent rater)"
    )
    p.add_argument("--scene-model", type=Path, default=PICTURE_SCENE_MODEL_DIR, help="scene model folder")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument(
        "--first-seed", type=int, default=0, help="seeds FIRST…FIRST+SEEDS-1 (the scene model learnt from 0–23)"
    )
    p.add_argument("--scheduler", default=defaults.SCHEDULER)
    p.add_argument("--steps", type=int, default=defaults.STEPS)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    files, _ = read_labels(args.data, args.labels)
    if args.reference and args.reference < len(files):
        files = [files[i] for i in sorted(np.random.default_rng(1).choice(len(files), args.reference, replace=False))]
    photos = cached_photo_statistics(files, args.cache)
    reference = PhotoReference(photos, args.seeds * len(GRID) ** 2, args.seeds, np.random.default_rng(0))
    photo_colour = photo_colour_statistics(files, args.photos)
    rater = ImageEmotionModel.load(args.rater)
    rater2 = HandCraftedRater(args.rater2) if args.rater2 else None
    scene = SceneModel.load(args.scene_model)
    report = {
        "settings": {**{k: str(v) for k, v in vars(args).items()}},
        "photos": {**{f"photos_{k}": round(v, 4) for k, v in photo_colour.items()}, **reference.report},
        "rows": {},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for model in args.model or [str(DIFFUSION_MODEL_DIR)]:
        pipe = load_pipeline(model)
        saved_scheduler = pipe.scheduler.config  # each variant starts from it
        pipe.set_progress_bar_config(disable=True)
        checker = pipe.landscape_checker
        for variant in args.variants:
            v = VARIANTS[variant]
            pipe.scheduler = make_scheduler(args.scheduler, saved_scheduler, **v.options)
            seeds = range(args.first_seed, args.first_seed + args.seeds)
            generated = paint_variant(pipe, v, seeds, args.steps, args.cache)
            name = f"{Path(model).name}:{variant}"
            report["rows"][name] = row = measure(generated, reference, photo_colour, rater, rater2, scene, checker)
            for s in range(min(2, args.seeds)):
                save_grid(
                    args.out / f"{name.replace(':', '_')}_seed{s}.png", generated.images[s], len(GRID), flip_rows=True
                )
            print(name, json.dumps(row), flush=True)
    with atomic_path(args.out / "picture_quality.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


def print_table(report: dict) -> None:
    ph = report["photos"]
    print(
        f"\nTraining photos: saturated {ph['photos_saturated']:.1%}, colourfulness {ph['photos_colourfulness']:.0f}, "
        f"clipped {ph['photos_clipped']:.1%}"
    )
    keys = [
        "saturated_ratio",
        "colourfulness_ratio",
        "clipped_ratio",
        "detail",
        "frechet_features",
        "frechet_pixels",
        "spearman_valence",
        "spearman_valence_rater2",
        "spearman_arousal",
        "spearman_arousal_rater2",
        "scenes",
        "non_landscapes",
        "seconds_per_picture",
    ]
    rows = [[name] + [row.get(k) for k in keys] for name, row in report["rows"].items()]
    print(
        markdown(
            rows,
            [
                "model:variant",
                "saturated ×",
                "colourful ×",
                "clipped ×",
                "detail",
                "FD feat",
                "FD pix",
                "ρ v",
                "ρ v (2)",
                "ρ a",
                "ρ a (2)",
                "scenes",
                "non-landscapes",
                "s/pic",
            ],
        )
    )
    print("\nScenes per quadrant (Q1 +v+a, Q2 −v+a, Q3 −v−a, Q4 +v−a)")
    print(
        markdown(
            [
                [name] + [row["scenes_per_quadrant"][q] for q in ("Q1", "Q2", "Q3", "Q4")]
                for name, row in report["rows"].items()
            ],
            ["model:variant", "Q1", "Q2", "Q3", "Q4"],
        )
    )
    print(f"\nMedian colourfulness per quadrant (the photos': {report['photos']['photos_colourfulness']:.0f})")
    print(
        markdown(
            [
                [name] + [row["colourfulness_per_quadrant"][q] for q in ("Q1", "Q2", "Q3", "Q4")]
                for name, row in report["rows"].items()
            ],
            ["model:variant", "Q1", "Q2", "Q3", "Q4"],
        )
    )


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
