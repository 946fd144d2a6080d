#!/usr/bin/env python
"""Train the music → (valence, arousal) Random Forest and ship it with its model card.

Steps:

1. load the datasets (``--dataset KIND:PATH``, several allowed; VGMIDI's MIDI phrases are rendered
   with FluidSynth, with augmented renderings, into ``--render-dir``) and extract (cached) features;
2. hold out ~20% of each dataset, split by *group* (artist; song for DEAM/PMEmo; game for VGMIDI)
   and stratified by quadrant — no artist or game is on both sides;
3. tune the forest with Optuna (TPE, ``--trials``) by grouped K-fold CV on the training part
   only, minimising the mean MSE over valence and arousal; ``--storage sqlite:///…`` makes an
   interrupted study resume;
4. fit the spread calibration (``--calibration``, :mod:`music2img.music.calibration`) on
   out-of-fold predictions of the training part (grouped K-fold, the held-out part never seen);
5. fit the best forest on the training part and evaluate it once on the held-out part, raw and
   with each calibration (MSE, MAE, RMSE, R², explained variance, Pearson r and the predictions'
   standard deviation per dimension; quadrant accuracy and macro-F1); optionally every outer fold
   in turn (``--nested``) and a repeated 10-fold grouped CV macro-F1 over all clips for comparison
   with the literature;
6. refit on all clips with the best parameters, calibrate on out-of-fold predictions of all clips,
   and save the model, the model card (Markdown + JSON, :mod:`train.music_card`) and the plots into ``--out`` (default
   ``assets/music_emotion``).

Example::

    python train/music_emotion.py --dataset 4q:../shared/data/music/4q \\
        --lexicon ../shared/data/music/mood_lexicon.csv --cache-dir work/music_cache \\
        --trials 50 --storage sqlite:///work/music_optuna.db

    # with the VGMIDI piano phrases (sign labels, evaluated by game)
    python train/music_emotion.py --dataset 4q:../shared/data/music/4q \\
        --dataset vgmidi:../shared/data/music/vgmidi --center-targets --nested
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from music2img.assets import MUSIC_MODEL_DIR  # noqa: E402
from music2img.errors import AudioError, Music2ImgError  # noqa: E402
from music2img.music.calibration import METHODS, SpreadCalibration  # noqa: E402
from music2img.music.datasets import LOADERS, VGMIDI_LEVELS, load_dataset  # noqa: E402
from music2img.music.emotion_model import MODEL_FILE, MusicEmotionModel  # noqa: E402
from music2img.music.feature_cache import extract_many  # noqa: E402
from music2img.music.feature_parts import PARTS, check_parts, feature_names, schema_version  # noqa: E402
from music2img.music.reencode import ENCODINGS, have_ffmpeg, reencoded  # noqa: E402
from music2img.va import DIMENSIONS, QUADRANTS, VA_MID, quadrants  # noqa: E402
from train.music_card import (  # noqa: E402
    comparison_row,
    comparison_rows,
    model_card,
    plot_confusion,
    plot_importances,
    plot_predictions,
    plot_spread,
    write_text,
)

MAX_MODEL_MB = 25.0


# --------------------------------------------------------------------------- data


def parse_dataset(spec: str) -> tuple[str, Path]:
    """``"KIND:PATH"`` → ``(kind, path)``."""
    kind, sep, path = spec.partition(":")
    if not sep or kind.lower() not in LOADERS or not path:
        raise argparse.ArgumentTypeError(f"expected KIND:PATH with KIND one of {', '.join(LOADERS)}, got {spec!r}")
    return kind.lower(), Path(path)


def parse_parts(spec: str) -> tuple[str, ...]:
    """``"librosa+musicnn"`` → ``("librosa", "musicnn")``."""
    try:
        return check_parts(spec.split("+"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def load_table(specs: list[tuple[str, Path]], args) -> tuple[pd.DataFrame, dict[str, int]]:
    """All datasets in one table, and the number of rows skipped per dataset.

    Added columns: ``label_quadrant`` (the dataset's quadrant, else that of the targets),
    ``continuous`` (targets are ratings or norms, not VGMIDI's signs: these rows set the
    re-centring, the calibration and the regression metrics) and ``weight`` (1 per row; the rows of
    one VGMIDI phrase share ``--vgmidi-weight``).
    """
    tables, skipped = [], {}
    for kind, path in specs:
        kwargs = {}
        if kind == "4q":
            kwargs = {"lexicon_csv": args.lexicon}
        elif kind == "vgmidi":
            kwargs = {
                "render_dir": args.render_dir,
                "soundfonts": args.soundfont,
                "augment": args.augment,
                "seed": args.seed,
            }
        tables.append(load_dataset(kind, path, **kwargs))
        skipped[kind] = skipped.get(kind, 0) + len(tables[-1].attrs.get("skipped", []))
    table = pd.concat(tables, ignore_index=True)
    # Quadrant labels where the dataset has none: from the continuous targets.
    derived = quadrants(table["valence"], table["arousal"])
    table["label_quadrant"] = table["quadrant"].where(table["quadrant"].notna(), pd.Series(derived))
    table["continuous"] = table["source"] != "vgmidi"
    table["weight"] = 1.0
    if "piece" in table:
        pieces = table["piece"].notna()
        table.loc[pieces, "weight"] = args.vgmidi_weight / table.loc[pieces].groupby("piece")["piece"].transform("size")
    return table, skipped


class Data:
    """Features ``X``, targets ``Y``, row weights ``W`` and the ``table`` rows they belong to;
    ``copies`` maps an encoding of :data:`~music2img.music.reencode.ENCODINGS` to the features of
    each row's re-encoded copy (NaN rows where a row has none)."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, table: pd.DataFrame, copies: dict[str, np.ndarray] | None = None):
        self.X, self.Y, self.table = X, Y, table.reset_index(drop=True)
        self.W = self.table["weight"].to_numpy(dtype=float)
        self.continuous = self.table["continuous"].to_numpy(dtype=bool)
        self.copies = copies or {}

    def __len__(self) -> int:
        return len(self.Y)

    def sub(self, idx) -> Data:
        return Data(self.X[idx], self.Y[idx], self.table.iloc[idx], {n: c[idx] for n, c in self.copies.items()})

    def training_rows(self, targets: np.ndarray, with_copies: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, targets, weights)`` to fit on: the rows and, ``with_copies``, every row's re-encoded
        copies with its target, the row's weight shared equally between the row and its copies."""
        if not (with_copies and self.copies):
            return self.X, targets, self.W
        have = [np.isfinite(c).all(axis=1) for c in self.copies.values()]
        share = self.W / (1 + np.sum(have, axis=0))
        X = np.concatenate([self.X, *(c[h] for c, h in zip(self.copies.values(), have))])
        return (
            X,
            np.concatenate([targets, *(targets[h] for h in have)]),
            np.concatenate([share, *(share[h] for h in have)]),
        )

    def shifted(self, center: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(targets, offset)``: the targets with ``offset`` added to the continuous rows, putting
        their mean at the neutral 5 (zero offset unless ``center``); with ``center`` the sign targets
        (VGMIDI) are shifted on their own too, so that no dataset's balance of happy and sad, calm and
        excited pieces is learnt as the sound of its instrument."""
        offset = target_offset(self.Y[self.continuous], center) if self.continuous.any() else np.zeros(2)
        targets = self.Y + offset * self.continuous[:, None]
        signs = ~self.continuous
        if center and signs.any():
            targets[signs] += target_offset(self.Y[signs], center)
        return targets, offset


def reencoded_features(table: pd.DataFrame, name: str, args) -> np.ndarray:
    """Features of the ``name`` copy of every row's audio (NaN rows where ffmpeg or the analysis
    failed; failures are reported)."""
    from tqdm.auto import tqdm

    X = np.full((len(table), len(feature_names(args.features))), np.nan, dtype=np.float32)
    done, paths = [], []
    for i, src in enumerate(tqdm(table["audio_path"], desc=f"re-encoding ({name})", unit="clip")):
        try:
            paths.append(str(reencoded(src, name, args.reencode_dir)))
            done.append(i)
        except AudioError as exc:
            print(f"skipped the {name} copy of {src}: {exc}", file=sys.stderr)
    extraction = extract_many(paths, args.cache_dir, n_jobs=args.n_jobs, parts=args.features)
    for path, err in extraction.errors:
        print(f"skipped the {name} copy {path}: {err}", file=sys.stderr)
    X[done] = extraction.X
    return X


# --------------------------------------------------------------------------- model


def make_forest(params: dict, seed: int, n_jobs: int = 1):
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(**params, random_state=seed, n_jobs=n_jobs)


def suggest_params(trial) -> dict:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 300, step=25),
        "max_depth": trial.suggest_int("max_depth", 4, 24),
        "min_samples_split": trial.suggest_int("min_samples_split", 2, 20),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 10),
        "max_features": trial.suggest_categorical("max_features", ["sqrt", "log2", 0.2, 0.35, 0.5]),
    }


def grouped_folds(y_quadrant: np.ndarray, groups: np.ndarray, n_splits: int, seed: int):
    """``(train, test)`` index pairs: no group in both, quadrants stratified where each quadrant
    has at least ``n_splits`` clips (plain grouped K-fold otherwise)."""
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    X = np.zeros(len(groups))
    if pd.Series(y_quadrant).value_counts().min() >= n_splits:
        return list(
            StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(X, y_quadrant, groups)
        )
    return list(GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(X, y_quadrant, groups))


def make_folds(table: pd.DataFrame, n_splits: int, seed: int):
    """:func:`grouped_folds` of each source on its own, fold ``k`` of every source together: each
    fold holds out the same share of every dataset (artists of 4Q, games of VGMIDI)."""
    folds = [(np.array([], dtype=int), np.array([], dtype=int))] * n_splits
    for _, part in table.groupby("source", sort=True):
        rows = part.index.to_numpy()
        for k, (tr, te) in enumerate(
            grouped_folds(part["label_quadrant"].to_numpy(), part["group"].to_numpy(), n_splits, seed)
        ):
            folds[k] = (np.concatenate([folds[k][0], rows[tr]]), np.concatenate([folds[k][1], rows[te]]))
    return [(np.sort(tr), np.sort(te)) for tr, te in folds]


def fit_forest(params: dict, data: Data, targets: np.ndarray, args):
    X, targets, weights = data.training_rows(targets, args.train_reencoded)
    return make_forest(params, args.seed, args.n_jobs).fit(X, targets, sample_weight=weights)


def best_cv(study, args) -> float:
    """The best trial's CV score in the objective's own terms (macro-F1, not 1 − macro-F1)."""
    return float(1.0 - study.best_value if args.objective == "macro_f1" else study.best_value)


def tune(data: Data, args, study_name: str) -> optuna.Study:  # noqa: F821
    """Optuna study of the forest's hyper-parameters by :func:`make_folds` CV on ``data``: weighted
    MSE of (valence, arousal), or 1 − quadrant macro-F1, over the validation rows."""
    import optuna
    from sklearn.metrics import f1_score

    folds = make_folds(data.table, args.cv_folds, args.seed)
    quad = data.table["label_quadrant"].to_numpy()

    def objective(trial) -> float:
        params = suggest_params(trial)
        losses = []
        for step, (tr, va) in enumerate(folds):
            pred = fit_forest(params, data.sub(tr), data.Y[tr], args).predict(data.X[va])
            if args.objective == "macro_f1":
                losses.append(
                    1.0
                    - float(
                        f1_score(
                            quad[va],
                            quadrants(pred[:, 0], pred[:, 1]),
                            labels=list(QUADRANTS),
                            average="macro",
                            zero_division=0,
                        )
                    )
                )
            else:
                losses.append(float(np.average(((pred - data.Y[va]) ** 2).mean(axis=1), weights=data.W[va])))
            trial.report(float(np.mean(losses)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(losses))

    study = optuna.create_study(
        study_name=study_name,
        storage=args.storage,
        load_if_exists=True,
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=args.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )
    done = len([t for t in study.trials if t.state.is_finished()])
    remaining = max(0, args.trials - done)
    if done:
        print(f"resuming study {study_name!r}: {done} trials done, {remaining} to go")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if remaining:
        study.optimize(objective, n_trials=remaining, show_progress_bar=True)
    return study


# --------------------------------------------------------------------------- evaluation


def regression_metrics(Y_true: np.ndarray, Y_pred: np.ndarray) -> dict:
    from scipy.stats import pearsonr
    from sklearn.metrics import (
        explained_variance_score,
        mean_absolute_error,
        mean_squared_error,
        r2_score,
    )

    out = {}
    for j, dim in enumerate(DIMENSIONS):
        t, p = Y_true[:, j], Y_pred[:, j]
        mse = float(mean_squared_error(t, p))
        out[dim] = {
            "mse": mse,
            "mae": float(mean_absolute_error(t, p)),
            "rmse": float(np.sqrt(mse)),
            "r2": float(r2_score(t, p)),
            "explained_variance": float(explained_variance_score(t, p)),
            "pearson_r": float(pearsonr(t, p)[0]) if np.std(p) > 0 and np.std(t) > 0 else float("nan"),
            "pred_std": float(np.std(p)),
            "true_std": float(np.std(t)),
        }
    return out


def quadrant_metrics(true_q: np.ndarray, Y_pred: np.ndarray) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    pred_q = quadrants(Y_pred[:, 0], Y_pred[:, 1])
    return {
        "accuracy": float(accuracy_score(true_q, pred_q)),
        "macro_f1": float(f1_score(true_q, pred_q, labels=list(QUADRANTS), average="macro", zero_division=0)),
        "labels": list(QUADRANTS),
        "confusion": confusion_matrix(true_q, pred_q, labels=list(QUADRANTS)).tolist(),
    }


def split_metrics(Y_true: np.ndarray, Y_pred: np.ndarray, dataset_quadrants: np.ndarray) -> dict:
    """Regression metrics, and quadrant metrics against the targets' quadrants and (where the
    dataset has them, non-null entries of ``dataset_quadrants``) the dataset's own labels."""
    out = {
        "regression": regression_metrics(Y_true, Y_pred),
        "quadrant_targets": quadrant_metrics(quadrants(Y_true[:, 0], Y_true[:, 1]), Y_pred) | {"n": len(Y_true)},
    }
    known = pd.notna(dataset_quadrants)
    if known.any():
        out["quadrant_dataset"] = quadrant_metrics(dataset_quadrants[known], Y_pred[known]) | {"n": int(known.sum())}
    return out


def sign_metrics(table: pd.DataFrame, Y_pred: np.ndarray) -> dict:
    """Metrics for data labelled by sign (VGMIDI): per phrase, the mean prediction over the windows
    of its reference rendering (as a song is predicted) against the phrase's quadrant: quadrant
    accuracy and macro-F1, ROC AUC of the predicted valence (arousal) for telling positive from
    negative valence (arousal), the predictions' standard deviation; and the same per augmented
    window under ``augmented``."""
    from sklearn.metrics import roc_auc_score

    def metrics(quad: np.ndarray, P: np.ndarray) -> dict:
        out = quadrant_metrics(quad, P) | {"n": len(quad)}
        for j, (dim, positive) in enumerate((("valence", ("Q1", "Q4")), ("arousal", ("Q1", "Q2")))):
            y = np.isin(quad, positive)
            out[f"{dim}_auc"] = float(roc_auc_score(y, P[:, j])) if 0 < y.sum() < len(y) else float("nan")
            out[f"{dim}_std"] = float(P[:, j].std())
        return out

    reference = (table["rendering"] == "reference").to_numpy()
    pieces = (
        pd.DataFrame(Y_pred[reference], columns=list(DIMENSIONS))
        .assign(
            piece=table["piece"].to_numpy()[reference],
            quadrant=table["quadrant"].to_numpy()[reference],
            group=table["group"].to_numpy()[reference],
        )
        .groupby("piece", sort=True)
    )
    per_piece = pieces[list(DIMENSIONS)].mean()
    out = metrics(pieces["quadrant"].first().to_numpy(), per_piece.to_numpy()) | {
        "groups": int(pieces["group"].first().nunique()),
        "predictions": per_piece.to_numpy().tolist(),
        "quadrants": pieces["quadrant"].first().tolist(),
    }
    if (~reference).any():
        out["augmented"] = metrics(table["quadrant"].to_numpy()[~reference], Y_pred[~reference])
    return out


def reencoding_shifts(table: pd.DataFrame, Y_pred: np.ndarray, copies: dict[str, np.ndarray]) -> dict:
    """How far the predictions of re-encoded copies (NaN rows: no copy) lie from those of the
    originals ``Y_pred``, per source of ``table`` and encoding: mean and 90th-percentile |Δ| per
    dimension, and the share of rows whose quadrant changes."""
    out = {}
    for source, part in table.groupby("source", sort=True):
        for name, P in copies.items():
            rows = part.index.to_numpy()[np.isfinite(P[part.index.to_numpy()]).all(axis=1)]
            if not len(rows):
                continue
            d = np.abs(P[rows] - Y_pred[rows])
            out.setdefault(source, {})[name] = {
                "n": len(rows),
                "mean_shift": dict(zip(DIMENSIONS, d.mean(axis=0).round(3).tolist())),
                "p90_shift": dict(zip(DIMENSIONS, np.percentile(d, 90, axis=0).round(3).tolist())),
                "quadrant_changed": float(np.mean(quadrants(*P[rows].T) != quadrants(*Y_pred[rows].T))),
            }
    return out


def evaluate(data: Data, targets: np.ndarray, Y_pred: np.ndarray) -> dict:
    """:func:`split_metrics` on the rows with continuous targets, :func:`sign_metrics` of each
    sign-labelled source under its name."""
    c = data.continuous
    out = split_metrics(targets[c], Y_pred[c], data.table["quadrant"].to_numpy()[c]) if c.any() else {}
    for source, part in data.table[~c].groupby("source"):
        out[source] = sign_metrics(part, Y_pred[part.index.to_numpy()])
    return out


def fit_calibrations(data: Data, params: dict, args) -> dict[str, SpreadCalibration]:
    """Every calibration method fitted on out-of-fold predictions (:func:`make_folds`) of the rows
    with continuous targets (re-centred) of ``data``."""
    oof = out_of_fold(data, params, args.cv_folds, args.seed, args)
    targets, _ = data.shifted(args.center_targets)
    c = data.continuous
    return {method: SpreadCalibration(method).fit(oof[c], targets[c]) for method in METHODS}


def tune_fit_evaluate(data: Data, train_idx, test_idx, args, study_name: str):
    """Tune and calibrate on the training part, fit, and evaluate once on the test part:
    ``(study, forest, predictions, metrics)``; predictions are calibrated with ``--calibration``,
    ``metrics["by_calibration"]`` holds the test metrics of the raw and of every calibrated prediction.

    Re-centring is a shift of the targets: it leaves the forest's errors unchanged and moves the
    quadrant boundaries to the training clips' mean. Metrics compare with the shifted test targets.
    """
    train, test = data.sub(train_idx), data.sub(test_idx)
    study = tune(train, args, study_name)
    params = dict(study.best_params)
    calibrations = fit_calibrations(train, params, args)
    train_targets, offset = train.shifted(args.center_targets)
    forest = fit_forest(params, train, train_targets, args)
    raw = forest.predict(test.X)
    calibrate = calibrations[args.calibration].transform if args.calibration != "none" else (lambda p: p)
    preds = {"none": raw} | {m: cal.transform(raw) for m, cal in calibrations.items()}
    preds = {m: np.clip(p, 1.0, 9.0) for m, p in preds.items()}
    copies = {}
    for name, Xc in test.copies.items():
        have = np.isfinite(Xc).all(axis=1)
        copies[name] = np.full_like(raw, np.nan)
        if have.any():
            copies[name][have] = np.clip(calibrate(forest.predict(Xc[have])), 1.0, 9.0)
    test_targets = test.Y + offset * test.continuous[:, None]
    by_calibration = {m: evaluate(test, test_targets, p) for m, p in preds.items()}
    metrics = by_calibration[args.calibration] | {
        "target_offset": offset.tolist(),
        "by_calibration": by_calibration,
        "predictions": {m: p.tolist() for m, p in preds.items()},
        "reencoded": reencoding_shifts(test.table, preds[args.calibration], copies),
        "copy_predictions": {n: p.tolist() for n, p in copies.items()},
    }
    return study, forest, preds[args.calibration], metrics


def nested_evaluation(data: Data, folds, args, first: dict) -> dict:
    """Every outer fold held out in turn, the forest tuned and calibrated anew on the rest each
    time (fold 0 is the main held-out split, whose metrics are passed as ``first``); metrics of
    the ``--calibration`` predictions pooled over all clips, the macro-F1 per fold, and under
    ``by_calibration`` the pooled metrics of the raw and of every calibrated prediction."""
    targets, per_fold = np.zeros_like(data.Y), []
    Y_pred = {m: np.zeros_like(data.Y) for m in first["predictions"]}
    copies = {n: np.zeros_like(data.Y) for n in first["copy_predictions"]}
    for k, (train_idx, test_idx) in enumerate(folds):
        if k == 0:
            metrics = first
        else:
            print(f"nested fold {k + 1}/{len(folds)}")
            metrics = tune_fit_evaluate(data, train_idx, test_idx, args, f"{args.study_name}-outer{k}")[3]
        targets[test_idx] = data.Y[test_idx] + np.asarray(metrics["target_offset"]) * data.continuous[test_idx, None]
        for m, pred in metrics["predictions"].items():
            Y_pred[m][test_idx] = pred
        for n, pred in metrics["copy_predictions"].items():
            copies[n][test_idx] = pred
        if "regression" in metrics:
            per_fold.append(metrics.get("quadrant_dataset", metrics["quadrant_targets"])["macro_f1"])
    by_calibration = {m: evaluate(data, targets, p) for m, p in Y_pred.items()}
    return by_calibration[args.calibration] | {
        "folds": len(folds),
        "macro_f1_per_fold": per_fold,
        "by_calibration": by_calibration,
        "reencoded": reencoding_shifts(data.table, Y_pred[args.calibration], copies),
        "predictions": {m: p.tolist() for m, p in Y_pred.items()},
        "targets": targets.tolist(),
    }


def target_offset(Y: np.ndarray, center: bool) -> np.ndarray:
    """What to add to the targets so that their mean sits at the neutral 5 (zeros unless ``center``)."""
    return VA_MID - Y.mean(axis=0) if center else np.zeros(Y.shape[1])


def out_of_fold(data: Data, params: dict, n_splits: int, seed: int, args) -> np.ndarray:
    """Out-of-fold predictions of a :func:`make_folds` CV (each fold's targets re-centred on its own
    training part when ``--center-targets``)."""
    pred = np.zeros_like(data.Y)
    for tr, va in make_folds(data.table, n_splits, seed):
        train = data.sub(tr)
        pred[va] = fit_forest(params, train, train.shifted(args.center_targets)[0], args).predict(data.X[va])
    return pred


def cross_validated_f1(data: Data, params: dict, n_splits: int, args, repeats: int = 1) -> dict:
    """Quadrant macro-F1 of out-of-fold predictions from a grouped, stratified K-fold CV, repeated
    with ``repeats`` different fold assignments; scored on the rows with continuous targets."""
    from sklearn.metrics import f1_score

    quad, c = data.table["label_quadrant"].to_numpy(), data.continuous
    fold_f1, repeat_f1, pooled = [], [], []
    for r in range(repeats):
        pred = out_of_fold(data, params, n_splits, args.seed + r, args)
        folds = make_folds(data.table, n_splits, args.seed + r)
        fold_f1 += [
            f1_score(
                quad[va][c[va]],
                quadrants(pred[va][c[va], 0], pred[va][c[va], 1]),
                labels=list(QUADRANTS),
                average="macro",
                zero_division=0,
            )
            for _, va in folds
        ]
        repeat_f1.append(np.mean(fold_f1[-len(folds) :]))
        pooled.append(quadrant_metrics(quad[c], pred[c]))
    return {
        "folds": n_splits,
        "repeats": repeats,
        "macro_f1_mean": float(np.mean(fold_f1)),
        "macro_f1_std": float(np.std(fold_f1)),
        "macro_f1_repeat_std": float(np.std(repeat_f1)),
        "pooled": pooled[0] | {"macro_f1": float(np.mean([m["macro_f1"] for m in pooled]))},
    }


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument(
        "--dataset",
        action="append",
        type=parse_dataset,
        required=True,
        metavar="KIND:PATH",
        help=f"a dataset folder in its original layout; KIND is one of {', '.join(LOADERS)}; repeatable",
    )
    p.add_argument("--lexicon", type=Path, help="mood_lexicon.csv for 4Q (default: beside the 4Q folder)")
    p.add_argument(
        "--render-dir",
        type=Path,
        default=REPO / "work" / "vgmidi_renders",
        help="where VGMIDI's MIDI files are rendered to audio (default: %(default)s)",
    )
    p.add_argument(
        "--soundfont",
        action="append",
        metavar="PATH",
        help="General MIDI SoundFont for VGMIDI; repeatable, the first plays the reference piano "
        "(default: those installed, FluidR3 first)",
    )
    p.add_argument(
        "--augment", type=int, default=4, help="augmented renderings per VGMIDI phrase (default: %(default)s)"
    )
    p.add_argument(
        "--vgmidi-weight",
        type=float,
        default=1.0,
        help="total training weight of one VGMIDI phrase's rows, relative to one clip of the other "
        "datasets (default: %(default)s)",
    )
    p.add_argument(
        "--reencode",
        action="append",
        choices=list(ENCODINGS),
        default=[],
        metavar="ENCODING",
        help="also analyse a copy of every clip (and VGMIDI window) stored this way (ffmpeg, cached in "
        f"--reencode-dir; one of {', '.join(ENCODINGS)}; repeatable) and report how far the test "
        "clips' predictions move on it",
    )
    p.add_argument(
        "--train-reencoded",
        action="store_true",
        help="fit on the --reencode copies too (beside their clip, sharing its weight), so that the "
        "forest learns what stays the same when a recording is stored differently",
    )
    p.add_argument(
        "--reencode-dir",
        type=Path,
        default=REPO / "work" / "reencoded",
        help="where the re-encoded copies are kept (default: %(default)s)",
    )
    p.add_argument(
        "--features",
        type=parse_parts,
        default=("librosa",),
        metavar="PART[+PART]",
        help=f"feature parts the forest reads, joined by '+', of {', '.join(PARTS)} (musicnn: the pretrained "
        "taggers' tags and embedding statistics; default: %(default)s)",
    )
    p.add_argument(
        "--compare",
        type=Path,
        action="append",
        default=[],
        metavar="JSON",
        help="another nested run to compare with in the model card: its model_card.json, or the JSON of "
        "train/music_heads.py; repeatable",
    )
    p.add_argument("--out", type=Path, default=MUSIC_MODEL_DIR, help="output model folder (default: %(default)s)")
    p.add_argument(
        "--cache-dir", type=Path, default=REPO / "work" / "music_cache", help="feature cache (default: %(default)s)"
    )
    p.add_argument("--trials", type=int, default=50, help="Optuna trials (default: %(default)s)")
    p.add_argument("--storage", help="Optuna storage URL, e.g. sqlite:///work/music_optuna.db (resumable)")
    p.add_argument("--study-name", default="music_emotion", help="Optuna study name (default: %(default)s)")
    p.add_argument(
        "--objective",
        choices=["mse", "macro_f1"],
        default="mse",
        help="what the Optuna CV minimises: mean squared error of (valence, arousal), or "
        "1 - quadrant macro-F1 (default: %(default)s)",
    )
    p.add_argument("--cv-folds", type=int, default=5, help="grouped CV folds for tuning (default: %(default)s)")
    p.add_argument(
        "--nested",
        action="store_true",
        help="also hold out each of the other outer folds in turn, tuning anew each time (nested CV: every "
        "clip is a test clip once; costs (folds - 1) more Optuna studies)",
    )
    p.add_argument(
        "--eval-folds",
        type=int,
        default=10,
        help="grouped CV folds for the comparison macro-F1 over all clips; 0 skips it (default: %(default)s)",
    )
    p.add_argument(
        "--eval-repeats", type=int, default=5, help="repetitions of that CV with different folds (default: %(default)s)"
    )
    p.add_argument("--test-size", type=float, default=0.2, help="held-out share, approximately (default: %(default)s)")
    p.add_argument(
        "--center-targets",
        action="store_true",
        help="shift the targets so the training clips' mean valence/arousal sit at the neutral 5 (the "
        "continuous datasets together, VGMIDI's sign targets on their own); for quadrant-balanced "
        "data such as 4Q, whose lexicon targets centre on 5.1/4.8",
    )
    p.add_argument(
        "--calibration",
        choices=["none", *METHODS],
        default="linear",
        help="spread calibration shipped with the model and used for the reported metrics; all are "
        "measured (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument(
        "--n-jobs", type=int, default=1, help="worker processes for features and forests (default: %(default)s)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    try:
        table, skipped = load_table(args.dataset, args)
    except Music2ImgError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(table)} clips from {', '.join(sorted(table['source'].unique()))}")
    extraction = extract_many(table["audio_path"], args.cache_dir, n_jobs=args.n_jobs, parts=args.features)
    for path, err in extraction.errors:
        print(f"skipped {path}: {err}", file=sys.stderr)
    table = table[extraction.ok].reset_index(drop=True)
    if args.train_reencoded and not args.reencode:
        print("error: --train-reencoded needs at least one --reencode ENCODING", file=sys.stderr)
        return 2
    if args.reencode and not have_ffmpeg():
        print("error: --reencode needs ffmpeg (e.g. apt-get install ffmpeg)", file=sys.stderr)
        return 2
    copies = {name: reencoded_features(table, name, args) for name in args.reencode}
    data = Data(extraction.X[extraction.ok], table[list(DIMENSIONS)].to_numpy(dtype=float), table, copies)
    n_splits = max(2, round(1 / args.test_size))
    fewest = table.groupby("source")["group"].nunique()
    if fewest.min() < 2 * n_splits:
        print(
            f"error: need at least {2 * n_splits} groups (artists/songs/games) in each dataset, got {fewest.to_dict()}",
            file=sys.stderr,
        )
        return 2

    outer = make_folds(table, n_splits, args.seed)
    train_idx, test_idx = outer[0]
    groups = table["group"].to_numpy()
    print(
        f"split: {len(train_idx)} training / {len(test_idx)} held-out clips, "
        f"{len(set(groups[train_idx]))} / {len(set(groups[test_idx]))} groups"
    )

    study, forest, pred, held_out = tune_fit_evaluate(data, train_idx, test_idx, args, args.study_name)
    test = data.sub(test_idx)
    c_test = test.continuous
    Y_test = test.Y + np.asarray(held_out["target_offset"]) * c_test[:, None]
    params = dict(study.best_params)
    print(f"best CV {args.objective} {best_cv(study, args):.4f} with {params}")
    report(held_out, "held-out")

    nested = {}
    if args.nested:
        nested = nested_evaluation(data, outer, args, first=held_out)
        report(nested, f"nested {n_splits}-fold")

    cross_validation = {}
    if args.eval_folds >= 2:
        default = {"n_estimators": 200, "max_features": "sqrt"}
        for key, p, desc in (
            ("tuned", params, "tuned hyper-parameters (tuned on the training part, so slightly optimistic)"),
            ("untuned", default, f"untuned forest {default}"),
        ):
            cv = cross_validated_f1(data, p, args.eval_folds, args, repeats=max(1, args.eval_repeats))
            cross_validation[key] = cv | {"description": desc}
            print(
                f"{cv['repeats']}× {args.eval_folds}-fold grouped CV macro-F1 ({key}): {cv['macro_f1_mean']:.1%} "
                f"± {cv['macro_f1_repeat_std']:.1%} between repeats"
            )

    args.out.mkdir(parents=True, exist_ok=True)
    shown = held_out.get("quadrant_dataset", held_out.get("quadrant_targets"))
    if c_test.any():
        plot_predictions(Y_test[c_test], pred[c_test], args.out / "pred_vs_true.png")
        plot_confusion(shown["confusion"], args.out / "confusion.png")
    spread = nested or held_out
    spread_rows = data.continuous if nested else c_test
    spread_true = np.asarray(spread["targets"]) if nested else Y_test
    quad = table["label_quadrant"].to_numpy() if nested else test.table["label_quadrant"].to_numpy()
    what = "nested artist-disjoint test predictions" if nested else "held-out predictions"
    if spread_rows.any():
        plot_spread(
            spread_true[spread_rows],
            {m: np.asarray(p)[spread_rows] for m, p in spread["predictions"].items()},
            quad[spread_rows],
            args.out / "spread.png",
            what,
        )
    if "vgmidi" in spread:
        plot_spread(
            None,
            {m: np.asarray(v["vgmidi"]["predictions"]) for m, v in spread["by_calibration"].items()},
            np.asarray(spread["vgmidi"]["quadrants"]),
            args.out / "vgmidi.png",
            f"VGMIDI phrases of unseen games ({what.split(' test')[0].replace('artist-disjoint', 'by game')})",
        )
    strip_predictions(held_out)
    strip_predictions(nested)
    names, schema = feature_names(args.features), schema_version(args.features)
    plot_importances(forest.feature_importances_, names, args.out / "feature_importance.png")

    final_targets, final_offset = data.shifted(args.center_targets)
    final = fit_forest(params, data, final_targets, args)
    calibration = fit_calibrations(data, params, args)[args.calibration] if args.calibration != "none" else None
    datasets = {}
    for src, part in table.groupby("source"):
        datasets[src] = {"clips": len(part), "groups": int(part["group"].nunique()), "skipped": skipped.get(src, 0)}
        if "piece" in part and part["piece"].notna().all():
            datasets[src]["pieces"] = int(part["piece"].nunique())
    card = {
        "schema_version": schema,
        "feature_parts": list(args.features),
        "n_features": len(names),
        "seed": args.seed,
        "data": {
            "datasets": datasets,
            "clips": int(len(table)),
            "failed": len(extraction.errors),
            "sources": [f"{k}:{p}" for k, p in args.dataset],
            "augment": args.augment,
            "vgmidi_weight": args.vgmidi_weight,
            "vgmidi_levels": list(VGMIDI_LEVELS),
            "reencode": args.reencode,
            "train_reencoded": bool(args.train_reencoded),
        },
        "split": {
            "train": int(len(train_idx)),
            "test": int(len(test_idx)),
            "grouped_by": "artist (4Q) / song (DEAM, PMEmo) / game (VGMIDI)",
        },
        "tuning": {
            "trials": len(study.trials),
            "cv_folds": args.cv_folds,
            "objective": args.objective,
            "best_cv": best_cv(study, args),
        },
        "params": params,
        "center_targets": bool(args.center_targets),
        "target_offset_final": final_offset.tolist(),
        "calibration": args.calibration,
        "calibration_scale": calibration.scale().tolist() if calibration is not None else None,
        "held_out": held_out,
        "nested": nested,
        "cross_validation": cross_validation,
        "comparison": comparison_rows(args.compare)
        + (
            [comparison_row(f"forest on {'+'.join(args.features)} (this model)", nested)]
            if args.compare and nested
            else []
        ),
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    summary = (
        {d: {k: held_out["regression"][d][k] for k in ("r2", "pearson_r", "rmse")} for d in DIMENSIONS}
        if "regression" in held_out
        else {}
    )
    model = MusicEmotionModel(
        final,
        names,
        schema,
        metadata={
            "params": params,
            "target_offset": final_offset.tolist(),
            "trained_on": card["data"]["sources"],
            "clips": card["data"]["clips"],
            "held_out": summary | ({"quadrant_macro_f1": shown["macro_f1"]} if shown else {}),
        },
        calibration=calibration,
    )
    model.save(args.out)
    card["model_size_mb"] = (args.out / MODEL_FILE).stat().st_size / 2**20
    card["feature_names"] = names
    write_text(args.out / "model_card.json", json.dumps(card, indent=2) + "\n")
    write_text(args.out / "MODEL_CARD.md", model_card(card))
    print(f"saved {args.out} ({card['model_size_mb']:.1f} MB model) in {card['train_seconds']:.0f} s")
    if card["model_size_mb"] > MAX_MODEL_MB:
        print(f"warning: {MODEL_FILE} is larger than {MAX_MODEL_MB:g} MB", file=sys.stderr)
    return 0


def report(metrics: dict, what: str) -> None:
    """Print the headline figures of :func:`evaluate`'s output."""
    if "regression" in metrics:
        r = metrics["regression"]
        q = metrics.get("quadrant_dataset", metrics["quadrant_targets"])
        print(
            f"{what}: valence R² {r['valence']['r2']:.3f} (r {r['valence']['pearson_r']:.3f}, std "
            f"{r['valence']['pred_std']:.2f}"
            f" vs {r['valence']['true_std']:.2f}), arousal R² {r['arousal']['r2']:.3f} (r "
            f"{r['arousal']['pearson_r']:.3f}, "
            f"std {r['arousal']['pred_std']:.2f} vs {r['arousal']['true_std']:.2f}); quadrant accuracy "
            f"{q['accuracy']:.1%}, "
            f"macro-F1 {q['macro_f1']:.1%}"
        )
    for source, shifts in metrics.get("reencoded", {}).items():
        for name, r in shifts.items():
            print(
                f"{what} {source} {ENCODINGS[name].label} copies ({r['n']} clips): mean |Δ| valence "
                f"{r['mean_shift']['valence']:.2f}, arousal {r['mean_shift']['arousal']:.2f}; "
                f"quadrant changed {r['quadrant_changed']:.0%}"
            )
    if "vgmidi" in metrics:
        v = metrics["vgmidi"]
        print(
            f"{what} VGMIDI ({v['n']} phrases, {v['groups']} games): macro-F1 {v['macro_f1']:.1%}, "
            f"valence AUC {v['valence_auc']:.3f}, arousal AUC {v['arousal_auc']:.3f}"
        )


def strip_predictions(metrics: dict) -> None:
    """Drop the per-clip predictions kept for the plots from metrics bound for the model card."""
    for key in ("predictions", "targets", "copy_predictions"):
        metrics.pop(key, None)
    for part in [metrics, *metrics.get("by_calibration", {}).values()]:
        for v in part.values():
            if isinstance(v, dict):
                v.pop("predictions", None)
                v.pop("quadrants", None)


if __name__ == "__main__":
    sys.exit(main())
