"""Give a pipeline the colour layouts of scene photos to start its pictures from.

    python train/curate_scenes.py --images ../shared/data/images --landscape-labels assets/landscape_labels.csv \\
        --balance-content 4 --min-group 5 --out work/curated/labels_content.csv --cache work/curated
    python train/scene_layouts.py assets/diffusion --images ../shared/data/images \\
        --labels work/curated/labels_content.csv --exclude-group 3

Every photo of ``--labels`` (``file`` under ``--images``, ``valence``, ``arousal``; rows with ``weight`` 0 and
those of an ``--exclude-group`` of the ``content_group`` column left out) is decoded at 128 × 128 and kept
as its ``--side`` × ``--side`` block means with its labels and its black share, the share of its pixels with a
channel at 0, which sets the shadow toe (:class:`~music2img.diffusion.scene_layouts.SceneLayouts`).
The layouts are written to the pipeline folder's ``layouts/``, and ``model_index.json`` and the weight
hashes updated, each file atomically (:func:`~music2img.diffusion.pipeline.save_component`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.diffusion.pipeline import load_pipeline, save_component
from music2img.diffusion.scene_layouts import SceneLayouts
from music2img.errors import DatasetError, Music2ImgError
from music2img.image.labelled_folder import load_images, read_labels, read_sample_weights


def kept_rows(labels_csv: Path, exclude_groups: list[int]) -> np.ndarray:
    """Which rows of ``labels_csv`` give a layout: weight above 0 and content group not excluded."""
    table = pd.read_csv(labels_csv)
    keep = np.ones(len(table), bool)
    weights = read_sample_weights(labels_csv)
    if weights is not None:
        keep &= weights > 0
    if exclude_groups:
        if "content_group" not in table.columns:
            raise DatasetError(f"{labels_csv} has no content_group column to exclude groups of")
        keep &= ~table["content_group"].isin(exclude_groups).to_numpy()
    if not keep.any():
        raise DatasetError(f"{labels_csv}: no photo left to take a layout from")
    return keep


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pipeline", type=Path, help="pipeline folder to update")
    p.add_argument("--images", type=Path, required=True, help="folder the labels' files lie under")
    p.add_argument("--labels", type=Path, required=True, help="labels CSV of scene photos (file, valence, arousal)")
    p.add_argument("--exclude-group", type=int, action="append", default=[], help="content group to leave out")
    p.add_argument("--side", type=int, default=16, help="blocks per side of a layout (default: %(default)s)")
    p.add_argument("--neighbours", type=int, default=16, help="photos a request draws among (default: %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="decoding threads (default: %(default)s)")
    args = p.parse_args(argv)

    try:
        load_pipeline(args.pipeline)  # a clear error for a folder that is no pipeline
        files, labels = read_labels(args.images, args.labels)
        keep = kept_rows(args.labels, args.exclude_group)
        photos = load_images([f for f, k in zip(files, keep) if k], 128, args.workers)
    except Music2ImgError as err:
        raise SystemExit(f"error: {err}") from None
    layouts = SceneLayouts.from_photos(photos, labels[keep], args.side, args.neighbours)
    save_component(args.pipeline, "layouts", layouts)
    print(
        f"{keep.sum():,} layouts of {len(keep):,} photos ({args.side}×{args.side}) "
        f"written to {args.pipeline / 'layouts'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
