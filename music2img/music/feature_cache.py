"""Feature extraction for many files, in parallel, with an on-disk cache.

Each feature part (:mod:`music2img.music.feature_parts`) of a file is stored as
``<cache_dir>/v<part schema version>-<sr>/<sha[:2]>/<sha>.npy``, keyed by the SHA-256 of the file's
*content*: renaming a file still hits the cache, editing it misses, a new schema of one part never
reads its old vectors, and adding a part reuses the others. A file is decoded once for all its
missing parts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from ..files import atomic_path, sha256sum
from .audio import SAMPLE_RATE, load_audio
from .feature_parts import DEFAULT_PARTS, check_parts, feature_names, feature_part


class Extraction(NamedTuple):
    """Result of :func:`extract_many`."""

    #: ``(n_files, n_features)`` float32; rows of failed files are NaN.
    X: np.ndarray
    #: ``(n_files,)`` bool, True where features were extracted.
    ok: np.ndarray
    #: ``(path, message)`` for each file that failed.
    errors: list[tuple[str, str]]


def cache_path(cache_dir: str | os.PathLike, digest: str, sr: int = SAMPLE_RATE, part: str = "librosa") -> Path:
    """Where the ``part`` features of a file with content hash ``digest`` are cached."""
    return Path(cache_dir) / f"v{feature_part(part).schema_version}-{sr}" / digest[:2] / f"{digest}.npy"


def cached_features(
    path: str | os.PathLike,
    cache_dir: str | os.PathLike | None,
    sr: int = SAMPLE_RATE,
    parts: Sequence[str] = DEFAULT_PARTS,
) -> tuple[np.ndarray, bool]:
    """Features of one file (the ``parts`` side by side, the whole file one window) and whether they
    all came from the cache; raises AudioError for bad audio."""
    y, rows, hit = None, [], True
    digest = sha256sum(path) if cache_dir is not None else None
    for name in check_parts(parts):
        part = feature_part(name)
        target = cache_path(cache_dir, digest, sr, name) if digest else None
        if target is not None and target.is_file():
            x = np.load(target)
            if x.shape == (len(part.feature_names),):
                rows.append(x)
                continue
        y = load_audio(path, sr) if y is None else y
        x = part.windows(y, sr, [(0.0, len(y) / sr)])[0]
        hit = False
        if target is not None:
            with atomic_path(target) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, x)
        rows.append(x)
    return np.concatenate(rows), hit


def _one(path: str, cache_dir, sr: int, parts: Sequence[str]) -> tuple[np.ndarray | None, str | None, bool]:
    try:
        x, hit = cached_features(path, cache_dir, sr, parts)
        return x, None, hit
    except Exception as exc:  # a bad file is reported and skipped, whatever the decoder raised
        return None, f"{type(exc).__name__}: {exc}", False


def extract_many(
    paths: Sequence[str | os.PathLike],
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int = 1,
    sr: int = SAMPLE_RATE,
    progress: bool = True,
    parts: Sequence[str] = DEFAULT_PARTS,
) -> Extraction:
    """Features of many files (cached, in parallel); failing files are reported, not fatal.

    Parameters
    ----------
    paths : sequence of path-like
        Audio files.
    cache_dir : path-like, optional
        Cache folder; ``None`` disables caching.
    n_jobs : int
        Worker processes (joblib).
    sr : int
        Analysis sample rate.
    progress : bool
        Show a tqdm progress bar.
    parts : sequence of str
        Feature parts (:data:`~music2img.music.feature_parts.PARTS`), side by side in each row.
    """
    paths = [str(p) for p in paths]
    jobs = (delayed(_one)(p, cache_dir, sr, parts) for p in paths)
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    X = np.full((len(paths), len(feature_names(parts))), np.nan, dtype=np.float32)
    ok = np.zeros(len(paths), dtype=bool)
    errors: list[tuple[str, str]] = []
    hits = 0
    for i, (x, err, hit) in enumerate(
        tqdm(results, total=len(paths), desc="features", unit="file", disable=not progress)
    ):
        if err is None:
            X[i], ok[i] = x, True
            hits += hit
        else:
            errors.append((paths[i], err))
    if progress and paths:
        tqdm.write(f"features: {ok.sum()}/{len(paths)} files ({hits} from cache, {len(errors)} failed)")
    return Extraction(X, ok, errors)
