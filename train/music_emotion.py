#!/usr/bin/env python
"""Train the music → (valence, arousal) Random Forest and ship it with its model card.

Steps:

1. load the datasets (``--dataset KIND:PATH``, several allowed) and extract (cached) features;
2. hold out ~20% of the clips, split by *group* (artist; song for DEAM/PMEmo) and stratified
   by quadrant — no artist is on both sides;
3. tune the forest with Optuna (TPE, ``--trials``) by grouped K-fold CV on the training part
   only, minimising the mean MSE over valence and arousal; ``--storage sqlite:///…`` makes an
   interrupted study resume;
4. fit the best forest on the training part and evaluate it once on the held-out part
   (MSE, MAE, RMSE, R², explained variance, Pearson r per dimension; quadrant accuracy and
   macro-F1); optionally a repeated 10-fold grouped CV macro-F1 over all clips for comparison with the
   literature;
5. refit on all clips with the best parameters and save the model, the model card (Markdown +
   JSON) and the plots into ``--out`` (default ``assets/music_emotion``).

Example::

    python train/music_emotion.py --dataset 4q:../shared/data/music/4q \\
        --lexicon ../shared/data/music/mood_lexicon.csv --cache-dir work/music_cache \\
        --trials 50 --storage sqlite:///work/music_optuna.db
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
from music2img.errors import Music2ImgError  # noqa: E402
from music2img.files import atomic_path  # noqa: E402
from music2img.music.datasets import LOADERS, load_dataset  # noqa: E402
from music2img.music.emotion_model import MODEL_FILE, MusicEmotionModel  # noqa: E402
from music2img.music.feature_cache import extract_many  # noqa: E402
from music2img.music.features import FEATURE_NAMES, SCHEMA_VERSION  # noqa: E402
from music2img.va import QUADRANTS, VA_MID, quadrants  # noqa: E402

DIMS = ("valence", "arousal")
MAX_MODEL_MB = 25.0


# --------------------------------------------------------------------------- data


def parse_dataset(spec: str) -> tuple[str, Path]:
    """``"KIND:PATH"`` → ``(kind, path)``."""
    kind, sep, path = spec.partition(":")
    if not sep or kind.lower() not in LOADERS or not path:
        raise argparse.ArgumentTypeError(f"expected KIND:PATH with KIND one of {', '.join(LOADERS)}, got {spec!r}")
    return kind.lower(), Path(path)


def load_table(specs: list[tuple[str, Path]], lexicon: Path | None) -> tuple[pd.DataFrame, dict[str, int]]:
    """All datasets in one table, and the number of rows skipped per dataset."""
    tables, skipped = [], {}
    for kind, path in specs:
        kwargs = {"lexicon_csv": lexicon} if kind == "4q" else {}
        tables.append(load_dataset(kind, path, **kwargs))
        skipped[kind] = skipped.get(kind, 0) + len(tables[-1].attrs.get("skipped", []))
    table = pd.concat(tables, ignore_index=True)
    # Quadrant labels where the dataset has none: from the continuous targets.
    derived = quadrants(table["valence"], table["arousal"])
    table["label_quadrant"] = table["quadrant"].where(table["quadrant"].notna(), pd.Series(derived))
    return table, skipped


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
        return list(StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(X, y_quadrant, groups))
    return list(GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(X, y_quadrant, groups))


def best_cv(study, args) -> float:
    """The best trial's CV score in the objective's own terms (macro-F1, not 1 − macro-F1)."""
    return float(1.0 - study.best_value if args.objective == "macro_f1" else study.best_value)


def tune(X, Y, quad, groups, args, study_name: str) -> "optuna.Study":  # noqa: F821
    import optuna
    from sklearn.metrics import f1_score

    folds = grouped_folds(quad, groups, args.cv_folds, args.seed)

    def objective(trial) -> float:
        params = suggest_params(trial)
        losses = []
        for step, (tr, va) in enumerate(folds):
            pred = make_forest(params, args.seed, args.n_jobs).fit(X[tr], Y[tr]).predict(X[va])
            if args.objective == "macro_f1":
                losses.append(1.0 - float(f1_score(quad[va], quadrants(pred[:, 0], pred[:, 1]), labels=list(QUADRANTS),
                                                   average="macro", zero_division=0)))
            else:
                losses.append(float(np.mean((pred - Y[va]) ** 2)))
            trial.report(float(np.mean(losses)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(losses))

    study = optuna.create_study(
        study_name=study_name, storage=args.storage, load_if_exists=True, direction="minimize",
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
    for j, dim in enumerate(DIMS):
        t, p = Y_true[:, j], Y_pred[:, j]
        mse = float(mean_squared_error(t, p))
        out[dim] = {
            "mse": mse,
            "mae": float(mean_absolute_error(t, p)),
            "rmse": float(np.sqrt(mse)),
            "r2": float(r2_score(t, p)),
            "explained_variance": float(explained_variance_score(t, p)),
            "pearson_r": float(pearsonr(t, p)[0]) if np.std(p) > 0 else float("nan"),
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
    out = {"regression": regression_metrics(Y_true, Y_pred),
           "quadrant_targets": quadrant_metrics(quadrants(Y_true[:, 0], Y_true[:, 1]), Y_pred) | {"n": len(Y_true)}}
    known = pd.notna(dataset_quadrants)
    if known.any():
        out["quadrant_dataset"] = quadrant_metrics(dataset_quadrants[known], Y_pred[known]) | {"n": int(known.sum())}
    return out


def tune_fit_evaluate(X, Y, table: pd.DataFrame, train_idx, test_idx, args, study_name: str):
    """Tune on the training part, fit, and evaluate once on the test part:
    ``(study, forest, predictions, metrics)``.

    Re-centring is a shift of the targets: it leaves the forest's errors unchanged and moves the
    quadrant boundaries to the training clips' mean. Metrics compare with the shifted test targets.
    """
    quad, groups = table["label_quadrant"].to_numpy(), table["group"].to_numpy()
    study = tune(X[train_idx], Y[train_idx], quad[train_idx], groups[train_idx], args, study_name)
    offset = target_offset(Y[train_idx], args.center_targets)
    forest = make_forest(dict(study.best_params), args.seed, args.n_jobs).fit(X[train_idx], Y[train_idx] + offset)
    pred = np.clip(forest.predict(X[test_idx]), 1.0, 9.0)
    metrics = split_metrics(Y[test_idx] + offset, pred, table["quadrant"].to_numpy()[test_idx])
    return study, forest, pred, metrics | {"target_offset": offset.tolist()}


def nested_evaluation(X, Y, table: pd.DataFrame, folds, args, first) -> dict:
    """Every outer fold held out in turn, the forest tuned anew on the rest each time (fold 0 is
    the main held-out split, whose ``(predictions, metrics)`` are passed as ``first``); metrics
    pooled over all clips and the macro-F1 per fold."""
    Y_true, Y_pred, per_fold = np.zeros_like(Y), np.zeros_like(Y), []
    for k, (train_idx, test_idx) in enumerate(folds):
        if k == 0:
            pred, metrics = first
        else:
            print(f"nested fold {k + 1}/{len(folds)}")
            _, _, pred, metrics = tune_fit_evaluate(X, Y, table, train_idx, test_idx, args, f"{args.study_name}-outer{k}")
        Y_true[test_idx], Y_pred[test_idx] = Y[test_idx] + metrics["target_offset"], pred
        per_fold.append(metrics.get("quadrant_dataset", metrics["quadrant_targets"])["macro_f1"])
    return split_metrics(Y_true, Y_pred, table["quadrant"].to_numpy()) | {"folds": len(folds), "macro_f1_per_fold": per_fold}


def target_offset(Y: np.ndarray, center: bool) -> np.ndarray:
    """What to add to the targets so that their mean sits at the neutral 5 (zeros unless ``center``)."""
    return VA_MID - Y.mean(axis=0) if center else np.zeros(Y.shape[1])


def cross_validated_f1(X, Y, quad, groups, params: dict, n_splits: int, seed: int, n_jobs: int, center: bool,
                       repeats: int = 1) -> dict:
    """Quadrant macro-F1 of out-of-fold predictions from a grouped, stratified K-fold CV, repeated
    with ``repeats`` different fold assignments."""
    from sklearn.metrics import f1_score

    fold_f1, repeat_f1, pooled = [], [], []
    for r in range(repeats):
        pred = np.zeros_like(Y)
        folds = grouped_folds(quad, groups, n_splits, seed + r)
        for tr, va in folds:
            Y_tr = Y[tr] + target_offset(Y[tr], center)
            pred[va] = make_forest(params, seed, n_jobs).fit(X[tr], Y_tr).predict(X[va])
            fold_f1.append(f1_score(quad[va], quadrants(pred[va, 0], pred[va, 1]), labels=list(QUADRANTS),
                                    average="macro", zero_division=0))
        repeat_f1.append(np.mean(fold_f1[-len(folds):]))
        pooled.append(quadrant_metrics(quad, pred))
    return {"folds": n_splits, "repeats": repeats, "macro_f1_mean": float(np.mean(fold_f1)),
            "macro_f1_std": float(np.std(fold_f1)), "macro_f1_repeat_std": float(np.std(repeat_f1)),
            "pooled": pooled[0] | {"macro_f1": float(np.mean([m["macro_f1"] for m in pooled]))}}


# --------------------------------------------------------------------------- plots and card


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save_figure(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


def plot_predictions(Y_true, Y_pred, path: Path) -> None:
    fig = _figure(8.4, 4.0)
    for j, (dim, ax) in enumerate(zip(DIMS, fig.subplots(1, 2))):
        ax.scatter(Y_true[:, j], Y_pred[:, j], s=10, alpha=0.6, color="#4338ca")
        ax.plot([1, 9], [1, 9], color="#9ca3af", lw=1)
        ax.set(xlim=(1, 9), ylim=(1, 9), xlabel=f"true {dim}", ylabel=f"predicted {dim}", title=f"{dim} (held-out)")
        ax.set_aspect("equal")
    _save_figure(fig, path)


def plot_importances(importances: np.ndarray, path: Path, top: int = 10) -> None:
    order = np.argsort(importances)[::-1][:top][::-1]
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    ax.barh([FEATURE_NAMES[i] for i in order], importances[order], color="#047857")
    ax.set(xlabel="impurity importance", title=f"top {top} features")
    ax.tick_params(labelsize=8)
    _save_figure(fig, path)


def plot_confusion(confusion: list[list[int]], path: Path) -> None:
    cm = np.asarray(confusion)
    fig = _figure(4.4, 4.0)
    ax = fig.add_subplot()
    ax.imshow(cm, cmap="Blues")
    for (i, j), n in np.ndenumerate(cm):
        ax.text(j, i, str(n), ha="center", va="center", color="white" if n > cm.max() / 2 else "black")
    ax.set(xticks=range(4), yticks=range(4), xticklabels=QUADRANTS, yticklabels=QUADRANTS,
           xlabel="predicted quadrant", ylabel="true quadrant", title="held-out quadrants")
    _save_figure(fig, path)


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def model_card(card: dict) -> str:
    t = card["held_out"]
    lines = [
        "# Music emotion model (Random Forest on librosa features)",
        "",
        "Predicts valence and arousal (1–9) of music from "
        f"{len(FEATURE_NAMES)} features (schema v{SCHEMA_VERSION}: mean, standard deviation and mean frame-to-frame "
        "change of MFCC, chroma STFT/CQT/CENS relative to the estimated key, spectral contrast, centroid, bandwidth, "
        "roll-off, ZCR, RMS, tonnetz and 16 log-mel bands; tempo, key clarity, mode and their stability over 3 s "
        "segments, chord-change rate, onset rate, spectral flux, low-energy rate, dynamic range, pulse clarity, "
        "tempogram bands). "
        "Songs are analysed in 30 s windows; the song value is the mean over windows.",
        "",
        "## Data",
        "",
    ]
    for name, d in card["data"]["datasets"].items():
        lines.append(f"- **{name}**: {d['clips']} clips, {d['groups']} groups, {d['skipped']} rows skipped")
    lines += [
        f"- feature extraction failed for {card['data']['failed']} clips (skipped)",
        f"- split: {card['split']['train']} training / {card['split']['test']} held-out clips, "
        f"grouped by {card['split']['grouped_by']} (no group on both sides), stratified by quadrant, seed {card['seed']}",
        "",
        "## Held-out results (clips and artists never seen in tuning or fitting)",
        "",
        "| dimension | MSE | MAE | RMSE | R² | explained var. | Pearson r |",
        "|---|---|---|---|---|---|---|",
    ]
    for dim in DIMS:
        m = t["regression"][dim]
        lines.append(f"| {dim} | {_fmt(m['mse'])} | {_fmt(m['mae'])} | {_fmt(m['rmse'])} | {_fmt(m['r2'])} | "
                     f"{_fmt(m['explained_variance'])} | {_fmt(m['pearson_r'])} |")
    lines.append("")
    for key, label in (("quadrant_dataset", "the dataset's own quadrant labels"), ("quadrant_targets", "quadrants of the continuous targets")):
        if key in t:
            lines.append(f"- quadrant accuracy {t[key]['accuracy']:.1%}, macro-F1 **{t[key]['macro_f1']:.1%}** "
                         f"against {label} ({t[key]['n']} clips)")
    if card.get("nested"):
        n = card["nested"]
        q = n.get("quadrant_dataset", n["quadrant_targets"])
        lines += ["", f"## Nested grouped CV ({n['folds']} outer folds, each tuned and tested on its own)", "",
                  f"Every clip is a test clip once, predicted by a forest tuned and fitted without its artist: "
                  f"valence R² {n['regression']['valence']['r2']:.3f} (r {n['regression']['valence']['pearson_r']:.3f}), "
                  f"arousal R² {n['regression']['arousal']['r2']:.3f} (r {n['regression']['arousal']['pearson_r']:.3f}); "
                  f"quadrant accuracy {q['accuracy']:.1%}, macro-F1 **{q['macro_f1']:.1%}** pooled over {q['n']} clips, "
                  f"{np.mean(n['macro_f1_per_fold']):.1%} ± {np.std(n['macro_f1_per_fold']):.1%} per fold."]
    if card.get("cross_validation"):
        lines += ["", "## Grouped cross-validation (for comparison with the literature)", ""]
        for key, cv in card["cross_validation"].items():
            lines.append(f"- {cv['repeats']}× {cv['folds']}-fold grouped CV over all labelled clips, {cv['description']}: "
                         f"macro-F1 {cv['macro_f1_mean']:.1%} (± {cv['macro_f1_std']:.1%} between folds, "
                         f"± {cv['macro_f1_repeat_std']:.1%} between repeats), pooled {cv['pooled']['macro_f1']:.1%}")
        lines.append("- reference (Panda et al. 2018, 900 clips, 20×10-fold CV, SVM): 67.4% standard features, "
                     "76.4% with their novel features")
    lines += [
        "",
        "## Model",
        "",
        f"- scikit-learn RandomForestRegressor, hyper-parameters tuned by Optuna TPE ({card['tuning']['trials']} trials, "
        f"{card['tuning']['cv_folds']}-fold grouped CV on the training part, best {card['tuning']['objective']} {card['tuning']['best_cv']:.3f}):",
        "",
        "```json",
        json.dumps(card["params"], indent=2),
        "```",
        "",
        f"- shipped model refitted on all {card['data']['clips']} clips; {MODEL_FILE}: {card['model_size_mb']:.1f} MB",
    ]
    if card["center_targets"]:
        off = card["target_offset_final"]
        lines.append(f"- targets re-centred: valence {off[0]:+.3f}, arousal {off[1]:+.3f} added so the training mean sits at "
                     "the neutral 5 (quadrant boundary at the data's balance point; errors unchanged)")
    lines += [

        "- plots: `pred_vs_true.png`, `feature_importance.png`, `confusion.png` (held-out part)",
        "",
        "## Limits",
        "",
        "The 4Q targets are AllMusic mood tags mapped through Warriner word norms, not listener ratings of the audio; "
        "the model learns how editors tag music, on 20 s previews of mostly Western popular music.",
        "",
    ]
    return "\n".join(lines)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--dataset", action="append", type=parse_dataset, required=True, metavar="KIND:PATH",
                   help=f"a dataset folder in its original layout; KIND is one of {', '.join(LOADERS)}; repeatable")
    p.add_argument("--lexicon", type=Path, help="mood_lexicon.csv for 4Q (default: beside the 4Q folder)")
    p.add_argument("--out", type=Path, default=MUSIC_MODEL_DIR, help="output model folder (default: %(default)s)")
    p.add_argument("--cache-dir", type=Path, default=REPO / "work" / "music_cache", help="feature cache (default: %(default)s)")
    p.add_argument("--trials", type=int, default=50, help="Optuna trials (default: %(default)s)")
    p.add_argument("--storage", help="Optuna storage URL, e.g. sqlite:///work/music_optuna.db (resumable)")
    p.add_argument("--study-name", default="music_emotion", help="Optuna study name (default: %(default)s)")
    p.add_argument("--objective", choices=["mse", "macro_f1"], default="mse",
                   help="what the Optuna CV minimises: mean squared error of (valence, arousal), or "
                        "1 - quadrant macro-F1 (default: %(default)s)")
    p.add_argument("--cv-folds", type=int, default=5, help="grouped CV folds for tuning (default: %(default)s)")
    p.add_argument("--nested", action="store_true",
                   help="also hold out each of the other outer folds in turn, tuning anew each time (nested CV: every "
                        "clip is a test clip once; costs (folds - 1) more Optuna studies)")
    p.add_argument("--eval-folds", type=int, default=10,
                   help="grouped CV folds for the comparison macro-F1 over all clips; 0 skips it (default: %(default)s)")
    p.add_argument("--eval-repeats", type=int, default=5,
                   help="repetitions of that CV with different folds (default: %(default)s)")
    p.add_argument("--test-size", type=float, default=0.2, help="held-out share, approximately (default: %(default)s)")
    p.add_argument("--center-targets", action="store_true",
                   help="shift the targets so the training clips' mean valence/arousal sit at the neutral 5; for "
                        "quadrant-balanced data such as 4Q, whose lexicon targets centre on 5.1/4.8")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--n-jobs", type=int, default=1, help="worker processes for features and forests (default: %(default)s)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    try:
        table, skipped = load_table(args.dataset, args.lexicon)
    except Music2ImgError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(table)} clips from {', '.join(sorted(table['source'].unique()))}")
    extraction = extract_many(table["audio_path"], args.cache_dir, n_jobs=args.n_jobs)
    for path, err in extraction.errors:
        print(f"skipped {path}: {err}", file=sys.stderr)
    table = table[extraction.ok].reset_index(drop=True)
    X = extraction.X[extraction.ok]
    Y = table[list(DIMS)].to_numpy(dtype=float)
    groups = table["group"].to_numpy()
    quad = table["label_quadrant"].to_numpy()
    n_splits = max(2, round(1 / args.test_size))
    if table["group"].nunique() < 2 * n_splits:
        print(f"error: need at least {2 * n_splits} groups (artists/songs), got {table['group'].nunique()}", file=sys.stderr)
        return 2

    outer = grouped_folds(quad, groups, n_splits, args.seed)
    train_idx, test_idx = outer[0]
    print(f"split: {len(train_idx)} training / {len(test_idx)} held-out clips, "
          f"{len(set(groups[train_idx]))} / {len(set(groups[test_idx]))} groups")

    study, forest, pred, held_out = tune_fit_evaluate(X, Y, table, train_idx, test_idx, args, args.study_name)
    params = dict(study.best_params)
    print(f"best CV {args.objective} {best_cv(study, args):.4f} with {params}")
    for dim in DIMS:
        m = held_out["regression"][dim]
        print(f"held-out {dim}: R² {m['r2']:.3f}, Pearson r {m['pearson_r']:.3f}, RMSE {m['rmse']:.3f}")
    shown = held_out.get("quadrant_dataset", held_out["quadrant_targets"])
    print(f"held-out quadrant accuracy {shown['accuracy']:.1%}, macro-F1 {shown['macro_f1']:.1%}")

    nested = {}
    if args.nested:
        nested = nested_evaluation(X, Y, table, outer, args, first=(pred, held_out))
        q = nested.get("quadrant_dataset", nested["quadrant_targets"])
        print(f"nested {n_splits}-fold: valence R² {nested['regression']['valence']['r2']:.3f}, arousal R² "
              f"{nested['regression']['arousal']['r2']:.3f}, quadrant macro-F1 {q['macro_f1']:.1%} pooled, "
              f"{np.mean(nested['macro_f1_per_fold']):.1%} ± {np.std(nested['macro_f1_per_fold']):.1%} per fold")

    cross_validation = {}
    if args.eval_folds >= 2:
        default = {"n_estimators": 200, "max_features": "sqrt"}
        for key, p, desc in (("tuned", params, "tuned hyper-parameters (tuned on the training part, so slightly optimistic)"),
                             ("untuned", default, f"untuned forest {default}")):
            cv = cross_validated_f1(X, Y, quad, groups, p, args.eval_folds, args.seed, args.n_jobs, args.center_targets,
                                    repeats=max(1, args.eval_repeats))
            cross_validation[key] = cv | {"description": desc}
            print(f"{cv['repeats']}× {args.eval_folds}-fold grouped CV macro-F1 ({key}): {cv['macro_f1_mean']:.1%} "
                  f"± {cv['macro_f1_repeat_std']:.1%} between repeats")

    args.out.mkdir(parents=True, exist_ok=True)
    plot_predictions(Y[test_idx], pred, args.out / "pred_vs_true.png")
    plot_importances(forest.feature_importances_, args.out / "feature_importance.png")
    plot_confusion(shown["confusion"], args.out / "confusion.png")

    final_offset = target_offset(Y, args.center_targets)
    final = make_forest(params, args.seed, args.n_jobs).fit(X, Y + final_offset)
    datasets = {src: {"clips": int((table["source"] == src).sum()), "groups": int(table.loc[table["source"] == src, "group"].nunique()),
                      "skipped": skipped.get(src, 0)} for src in table["source"].unique()}
    card = {
        "schema_version": SCHEMA_VERSION,
        "n_features": len(FEATURE_NAMES),
        "seed": args.seed,
        "data": {"datasets": datasets, "clips": int(len(table)), "failed": len(extraction.errors),
                 "sources": [f"{k}:{p}" for k, p in args.dataset]},
        "split": {"train": int(len(train_idx)), "test": int(len(test_idx)), "grouped_by": "artist (4Q) / song (DEAM, PMEmo)"},
        "tuning": {"trials": len(study.trials), "cv_folds": args.cv_folds, "objective": args.objective,
                   "best_cv": best_cv(study, args)},
        "params": params,
        "center_targets": bool(args.center_targets),
        "target_offset_final": final_offset.tolist(),
        "held_out": held_out,
        "nested": nested,
        "cross_validation": cross_validation,
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    model = MusicEmotionModel(final, FEATURE_NAMES, SCHEMA_VERSION, metadata={
        "params": params, "target_offset": final_offset.tolist(), "trained_on": card["data"]["sources"], "clips": card["data"]["clips"],
        "held_out": {d: {k: held_out["regression"][d][k] for k in ("r2", "pearson_r", "rmse")} for d in DIMS}
        | {"quadrant_macro_f1": shown["macro_f1"]},
    })
    model.save(args.out)
    card["model_size_mb"] = (args.out / MODEL_FILE).stat().st_size / 2**20
    card["feature_names"] = FEATURE_NAMES
    write_text(args.out / "model_card.json", json.dumps(card, indent=2) + "\n")
    write_text(args.out / "MODEL_CARD.md", model_card(card))
    print(f"saved {args.out} ({card['model_size_mb']:.1f} MB model) in {card['train_seconds']:.0f} s")
    if card["model_size_mb"] > MAX_MODEL_MB:
        print(f"warning: {MODEL_FILE} is larger than {MAX_MODEL_MB:g} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
