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


def curate(
    images: Path,
    landscape_labels: Path,
    scene: SceneModel,
    checker: LandscapeChecker,
    threshold: float,
    rated_threshold: float,
    cache: Path | None,
) -> pd.DataFrame:
    """The curated table (see the module docstring)."""
    land = pd.read_csv(landscape_labels)
    if not {"file", "valence", "arousal"} <= set(land.columns):
        raise DatasetError(f"{landscape_labels} needs columns file, valence, arousal")
    p = scene.predict_proba_features(features_of(images / "landscapes", land["file"].tolist(), cache))
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
    return pd.concat(parts, ignore_index=True)


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
    args = p.parse_args(argv)
    for flag in ("threshold", "rated_threshold"):
        if not 0 <= getattr(args, flag) <= 1:
            p.error(f"--{flag.replace('_', '-')} must lie in [0, 1], got {getattr(args, flag)}")

    scene = SceneModel.load(args.scene_model) if args.scene_model else SceneModel.load()
    checker = LandscapeChecker.from_pretrained(args.checker, low_cpu_mem_usage=False)
    table = curate(args.images, args.landscape_labels, scene, checker, args.threshold, args.rated_threshold, args.cache)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    print(
        table.groupby("source")
        .agg(photos=("file", "size"), valence=("valence", "mean"), arousal=("arousal", "mean"))
        .round(2)
        .to_string()
    )
    print(f"wrote {len(table)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
