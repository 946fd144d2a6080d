#!/usr/bin/env python
"""Untuned forest, linear and kernel heads on the music features, in train/music_emotion.py's nested evaluation.

Baselines to the tuned Random Forest, cheap enough to compare feature sets on a busy machine: the
untuned forest of train/music_emotion.py's comparison CV (:data:`UNTUNED_FOREST`), ridge regression
(``RidgeCV``, its penalty chosen by its own leave-one-out CV) and an RBF support-vector regressor per
dimension, the last two on standardised features, all of ``--features`` (e.g. ``musicnn``: the
pretrained taggers' tags and embeddings). Every outer fold of
:func:`train.music_emotion.make_folds` (artists of 4Q, games of VGMIDI) is held out once; the head
is fitted on the rest (targets re-centred with ``--center-targets``, spread calibrated on the
training part's out-of-fold predictions as the forest is) and the pooled test predictions are scored
by the same :func:`train.music_emotion.evaluate`. No Optuna.

    python train/music_heads.py --dataset 4q:../shared/data/music/4q \\
        --lexicon ../shared/data/music/mood_lexicon.csv --dataset vgmidi:../shared/data/music/vgmidi \\
        --center-targets --features musicnn --head ridge --json work/ridge.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from music2img.files import atomic_path  # noqa: E402
from music2img.music.calibration import SpreadCalibration  # noqa: E402
from music2img.music.feature_cache import extract_many  # noqa: E402
from music2img.va import DIMENSIONS  # noqa: E402
from train.music_emotion import (  # noqa: E402
    Data,
    build_parser,
    evaluate,
    load_table,
    make_folds,
    make_forest,
    report,
    strip_predictions,
)

HEADS = ("forest", "ridge", "svr")
#: The untuned forest (as in train/music_emotion.py's comparison CV).
UNTUNED_FOREST = {"n_estimators": 200, "max_features": "sqrt"}


def make_head(kind: str, seed: int = 0):
    """An unfitted head: standardised features → (valence, arousal)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.multioutput import MultiOutputRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    if kind == "forest":
        return make_forest(UNTUNED_FOREST, seed)
    if kind == "ridge":
        return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-1, 5, 13)))
    return make_pipeline(StandardScaler(), MultiOutputRegressor(SVR(kernel="rbf", C=1.0, epsilon=0.2, gamma="scale")))


def fit_head(kind: str, data: Data, center: bool, seed: int = 0):
    targets, offset = data.shifted(center)
    step = {"forest": "", "ridge": "ridgecv__", "svr": "multioutputregressor__"}[kind]
    return make_head(kind, seed).fit(data.X, targets, **{f"{step}sample_weight": data.W}), offset


def nested_heads(data: Data, kind: str, args) -> dict:
    """Pooled metrics of the head over every outer fold held out once (calibrated with ``--calibration``)."""
    n_splits = max(2, round(1 / args.test_size))
    pred, targets = np.zeros_like(data.Y), np.zeros_like(data.Y)
    for k, (tr, te) in enumerate(make_folds(data.table, n_splits, args.seed)):
        train = data.sub(tr)
        oof = np.zeros_like(train.Y)
        for itr, iva in make_folds(train.table, args.cv_folds, args.seed):
            oof[iva] = fit_head(kind, train.sub(itr), args.center_targets, args.seed)[0].predict(train.X[iva])
        shifted, _ = train.shifted(args.center_targets)
        c = train.continuous
        head, offset = fit_head(kind, train, args.center_targets, args.seed)
        raw = head.predict(data.X[te])
        if args.calibration != "none":
            raw = SpreadCalibration(args.calibration).fit(oof[c], shifted[c]).transform(raw)
        pred[te] = np.clip(raw, 1.0, 9.0)
        targets[te] = data.Y[te] + offset * data.continuous[te, None]
        print(f"{kind}: outer fold {k + 1}/{n_splits} done", flush=True)
    out = evaluate(data, targets, pred)
    strip_predictions(out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    p.description = __doc__.split("\n\n")[0]
    p.add_argument("--head", choices=HEADS, action="append", help="head(s) to evaluate (default: all)")
    p.add_argument("--json", type=Path, help="write the metrics here")
    args = p.parse_args(argv)
    table, _ = load_table(args.dataset, args)
    extraction = extract_many(table["audio_path"], args.cache_dir, n_jobs=args.n_jobs, parts=args.features)
    table = table[extraction.ok].reset_index(drop=True)
    data = Data(extraction.X[extraction.ok], table[list(DIMENSIONS)].to_numpy(dtype=float), table)
    results = {}
    for kind in args.head or HEADS:
        results[kind] = nested_heads(data, kind, args)
        report(results[kind], f"{kind} on {'+'.join(args.features)}, nested")
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps({"features": list(args.features), "heads": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
