"""Shared loop of the per-file sub-commands: load a model once, then predict file by file."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..errors import Music2ImgError


def report_error(exc: Exception, code: int = 2) -> int:
    """Print ``error: <exc>`` on stderr and return the exit code ``code``."""
    print(f"error: {exc}", file=sys.stderr)
    return code


def run_per_file(
    files: Iterable[Path],
    load_model: Callable[[], Any],
    predict: Callable[[Any, Path], Any],
    to_record: Callable[[Path, Any], dict],
    to_text: Callable[[Path, Any], str],
    as_json: bool = False,
) -> int:
    """Load a model and print one prediction per file; the exit code of a per-file command.

    ``load_model()`` failing with :class:`Music2ImgError` prints ``error: …`` on stderr and returns 2.
    ``predict(model, path)`` failing with :class:`Music2ImgError` prints ``error: path: …`` on stderr
    (with ``as_json``, also a JSON line ``{"file", "error"}`` on stdout) and the loop goes on. Otherwise
    the result is printed as ``json.dumps(to_record(path, result))`` or ``to_text(path, result)``.
    Returns 1 if any file failed, else 0.
    """
    try:
        model = load_model()
    except Music2ImgError as exc:
        return report_error(exc)
    failed = 0
    for path in files:
        try:
            result = predict(model, path)
        except Music2ImgError as exc:
            failed += 1
            message = str(exc).removeprefix(f"{Path(path).name}: ")  # the path is printed already
            print(f"error: {path}: {message}", file=sys.stderr)
            if as_json:
                print(json.dumps({"file": str(path), "error": message}), flush=True)
            continue
        print(json.dumps(to_record(path, result)) if as_json else to_text(path, result), flush=True)
    return 1 if failed else 0
