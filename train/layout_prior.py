"""Weight a pipeline's scene layouts by how often the sad pictures painted over them become scenes.

    python train/layout_prior.py assets/diffusion --draws runs/layout_prior/draws.csv --paint 2192

1. ``--paint N`` paints ``N`` first draws (no redraw; seeds from ``--first-seed``) at random sad requests:
   valence uniform on 1.5–4.5, arousal on 1.5–4.5 for two in three and on 5.5–8.5 for the rest. Each starts
   from a layout drawn uniformly among its request's nearest, and the pipeline's scene checker rates it.
   The rows (``seed, valence, arousal, layout, probability``) are appended to ``--draws`` after every batch,
   atomically, so an interrupted run goes on where it stopped.
2. A logistic regression on each drawn layout's 4 × 4 colour thumbnail predicts whether the checker rates
   the picture at least ``--pass-at`` (0.8; ROC AUC printed, cross-validated with each layout's draws in one
   fold). Every layout that a request of valence up to 4.5 draws among is weighted by its predicted pass rate
   to the ``--power``, scaled to a mean of 1; the others keep 1, so happier requests draw as before. The
   weighted layouts are written to the pipeline folder's ``layouts/`` atomically
   (:func:`~music2img.diffusion.pipeline.save_component`).

Run it again after ``train/scene_layouts.py`` (new layouts start unweighted) or a new scene checker.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.diffusion import defaults
from music2img.diffusion.emotion_map import map_to_labels
from music2img.diffusion.evaluation import to_uint8
from music2img.diffusion.pipeline import EmotionLandscapePipeline, load_pipeline, save_component
from music2img.diffusion.scene_layouts import SceneLayouts
from music2img.diffusion.schedulers import make_scheduler
from music2img.errors import DatasetError, Music2ImgError
from music2img.files import atomic_path

COLUMNS = ["seed", "valence", "arousal", "layout", "probability"]
#: The sad requests the prior is fitted on and applied to (valence and arousal ranges on 1–9).
VALENCE, CALM, TENSE = (1.5, 4.5), (1.5, 4.5), (5.5, 8.5)


def sad_requests(n: int, seed: int) -> np.ndarray:
    """``n`` random (valence, arousal) requests over the sad half, two in three calm."""
    rng = np.random.default_rng(seed)
    calm = rng.random(n) < 2 / 3
    return np.stack([rng.uniform(*VALENCE, n), np.where(calm, rng.uniform(*CALM, n), rng.uniform(*TENSE, n))], 1)


def thumbnails(layouts: SceneLayouts, indices: np.ndarray) -> np.ndarray:
    """The layouts ``indices`` as 4 × 4 colour thumbnails, flattened, in [0, 1]."""
    small = F.adaptive_avg_pool2d(layouts.layouts[torch.from_numpy(np.array(indices, np.int64))].float(), 4)
    return small.reshape(len(indices), -1).numpy() / 255


def read_draws(path: Path) -> pd.DataFrame:
    """The draws painted so far (an empty table when ``path`` does not exist yet)."""
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    table = pd.read_csv(path)
    missing = set(COLUMNS) - set(table.columns)
    if missing:
        raise DatasetError(f"{path} lacks the columns {sorted(missing)}")
    if table[COLUMNS].isna().any().any():
        raise DatasetError(f"{path} has empty cells in rows {list(table.index[table[COLUMNS].isna().any(axis=1)])}")
    return table


def paint(pipe: EmotionLandscapePipeline, path: Path, n: int, first_seed: int, batch: int) -> pd.DataFrame:
    """Paint first draws until ``path`` holds ``n``, appending each batch's rows atomically."""
    table = read_draws(path)
    requests = sad_requests(n, first_seed)
    mapped = map_to_labels(*requests.T, pipe.config.emotion_quantiles) if pipe.config.emotion_quantiles else requests.T
    side, neighbours = pipe.unet.config.sample_size, pipe.layouts.config.neighbours
    for start in tqdm(range(len(table), n, batch), desc="first draws", unit="batch"):
        rows = np.arange(start, min(start + batch, n))
        seeds = [first_seed + int(i) for i in rows]
        picks = [
            int(pipe.layouts.nearest(mapped[0][i], mapped[1][i])[np.random.default_rng(seeds[k]).integers(neighbours)])
            for k, i in enumerate(rows)
        ]
        images = pipe(
            requests[rows, 0].tolist(),
            requests[rows, 1].tolist(),
            guidance_scale=defaults.GUIDANCE_SCALE,
            guidance_interval=defaults.GUIDANCE_INTERVAL,
            num_inference_steps=defaults.STEPS,
            generator=[torch.Generator().manual_seed(s) for s in seeds],
            layout=pipe.layouts.enlarge(picks, side),
            max_redraws=0,
            output_type="np",
        ).images
        probability = pipe.scene_checker.probability(to_uint8(images))
        new = pd.DataFrame(
            {
                "seed": seeds,
                "valence": requests[rows, 0],
                "arousal": requests[rows, 1],
                "layout": picks,
                "probability": probability,
            }
        )
        table = pd.concat([table, new], ignore_index=True) if len(table) else new
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False)
    print(f"{len(table)} draws in {path}")
    return table


def fit_prior(layouts: SceneLayouts, draws: pd.DataFrame, threshold: float) -> tuple[LogisticRegression, float]:
    """The thumbnail model of whether a layout's picture passes at ``threshold``, and its ROC AUC on layouts
    it was not fitted on (5 folds, each layout's draws in one)."""
    if draws.empty:
        raise DatasetError("no draws to fit on: paint some with --paint")
    x, y = thumbnails(layouts, draws["layout"].to_numpy(int)), (draws["probability"] >= threshold).to_numpy(int)
    if len(np.unique(y)) < 2:
        raise DatasetError(f"the draws all {'pass' if y[0] else 'fail'}: nothing to learn which layouts pass")
    model = LogisticRegression(max_iter=5000)
    held_out = cross_val_predict(model, x, y, groups=draws["layout"], cv=GroupKFold(5), method="predict_proba")
    return model.fit(x, y), float(roc_auc_score(y, held_out[:, 1]))


def sad_layouts(layouts: SceneLayouts, quantiles: list[list[float]] | None, step: float = 0.1) -> np.ndarray:
    """Indices of the layouts that a request of valence up to 4.5 (any arousal) draws among."""
    grid = np.stack(np.meshgrid(np.arange(1, VALENCE[1] + step / 2, step), np.arange(1, 9 + step / 2, step)), -1)
    v, a = grid.reshape(-1, 2).T
    if quantiles:
        v, a = map_to_labels(v, a, quantiles)
    return np.unique(np.concatenate([layouts.nearest(vi, ai).numpy() for vi, ai in zip(v, a)]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pipeline", type=Path, help="pipeline folder whose layouts to weight")
    p.add_argument("--draws", type=Path, required=True, help="CSV of the painted first draws (kept, resumable)")
    p.add_argument("--paint", type=int, default=0, help="paint first draws until the CSV holds this many")
    p.add_argument("--first-seed", type=int, default=1000, help="seed of the first draw (default: %(default)s)")
    p.add_argument("--batch", type=int, default=8, help="pictures painted at once (default: %(default)s)")
    p.add_argument("--power", type=float, default=2.0, help="weight = predicted pass rate to this power")
    p.add_argument(
        "--pass-at",
        type=float,
        default=0.8,
        help="scene probability a draw counts as passing at (default: %(default)s)",
    )
    args = p.parse_args(argv)

    pipe = load_pipeline(args.pipeline)
    if pipe.layouts is None or pipe.scene_checker is None:
        p.error(f"{args.pipeline} needs layouts and a scene checker")
    pipe.scheduler = make_scheduler(defaults.SCHEDULER, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    threshold = args.pass_at
    try:
        draws = (
            paint(pipe, args.draws, args.paint, args.first_seed, args.batch) if args.paint else read_draws(args.draws)
        )
        if not draws["layout"].between(0, pipe.layouts.config.num_layouts - 1).all():
            raise DatasetError(f"{args.draws} names layouts this pipeline does not have")
        model, auc = fit_prior(pipe.layouts, draws, threshold)
    except Music2ImgError as err:
        raise SystemExit(f"error: {err}") from None
    sad = sad_layouts(pipe.layouts, pipe.config.emotion_quantiles)
    rate = model.predict_proba(thumbnails(pipe.layouts, sad))[:, 1] ** args.power
    weights = np.ones(pipe.layouts.config.num_layouts, np.float32)
    weights[sad] = rate / rate.mean()
    pipe.layouts.set_weights(weights)
    save_component(args.pipeline, "layouts", pipe.layouts)
    print(
        f"{len(draws)} draws over {draws['layout'].nunique()} layouts, {np.mean(draws.probability >= threshold):.0%} "
        f"passing; thumbnail model ROC AUC {auc:.2f} on held-out layouts; {len(sad)} layouts weighted "
        f"({weights[sad].min():.2f}–{weights[sad].max():.2f}), written to {args.pipeline / 'layouts'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
