#!/usr/bin/env python
"""Feature extraction time: shared intermediates (music2img.music.features) vs one librosa call per feature.

The naive extractor calls each ``librosa.feature.*`` function on the signal, so every call
recomputes its own STFT, mel spectrogram, tuning estimate or constant-Q transform. Both produce
the same vector (checked here and in tests/test_music_features.py).

    python benchmarks/music_features.py                 # 20 s of each example song, the first twice
    python benchmarks/music_features.py a.mp3 b.mp3     # your own files
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import librosa
import numpy as np

from music2img.music.audio import SAMPLE_RATE, load_audio
from music2img.music.examples import load_examples
from music2img.music.features import N_MEL_BANDS, N_MFCC, extract_features, summarise


def naive_features(y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The same vector, one independent librosa call per descriptor (the onset envelope, from
    which tempo and the song-level descriptors follow, is recomputed from ``y`` too)."""
    F = librosa.feature
    frames = {
        "mfcc": F.mfcc(y=y, sr=sr, n_mfcc=N_MFCC),
        "chroma_stft": F.chroma_stft(y=y, sr=sr),
        "spectral_contrast": F.spectral_contrast(y=y, sr=sr),
        "zcr": F.zero_crossing_rate(y),
        "rms": F.rms(y=y),
        "spectral_centroid": F.spectral_centroid(y=y, sr=sr),
        "spectral_bandwidth": F.spectral_bandwidth(y=y, sr=sr),
        "spectral_rolloff": F.spectral_rolloff(y=y, sr=sr),
        "tonnetz": F.tonnetz(y=y, sr=sr),
        "chroma_cqt": F.chroma_cqt(y=y, sr=sr),
        "chroma_cens": F.chroma_cens(y=y, sr=sr),
        "mel_band": librosa.power_to_db(F.melspectrogram(y=y, sr=sr, n_mels=N_MEL_BANDS)),
    }
    return summarise(frames, librosa.onset.onset_strength(y=y, sr=sr), sr)


def best_of(fn, y, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(y)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", type=Path, help="audio files (default: the example songs)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the example clips (default 20)")
    p.add_argument("--repeats", type=int, default=3, help="timing repeats per clip, best taken (default 3)")
    args = p.parse_args(argv)
    if args.files:
        clips = [(f.name, load_audio(f)) for f in args.files]
    else:
        examples = list(load_examples(sr=SAMPLE_RATE).items())
        clips = [
            (f"{name} ({args.seconds:g} s)", np.resize(y, int(args.seconds * SAMPLE_RATE)))
            for name, y in examples + examples[:1]
        ]
    extract_features(clips[0][1])  # warm-up: numba compilation, filter caches
    naive_features(clips[0][1])
    total_fast = total_naive = 0.0
    for name, y in clips:
        np.testing.assert_allclose(extract_features(y), naive_features(y), rtol=1e-4, atol=1e-4)
        fast, naive = best_of(extract_features, y, args.repeats), best_of(naive_features, y, args.repeats)
        total_fast += fast
        total_naive += naive
        print(f"{name:40s} shared {fast * 1000:7.1f} ms   naive {naive * 1000:7.1f} ms   ratio {naive / fast:4.2f}x")
    print(
        f"{'total':40s} shared {total_fast:7.2f} s    naive {total_naive:7.2f} s    speed-up "
        f"{total_naive / total_fast:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
