"""Quality of a diffusion pipeline's pictures, old and new models side by side, and the fixes for
pictures that are no landscape.

    flock -s /tmp/cpu.lock nice -n 10 python benchmarks/diffusion_quality.py --model assets/diffusion \\
        --baseline work/old32 --data ../shared/data/images/landscapes --labels assets/landscape_labels.csv \\
        --other ../shared/data/images/oasis/labels.csv --cache work/quality --out work/quality

Every model paints a 5 × 5 valence/arousal grid (2 … 8) × ``--seeds`` seeds at the given sampler
settings (seed ``s`` is the picture ``music2img generate --seed s`` paints). The main model also
runs as variants: ``plain`` (requests as given, nothing redrawn), ``map`` (requests mapped onto the
training labels' distribution by quantiles), ``redraw`` (pictures the landscape check rejects are
painted again, up to ``--max-redraws`` times) and ``map+redraw``. Measured, against the training photos:

* **detail**: median variance of the Laplacian of the luminance at 128 × 128 (smaller pictures
  Lanczos-upscaled, as the app shows them), generated ÷ photos;
* **Fréchet distance** on two offline feature sets, with the distance that ``n`` random photos
  themselves have (the small-sample floor): the standardised image features of
  :mod:`music2img.image.features`, and the first 64 principal components of 32 × 32 RGB pixels;
* **emotion control**: Spearman ρ of requested vs rated valence/arousal over the first
  ``--control-seeds`` seeds, rated by ``--rater`` (an image emotion model folder);
* **diversity**: mean pairwise RMS distance between seeds at each point (32 × 32), next to that
  between random photos;
* **copies**: distance (L2, 32 × 32, 0–1 scale) of each picture to its nearest training photo, next
  to the photos' own nearest-neighbour distances;
* **not a landscape**: share of pictures the landscape check rejects (per grid cell and overall;
  see :mod:`music2img.diffusion.landscape_check`), the check's rate on held-out photos, and on the
  ``--other`` photos by category; for redraw variants the extra pictures painted;
* **seconds per picture** while painting (the machine's load included; time on a quiet machine).

Writes ``quality.json`` and sheets into ``--out``: per model/variant the seed-0 grid, pictures
beside their nearest training photos, and the rejected pictures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqdm.auto import tqdm

from music2img.assets import DIFFUSION_MODEL_DIR, IMAGE_MODEL_DIR
from music2img.diffusion.emotion_map import label_quantiles
from music2img.diffusion.evaluation import (
    GRID,
    Generated,
    diversity_across_seeds,
    emotion_control,
    frechet_distance,
    generate_grid,
    grid_points,
    laplacian_variance,
    nearest,
    pairwise_rms,
    photo_statistics,
    resize,
    save_grid,
    to_uint8,
    weights_digest,
)
from music2img.diffusion.landscape_check import LandscapeChecker, photo_split
from music2img.diffusion.pipeline import load_pipeline
from music2img.diffusion.schedulers import make_scheduler
from music2img.files import atomic_path
from music2img.image.emotion_model import ImageEmotionModel, load_rgb
from music2img.image.features import SCHEMA_VERSION as FEATURES_SCHEMA
from music2img.image.features import image_features
from music2img.image.labelled_folder import read_labels

VARIANTS = {"plain": (False, False), "map": (True, False), "redraw": (False, True), "map+redraw": (True, True)}
THUMB = 32


def cached_photo_statistics(files: list[Path], cache: Path | None) -> dict[str, np.ndarray]:
    """:func:`photo_statistics` of ``files``, kept in ``cache`` under a name of the files and the image-features
    schema."""
    if cache is None:
        return photo_statistics(files)
    key = repr(([str(f) for f in files], FEATURES_SCHEMA))
    file = cache / f"photos_{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if file.is_file():
        return dict(np.load(file))
    stats = photo_statistics(files)
    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(file) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **stats)
    return stats


class PixelPCA:
    """The first ``k`` principal components of 32 × 32 RGB pixels of the photos."""

    def __init__(self, thumbs: np.ndarray, k: int = 64):
        x = thumbs.reshape(len(thumbs), -1).astype(np.float64) / 255
        self.mean = x.mean(0)
        self.components = np.linalg.svd(x - self.mean, full_matrices=False)[2][: min(k, len(x) - 1)]

    def __call__(self, thumbs: np.ndarray) -> np.ndarray:
        return (thumbs.reshape(len(thumbs), -1).astype(np.float64) / 255 - self.mean) @ self.components.T


class PhotoReference:
    """The training photos as the measures see them: their statistics, the pixel PCA, the feature
    standardisation and what the photos themselves score (:attr:`report`): the Fréchet distances
    of ``n_pictures`` random photos (the small-sample floor), the diversity of groups of ``seeds``
    photos, and the held-out photos' nearest-neighbour distances."""

    def __init__(self, photos: dict[str, np.ndarray], n_pictures: int, seeds: int, rng: np.random.Generator):
        self.photos, n = photos, len(photos["thumbs"])
        self.pca = PixelPCA(photos["thumbs"])
        self.mean, self.std = photos["features"].mean(0), photos["features"].std(0) + 1e-9
        n_fd = min(n_pictures, n)
        floor = {"features": [], "pixels": []}
        for _ in range(5):
            pick = rng.choice(n, n_fd, replace=False)
            floor["features"].append(
                frechet_distance(self.standard(photos["features"][pick]), self.standard(photos["features"]))
            )
            floor["pixels"].append(frechet_distance(self.pca(photos["thumbs"][pick]), self.pca(photos["thumbs"])))
        test = photo_split(n)[2]
        photo_nn = nearest(
            photos["thumbs"][test].reshape(len(test), -1) / 255,
            photos["thumbs"][np.setdiff1d(np.arange(n), test)].reshape(n - len(test), -1) / 255,
        )[1]
        groups = [rng.choice(n, min(seeds, n), replace=False) for _ in range(len(GRID) ** 2)]
        self.report = {
            "frechet_features_floor": round(float(np.mean(floor["features"])), 3),
            "frechet_pixels_floor": round(float(np.mean(floor["pixels"])), 3),
            "diversity": round(float(np.mean([pairwise_rms(photos["thumbs"][g] / 255) for g in groups])), 4),
            "nearest_photo_median": round(float(np.median(photo_nn)), 3),
            "nearest_photo_p05": round(float(np.percentile(photo_nn, 5)), 3),
        }

    def standard(self, features: np.ndarray) -> np.ndarray:
        return (features - self.mean) / self.std

    def measure(
        self, generated: Generated, rater: ImageEmotionModel, control_seeds: int
    ) -> tuple[dict, np.ndarray, np.ndarray]:
        """The measures of ``generated`` against the photos (detail, Fréchet distances, emotion control
        over the first ``control_seeds`` seeds, diversity, nearest photos, seconds per picture); also
        the ratings of every picture and each one's nearest photo."""
        flat, photos = generated.flat, self.photos
        control_n = control_seeds * len(generated.points)
        rated = rater.predict(list(to_uint8(flat)))
        control = emotion_control(generated.requested[:control_n], rated[:control_n])
        features = np.stack([image_features(im) for im in to_uint8(flat)])
        thumbs = thumbs_of(flat)
        nn_index, nn_dist = nearest(
            thumbs.reshape(len(thumbs), -1) / 255, photos["thumbs"].reshape(len(photos["thumbs"]), -1) / 255
        )
        row = {
            "resolution": int(generated.images.shape[2]),
            "detail": round(
                float(np.median(laplacian_variance(resize(flat, 128))) / np.median(photos["laplacian"])), 3
            ),
            "frechet_features": round(frechet_distance(self.standard(features), self.standard(photos["features"])), 3),
            "frechet_pixels": round(frechet_distance(self.pca(thumbs), self.pca(photos["thumbs"])), 3),
            **{k: round(v, 3) for k, v in control.items()},
            "diversity": round(
                diversity_across_seeds(
                    Generated(
                        thumbs.reshape(generated.images.shape[:2] + thumbs.shape[1:]) / 255,
                        generated.points,
                        generated.seeds,
                        0.0,
                    )
                ),
                4,
            ),
            "nearest_photo_median": round(float(np.median(nn_dist)), 3),
            "closer_than_photo_p05": round(float(np.mean(nn_dist < self.report["nearest_photo_p05"])), 3),
            "seconds_per_picture": None
            if np.isnan(generated.seconds_per_image)
            else float(f"{generated.seconds_per_image:.3g}"),
        }
        return row, rated, nn_index


def thumbs_of(images: np.ndarray) -> np.ndarray:
    return to_uint8(resize(images, THUMB))


def cell_table(values: np.ndarray, fmt: str = "{:.2f}") -> str:
    """A 5 × 5 grid of per-point values as text: arousal rows from 8 down to 2, valence columns 2 … 8."""
    k = len(GRID)
    grid = np.asarray(values).reshape(k, k)
    lines = ["arousal \\ valence " + " ".join(f"{v:>5g}" for v in GRID)]
    for row in range(k - 1, -1, -1):
        lines.append(f"{GRID[row]:>17g} " + " ".join(f"{fmt.format(x):>5}" for x in grid[row]))
    return "\n".join(lines)


def redraw_flagged(
    pipe, generated: Generated, flagged: np.ndarray, args, map_emotion: bool, cache: Path | None, tag: str
) -> tuple[Generated, int]:
    """What the pipeline returns with redraws on, for the flagged pictures: per seed, one call of the
    library's own path on the flagged points (its first draw repeats the flagged pictures; only the
    redraws count as extra). Returns the new set and the number of extra pictures painted."""
    images, extra = generated.images.copy(), 0
    for s in np.flatnonzero(flagged.any(1)):
        seed, cells = generated.seeds[s], np.flatnonzero(flagged[s])
        points = [generated.points[k] for k in cells]
        key = hashlib.sha256(
            repr(
                (
                    tag,
                    args.max_redraws,
                    args.scheduler,
                    args.steps,
                    args.guidance,
                    tuple(args.guidance_interval),
                    points,
                    seed,
                )
            ).encode()
        ).hexdigest()[:16]
        file = cache / f"redraw_{key}_{weights_digest(pipe)}.npz" if cache else None
        if file is None or not file.is_file():
            out = pipe(
                [v for v, _ in points],
                [a for _, a in points],
                guidance_scale=args.guidance,
                guidance_interval=tuple(args.guidance_interval),
                num_inference_steps=args.steps,
                generator=[torch.Generator().manual_seed(int(seed)) for _ in points],
                output_type="np",
                map_emotion=map_emotion,
                max_redraws=args.max_redraws,
            )
            saved = {"images": to_uint8(out.images), "redraws": np.asarray(out.redraws)}
            if file is not None:
                with atomic_path(file) as tmp, open(tmp, "wb") as f:
                    np.savez_compressed(f, **saved)
        else:
            saved = np.load(file)
        images[s, cells] = saved["images"].astype(np.float32) / 255
        extra += int(saved["redraws"].sum())
    return Generated(images, generated.points, generated.seeds, generated.seconds_per_image), extra


def add_measure_arguments(p: argparse.ArgumentParser) -> None:
    """The photos, the rater and the painting settings (shared with ``benchmarks/generator_comparison.py``)."""
    p.add_argument("--data", type=Path, required=True, help="training photo folder")
    p.add_argument("--labels", type=Path, help="its labels CSV (file, valence, arousal): the training labels")
    p.add_argument("--rater", type=Path, default=IMAGE_MODEL_DIR, help="image emotion model folder that rates pictures")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--control-seeds", type=int, default=4)
    p.add_argument("--scheduler", default="dpm")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument(
        "--guidance-interval",
        type=float,
        nargs=2,
        default=(0.0, 1.0),
        metavar=("START", "END"),
        help="guide only this part of the steps, as fractions (default: all of them)",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache", type=Path, help="folder for painted pictures and photo statistics (resumable runs)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(DIFFUSION_MODEL_DIR), help="pipeline folder (the main model)")
    p.add_argument("--baseline", action="append", default=[], help="another pipeline folder to compare (repeatable)")
    add_measure_arguments(p)
    p.add_argument("--other", type=Path, help="CSV of other photos (file relative to it, optional category) to check")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--max-redraws", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    files, labels = read_labels(args.data, args.labels)
    photos = cached_photo_statistics(files, args.cache)
    fit, calibrate, test = photo_split(len(files))
    rater = ImageEmotionModel.load(args.rater)
    rng = np.random.default_rng(0)
    reference = PhotoReference(photos, args.seeds * len(GRID) ** 2, args.seeds, rng)
    report = {
        "settings": {
            "scheduler": args.scheduler,
            "steps": args.steps,
            "guidance": args.guidance,
            "guidance_interval": list(args.guidance_interval),
            "seeds": args.seeds,
            "control_seeds": args.control_seeds,
            "max_redraws": args.max_redraws,
            "rater": str(args.rater),
            "photos": len(files),
        },
        "photos": reference.report,
        "models": {},
    }

    main_pipe = load_pipeline(args.model)
    checker = main_pipe.landscape_checker or LandscapeChecker.fit(
        photos["features"][fit], photos["features"][calibrate]
    )
    report["check"] = {
        "threshold": round(float(checker.config.threshold), 3),
        "quantile": checker.config.quantile,
        "held_out_photos_rejected": round(
            float(np.mean(checker.distance_of_features(photos["features"][test]) > checker.config.threshold)), 4
        ),
        "held_out_photos": len(test),
    }
    if args.other:
        table = pd.read_csv(args.other)
        table["category"] = table.get("category", "all")
        other = np.stack(
            [image_features(load_rgb(args.other.parent / f)) for f in tqdm(table["file"], desc="other photos")]
        )
        table["rejected"] = checker.distance_of_features(other) > checker.config.threshold
        report["check"]["other_photos_rejected"] = {
            c: round(float(r), 3) for c, r in table.groupby("category")["rejected"].mean().items()
        }

    runs = [(args.model, v) for v in args.variants] + [(b, "plain") for b in args.baseline]
    args.out.mkdir(parents=True, exist_ok=True)
    for model, variant in runs:
        pipe = main_pipe if model == args.model else load_pipeline(model)
        pipe.scheduler = make_scheduler(args.scheduler, pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        pipe.landscape_checker = checker
        map_emotion, redraw = VARIANTS[variant]
        if map_emotion and not pipe.config.emotion_quantiles:
            if args.labels is None:
                raise SystemExit(
                    "the map variants need --labels (the model's training labels) or a pipeline with emotion_quantiles"
                )
            pipe.register_to_config(emotion_quantiles=label_quantiles(labels))
        tag = "map" if map_emotion else ""

        def sample(vs, as_, gens, pipe=pipe, map_emotion=map_emotion):
            return pipe(
                vs,
                as_,
                guidance_scale=args.guidance,
                guidance_interval=tuple(args.guidance_interval),
                num_inference_steps=args.steps,
                generator=gens,
                output_type="np",
                map_emotion=map_emotion,
                max_redraws=0,
            ).images

        generated = generate_grid(
            pipe,
            grid_points(),
            range(args.seeds),
            steps=args.steps,
            guidance=args.guidance,
            guidance_interval=tuple(args.guidance_interval),
            cache=args.cache,
            tag=tag,
            sample=sample,
        )
        distance = checker.distance(to_uint8(generated.flat)).reshape(generated.images.shape[:2])
        first_rejected = distance > checker.config.threshold
        extra = 0
        if redraw:
            generated, extra = redraw_flagged(pipe, generated, first_rejected, args, map_emotion, args.cache, tag)
            distance = checker.distance(to_uint8(generated.flat)).reshape(generated.images.shape[:2])
        rejected = distance > checker.config.threshold
        measures, rated, nn_index = reference.measure(generated, rater, args.control_seeds)
        name = f"{Path(model).name}:{variant}"
        report["models"][name] = row = {
            "model": str(model),
            "variant": variant,
            **measures,
            "rejected_first_draw": round(float(first_rejected.mean()), 3),
            "rejected": round(float(rejected.mean()), 3),
            "extra_pictures_per_picture": round(extra / first_rejected.size, 3),
            "rejected_per_cell": rejected.mean(0).round(3).tolist(),
            "rated_valence_per_cell": rated[:, 0].reshape(rejected.shape).mean(0).round(2).tolist(),
            "rated_arousal_per_cell": rated[:, 1].reshape(rejected.shape).mean(0).round(2).tolist(),
        }
        stem = name.replace(":", "_").replace("+", "_")
        save_grid(args.out / f"{stem}_grid.png", resize(generated.images[0], 128), len(GRID), flip_rows=True)
        pairs = np.stack(
            [resize(generated.images[0], 128), resize(photos_at(files, nn_index[: len(generated.points)]), 128)], 1
        )
        save_grid(args.out / f"{stem}_nearest.png", pairs.reshape(-1, *pairs.shape[2:]), 2 * len(GRID), flip_rows=True)
        if rejected.any():
            save_grid(args.out / f"{stem}_rejected.png", resize(generated.images[rejected], 128), 8)
        for key in ("rejected_per_cell", "rated_valence_per_cell", "rated_arousal_per_cell"):
            print(f"\n{name}: {key.replace('_', ' ')} ({args.seeds} seeds)\n{cell_table(row[key])}", flush=True)

    with atomic_path(args.out / "quality.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print_tables(report)
    return 0


def photos_at(files: list[Path], index: np.ndarray) -> np.ndarray:
    from music2img.image.labelled_folder import load_image

    return np.stack([load_image(files[i], 128).transpose(1, 2, 0) for i in index]).astype(np.float32) / 255


def markdown(rows: list[list], header: list[str]) -> str:
    fmt = lambda x: "–" if x is None else f"{x:g}" if isinstance(x, (int, float)) else str(x)  # noqa: E731
    return "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        + ["| " + " | ".join(fmt(x) for x in row) + " |" for row in rows]
    )


def print_tables(report: dict) -> None:
    ph, ck, models = report["photos"], report["check"], report["models"]
    print(
        "\nQuality (5 × 5 grid × {seeds} seeds; emotion control over {control_seeds} seeds)".format(
            **report["settings"]
        )
    )
    keys = [
        "resolution",
        "detail",
        "frechet_features",
        "frechet_pixels",
        "spearman_valence",
        "spearman_arousal",
        "diversity",
        "nearest_photo_median",
        "closer_than_photo_p05",
        "seconds_per_picture",
    ]
    rows = [[name] + [row[k] for k in keys] for name, row in models.items()]
    rows.append(
        [
            "training photos",
            128,
            1,
            f"{ph['frechet_features_floor']:g} (floor)",
            f"{ph['frechet_pixels_floor']:g} (floor)",
            None,
            None,
            ph["diversity"],
            ph["nearest_photo_median"],
            0.05,
            None,
        ]
    )
    print(
        markdown(
            rows,
            [
                "model:variant",
                "px",
                "detail",
                "FD features",
                "FD pixels",
                "ρ valence",
                "ρ arousal",
                "diversity",
                "nearest photo",
                "closer than 5 % of photos",
                "s/picture",
            ],
        )
    )
    print("\nNot a landscape: share rejected by the check, and what a redraw costs")
    keys = ["rejected_first_draw", "rejected", "extra_pictures_per_picture", "spearman_valence", "spearman_arousal"]
    print(
        markdown(
            [[name] + [row[k] for k in keys] for name, row in models.items()],
            [
                "model:variant",
                "rejected (first draw)",
                "rejected (returned)",
                "extra pictures per picture",
                "ρ valence",
                "ρ arousal",
            ],
        )
    )
    print(
        f"\nlandscape check: threshold {ck['threshold']:g} ({ck['quantile']:g} quantile of calibration photos); "
        f"rejects {ck['held_out_photos_rejected']:.1%} of {ck['held_out_photos']} held-out training photos"
        + (
            f"; other photos, share rejected by category: {ck['other_photos_rejected']}"
            if "other_photos_rejected" in ck
            else ""
        )
    )


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
