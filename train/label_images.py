"""Label a folder of images with valence and arousal using the shipped image emotion model.

    .venv/bin/python train/label_images.py ../shared/data/images/landscapes --out assets/landscape_labels.csv

Reads the file list from the folder's ``index.csv`` (column ``file``) when present, else globs
images. Writes ``--out`` (CSV: ``file`` relative to the folder, ``valence``, ``arousal``), then into
``--figures``: ``<name>_va_plane.png`` (sampled thumbnails placed on the valence/arousal plane),
``<name>_extremes.png`` (highest and lowest images per dimension), ``<name>_<dimension>_deciles.png``
(random images from each tenth of the labels, highest first) and, when ``index.csv`` has a
``scene`` column, ``<name>_scene_means.csv`` (mean labels per scene class: a sanity check only; the
scene never enters a label).

``--rescale rank`` (off by default) replaces each dimension's labels by the quantiles of the human
ratings the model was trained on, at the labels' ranks: order is kept, the spread becomes that of
human ratings (regression predictions are compressed towards the mean). The raw predictions are
kept in ``valence_raw`` / ``arousal_raw`` then. ``--cache-dir`` caches the image features.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from music2img.assets import IMAGE_MODEL_DIR  # noqa: E402
from music2img.errors import ImageError  # noqa: E402
from music2img.files import atomic_path  # noqa: E402
from music2img.image.emotion_model import ImageEmotionModel, image_file_features, load_rgb  # noqa: E402
from music2img.va import DIMENSIONS  # noqa: E402

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def list_images(folder: Path) -> tuple[list[str], pd.DataFrame | None]:
    """Relative image paths of ``folder`` (from ``index.csv`` if present) and the index table."""
    index_path = folder / "index.csv"
    if index_path.is_file():
        index = pd.read_csv(index_path)
        return index["file"].astype(str).tolist(), index
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return files, None


def rank_rescale(values: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Map ``values`` by rank onto the distribution given by ``quantiles`` (evenly spaced levels 0..1)."""
    ranks = np.argsort(np.argsort(values, kind="stable"), kind="stable")
    levels = (ranks + 0.5) / len(values)
    return np.interp(levels, np.linspace(0.0, 1.0, len(quantiles)), quantiles)


def _save_fig(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def plot_va_plane(path: Path, folder: Path, labels: pd.DataFrame, n: int, seed: int) -> None:
    """``n`` random thumbnails placed at their (valence, arousal)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sample = labels.sample(min(n, len(labels)), random_state=seed)
    v, a = labels.valence, labels.arousal
    half_w = max(v.max() - v.min(), 0.5) / 40
    half_h = max(a.max() - a.min(), 0.5) / 40
    fig, ax = plt.subplots(figsize=(13, 11))
    for row in sample.itertuples():
        thumb = load_rgb(folder / row.file)
        ax.imshow(
            thumb, extent=(row.valence - half_w, row.valence + half_w, row.arousal - half_h, row.arousal + half_h)
        )
    ax.set(
        xlim=(v.min() - 2 * half_w, v.max() + 2 * half_w),
        ylim=(a.min() - 2 * half_h, a.max() + 2 * half_h),
        xlabel="valence (1 negative – 9 positive)",
        ylabel="arousal (1 calm – 9 excited)",
        aspect="auto",
        title=f"{len(sample)} of {len(labels)} images on the valence/arousal plane",
    )
    ax.axvline(5, color="grey", lw=0.5)
    ax.axhline(5, color="grey", lw=0.5)
    _save_fig(fig, path)


def plot_extremes(path: Path, folder: Path, labels: pd.DataFrame, k: int = 10) -> None:
    """Rows: the ``k`` highest and lowest images for each dimension."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for dim in DIMENSIONS:
        ordered = labels.sort_values(dim)
        rows += [(f"highest {dim}", ordered.tail(k)[::-1], dim), (f"lowest {dim}", ordered.head(k), dim)]
    fig, axes = plt.subplots(len(rows), k, figsize=(1.6 * k, 1.9 * len(rows)), squeeze=False)
    for r, (title, part, dim) in enumerate(rows):
        for c in range(k):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(part):
                item = part.iloc[c]
                ax.imshow(load_rgb(folder / item.file))
                ax.set_title(f"{dim[0]}={item[dim]:.2f}", fontsize=8)
        axes[r, 0].text(
            -0.1, 0.5, title, transform=axes[r, 0].transAxes, rotation=90, va="center", ha="right", fontsize=9
        )
    fig.tight_layout()
    _save_fig(fig, path)


def plot_deciles(path: Path, folder: Path, labels: pd.DataFrame, dim: str, k: int = 10, seed: int = 0) -> None:
    """Ten rows of ``k`` random images, one row per tenth of ``dim``'s labels, highest tenth first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    tenth = np.minimum((labels[dim].rank(method="first").to_numpy() - 1) * 10 // len(labels), 9).astype(int)
    fig, axes = plt.subplots(10, k, figsize=(1.0 * k, 1.12 * 10), squeeze=False)
    for row in range(10):
        members = np.flatnonzero(tenth == 9 - row)
        chosen = rng.choice(members, min(k, len(members)), replace=False)
        for c in range(k):
            ax = axes[row, c]
            ax.axis("off")
            if c < len(chosen):
                ax.imshow(load_rgb(folder / labels.file.iloc[chosen[c]]))
        if len(members):
            values = labels[dim].to_numpy()[members]
            axes[row, 0].set_title(
                f"{dim} tenth {10 - row}: {values.min():.2f}–{values.max():.2f}", fontsize=7, loc="left"
            )
    fig.tight_layout(pad=0.3)
    _save_fig(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder of images (with an optional index.csv)")
    parser.add_argument("--out", type=Path, required=True, help="CSV to write: file, valence, arousal")
    parser.add_argument("--model", type=Path, default=IMAGE_MODEL_DIR, help="image emotion model folder")
    parser.add_argument(
        "--figures", type=Path, default=None, help="folder for the pictures and scene table (default: the model folder)"
    )
    parser.add_argument("--name", default=None, help="prefix of the figure files (default: the folder's name)")
    parser.add_argument(
        "--rescale",
        choices=("none", "rank"),
        default="none",
        help="rank: spread labels like the training ratings (see module doc)",
    )
    parser.add_argument("--thumbnails", type=int, default=300, help="thumbnails on the valence/arousal plane")
    parser.add_argument("--seed", type=int, default=0, help="seed of the thumbnail sample")
    parser.add_argument("--cache-dir", type=Path, default=None, help="feature cache folder (keyed by file content)")
    args = parser.parse_args(argv)

    folder = args.folder
    if not folder.is_dir():
        parser.error(f"not a folder: {folder}")
    model = ImageEmotionModel.load(args.model)
    files, index = list_images(folder)
    if not files:
        parser.error(f"no images in {folder}")
    kept, features, failed = [], [], 0
    for rel in tqdm(files, desc="labelling", unit="img"):
        try:
            features.append(image_file_features(folder / rel, args.cache_dir))
            kept.append(rel)
        except ImageError as exc:
            failed += 1
            print(f"skipped: {exc}", file=sys.stderr)
    if not kept:
        print("error: no readable images", file=sys.stderr)
        return 1
    pred = model.predict_features(np.vstack(features))
    labels = pd.DataFrame({"file": kept, "valence": pred[:, 0], "arousal": pred[:, 1]})
    if args.rescale == "rank":
        quantiles = model.metadata.get("target_quantiles")
        if not quantiles:
            parser.error("--rescale rank needs a model trained with target_quantiles in its metadata")
        for dim in DIMENSIONS:
            labels[f"{dim}_raw"] = labels[dim]
            labels[dim] = rank_rescale(labels[dim].to_numpy(), np.asarray(quantiles[dim]))
    with atomic_path(args.out) as tmp:
        labels.round(4).to_csv(tmp, index=False)
    print(f"wrote {len(labels)} labels to {args.out}" + (f" ({failed} unreadable images skipped)" if failed else ""))
    print(
        "label distribution:\n"
        + labels[list(DIMENSIONS)].describe().loc[["mean", "std", "min", "50%", "max"]].round(3).to_string()
    )

    figures = args.figures or args.model
    figures.mkdir(parents=True, exist_ok=True)
    name = args.name or folder.resolve().name
    if index is not None and "scene" in index.columns:
        table = labels.merge(index[["file", "scene"]], on="file")
        means = table.groupby("scene")[list(DIMENSIONS)].agg(["mean", "std", "count"]).round(3)
        means.columns = [f"{d}_{s}" for d, s in means.columns]
        means = means.drop(columns="arousal_count").rename(columns={"valence_count": "count"})
        means = means.sort_values("valence_mean", ascending=False)
        with atomic_path(figures / f"{name}_scene_means.csv") as tmp:
            means.to_csv(tmp)
        print("mean labels per scene class (sanity check):\n" + means.to_string())
    plot_va_plane(figures / f"{name}_va_plane.png", folder, labels, args.thumbnails, args.seed)
    plot_extremes(figures / f"{name}_extremes.png", folder, labels)
    for dim in DIMENSIONS:
        plot_deciles(figures / f"{name}_{dim}_deciles.png", folder, labels, dim, seed=args.seed)
    print(f"pictures written to {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
