"""Curate the diffusion model's training photos: scenes only, with real scenes for every emotion.

    .venv/bin/python train/curate_scenes.py --images ../shared/data/images --out work/curated/labels.csv \\
        --landscape-labels assets/landscape_labels.csv --cache work/curated

Writes a labels CSV for ``train/diffusion.py --data IMAGES --labels OUT`` (``file`` relative to
``--images``, ``valence``, ``arousal``, ``source``, ``scene_probability``):

* the landscape photos (``landscapes/index.csv``; labels from ``--landscape-labels``, given by the image
  emotion model) whose scene probability (:mod:`music2img.image.scene_model`) is at least ``--threshold``;
* the human-rated photos of Emotion6 and OASIS (``emotion6/labels.csv``, ``oasis/labels.csv``, their own
  ratings) whose scene probability is at least ``--rated-threshold`` (stricter: most of these photos show
  people, animals and objects) **and** that pass the landscape check of ``--checker`` — storms,
  dusk, fog, fire and bare trees that the landscape set lacks, for the negative half of the plane.

With ``--balance-content K`` (default 4) the table gets a ``weight`` column that evens out what the photos
show inside each cell of the valence/arousal plane: the kept photos are grouped by content (k-means with K
groups on the hand-crafted features), and within a cell every group present is drawn equally often (a group
of fewer than ``--min-group`` photos there counts as that many), the cell's total unchanged. Without it,
low arousal is mostly forest interiors (77 % of the photos below arousal 3.5), which strong guidance turns into
walls of tree trunks.

Features are cached in ``--cache`` (one ``.npy`` per photo set), so a second run takes seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.assets import DIFFUSION_MODEL_DIR
from music2img.diffusion.landscape_check import LandscapeChecker
from music2img.errors import DatasetError
from music2img.files import atomic_path
from music2img.image import features as hand
from music2img.image.emotion_model import load_rgb
from music2img.image.scene_model import THRESHOLD, SceneModel
from train.loop import va_cells

#: Rated photo sets: folder, labels file, its valence and arousal columns.
RATED = (
    ("emotion6", "labels.csv", "valence_1to9", "arousal_1to9"),
    ("oasis", "labels.csv", "valence_1to9", "arousal_1to9"),
)


def features_of(folder: Path, files: list[str], cache: Path | None) -> np.ndarray:
    """Hand-crafted features of ``folder/f`` for each file, kept in ``cache`` under a name of the list and schema."""
    key = hashlib.sha256(repr((str(folder.resolve()), files, hand.SCHEMA_VERSION)).encode()).hexdigest()[:16]
    target = cache / f"features_{folder.name}_{key}.npy" if cache else None
    if target is not None and target.is_file():
        return np.load(target)
    X = np.stack([hand.image_features(load_rgb(folder / f)) for f in tqdm(files, desc=f"features of {folder.name}")])
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            np.save(f, X)
    return X


def content_weights(
    X: np.ndarray, va: np.ndarray, groups: int, min_group: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw weights that give every content group in a valence/arousal cell the same share of the cell
    (see the module docstring), and the groups: k-means on the standardised, PCA-reduced features."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    reduce = make_pipeline(StandardScaler(), PCA(min(20, X.shape[1], len(X)), random_state=seed))
    group = KMeans(groups, n_init=4, random_state=seed).fit_predict(reduce.fit_transform(X))
    cell = va_cells(va)
    key = cell * groups + group
    w = 1.0 / np.maximum(np.bincount(key)[key], min_group)
    per_cell = np.bincount(cell, weights=w)[cell]
    return w * np.bincount(cell)[cell] / per_cell, group


def content_summary(table: pd.DataFrame) -> str:
    """How the ``weight`` column changes what the sad, calm photos (valence < 5, arousal < 4.5) show: each content
    group's share of their count and of their weight; the effective sample size and the largest weight."""
    corner = table[(table["valence"] < 5) & (table["arousal"] < 4.5)]
    share = pd.DataFrame(
        {
            "photos": corner.groupby("content_group").size() / len(corner),
            "weight": corner.groupby("content_group")["weight"].sum() / corner["weight"].sum(),
        }
    )
    w = table["weight"].to_numpy()
    return (
        f"content groups of the {len(corner)} sad, calm photos (share of photos, of weight):\n"
        f"{(100 * share).round(1).to_string()}\n"
        f"effective sample {w.sum() ** 2 / (w**2).sum():,.0f} of {len(w):,} photos, largest weight {w.max():.1f}"
    )


def curate(
    images: Path,
    landscape_labels: Path,
    scene: SceneModel,
    checker: LandscapeChecker,
    threshold: float,
    rated_threshold: float,
    cache: Path | None,
    balance_content: int = 0,
    min_group: int = 10,
) -> pd.DataFrame:
    """The curated table (see the module docstring); ``balance_content`` 0: no ``weight`` column."""
    land = pd.read_csv(landscape_labels)
    if not {"file", "valence", "arousal"} <= set(land.columns):
        raise DatasetError(f"{landscape_labels} needs columns file, valence, arousal")
    X = features_of(images / "landscapes", land["file"].tolist(), cache)
    p = scene.predict_proba_features(X)
    kept = [X[p >= threshold]]
    parts = [
        pd.DataFrame(
            {
                "file": "landscapes/" + land["file"],
                "valence": land["valence"],
                "arousal": land["arousal"],
                "source": "landscapes",
                "scene_probability": p.round(3),
            }
        )[p >= threshold]
    ]
    for name, labels, v, a in RATED:
        table = pd.read_csv(images / name / labels)
        X = features_of(images / name, table["file"].tolist(), cache)
        p = scene.predict_proba_features(X)
        keep = (p >= rated_threshold) & (checker.distance_of_features(X) <= checker.config.threshold)
        kept.append(X[keep])
        parts.append(
            pd.DataFrame(
                {
                    "file": f"{name}/" + table["file"],
                    "valence": table[v].round(4),
                    "arousal": table[a].round(4),
                    "source": name,
                    "scene_probability": p.round(3),
                }
            )[keep]
        )
    table = pd.concat(parts, ignore_index=True)
    if balance_content:
        w, group = content_weights(
            np.concatenate(kept), table[["valence", "arousal"]].to_numpy(), balance_content, min_group
        )
        table["content_group"], table["weight"] = group, w.round(4)
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=Path, required=True, help="folder holding landscapes/, emotion6/ and oasis/")
    p.add_argument(
        "--landscape-labels", type=Path, required=True, help="labels of the landscape photos (file, valence, arousal)"
    )
    p.add_argument("--out", type=Path, required=True, help="labels CSV to write")
    p.add_argument("--scene-model", type=Path, help="scene model folder (default: the shipped one)")
    p.add_argument(
        "--checker", type=Path, default=DIFFUSION_MODEL_DIR / "landscape_checker", help="landscape checker folder"
    )
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="least scene probability kept")
    p.add_argument(
        "--rated-threshold", type=float, default=0.8, help="least scene probability kept of the rated photos"
    )
    p.add_argument("--cache", type=Path, help="folder for the photos' features")
    p.add_argument(
        "--balance-content",
        type=int,
        default=4,
        metavar="K",
        help="content groups evened out inside each valence/arousal cell (weight column; 0: none)",
    )
    p.add_argument("--min-group", type=int, default=10, help="a smaller group in a cell counts as this many")
    args = p.parse_args(argv)
    if args.balance_content < 0 or args.min_group < 1:
        p.error("--balance-content must be ≥ 0 and --min-group ≥ 1")
    for flag in ("threshold", "rated_threshold"):
        if not 0 <= getattr(args, flag) <= 1:
            p.error(f"--{flag.replace('_', '-')} must lie in [0, 1], got {getattr(args, flag)}")

    scene = SceneModel.load(args.scene_model) if args.scene_model else SceneModel.load()
    checker = LandscapeChecker.from_pretrained(args.checker, low_cpu_mem_usage=False)
    table = curate(
        args.images,
        args.landscape_labels,
        scene,
        checker,
        args.threshold,
        args.rated_threshold,
        args.cache,
        args.balance_content,
        args.min_group,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    print(
        table.groupby("source")
        .agg(photos=("file", "size"), valence=("valence", "mean"), arousal=("arousal", "mean"))
        .round(2)
        .to_string()
    )
    if "weight" in table:
        print(content_summary(table))
    print(f"wrote {len(table)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
