"""Loaders of photos rated for valence and arousal, all into one table.

Every loader returns a :class:`pandas.DataFrame` with columns ``file`` (absolute path), ``valence``,
``arousal`` (1–9), ``group`` (photos that must stay on the same side of a cross-validation split, e.g.
Emotion6's keyword folder or OASIS's theme), ``category`` (kind of content, e.g. OASIS's ``Scenery``;
empty when unknown) and ``source`` (dataset name). Rows with a missing image file, a non-numeric rating or a rating
outside 1–9 are skipped; their descriptions are in ``table.attrs["skipped"]`` and a warning
summarises them. A folder or annotation file with the wrong layout raises :class:`DatasetError`.

Supported layouts:

``emotion6``  folder with ``labels.csv`` (``file, keyword_folder, valence_1to9, arousal_1to9, …``),
              ``file`` relative to the folder (the layout of ``shared/data/images/emotion6``).
``oasis``     folder with ``labels.csv`` (``file, category, valence_1to9, arousal_1to9``): the Open
              Affective Standardized Image Set; group = theme (``Fire_3.webp`` → ``Fire``).
``cgna``      CGnA10766: images ``N.jpg`` with ``valence_avg_10766_v2.txt`` and
              ``arousal_avg_10766_v2.txt`` (one 1–9 value per line). Assumption: line N (counting
              from 1) rates image ``N.jpg``; if the folder has ``0.jpg`` but no ``{n_lines}.jpg``,
              the numbering is taken as 0-based instead (line N rates ``(N-1).jpg``).
``csv``       any CSV with columns ``file, valence, arousal`` (optional ``group``, ``category``), paths
              relative to the CSV's folder.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DatasetError
from ..va import VA_MAX, VA_MIN

COLUMNS = ("file", "valence", "arousal", "group", "category", "source")
CGNA_VALENCE = "valence_avg_10766_v2.txt"
CGNA_AROUSAL = "arousal_avg_10766_v2.txt"


def _finish(rows: pd.DataFrame, root: Path, source: str) -> pd.DataFrame:
    """Resolve paths, drop broken rows (recording why) and return the standard table."""
    skipped = []
    keep = []
    for i, row in enumerate(rows.itertuples(index=False)):
        label = f"{source} row {i + 1} ({row.file})"
        try:
            v, a = float(row.valence), float(row.arousal)
        except (TypeError, ValueError):
            skipped.append(f"{label}: non-numeric rating {row.valence!r}, {row.arousal!r}")
            continue
        if not (np.isfinite(v) and np.isfinite(a) and VA_MIN <= v <= VA_MAX and VA_MIN <= a <= VA_MAX):
            skipped.append(f"{label}: rating outside {VA_MIN:g}–{VA_MAX:g}: {row.valence!r}, {row.arousal!r}")
            continue
        path = (root / str(row.file)).resolve()
        if not path.is_file():
            skipped.append(f"{label}: image file not found: {path}")
            continue
        keep.append((str(path), v, a, str(row.group), str(row.category), source))
    table = pd.DataFrame(keep, columns=list(COLUMNS))
    table.attrs["skipped"] = skipped
    if skipped:
        warnings.warn(f"{source}: skipped {len(skipped)} broken row(s), e.g. {skipped[0]}", stacklevel=3)
    return table


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(f"annotation file not found: {path}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot parse {path}: {exc}") from None
    table.columns = [c.strip() for c in table.columns]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DatasetError(f"{path} lacks column(s) {missing}; it has {list(table.columns)}")
    return table


def load_emotion6(folder: str | os.PathLike) -> pd.DataFrame:
    """Emotion6 as in ``shared/data/images/emotion6``: ``labels.csv`` + images; group = keyword folder."""
    folder = Path(folder)
    raw = _read_csv(folder / "labels.csv", ("file", "keyword_folder", "valence_1to9", "arousal_1to9"))
    rows = pd.DataFrame(
        {
            "file": raw["file"],
            "valence": raw["valence_1to9"],
            "arousal": raw["arousal_1to9"],
            "group": raw["keyword_folder"],
            "category": raw["keyword_folder"],
        }
    )
    return _finish(rows, folder, "emotion6")


def load_oasis(folder: str | os.PathLike) -> pd.DataFrame:
    """OASIS as in ``shared/data/images/oasis``: ``labels.csv`` + images; group = theme, category kept."""
    folder = Path(folder)
    raw = _read_csv(folder / "labels.csv", ("file", "category", "valence_1to9", "arousal_1to9"))
    theme = raw["file"].map(lambda f: Path(f).stem.rsplit("_", 1)[0])
    rows = pd.DataFrame(
        {
            "file": raw["file"],
            "valence": raw["valence_1to9"],
            "arousal": raw["arousal_1to9"],
            "group": theme,
            "category": raw["category"],
        }
    )
    return _finish(rows, folder, "oasis")


def _read_values(path: Path) -> list[str]:
    if not path.is_file():
        raise DatasetError(f"CGnA10766 layout: {path.name} not found in {path.parent}")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def load_cgna(folder: str | os.PathLike) -> pd.DataFrame:
    """CGnA10766: ``N.jpg`` images rated by line N of the valence / arousal text files (see module doc)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"CGnA10766 folder not found: {folder}")
    valence = _read_values(folder / CGNA_VALENCE)
    arousal = _read_values(folder / CGNA_AROUSAL)
    if len(valence) != len(arousal):
        raise DatasetError(f"CGnA10766: {CGNA_VALENCE} has {len(valence)} lines but {CGNA_AROUSAL} has {len(arousal)}")
    first = 0 if (folder / "0.jpg").is_file() and not (folder / f"{len(valence)}.jpg").is_file() else 1
    rows = pd.DataFrame(
        {
            "file": [f"{first + i}.jpg" for i in range(len(valence))],
            "valence": valence,
            "arousal": arousal,
            "group": "cgna",
            "category": "",
        }
    )
    return _finish(rows, folder, "cgna")


def load_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Generic ``file, valence, arousal[, group]`` CSV; paths relative to the CSV's folder."""
    path = Path(path)
    raw = _read_csv(path, ("file", "valence", "arousal"))
    group = raw["group"] if "group" in raw.columns else path.stem
    category = raw["category"] if "category" in raw.columns else ""
    rows = pd.DataFrame(
        {
            "file": raw["file"],
            "valence": raw["valence"],
            "arousal": raw["arousal"],
            "group": group,
            "category": category,
        }
    )
    return _finish(rows, path.parent, path.stem)


LOADERS = {"emotion6": load_emotion6, "oasis": load_oasis, "cgna": load_cgna, "csv": load_csv}


def load_dataset(spec: str) -> pd.DataFrame:
    """Load ``"kind:path"`` where kind is one of :data:`LOADERS` (``emotion6``, ``oasis``, ``cgna``, ``csv``)."""
    kind, sep, path = spec.partition(":")
    if not sep or kind not in LOADERS or not path:
        raise DatasetError(f"dataset must be given as KIND:PATH with KIND in {sorted(LOADERS)}, got {spec!r}")
    return LOADERS[kind](path)


def load_datasets(specs: list[str]) -> pd.DataFrame:
    """Concatenate several :func:`load_dataset` tables (``attrs["skipped"]`` merged)."""
    tables = [load_dataset(s) for s in specs]
    table = pd.concat(tables, ignore_index=True)
    table.attrs["skipped"] = [msg for t in tables for msg in t.attrs.get("skipped", [])]
    if table.empty:
        raise DatasetError(f"no usable rated images in {specs}")
    return table
