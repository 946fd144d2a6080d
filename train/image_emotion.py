"""Train the image → (valence, arousal) model, evaluate it within and across rated photo sets, ship it.

    .venv/bin/python train/image_emotion.py --dataset emotion6:../shared/data/images/emotion6 \\
        --dataset oasis:../shared/data/images/oasis --cache-dir .cache/image_features

Steps: load rated photos (several ``--dataset KIND:PATH``: emotion6, oasis, cgna, csv), compute
:mod:`music2img.image.features` and :mod:`music2img.image.detector_features` (cached with
``--cache-dir``), then report out-of-fold Pearson r, R² and MAE per dimension, for the models fitted on
exactly the same training rows of every split:

* ``v3`` — the shipped model (:func:`music2img.image.emotion_model.make_regressor`);
* ``v2 recipe`` — the v2 model's recipe (:func:`~music2img.image.emotion_model.make_v2_regressor`:
  hand-crafted features only), given the same training photos and weights as v3;
* ``v1 recipe`` — the v1 model's recipe (:func:`~music2img.image.emotion_model.make_v1_regressor`:
  SVR on the schema-1 features), likewise;
* ``v1 as shipped`` — the same recipe fitted on the Emotion6 photos of the training rows only, as v1
  was (present when Emotion6 is among the datasets).

Evaluations:

* ``within SET``: K-fold over one set (``--folds``, shuffled with ``--seed``); every other set is in the
  training data. A set with at least 2K groups (OASIS: themes) is also split with whole groups held
  out (``within SET, groups unseen``: no photo of a test theme in training);
* ``SET unseen``: leave-one-dataset-out — trained on the other sets only;
* each is also scored on the set's ``Scenery`` photos alone (OASIS category) where it has them.

Training rows are weighted per dataset (``--weight SOURCE=W``; default ``emotion6=0.25``: Emotion6's
arousal ratings hardly transfer to other photo sets). It writes ``cv_scatter.png``, ``MODEL_CARD.md``
and ``model_card.json`` into ``--out``, fits the model on all data and saves it there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from music2img.files import atomic_path  # noqa: E402
from music2img.image.datasets import load_datasets  # noqa: E402
from music2img.image.detector_features import INPUT_SIZE  # noqa: E402
from music2img.image.emotion_model import (  # noqa: E402
    FEATURE_NAMES,
    SCHEMA_VERSION,
    ImageEmotionModel,
    features_of,
    make_regressor,
    make_v1_regressor,
    make_v2_regressor,
)
from music2img.image.features import WORK_SIZE  # noqa: E402
from music2img.va import DIMENSIONS  # noqa: E402

DEFAULT_WEIGHTS = {"emotion6": 0.25}
SCENERY = "Scenery"
MODELS = ("v3", "v2 recipe", "v1 recipe", "v1 as shipped")
REGRESSOR = (
    "per dimension, the mean of an RBF SVR (C=2, epsilon=0.2) on the first 128 principal components "
    "and ridge (alpha by efficient leave-one-out over 0.1–10⁵), both of all standardised features"
)


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, dict[str, float]]:
    """Pearson r, R² and MAE per dimension."""
    from scipy.stats import pearsonr
    from sklearn.metrics import mean_absolute_error, r2_score

    out = {}
    for k, dim in enumerate(DIMENSIONS):
        t, p = y_true[:, k], y_pred[:, k]
        r = float(pearsonr(t, p)[0]) if len(t) > 2 and np.std(p) > 0 and np.std(t) > 0 else float("nan")
        out[dim] = {"pearson_r": r, "r2": float(r2_score(t, p)), "mae": float(mean_absolute_error(t, p))}
    return out


def parse_weights(items: list[str]) -> dict[str, float]:
    """``["emotion6=0.25", …]`` → ``{"emotion6": 0.25, …}`` on top of :data:`DEFAULT_WEIGHTS`."""
    weights = dict(DEFAULT_WEIGHTS)
    for item in items:
        source, sep, value = item.partition("=")
        try:
            weights[source] = float(value)
        except ValueError:
            sep = ""
        if not sep or weights[source] <= 0:
            raise SystemExit(f"error: --weight must be SOURCE=W with W > 0, got {item!r}")
    return weights


def splits(table: pd.DataFrame, folds: int, seed: int) -> list[tuple[str, str, list[tuple[np.ndarray, np.ndarray]]]]:
    """``(name, description, [(train_rows, test_rows), …])`` of every evaluation (see module doc)."""
    from sklearn.model_selection import GroupKFold, KFold

    out = []
    sources = sorted(table.source.unique())
    everything = np.arange(len(table))
    for source in sources:
        rows = np.flatnonzero(table.source == source)
        others = np.setdiff1d(everything, rows)
        groups = table.group.to_numpy()[rows]
        schemes = [("", KFold(folds, shuffle=True, random_state=seed).split(rows), f"{folds} shuffled folds")]
        if len(set(groups)) >= 2 * folds:
            schemes.insert(
                0,
                (
                    ", groups unseen",
                    GroupKFold(folds).split(rows, groups=groups),
                    f"{folds} folds grouped by {source} group (a whole group held out together)",
                ),
            )
            schemes[1] = (", shuffled",) + schemes[1][1:]
        for suffix, parts, how in schemes:
            out.append(
                (
                    f"within {source}{suffix}",
                    f"{how}; the other sets "
                    f"({', '.join(s for s in sources if s != source) or 'none'}) always in training",
                    [(np.concatenate([others, rows[tr]]), rows[te]) for tr, te in parts],
                )
            )
    if len(sources) > 1:
        for source in sources:
            rows = table.source.to_numpy() == source
            out.append(
                (
                    f"{source} unseen",
                    f"trained on {', '.join(s for s in sources if s != source)} only",
                    [(np.flatnonzero(~rows), np.flatnonzero(rows))],
                )
            )
    return out


def out_of_fold(
    model: str,
    X: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    is_emotion6: np.ndarray,
    split: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
) -> np.ndarray | None:
    """Predictions (clipped to 1–9; NaN outside the test rows) of one of :data:`MODELS` over ``split``,
    or ``None`` when the model cannot be fitted there (v1 as shipped with no Emotion6 training rows)."""
    pred = np.full_like(y, np.nan)
    for train, test in split:
        if model == "v1 as shipped":
            train = train[is_emotion6[train]]
            if len(train) == 0:
                return None
            fitted = make_v1_regressor().fit(X[train], y[train])
        else:
            make = {"v3": make_regressor, "v2 recipe": make_v2_regressor}.get(model, lambda seed: make_v1_regressor())
            fitted = make(seed).fit(X[train], y[train], sample_weight=weight[train])
        pred[test] = fitted.predict(X[test])
    return np.clip(pred, 1.0, 9.0)


def plot_scatter(path: Path, panels: dict[str, tuple[np.ndarray, np.ndarray, dict]]) -> None:
    """Predicted vs true scatter, one row per evaluation, one column per dimension."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 2, figsize=(8, 3.6 * len(panels)), squeeze=False)
    for row, (title, (y, p, sc)) in enumerate(panels.items()):
        for k, dim in enumerate(DIMENSIONS):
            ax = axes[row, k]
            ax.scatter(y[:, k], p[:, k], s=5, alpha=0.35)
            ax.plot([1, 9], [1, 9], "k--", lw=0.8)
            ax.set(
                xlim=(1, 9),
                ylim=(1, 9),
                xlabel=f"true {dim}",
                ylabel=f"predicted {dim}",
                title=f"{title}\n{dim}: r={sc[dim]['pearson_r']:.2f}, MAE={sc[dim]['mae']:.2f}",
            )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def model_card(card: dict) -> str:
    """Markdown model card from the JSON card (the landscape section is kept from ``card['landscapes_md']``)."""
    lines = [
        "# Image emotion model v3 (photo → valence, arousal)",
        "",
        f"Regressor: {card['regressor']}. Features ({card['n_features']}, schema `{card['schema_version']}`): "
        f"hand-crafted light, colour, layout and texture features of the image centre-cropped and resized to "
        f"{card['work_size']}×{card['work_size']}, and the channel means and standard deviations of four layers "
        f"of a pretrained object detector (CenterNet, MobileNetV3, COCO; `centernet/`) run on it at "
        f"{card['input_size']}×{card['input_size']}.",
        f"Training data: {card['n_images']} rated photos ({', '.join(f'{n} {s}' for s, n in card['counts'].items())}); "
        f"targets are mean SAM ratings on the 1–9 scale; rows weighted per set: "
        f"{', '.join(f'{s} {w:g}' for s, w in card['weights'].items())} (others 1).",
        "",
        "## Scores on photos the model never saw (out-of-fold Pearson r, R², MAE)",
        "",
        "Every row of one evaluation fits its models on the same training photos; `v1 as shipped` is "
        "the v1 recipe fitted on the Emotion6 photos of those rows only, as v1 was.",
        "",
        "| evaluation | photos | n | model | valence r | valence R² | valence MAE "
        "| arousal r | arousal R² | arousal MAE |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ev_name, ev in card["evaluations"].items():
        for subset, part in ev["subsets"].items():
            for model_name, sc in part["scores"].items():
                v, a = sc["valence"], sc["arousal"]
                bold = "**" if model_name == "v3" else ""
                lines.append(
                    f"| {ev_name} | {subset} | {part['n']} | {model_name} | {bold}{v['pearson_r']:.3f}{bold} "
                    f"| {v['r2']:.3f} | {v['mae']:.3f} | {bold}{a['pearson_r']:.3f}{bold} | {a['r2']:.3f} | "
                    f"{a['mae']:.3f} |"
                )
    lines += [
        "",
        *[f"- **{k}**: {ev['description']}" for k, ev in card["evaluations"].items()],
        "",
        f"Predicted std (all data, refit): valence {card['predicted_std']['valence']:.2f}, arousal "
        f"{card['predicted_std']['arousal']:.2f}; target std: valence {card['target_std']['valence']:.2f}, "
        f"arousal {card['target_std']['arousal']:.2f}. Predictions are compressed towards the mean, as for "
        "any regressor of a weakly predictable target; `train/label_images.py --rescale rank` spreads "
        "labels back to the ratings' distribution, keeping their order.",
        "",
        "![predicted vs true](cv_scatter.png)",
        "",
    ]
    if card.get("notes_md"):
        lines += [card["notes_md"].rstrip(), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset",
        action="append",
        required=True,
        metavar="KIND:PATH",
        help="rated photos: emotion6:FOLDER, oasis:FOLDER, cgna:FOLDER or csv:FILE.csv (repeatable)",
    )
    parser.add_argument(
        "--weight",
        action="append",
        default=[],
        metavar="SOURCE=W",
        help=f"training weight of a dataset's rows (default {DEFAULT_WEIGHTS}; others 1)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "assets" / "image_emotion", help="output folder")
    parser.add_argument("--cache-dir", type=Path, default=None, help="feature cache folder (keyed by file content)")
    parser.add_argument(
        "--notes",
        type=Path,
        default=None,
        help="Markdown appended to the model card (e.g. what the relabelled landscapes show)",
    )
    parser.add_argument("--folds", type=int, default=5, help="K of the within-set cross-validation")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold split and the models")
    args = parser.parse_args(argv)
    weights = parse_weights(args.weight)

    table = load_datasets(args.dataset)
    for msg in table.attrs["skipped"]:
        print(f"skipped: {msg}", file=sys.stderr)
    counts = table.source.value_counts().sort_index()
    print(f"{len(table)} rated images: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    X = features_of(table.file, progress=True, cache_dir=args.cache_dir)
    y = table[list(DIMENSIONS)].to_numpy(dtype=float)
    weight = table.source.map(lambda s: weights.get(s, 1.0)).to_numpy(dtype=float)
    is_emotion6 = (table.source == "emotion6").to_numpy()
    scenery = (table.category == SCENERY).to_numpy()

    evaluations, panels = {}, {}
    for ev_name, description, split in splits(table, args.folds, args.seed):
        tested = np.concatenate([test for _, test in split])
        subsets = {"all": tested}
        if scenery[tested].any():
            subsets["scenery"] = tested[scenery[tested]]
        evaluations[ev_name] = {
            "description": description,
            "subsets": {k: {"n": int(len(v)), "scores": {}} for k, v in subsets.items()},
        }
        for model_name in MODELS:
            pred = out_of_fold(model_name, X, y, weight, is_emotion6, split, args.seed)
            if pred is None:
                continue
            for subset, rows in subsets.items():
                sc = scores(y[rows], pred[rows])
                evaluations[ev_name]["subsets"][subset]["scores"][model_name] = sc
                print(
                    f"{ev_name:22s} {subset:8s} {model_name:14s} "
                    + "  ".join(
                        f"{d}: r={sc[d]['pearson_r']:.3f} R2={sc[d]['r2']:.3f} MAE={sc[d]['mae']:.3f}"
                        for d in DIMENSIONS
                    ),
                    flush=True,
                )
            if model_name == "v3":
                panels[f"v3, {ev_name}"] = (
                    y[tested],
                    pred[tested],
                    evaluations[ev_name]["subsets"]["all"]["scores"]["v3"],
                )

    args.out.mkdir(parents=True, exist_ok=True)
    plot_scatter(args.out / "cv_scatter.png", panels)
    model = ImageEmotionModel(make_regressor(args.seed).fit(X, y, sample_weight=weight), FEATURE_NAMES, SCHEMA_VERSION)
    fitted = model.predict_features(X)
    card = {
        "regressor": REGRESSOR,
        "schema_version": SCHEMA_VERSION,
        "n_features": len(FEATURE_NAMES),
        "work_size": WORK_SIZE,
        "input_size": INPUT_SIZE,
        "datasets": args.dataset,
        "n_images": len(table),
        "counts": counts.to_dict(),
        "weights": {s: weights.get(s, 1.0) for s in counts.index},
        "n_skipped": len(table.attrs["skipped"]),
        "seed": args.seed,
        "evaluations": evaluations,
        "target_std": {d: float(y[:, k].std()) for k, d in enumerate(DIMENSIONS)},
        "target_mean": {d: float(y[:, k].mean()) for k, d in enumerate(DIMENSIONS)},
        "target_quantiles": {
            d: np.quantile(y[:, k], np.linspace(0, 1, 101)).round(4).tolist() for k, d in enumerate(DIMENSIONS)
        },
        "predicted_std": {d: float(fitted[:, k].std()) for k, d in enumerate(DIMENSIONS)},
        "notes_md": args.notes.read_text() if args.notes else "",
    }
    model.metadata = {
        k: card[k] for k in ("datasets", "n_images", "weights", "seed", "target_mean", "target_std", "target_quantiles")
    }
    model.metadata["cv"] = evaluations
    model.save(args.out)
    with atomic_path(args.out / "model_card.json") as tmp:
        tmp.write_text(json.dumps(card, indent=2) + "\n")
    with atomic_path(args.out / "MODEL_CARD.md") as tmp:
        tmp.write_text(model_card(card))
    print(f"model, card and plot written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
