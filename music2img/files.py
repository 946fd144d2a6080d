"""File helpers: atomic writes, checksums and checksum-verified joblib model folders."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import ModelFileError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    An interruption leaves the previous file untouched and no partial file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; shipped files must be readable by others
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sha256sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`ModelFileError` unless ``path`` exists and has the expected SHA-256."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    actual = sha256sum(path)
    if actual != expected.strip().lower():
        raise ModelFileError(
            f"checksum mismatch for {path}: expected {expected.strip()}, got {actual}; "
            "the file is corrupt or was replaced — re-clone or retrain it"
        )


def save_checked_joblib(
    obj: Any,
    folder: str | os.PathLike,
    config: dict,
    *,
    model_file: str = "model.joblib",
    config_file: str = "model.json",
    compress: Any = 3,
) -> Path:
    """Write ``obj`` to ``folder/model_file`` (joblib, ``compress``) and ``config`` plus the file's
    ``"sha256"`` to ``folder/config_file`` (JSON), each atomically; returns ``folder``."""
    import joblib

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / model_file) as tmp:
        joblib.dump(obj, tmp, compress=compress)
        digest = sha256sum(tmp)
    with atomic_path(folder / config_file) as tmp:
        tmp.write_text(json.dumps({"sha256": digest, **config}, indent=2) + "\n")
    return folder


def load_checked_joblib(
    folder: str | os.PathLike,
    *,
    model_file: str = "model.joblib",
    config_file: str = "model.json",
    required: Iterable[str] = (),
    what: str = "model",
    hint: str = "",
) -> tuple[Any, dict]:
    """``(object, config)`` from a folder written by :func:`save_checked_joblib`.

    The SHA-256 recorded in the config is verified *before* unpickling, so a replaced or truncated
    file is refused rather than executed. Raises :class:`ModelFileError` when the config is missing
    (``"no {what} at …; {hint}"``), is not a JSON object with ``"sha256"`` and the ``required`` keys,
    or the model file is missing, fails its checksum or cannot be unpickled.
    """
    import joblib

    folder = Path(folder)
    config_path, model_path = folder / config_file, folder / model_file
    if not config_path.is_file():
        raise ModelFileError(f"no {what} at {folder} ({config_file} not found)" + (f"; {hint}" if hint else ""))
    try:
        config = json.loads(config_path.read_text())
        if not isinstance(config, dict):
            raise TypeError(f"expected a JSON object, got {type(config).__name__}")
        missing = [key for key in ("sha256", *required) if key not in config]
        if missing:
            raise KeyError(f"missing {', '.join(missing)}")
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{config_path} is not a valid model description ({type(exc).__name__}: {exc})") from None
    verify_sha256(model_path, str(config["sha256"]))
    try:
        obj = joblib.load(model_path)
    except Exception as exc:  # unpickling errors have no common type
        raise ModelFileError(f"cannot load {model_path}: {type(exc).__name__}: {exc}") from None
    return obj, config


#: The file of a model folder (a diffusers pipeline) that records the SHA-256 of its weight files, in the
#: format of ``sha256sum`` (``<hex>  <path relative to the folder>``), so that ``sha256sum -c`` checks it too.
WEIGHT_HASHES_FILE = "weights.sha256"
#: The weight files of a pipeline folder: those of its components, one folder down.
WEIGHT_PATTERNS = ("*/*.safetensors", "*/*.bin")


def weight_files(folder: str | os.PathLike) -> list[str]:
    """The weight files of a pipeline folder (:data:`WEIGHT_PATTERNS`), as sorted POSIX paths relative to it."""
    folder = Path(folder)
    return sorted({p.relative_to(folder).as_posix() for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern)})


def record_weight_hashes(folder: str | os.PathLike) -> Path:
    """Write the SHA-256 of every weight file of ``folder`` into ``folder/``:data:`WEIGHT_HASHES_FILE`
    (atomically); returns its path. Call it whenever a weight file of the folder is written."""
    folder = Path(folder)
    lines = [f"{sha256sum(folder / name)}  {name}\n" for name in weight_files(folder)]
    with atomic_path(folder / WEIGHT_HASHES_FILE) as tmp:
        tmp.write_text("".join(lines))
    return folder / WEIGHT_HASHES_FILE


def verify_weight_hashes(folder: str | os.PathLike, what: str = "model") -> bool:
    """Check the weight files of ``folder`` against its :data:`WEIGHT_HASHES_FILE` before they are loaded.

    Raises :class:`ModelFileError` when a recorded file is missing or fails its checksum, or the file is
    malformed. A folder without the file, and weight files it does not list, load with a warning
    (``UserWarning``); returns whether every weight file was verified.
    """
    import warnings

    folder = Path(folder)
    hashes_path = folder / WEIGHT_HASHES_FILE
    if not hashes_path.is_file():
        warnings.warn(
            f"the {what} at {folder} records no weight hashes ({WEIGHT_HASHES_FILE}): its weights are "
            "loaded unverified (train/record_weight_hashes.py records them)",
            UserWarning,
            stacklevel=2,
        )
        return False
    recorded = {}
    for number, line in enumerate(hashes_path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.strip().partition("  ")
        if len(digest) != 64 or not name or any(c not in "0123456789abcdefABCDEF" for c in digest):
            raise ModelFileError(f"{hashes_path} line {number} is not '<sha256>  <file>': {line.strip()[:80]!r}")
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ModelFileError(f"{hashes_path} line {number} names a file outside the folder: {name}")
        recorded[name] = digest
    for name, digest in recorded.items():
        verify_sha256(folder / name, digest)
    unlisted = [name for name in weight_files(folder) if name not in recorded]
    if unlisted:
        warnings.warn(
            f"{', '.join(unlisted)} of the {what} at {folder} not in {WEIGHT_HASHES_FILE}: loaded unverified",
            UserWarning,
            stacklevel=2,
        )
    return not unlisted
