"""Feature extraction for many files, in parallel, with an on-disk cache.

A file's features are stored as ``<cache_dir>/v<SCHEMA_VERSION>-<sr>/<sha[:2]>/<sha>.npy``, keyed
by the SHA-256 of the file's *content*: renaming a file still hits the cache, editing it misses,
and a new feature schema never reads old vectors.
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
from .features import FEATURE_NAMES, SCHEMA_VERSION, extract_features


class Extraction(NamedTuple):
    """Result of :func:`extract_many`."""

    #: ``(n_files, n_features)`` float32; rows of failed files are NaN.
    X: np.ndarray
    #: ``(n_files,)`` bool, True where features were extracted.
    ok: np.ndarray
    #: ``(path, message)`` for each file that failed.
    errors: list[tuple[str, str]]


def cache_path(cache_dir: str | os.PathLike, digest: str, sr: int = SAMPLE_RATE) -> Path:
    """Where the features of a file with content hash ``digest`` are cached."""
    return Path(cache_dir) / f"v{SCHEMA_VERSION}-{sr}" / digest[:2] / f"{digest}.npy"


def cached_features(path: str | os.PathLike, cache_dir: str | os.PathLike | None,
                    sr: int = SAMPLE_RATE) -> tuple[np.ndarray, bool]:
    """Features of one file and whether they came from the cache; raises AudioError for bad audio."""
    if cache_dir is None:
        return extract_features(load_audio(path, sr), sr), False
    target = cache_path(cache_dir, sha256sum(path), sr)
    if target.is_file():
        x = np.load(target)
        if x.shape == (len(FEATURE_NAMES),):
            return x, True
    x = extract_features(load_audio(path, sr), sr)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, x)
    return x, False


def _one(path: str, cache_dir, sr: int) -> tuple[np.ndarray | None, str | None, bool]:
    try:
        x, hit = cached_features(path, cache_dir, sr)
        return x, None, hit
    except Exception as exc:  # a bad file is reported and skipped, whatever the decoder raised
        return None, f"{type(exc).__name__}: {exc}", False


def extract_many(paths: Sequence[str | os.PathLike], cache_dir: str | os.PathLike | None = None,
                 n_jobs: int = 1, sr: int = SAMPLE_RATE, progress: bool = True) -> Extraction:
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
    """
    paths = [str(p) for p in paths]
    jobs = (delayed(_one)(p, cache_dir, sr) for p in paths)
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    X = np.full((len(paths), len(FEATURE_NAMES)), np.nan, dtype=np.float32)
    ok = np.zeros(len(paths), dtype=bool)
    errors: list[tuple[str, str]] = []
    hits = 0
    for i, (x, err,
            hit) in enumerate(tqdm(results, total=len(paths), desc="features", unit="file", disable=not progress)):
        if err is None:
            X[i], ok[i] = x, True
            hits += hit
        else:
            errors.append((paths[i], err))
    if progress and paths:
        tqdm.write(f"features: {ok.sum()}/{len(paths)} files ({hits} from cache, {len(errors)} failed)")
    return Extraction(X, ok, errors)
