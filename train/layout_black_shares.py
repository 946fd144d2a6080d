"""Give a pipeline's scene layouts the black shares of the photos they were made from.

    python train/layout_black_shares.py assets/diffusion --images ../shared/data/images

Layouts built by ``train/scene_layouts.py`` keep each photo's black share, the share of its pixels with a channel at 0
(:func:`~music2img.diffusion.scene_layouts.black_shares_of`), which sets the shadow toe
(:func:`~music2img.diffusion.colour.toe`); those built before did not. Every photo under ``--images`` is decoded at
128 × 128, as ``train/scene_layouts.py`` decodes it, and a layout whose block means it matches exactly takes its
black share; a layout no photo matches takes the mean of those matched. The layouts' weights and everything else
stay; the layouts are written back atomically (:func:`~music2img.diffusion.pipeline.save_component`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.diffusion.pipeline import load_pipeline, save_component
from music2img.diffusion.scene_layouts import SceneLayouts
from music2img.errors import DatasetError, Music2ImgError
from music2img.image.labelled_folder import load_images

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def matched_black_shares(layouts: SceneLayouts, files: list[Path], workers: int = 2, chunk: int = 1000) -> np.ndarray:
    """For each layout, the black share of the photo among ``files`` whose layout at 128 px
    (:meth:`~music2img.diffusion.scene_layouts.SceneLayouts.from_photos`) is its own; NaN where none is."""
    index: dict[bytes, list[int]] = {}
    for i, layout in enumerate(layouts.layouts.cpu().numpy()):
        index.setdefault(layout.tobytes(), []).append(i)
    shares = np.full(len(layouts.layouts), np.nan)
    for start in tqdm(range(0, len(files), chunk), desc="matching photos", unit="chunk"):
        photos = load_images(files[start : start + chunk], 128, workers, progress=False)
        made = SceneLayouts.from_photos(photos, np.zeros((len(photos), 2)), layouts.config.side)
        for share, layout in zip(made.black_shares.numpy(), made.layouts.numpy()):
            for i in index.get(layout.tobytes(), ()):
                shares[i] = share
    return shares


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pipeline", type=Path, help="pipeline folder whose layouts to complete")
    p.add_argument("--images", type=Path, required=True, help="folder the layouts' photos lie under (searched deeply)")
    p.add_argument("--workers", type=int, default=2, help="decoding threads (default: %(default)s)")
    args = p.parse_args(argv)

    try:
        pipe = load_pipeline(args.pipeline)
        if pipe.layouts is None:
            raise DatasetError(f"{args.pipeline} has no scene layouts (add them with train/scene_layouts.py)")
        files = sorted(f for f in args.images.rglob("*") if f.suffix.lower() in SUFFIXES)
        shares = matched_black_shares(pipe.layouts, files, args.workers)
        if not np.isfinite(shares).any():
            raise DatasetError(f"none of the {len(files):,} photos under {args.images} matches a layout")
    except Music2ImgError as err:
        raise SystemExit(f"error: {err}") from None
    matched = np.isfinite(shares)
    pipe.layouts.set_black_shares(np.where(matched, shares, shares[matched].mean()))
    save_component(args.pipeline, "layouts", pipe.layouts)
    print(
        f"{matched.sum():,} of {len(shares):,} layouts matched to a photo; their black share: mean "
        f"{shares[matched].mean():.4f}, median {np.median(shares[matched]):.4f}; written to {args.pipeline / 'layouts'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
