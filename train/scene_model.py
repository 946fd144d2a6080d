"""Train the scene model (:mod:`music2img.image.scene_model`) on photos labelled by eye.

    .venv/bin/python train/scene_model.py --images ../shared/data/images --labels assets/scene_model/labels.csv \\
        --out assets/scene_model

``--labels``: CSV with ``path`` (relative to ``--images``), ``scene`` (1: a view with depth — sky or
horizon, distance; 0: a close-up texture, a sky alone, an interior, an object, people or animals filling
the frame) and optionally ``sample`` (how the photo was picked for labelling). Scores (ROC AUC, accuracy
at the threshold) are 5-fold cross-validated, so each is on photos the model was not trained on; they are
given overall, per source folder and per sample, as the photos picked for a low score are harder than
random ones. ``--group-column`` keeps rows that share its value in one fold: the labelled pictures of the
diffusion model (``assets/picture_scene_model``) are grouped by seed, since one seed's pictures share
their noise.

The scene model for the diffusion model's own pictures::

    .venv/bin/python train/scene_model.py --images assets/picture_scene_model \
        --labels assets/picture_scene_model/labels.csv --group-column seed --baseline assets/scene_model \
        --out assets/picture_scene_model
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.errors import DatasetError
from music2img.image import features as hand
from music2img.image.emotion_model import load_rgb
from music2img.image.scene_model import SCENE_MODEL_DIR, THRESHOLD, SceneModel, make_classifier
from music2img.va import quadrants


def read_scene_labels(images: Path, labels: Path) -> pd.DataFrame:
    """The labels table, checked: columns ``path`` and ``scene`` (0/1), every file present."""
    table = pd.read_csv(labels)
    if not {"path", "scene"} <= set(table.columns):
        raise DatasetError(f"{labels} needs columns path, scene")
    if not table["scene"].isin([0, 1]).all():
        raise DatasetError(f"{labels}: scene must be 0 or 1")
    absent = [p for p in table["path"] if not (images / p).is_file()]
    if absent:
        raise DatasetError(f"{len(absent)} labelled photo(s) missing under {images}, e.g. {absent[0]}")
    return table


def label_groups(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Boolean masks of the labelled rows the scores are also given for: each source folder and ``sample``, and for
    pictures painted at a requested emotion (``valence``, ``arousal`` columns) each quadrant, centre lines left out."""
    source = table["path"].str.split("/").str[0]
    sample = table["sample"] if "sample" in table else pd.Series("all", index=table.index)
    groups = {
        f"{s} / {k}": ((source == s) & (sample == k)).to_numpy()
        for s in sorted(source.unique())
        for k in sorted(sample.unique())
        if ((source == s) & (sample == k)).any()
    }
    if {"valence", "arousal"} <= set(table.columns):
        off_centre = ((table["valence"] != 5) & (table["arousal"] != 5)).to_numpy()
        quadrant = quadrants(table["valence"].to_numpy(), table["arousal"].to_numpy())
        masks = {f"requested {q}": off_centre & (quadrant == q) for q in ("Q1", "Q2", "Q3", "Q4")}
        groups |= {name: mask for name, mask in masks.items() if mask.any()}
    return groups


def evaluate(
    X: np.ndarray, y: np.ndarray, groups: dict[str, np.ndarray], seed: int = 0, folds_by: np.ndarray | None = None
) -> dict:
    """Out-of-fold scene probabilities (5-fold; rows with equal ``folds_by`` share a fold); ROC AUC and
    accuracy overall and for each boolean mask of ``groups``."""
    cv = (StratifiedKFold if folds_by is None else StratifiedGroupKFold)(5, shuffle=True, random_state=seed)
    proba = cross_val_predict(make_classifier(seed), X, y, groups=folds_by, cv=cv, method="predict_proba")[:, 1]
    return scores_of(proba, y, groups)


def scores_of(proba: np.ndarray, y: np.ndarray, groups: dict[str, np.ndarray], threshold: float = THRESHOLD) -> dict:
    """ROC AUC, accuracy at ``threshold``, non-scenes caught and scenes kept, overall and per group."""
    scores = {}
    for name, mask in {"all": np.ones(len(y), bool), **groups}.items():
        scores[name] = {
            "photos": int(mask.sum()),
            "scenes": int(y[mask].sum()),
            "roc_auc": round(float(roc_auc_score(y[mask], proba[mask])), 3) if 0 < y[mask].sum() < mask.sum() else None,
            "accuracy": round(float(accuracy_score(y[mask], proba[mask] >= threshold)), 3),
            "non_scenes_caught": round(float(np.mean(proba[mask][y[mask] == 0] < threshold)), 3),
            "scenes_kept": round(float(np.mean(proba[mask][y[mask] == 1] >= threshold)), 3),
        }
    return scores


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=Path, required=True, help="folder the label paths are relative to")
    p.add_argument("--labels", type=Path, required=True, help="CSV: path, scene (0/1)")
    p.add_argument("--out", type=Path, default=SCENE_MODEL_DIR)
    p.add_argument("--group-column", help="labels column whose rows must share a cross-validation fold")
    p.add_argument("--baseline", type=Path, help="a trained scene model to score the same labels with, for comparison")
    args = p.parse_args(argv)

    table = read_scene_labels(args.images, args.labels)
    if args.group_column and args.group_column not in table:
        raise DatasetError(f"{args.labels} has no column {args.group_column!r}")
    X = np.stack([hand.image_features(load_rgb(args.images / f)) for f in tqdm(table["path"], desc="features")])
    y = table["scene"].to_numpy()
    groups = label_groups(table)
    scores = evaluate(X, y, groups, folds_by=table[args.group_column].to_numpy() if args.group_column else None)
    metadata = {
        "labels": str(args.labels),
        "photos": len(y),
        "scenes": int(y.sum()),
        "threshold": THRESHOLD,
        **({"folds_grouped_by": args.group_column} if args.group_column else {}),
        "cross_validated": scores,
    }
    if args.baseline:
        baseline = scores_of(SceneModel.load(args.baseline).predict_proba_features(X), y, groups)
        metadata["baseline"] = {"model": str(args.baseline), "scores": baseline}
    SceneModel(make_classifier().fit(X, y), hand.SCHEMA_VERSION, metadata).save(args.out)
    print("5-fold cross-validation (each photo scored by a model not trained on it):")
    print_scores(scores)
    if args.baseline:
        print(f"{args.baseline} on the same labels:")
        print_scores(baseline)
    print(f"saved {args.out}")
    return 0


def print_scores(scores: dict) -> None:
    for name, s in scores.items():
        auc = "–" if s["roc_auc"] is None else f"{s['roc_auc']:.3f}"
        print(
            f"  {name:<52} {s['photos']:>4} photos ({s['scenes']} scenes): ROC AUC {auc}, accuracy "
            f"{s['accuracy']:.3f}, non-scenes caught {s['non_scenes_caught']:.0%}, scenes kept {s['scenes_kept']:.0%}"
        )


if __name__ == "__main__":
    sys.exit(main())
