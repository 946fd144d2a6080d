"""Train the image → (valence, arousal) model, evaluate it by cross-validation, ship it.

    .venv/bin/python train/image_emotion.py --dataset emotion6:../shared/data/images/emotion6

Steps: load rated photos (several ``--dataset KIND:PATH`` allowed: emotion6, cgna, csv), compute
:mod:`music2img.image.features`, then report out-of-fold Pearson r, R² and MAE per dimension for

* the shipped model (:func:`music2img.image.emotion_model.make_regressor`) and a colour-only random-forest
  baseline, in the same K-fold split (``--folds``, shuffled with ``--seed``);
* the same two under leave-one-group-out (Emotion6: hold out a whole keyword folder — anger, disgust,
  fear, joy, sadness, surprise — so category shortcuts cannot help; an estimate for photos from
  other sources). Skipped when the data has a single group.

It writes ``cv_scatter.png``, ``MODEL_CARD.md`` and ``model_card.json`` into ``--out``, fits the model on
all data and saves it there (``model.joblib`` + ``model.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from music2img.files import atomic_path  # noqa: E402
from music2img.image.datasets import load_datasets  # noqa: E402
from music2img.image.emotion_model import ImageEmotionModel, features_of, make_regressor  # noqa: E402
from music2img.image.features import FEATURE_NAMES, SCHEMA_VERSION, WORK_SIZE  # noqa: E402

DIMENSIONS = ("valence", "arousal")
#: The colour-only baseline: global brightness and saturation statistics and the hue histogram.
BASELINE_FEATURES = ("light.mean", "light.std", "color.sat_mean", "color.sat_std") + tuple(
    n for n in FEATURE_NAMES if n.startswith("hue.hist"))


def colour_only_forest(seed: int = 0):
    """Baseline: a random forest (200 trees) on :data:`BASELINE_FEATURES` only."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import make_pipeline

    cols = [FEATURE_NAMES.index(n) for n in BASELINE_FEATURES]
    return make_pipeline(ColumnTransformer([("colour", "passthrough", cols)]),
                         RandomForestRegressor(n_estimators=200, random_state=seed, n_jobs=1))


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, dict[str, float]]:
    """Pearson r, R² and MAE per dimension."""
    from scipy.stats import pearsonr
    from sklearn.metrics import mean_absolute_error, r2_score

    out = {}
    for k, dim in enumerate(DIMENSIONS):
        t, p = y_true[:, k], y_pred[:, k]
        r = float(pearsonr(t, p)[0]) if np.std(p) > 0 and np.std(t) > 0 else float("nan")
        out[dim] = {"pearson_r": r, "r2": float(r2_score(t, p)), "mae": float(mean_absolute_error(t, p))}
    return out


def out_of_fold(make, X: np.ndarray, y: np.ndarray, splits) -> np.ndarray:
    """Out-of-fold predictions of fresh estimators from ``make()`` over ``splits``, clipped to 1–9."""
    pred = np.zeros_like(y)
    for train, test in splits:
        pred[test] = make().fit(X[train], y[train]).predict(X[test])
    return np.clip(pred, 1.0, 9.0)


def plot_scatter(path: Path, panels: dict[str, tuple[np.ndarray, np.ndarray, dict]]) -> None:
    """Predicted vs true scatter, one row per evaluation, one column per dimension."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 2, figsize=(8, 3.8 * len(panels)), squeeze=False)
    for row, (title, (y, p, sc)) in enumerate(panels.items()):
        for k, dim in enumerate(DIMENSIONS):
            ax = axes[row, k]
            ax.scatter(y[:, k], p[:, k], s=5, alpha=0.35)
            ax.plot([1, 9], [1, 9], "k--", lw=0.8)
            ax.set(xlim=(1, 9), ylim=(1, 9), xlabel=f"true {dim}", ylabel=f"predicted {dim}",
                   title=f"{title}\n{dim}: r={sc[dim]['pearson_r']:.2f}, MAE={sc[dim]['mae']:.2f}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def model_card(card: dict) -> str:
    """Markdown model card from the JSON card."""
    lines = [
        "# Image emotion model (photo → valence, arousal)", "",
        f"Regressor: {card['regressor']}. Features: {card['n_features']} hand-crafted features, schema "
        f"`{card['schema_version']}` (images centre-cropped and resized to {card['work_size']}×{card['work_size']}).",
        f"Training data: {card['n_images']} rated photos from {', '.join(card['datasets'])}; "
        f"targets are mean SAM ratings on the 1–9 scale.", "",
        "## Cross-validated scores (out-of-fold; no score on data a model was fitted on)", "",
        "| evaluation | model | valence r | valence R² | valence MAE | arousal r | arousal R² | arousal MAE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for ev_name, ev in card["evaluations"].items():
        for model_name, sc in ev["scores"].items():
            v, a = sc["valence"], sc["arousal"]
            lines.append(f"| {ev_name} | {model_name} | {v['pearson_r']:.3f} | {v['r2']:.3f} | {v['mae']:.3f} | "
                         f"{a['pearson_r']:.3f} | {a['r2']:.3f} | {a['mae']:.3f} |")
    lines += ["", *[f"- **{k}**: {ev['description']}" for k, ev in card["evaluations"].items()], "",
              "## Notes", "",
              "- The model family and its settings were picked by comparing 5-fold and leave-folder-out CV on "
              "Emotion6 among ridge, RBF-SVR (also grid-searched, and on quantile-transformed inputs), random "
              "forest, extra trees, averages of ridge+SVR(+extra trees) and feature-group subsets; the shipped "
              "SVR has fixed default settings, so the numbers above carry only that small selection optimism.",
              "- Leave-one-group-out is the honest estimate for photos from other sources: it forbids "
              "learning which kind of content a keyword folder holds.",
              "- Arousal is mostly semantic (what happens in the photo) and only weakly carried by global "
              "light, colour and texture, hence its low scores.",
              "- Predictions are clipped to 1–9 and are compressed towards the mean, as with any regressor "
              "of a weakly predictable target (see `predicted_std` vs `target_std`).", "",
              f"Predicted std (all data, refit): valence {card['predicted_std']['valence']:.2f}, arousal "
              f"{card['predicted_std']['arousal']:.2f}; target std: valence {card['target_std']['valence']:.2f}, "
              f"arousal {card['target_std']['arousal']:.2f}.", "",
              "![predicted vs true](cv_scatter.png)", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", action="append", required=True, metavar="KIND:PATH",
                        help="rated photos: emotion6:FOLDER, cgna:FOLDER or csv:FILE.csv (repeatable)")
    parser.add_argument("--out", type=Path, default=REPO / "assets" / "image_emotion", help="output folder")
    parser.add_argument("--folds", type=int, default=5, help="K of the K-fold cross-validation")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold split and the models")
    args = parser.parse_args(argv)
    from sklearn.model_selection import KFold, LeaveOneGroupOut

    table = load_datasets(args.dataset)
    for msg in table.attrs["skipped"]:
        print(f"skipped: {msg}", file=sys.stderr)
    print(f"{len(table)} rated images from {sorted(table.source.unique())}")
    t0 = time.perf_counter()
    X = features_of(table.file, progress=True)
    feat_rate = len(table) / (time.perf_counter() - t0)
    y = table[list(DIMENSIONS)].to_numpy(dtype=float)
    groups = (table.source + "/" + table.group).to_numpy()
    candidates = {"shipped model": lambda: make_regressor(args.seed),
                  "baseline: colour-only random forest": lambda: colour_only_forest(args.seed)}

    evaluations, panels = {}, {}
    splits = {f"{args.folds}-fold": (list(KFold(args.folds, shuffle=True, random_state=args.seed).split(X)),
                                     f"{args.folds}-fold cross-validation, shuffled (seed {args.seed})")}
    if len(set(groups)) > 1:
        splits["leave-one-group-out"] = (list(LeaveOneGroupOut().split(X, y, groups)),
                                         f"each of the {len(set(groups))} groups ({', '.join(sorted(set(groups)))}) "
                                         "held out in turn; scores pooled over all out-of-group predictions")
    else:
        print("one group only: leave-one-group-out skipped")
    for ev_name, (split, description) in splits.items():
        evaluations[ev_name] = {"description": description, "scores": {}}
        for model_name, make in candidates.items():
            pred = out_of_fold(make, X, y, split)
            sc = scores(y, pred)
            evaluations[ev_name]["scores"][model_name] = sc
            print(f"{ev_name:20s} {model_name:38s} " + "  ".join(
                f"{d}: r={sc[d]['pearson_r']:.3f} R2={sc[d]['r2']:.3f} MAE={sc[d]['mae']:.3f}" for d in DIMENSIONS))
            if model_name == "shipped model":
                panels[f"{model_name}, {ev_name}"] = (y, pred, sc)

    args.out.mkdir(parents=True, exist_ok=True)
    plot_scatter(args.out / "cv_scatter.png", panels)
    model = ImageEmotionModel(make_regressor(args.seed).fit(X, y), FEATURE_NAMES, SCHEMA_VERSION)
    fitted = model.predict_features(X)
    card = {
        "regressor": "per dimension: StandardScaler → RBF SVR (C=1, epsilon=0.2, gamma='scale')",
        "schema_version": SCHEMA_VERSION, "n_features": len(FEATURE_NAMES), "work_size": WORK_SIZE,
        "datasets": args.dataset, "n_images": len(table), "n_skipped": len(table.attrs["skipped"]),
        "seed": args.seed, "features_per_second": feat_rate, "evaluations": evaluations,
        "target_std": {d: float(y[:, k].std()) for k, d in enumerate(DIMENSIONS)},
        "target_mean": {d: float(y[:, k].mean()) for k, d in enumerate(DIMENSIONS)},
        "target_quantiles": {d: np.quantile(y[:, k], np.linspace(0, 1, 101)).round(4).tolist()
                             for k, d in enumerate(DIMENSIONS)},
        "predicted_std": {d: float(fitted[:, k].std()) for k, d in enumerate(DIMENSIONS)},
    }
    model.metadata = {k: card[k] for k in ("datasets", "n_images", "seed", "target_mean", "target_std",
                                           "target_quantiles")}
    model.metadata["cv"] = evaluations
    model.save(args.out)
    with atomic_path(args.out / "model_card.json") as tmp:
        tmp.write_text(json.dumps(card, indent=2) + "\n")
    with atomic_path(args.out / "MODEL_CARD.md") as tmp:
        tmp.write_text(model_card(card))
    print(f"features: {feat_rate:.0f} images/s; model, card and plot written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
