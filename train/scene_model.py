"""Train the scene model (:mod:`music2img.image.scene_model`) on photos labelled by eye.

    .venv/bin/python train/scene_model.py --images ../shared/data/images --labels assets/scene_model/labels.csv \\
        --out assets/scene_model

``--labels``: CSV with ``path`` (relative to ``--images``), ``scene`` (1: a view with depth — sky or
horizon, distance; 0: a close-up texture, a sky alone, an interior, an object, people or animals filling
the frame) and optionally ``sample`` (how the photo was picked for labelling). Scores (ROC AUC, accuracy
at the threshold) are 5-fold cross-validated, so each is on photos the model was not trained on; they are
given overall, per source folder and per sample, as the photos picked for a low score are harder than
random ones.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.errors import DatasetError
from music2img.image import features as hand
from music2img.image.emotion_model import load_rgb
from music2img.image.scene_model import SCENE_MODEL_DIR, THRESHOLD, SceneModel, make_classifier


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


def evaluate(X: np.ndarray, y: np.ndarray, groups: dict[str, np.ndarray], seed: int = 0) -> dict:
    """Out-of-fold scene probabilities (5-fold); ROC AUC and accuracy overall and for each boolean
    mask of ``groups``."""
    proba = cross_val_predict(
        make_classifier(seed), X, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed), method="predict_proba"
    )[:, 1]
    scores = {}
    for name, mask in {"all": np.ones(len(y), bool), **groups}.items():
        scores[name] = {
            "photos": int(mask.sum()),
            "scenes": int(y[mask].sum()),
            "roc_auc": round(float(roc_auc_score(y[mask], proba[mask])), 3),
            "accuracy": round(float(accuracy_score(y[mask], proba[mask] >= THRESHOLD)), 3),
            "non_scenes_caught": round(float(np.mean(proba[mask][y[mask] == 0] < THRESHOLD)), 3),
            "scenes_kept": round(float(np.mean(proba[mask][y[mask] == 1] >= THRESHOLD)), 3),
        }
    return scores


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=Path, required=True, help="folder the label paths are relative to")
    p.add_argument("--labels", type=Path, required=True, help="CSV: path, scene (0/1)")
    p.add_argument("--out", type=Path, default=SCENE_MODEL_DIR)
    args = p.parse_args(argv)

    table = read_scene_labels(args.images, args.labels)
    X = np.stack([hand.image_features(load_rgb(args.images / f)) for f in tqdm(table["path"], desc="features")])
    y = table["scene"].to_numpy()
    source = table["path"].str.split("/").str[0]
    sample = table["sample"] if "sample" in table else pd.Series("all", index=table.index)
    groups = {
        f"{s} / {k}": ((source == s) & (sample == k)).to_numpy()
        for s in sorted(source.unique())
        for k in sorted(sample.unique())
        if ((source == s) & (sample == k)).any()
    }
    scores = evaluate(X, y, groups)
    metadata = {
        "labels": str(args.labels),
        "photos": len(y),
        "scenes": int(y.sum()),
        "threshold": THRESHOLD,
        "cross_validated": scores,
    }
    SceneModel(make_classifier().fit(X, y), hand.SCHEMA_VERSION, metadata).save(args.out)
    print("5-fold cross-validation (each photo scored by a model not trained on it):")
    for name, s in scores.items():
        print(
            f"  {name:<52} {s['photos']:>4} photos ({s['scenes']} scenes): ROC AUC {s['roc_auc']:.3f}, accuracy "
            f"{s['accuracy']:.3f}, non-scenes caught {s['non_scenes_caught']:.0%}, scenes kept {s['scenes_kept']:.0%}"
        )
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
