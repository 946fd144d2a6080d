"""A consistency-distilled student (``train/distill.py``) against its teacher at the app's defaults.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/distillation.py --student runs/distill/pipeline \\
        --data ../shared/data/images/landscapes --labels assets/landscape_labels.csv \\
        --rater2 work/rater_v2 --seeds 12 --cache work/quality --out work/distill_quality

The teacher (``--teacher``, default the shipped pipeline) paints the 5 × 5 valence/arousal grid × ``--seeds``
seeds at the defaults (``music2img/diffusion/defaults.py``: UniPC 12, guidance 9 on the first half of
the steps); the student paints the same points from the same seeds with ``LCMScheduler`` at each of
``--student-steps`` (1, 2, 4, 8), at the same guidance scale (an input of a student that takes one,
ignored by one distilled at a fixed scale). Both go through the pipeline as the app calls it (requests
mapped when the pipeline maps them), first draws only. Measured, against the training photos
(:class:`benchmarks.diffusion_quality.PhotoReference`):

* **colour** (the measures of ``benchmarks/picture_quality.py``): share of pixels with HSV saturation > 0.85,
  median Hasler–Süsstrunk colourfulness, share of pixels with a channel clipped at 0 or 255 — each also as a
  ratio to those of 300 random training photos;
* **detail**, **Fréchet distances** on image features and on pixel PCA, **diversity** (as in
  ``benchmarks/diffusion_quality.py``);
* **emotion control**: Spearman ρ of requested vs rated valence/arousal over every picture, by ``--rater``
  (the image emotion model v3, the labeller of the training labels) and by ``--rater2`` (an older model on the
  hand-crafted features only, independent of the labels: v2 is ``git show d239a97:assets/image_emotion/model.joblib``
  with its ``model.json``, copied into a folder);
* **non-landscapes**: share of first draws the pipeline's landscape check rejects;
* **agreement**: mean absolute pixel difference (0–255) from the teacher's picture of the same seed and point;
* **seconds per picture**: painting one picture warm, repeated ``--timing-repeats`` times with the models taking
  turns (so that the machine's load falls on all alike), median; printed as a ratio to the teacher's.

Writes ``distillation.json`` and ``grids.png`` (seed 0: the teacher, then the student at each step count).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.diffusion_quality import (
    PhotoReference,
    add_measure_arguments,
    cached_photo_statistics,
    markdown,
)
from music2img.assets import DIFFUSION_MODEL_DIR
from music2img.diffusion import defaults
from music2img.diffusion.evaluation import (
    GRID,
    colour_statistics,
    emotion_control,
    generate_grid,
    grid_points,
    photo_colour_statistics,
    resize,
    tile,
    to_uint8,
)
from music2img.diffusion.landscape_check import LandscapeChecker, photo_split
from music2img.diffusion.pipeline import load_pipeline
from music2img.diffusion.schedulers import STUDENT_SCHEDULER, is_student, make_scheduler
from music2img.files import atomic_path, load_checked_joblib
from music2img.image.emotion_model import ImageEmotionModel
from music2img.image.features import FEATURE_NAMES, image_features
from music2img.image.features import SCHEMA_VERSION as FEATURES_SCHEMA
from music2img.image.labelled_folder import read_labels
from music2img.va import VA_MAX, VA_MIN


class HandCraftedRater:
    """An image emotion model saved on the hand-crafted features alone (``image-features-2``, e.g. v2)."""

    def __init__(self, folder: Path):
        self.regressor, config = load_checked_joblib(
            folder, required=("feature_names", "schema_version"), what="hand-crafted image emotion model"
        )
        if config["schema_version"] != FEATURES_SCHEMA or tuple(config["feature_names"]) != FEATURE_NAMES:
            raise SystemExit(f"error: {folder} is not a model on the hand-crafted features {FEATURES_SCHEMA!r}")

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(self.regressor.predict(features)).reshape(len(features), 2), VA_MIN, VA_MAX)


def warm_seconds(runs: dict[str, tuple], repeats: int) -> dict[str, float]:
    """Median seconds to paint one picture, per run, the runs taking turns after one warm-up each."""
    times = {name: [] for name in runs}
    for r in range(repeats + 1):
        for name, (pipe, settings) in runs.items():
            pipe.scheduler = settings["scheduler"]
            start = time.perf_counter()
            pipe(
                5.0,
                5.0,
                generator=torch.Generator().manual_seed(r),
                max_redraws=0,
                output_type="np",
                **{k: v for k, v in settings.items() if k != "scheduler"},
            )
            if r:
                times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--student", type=Path, required=True, help="the student's pipeline folder")
    p.add_argument("--teacher", default=str(DIFFUSION_MODEL_DIR), help="the teacher's pipeline folder")
    p.add_argument("--student-steps", type=int, nargs="+", default=[1, 2, 4, 8])
    add_measure_arguments(p)
    p.set_defaults(
        scheduler=defaults.SCHEDULER,
        steps=defaults.STEPS,
        guidance=defaults.GUIDANCE_SCALE,
        guidance_interval=defaults.GUIDANCE_INTERVAL,
        control_seeds=None,
    )
    p.add_argument("--rater2", type=Path, help="second, independent rater: a model folder on the hand-crafted features")
    p.add_argument("--timing-repeats", type=int, default=5)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    control_seeds = args.control_seeds or args.seeds

    teacher, student = load_pipeline(args.teacher), load_pipeline(args.student)
    if not is_student(student.scheduler.config):
        raise SystemExit(f"error: {args.student} is not a distilled student (its scheduler is not LCM)")
    files, _ = read_labels(args.data, args.labels)
    photos = cached_photo_statistics(files, args.cache)
    photo_colour = photo_colour_statistics(files)
    reference = PhotoReference(photos, args.seeds * len(GRID) ** 2, args.seeds, np.random.default_rng(0))
    fit, calibrate, _ = photo_split(len(files))
    checker = teacher.landscape_checker or LandscapeChecker.fit(photos["features"][fit], photos["features"][calibrate])
    rater = ImageEmotionModel.load(args.rater)
    rater2 = HandCraftedRater(args.rater2) if args.rater2 else None

    teacher_settings = {
        "scheduler": make_scheduler(args.scheduler, teacher.scheduler.config),
        "guidance_scale": args.guidance,
        "guidance_interval": tuple(args.guidance_interval),
        "num_inference_steps": args.steps,
    }
    runs = {f"teacher ({args.scheduler} {args.steps})": (teacher, teacher_settings)}
    for k in args.student_steps:
        runs[f"student ({STUDENT_SCHEDULER} {k})"] = (
            student,
            {
                "scheduler": make_scheduler(STUDENT_SCHEDULER, student.scheduler.config),
                "guidance_scale": args.guidance,
                "num_inference_steps": k,
            },
        )
    for pipe in (teacher, student):
        pipe.set_progress_bar_config(disable=True)

    report = {
        "settings": {
            "teacher": str(args.teacher),
            "student": str(args.student),
            "seeds": args.seeds,
            "guidance": args.guidance,
            "threads": args.threads,
            "rater": str(args.rater),
            "rater2": str(args.rater2) if args.rater2 else None,
        },
        "photos": {**reference.report, **photo_colour},
        "runs": {},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    grids, teacher_images = [], None
    for name, (pipe, settings) in runs.items():
        pipe.scheduler = settings["scheduler"]
        generated = generate_grid(
            pipe,
            grid_points(),
            range(args.seeds),
            steps=settings["num_inference_steps"],
            guidance=args.guidance,
            guidance_interval=settings.get("guidance_interval", (0.0, 1.0)),
            cache=args.cache,
            tag="distillation",
        )
        row, _, _ = reference.measure(generated, rater, control_seeds)
        flat = to_uint8(generated.flat)
        if rater2 is not None:
            rated2 = rater2.predict_features(np.stack([image_features(im) for im in flat]))
            n = control_seeds * len(generated.points)
            row.update(
                {f"{k}_rater2": round(v, 3) for k, v in emotion_control(generated.requested[:n], rated2[:n]).items()}
            )
        colour = colour_statistics(generated.flat)
        row.update({k: round(v, 4) for k, v in colour.items()})
        row.update({f"{k}_ratio": round(v / photo_colour[k], 2) for k, v in colour.items()})
        row["non_landscapes"] = round(float(np.mean(checker.distance(flat) > checker.config.threshold)), 3)
        if teacher_images is None:
            teacher_images = generated.images
        row["difference_from_teacher"] = round(float(np.abs(generated.images - teacher_images).mean() * 255), 2)
        report["runs"][name] = row
        grids.append(resize(generated.images[0], 128))
        print(name, json.dumps(row), flush=True)

    seconds = warm_seconds(runs, args.timing_repeats)
    base = next(iter(seconds.values()))
    for name, s in seconds.items():
        report["runs"][name].update(warm_seconds=round(s, 3), time_vs_teacher=round(s / base, 3))
    with atomic_path(args.out / "grids.png") as tmp:
        sheets = [tile(g, len(GRID), flip_rows=True) for g in grids]
        strip = tile(np.stack([np.asarray(s, dtype=np.float32) / 255 for s in sheets]), len(sheets), pad=8)
        strip.save(tmp, format="PNG")
    with atomic_path(args.out / "distillation.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


def print_table(report: dict) -> None:
    keys = [
        "detail",
        "frechet_features",
        "frechet_pixels",
        "spearman_valence",
        "spearman_arousal",
        "spearman_valence_rater2",
        "spearman_arousal_rater2",
        "non_landscapes",
        "saturated_ratio",
        "colourfulness_ratio",
        "clipped_ratio",
        "diversity",
        "difference_from_teacher",
        "warm_seconds",
        "time_vs_teacher",
    ]
    rows = [[name] + [row.get(k) for k in keys] for name, row in report["runs"].items()]
    ph = report["photos"]
    rows.append(
        [
            "training photos",
            1,
            f"{ph['frechet_features_floor']:g} (floor)",
            f"{ph['frechet_pixels_floor']:g} (floor)",
            None,
            None,
            None,
            None,
            None,
            f"{ph['saturated']:.1%} saturated",
            f"{ph['colourfulness']:.1f} colourful",
            f"{ph['clipped']:.1%} clipped",
            ph["diversity"],
            None,
            None,
            None,
        ]
    )
    print(
        f"\n5 × 5 grid × {report['settings']['seeds']} seeds, first draws; "
        f"guidance {report['settings']['guidance']:g}; "
        f"{report['settings']['threads']} torch thread(s)"
    )
    print(
        markdown(
            rows,
            [
                "run",
                "detail",
                "FD features",
                "FD pixels",
                "ρ valence (v3)",
                "ρ arousal (v3)",
                "ρ valence (rater 2)",
                "ρ arousal (rater 2)",
                "non-landscapes",
                "saturated × photos",
                "colourfulness × photos",
                "clipped × photos",
                "diversity",
                "Δ teacher (0–255)",
                "s/picture warm",
                "× teacher",
            ],
        )
    )


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
