"""Give a pipeline a scene check: pictures it calls no scene are painted again.

    .venv/bin/python train/scene_checker.py assets/diffusion --images assets/picture_scene_model \\
        --labels assets/picture_scene_model/labels.csv assets/picture_scene_model/checker_labels.csv \\
        assets/picture_scene_model/happy_labels.csv assets/picture_scene_model/strict_labels.csv

Fits :class:`~music2img.diffusion.scene_check.SceneChecker` (a logistic regression on the object detector's
features) on the diffusion model's pictures labelled by eye (``path`` under ``--images``, ``scene`` 0/1, ``seed``;
the labels of ``assets/picture_scene_model``), prints its scores cross-validated with each seed's pictures in
one fold (they share their noise), and writes it into the pipeline folder's ``scene_checker/``, updating
``model_index.json`` and the weight hashes, each file atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.assets import ASSETS_DIR
from music2img.diffusion.pipeline import save_component
from music2img.diffusion.scene_check import SceneChecker
from music2img.errors import DatasetError
from music2img.image.detector_features import detector_features, load_detector
from music2img.image.emotion_model import load_rgb
from train.scene_model import label_groups, print_scores, read_scene_labels, scores_of


def cross_validated(features: np.ndarray, y: np.ndarray, seeds: np.ndarray, c: float) -> np.ndarray:
    """Out-of-fold scene probabilities, 5 folds with each seed's pictures in one."""
    proba = np.empty(len(y))
    for fit, held in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(features, y, seeds):
        proba[held] = SceneChecker.fit(features[fit], y[fit], c=c).probability_of_features(features[held])
    return proba


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pipeline", type=Path, help="saved pipeline folder to add scene_checker/ to")
    p.add_argument("--images", type=Path, default=ASSETS_DIR / "picture_scene_model", help="folder of the label paths")
    p.add_argument(
        "--labels",
        type=Path,
        nargs="+",
        default=[
            ASSETS_DIR / "picture_scene_model" / name
            for name in ("labels.csv", "checker_labels.csv", "happy_labels.csv", "strict_labels.csv")
        ],
        help="label tables (path, scene, seed; optional sample, valence, arousal), read together",
    )
    p.add_argument("--c", type=float, default=0.01, help="inverse L2 penalty of the logistic regression")
    p.add_argument("--threshold", type=float, default=0.9, help="smallest scene probability that passes")
    p.add_argument(
        "--early-threshold",
        type=float,
        default=0.1,
        help="smallest scene probability of the estimate early in painting that lets it go on (0: never stop)",
    )
    args = p.parse_args(argv)
    if not (args.pipeline / "model_index.json").is_file():
        p.error(f"no saved pipeline at {args.pipeline}")

    tables = [read_scene_labels(args.images, labels) for labels in args.labels]
    for labels, table in zip(args.labels, tables):
        if "seed" not in table:
            raise DatasetError(f"{labels} needs a seed column: one seed's pictures are kept in one fold")
    table = pd.concat(tables, ignore_index=True)
    detector = load_detector()
    features = np.stack(
        [detector_features(load_rgb(args.images / f), detector) for f in tqdm(table["path"], desc="features")]
    )
    y = table["scene"].to_numpy()
    print(f"{len(table)} pictures ({int(y.sum())} scenes) from {len(tables)} label table(s)")
    proba = cross_validated(features, y, table["seed"].to_numpy(), args.c)
    print("5-fold cross-validation, each seed's pictures in one fold (scored by a checker not fitted on them):")
    print_scores(scores_of(proba, y, label_groups(table), args.threshold))
    save_component(
        args.pipeline,
        "scene_checker",
        SceneChecker.fit(features, y, c=args.c, threshold=args.threshold, early_threshold=args.early_threshold),
    )
    print(f"saved {args.pipeline / 'scene_checker'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
