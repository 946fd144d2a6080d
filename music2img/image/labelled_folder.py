"""Emotion-labelled image folders for diffusion training, decoded once into memory.

Two layouts are read:

* any folder of images plus a labels CSV with columns ``file, valence, arousal`` (``file``
  relative to the folder; JPEG, PNG or WebP) and optionally ``weight``, how often a row is drawn
  relative to the others (:func:`read_sample_weights`);
* the CGnA10766 layout: ``N.jpg`` with ``valence_avg_10766_v2.txt`` and
  ``arousal_avg_10766_v2.txt`` beside them, one 1–9 value per line, line N for image N.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..errors import DatasetError, ImageError
from ..va import VA_MAX, VA_MIN
from .datasets import CGNA_AROUSAL, CGNA_VALENCE


def read_labels(
    folder: str | os.PathLike, labels_csv: str | os.PathLike | None = None
) -> tuple[list[Path], np.ndarray]:
    """List the labelled images of ``folder``: their paths and a ``(n, 2)`` array of (valence, arousal).

    Without ``labels_csv`` the folder must have the CGnA10766 layout.
    Raises :class:`~music2img.errors.DatasetError` for a missing folder, missing columns or files,
    or labels off the 1–9 scale.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"image folder not found: {folder}")
    if labels_csv is not None:
        try:
            table = pd.read_csv(labels_csv)
        except (OSError, pd.errors.ParserError) as err:
            raise DatasetError(f"cannot read labels CSV {labels_csv}: {err}") from None
        missing = {"file", "valence", "arousal"} - set(table.columns)
        if missing:
            raise DatasetError(
                f"{labels_csv} lacks column(s) {', '.join(sorted(missing))}; need file, valence, arousal"
            )
        files = [folder / f for f in table["file"]]
        va = table[["valence", "arousal"]].to_numpy(np.float32)
    elif (folder / CGNA_VALENCE).is_file() and (folder / CGNA_AROUSAL).is_file():
        v = np.loadtxt(folder / CGNA_VALENCE, dtype=np.float32, ndmin=1)
        a = np.loadtxt(folder / CGNA_AROUSAL, dtype=np.float32, ndmin=1)
        if len(v) != len(a):
            raise DatasetError(f"{CGNA_VALENCE} has {len(v)} lines but {CGNA_AROUSAL} has {len(a)}")
        first = 0 if (folder / "0.jpg").is_file() else 1
        files = [folder / f"{first + i}.jpg" for i in range(len(v))]
        va = np.stack([v, a], axis=1)
    else:
        raise DatasetError(
            f"{folder} has no labels: pass a labels CSV (file, valence, arousal) or use the "
            f"CGnA10766 layout (N.jpg, {CGNA_VALENCE}, {CGNA_AROUSAL})"
        )
    absent = [str(f) for f in files if not f.is_file()]
    if absent:
        raise DatasetError(f"{len(absent)} labelled image(s) missing, e.g. {absent[0]}")
    if not np.all(np.isfinite(va)) or va.min(initial=VA_MIN) < VA_MIN or va.max(initial=VA_MAX) > VA_MAX:
        raise DatasetError(f"labels must lie on the {VA_MIN:g}–{VA_MAX:g} scale")
    if not files:
        raise DatasetError(f"no labelled images in {folder}")
    return files, va


def read_sample_weights(labels_csv: str | os.PathLike | None) -> np.ndarray | None:
    """The labels CSV's ``weight`` column (how often each row is drawn, relative to the others), or ``None``
    when it has none. Raises :class:`~music2img.errors.DatasetError` for a negative, missing or non-finite
    weight, or when every weight is zero."""
    if labels_csv is None:
        return None
    table = pd.read_csv(labels_csv)
    if "weight" not in table.columns:
        return None
    w = pd.to_numeric(table["weight"], errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if len(bad):
        raise DatasetError(
            f"{labels_csv}: weight must be a finite number ≥ 0, row {bad[0] + 2} has {table['weight'].iloc[bad[0]]!r}"
        )
    if not w.sum() > 0:
        raise DatasetError(f"{labels_csv}: every weight is 0")
    return w


def load_image(path: str | os.PathLike, resolution: int) -> np.ndarray:
    """Decode an image, resize its shorter side to ``resolution`` and centre-crop: ``(3, r, r)`` uint8."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
    except (OSError, ValueError) as err:
        raise ImageError(f"cannot read image {path}: {err}") from None
    w, h = im.size
    scale = resolution / min(w, h)
    if scale != 1:
        im = im.resize((max(resolution, round(w * scale)), max(resolution, round(h * scale))), Image.BICUBIC)
    w, h = im.size
    left, top = (w - resolution) // 2, (h - resolution) // 2
    im = im.crop((left, top, left + resolution, top + resolution))
    return np.array(im, dtype=np.uint8).transpose(2, 0, 1)


def load_images(files: list[Path], resolution: int, workers: int = 1, progress: bool = True) -> torch.Tensor:
    """Decode ``files`` with :func:`load_image` into one ``(n, 3, r, r)`` uint8 tensor."""
    out = torch.empty((len(files), 3, resolution, resolution), dtype=torch.uint8)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        arrays = pool.map(lambda f: load_image(f, resolution), files)
        for i, arr in enumerate(tqdm(arrays, total=len(files), desc="decoding images", disable=not progress)):
            out[i] = torch.from_numpy(arr)
    return out
