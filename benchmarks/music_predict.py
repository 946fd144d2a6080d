#!/usr/bin/env python
"""Music emotion prediction time: warm (model loaded) for a 3-minute song, and a fresh process.

    python benchmarks/music_predict.py [--model assets/music_emotion]

Warm: ``MusicEmotionModel.predict_file`` on a 3-minute FLAC of the example songs in turn (decode + 6 windows of
features + forest), best of ``--repeats`` after one warm-up call, with a breakdown, and the time of each
feature part (:mod:`music2img.music.feature_parts`: librosa alone, musicnn alone, both) on the same
windows as a ratio to the librosa part measured in the same run (torch with ``--threads``). Fresh: wall
time of a new ``python -m music2img emotion`` process on a 30 s clip (imports, numba warm-up,
model load and checksum, prediction).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from music2img.assets import MUSIC_MODEL_DIR  # noqa: E402
from music2img.music.audio import SAMPLE_RATE, frame_windows, load_audio  # noqa: E402
from music2img.music.emotion_model import MODEL_FILE, MusicEmotionModel  # noqa: E402
from music2img.music.examples import load_examples  # noqa: E402
from music2img.music.feature_parts import window_features  # noqa: E402
from music2img.threads import configure_threads  # noqa: E402


def song(seconds: float) -> np.ndarray:
    """The shipped example songs one after another, repeated or cut to ``seconds``."""
    return np.resize(np.concatenate(list(load_examples(sr=SAMPLE_RATE).values())), int(seconds * SAMPLE_RATE))


def timed(fn, repeats: int) -> tuple[float, object]:
    """Best wall time of ``repeats`` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def cpu_seconds(fn) -> float:
    """CPU time of one call (less sensitive than wall time to other work on a shared machine)."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=MUSIC_MODEL_DIR, help="model folder (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="warm repeats, best taken (default 3)")
    p.add_argument("--threads", type=int, default=2, help="torch threads for musicnn (default 2: two cores)")
    args = p.parse_args(argv)
    configure_threads(args.threads)

    load_s, model = timed(lambda: MusicEmotionModel.load(args.model), 1)
    size_mb = (args.model / MODEL_FILE).stat().st_size / 2**20
    print(
        f"model: {args.model} ({size_mb:.1f} MB, {getattr(model.regressor, 'n_estimators', '?')} trees), load "
        f"{load_s:.2f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        long_path, clip_path = Path(tmp) / "song_3min.flac", Path(tmp) / "clip_30s.flac"
        sf.write(long_path, song(180.0), SAMPLE_RATE)
        sf.write(clip_path, song(30.0), SAMPLE_RATE)

        model.predict_file(long_path)  # warm-up
        warm, result = timed(lambda: model.predict_file(long_path), args.repeats)
        decode, y = timed(lambda: load_audio(long_path), args.repeats)
        spans = frame_windows(y)
        X_time, X = timed(lambda: window_features(y, SAMPLE_RATE, spans, model.parts), args.repeats)
        forest, _ = timed(lambda: model.predict_features(X), args.repeats)
        cpu = cpu_seconds(lambda: model.predict_file(long_path))
        print(
            f"warm, 3-minute song: {warm:.2f} s wall, {cpu:.2f} s CPU  ({len(spans)} windows: decode {decode:.2f} s, "
            f"features {X_time:.2f} s, "
            f"forest {forest * 1000:.0f} ms) → valence {result.valence:.2f}, arousal {result.arousal:.2f}"
        )
        window_features(y, SAMPLE_RATE, spans, ("musicnn",))  # warm-up: weights loaded and checked once
        parts = {}
        for k in (("librosa",), ("musicnn",), ("librosa", "musicnn")):
            parts[k] = (
                timed(lambda k=k: window_features(y, SAMPLE_RATE, spans, k), args.repeats)[0],
                cpu_seconds(lambda k=k: window_features(y, SAMPLE_RATE, spans, k)),
            )
        wall, cpu = parts[("librosa",)]
        print(
            f"feature parts, 3-minute song, same {len(spans)} windows (ratio to librosa, wall / CPU): "
            + ", ".join(
                f"{'+'.join(k)} {w:.2f} s wall, {c:.2f} s CPU ({w / wall:.2f}× / {c / cpu:.2f}×)"
                for k, (w, c) in parts.items()
            )
        )

        command = [sys.executable, "-m", "music2img", "emotion", str(clip_path), "--model", str(args.model)]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        runs, cpus = [], []
        for _ in range(args.repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
            runs.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            if proc.returncode != 0:
                print(f"fresh process failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
                return 1
        print(
            f"fresh process, 30 s clip (`python -m music2img emotion`): best {min(runs):.2f} s wall "
            f"(median {float(np.median(runs)):.2f} s), {min(cpus):.2f} s CPU  → {proc.stdout.strip()}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
