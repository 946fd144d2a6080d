"""music2img.music.feature_cache: content-keyed cache, parallel extraction, bad files skipped."""

from __future__ import annotations

import shutil

import numpy as np
import soundfile as sf
from conftest import SR, synth_music

from music2img.music import feature_cache
from music2img.music.audio import load_audio
from music2img.music.feature_cache import extract_many
from music2img.music.features import FEATURE_NAMES, extract_features


def test_cache_hits_misses_and_failures(tmp_path, make_audio, monkeypatch):
    good = [make_audio("a.wav", seconds=3.5, seed=1), make_audio("b.flac", seconds=3.5, bpm=90, seed=2)]
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    cache = tmp_path / "cache"
    paths = [good[0], broken, good[1]]

    first = extract_many(paths, cache, n_jobs=1, progress=False)
    assert first.ok.tolist() == [True, False, True]
    assert first.X.shape == (3, len(FEATURE_NAMES)) and np.isnan(first.X[1]).all()
    assert len(first.errors) == 1 and first.errors[0][0] == str(broken) and "AudioError" in first.errors[0][1]
    np.testing.assert_allclose(first.X[0], extract_features(load_audio(good[0]), SR), rtol=1e-6)

    # Second call: every good file comes from the cache (decoding would fail loudly).
    def boom(*args, **kwargs):
        raise AssertionError("audio decoded despite a cache hit")

    monkeypatch.setattr(feature_cache, "load_audio", boom)
    shutil.copy(good[0], tmp_path / "renamed.wav")  # same content, other name: still a hit
    second = extract_many(paths + [tmp_path / "renamed.wav"], cache, n_jobs=1, progress=False)
    np.testing.assert_array_equal(second.X[[0, 2]], first.X[[0, 2]])
    np.testing.assert_array_equal(second.X[3], first.X[0])

    # Changed content misses the cache.
    sf.write(good[0], synth_music(3.5, bpm=160, seed=9), SR)
    third = extract_many([good[0]], cache, n_jobs=1, progress=False)
    assert not third.ok[0] and "cache hit" in third.errors[0][1]


def test_parallel_matches_serial(tmp_path, make_audio):
    paths = [make_audio(f"{i}.wav", seconds=3.2, seed=i) for i in range(3)]
    serial = extract_many(paths, None, n_jobs=1, progress=False)
    parallel = extract_many(paths, tmp_path / "c", n_jobs=2, progress=False)
    assert parallel.ok.all()
    np.testing.assert_allclose(parallel.X, serial.X, rtol=1e-6)


def test_parts_are_cached_on_their_own(tmp_path, make_audio, monkeypatch):
    """Adding the musicnn part to a cached librosa part computes only the new part."""
    from music2img.music import features
    from music2img.music.feature_parts import feature_names
    from music2img.music.musicnn_features import musicnn_features

    path = make_audio("a.wav", seconds=3.5, seed=4)
    cache = tmp_path / "cache"
    librosa_only = extract_many([path], cache, progress=False)
    monkeypatch.setattr(features, "extract_windows", lambda *a: (_ for _ in ()).throw(AssertionError("recomputed")))
    both = extract_many([path], cache, progress=False, parts=("musicnn", "librosa"))
    assert both.ok.all() and both.X.shape == (1, len(feature_names(["librosa", "musicnn"])))
    np.testing.assert_array_equal(both.X[0, : len(FEATURE_NAMES)], librosa_only.X[0])
    np.testing.assert_allclose(both.X[0, len(FEATURE_NAMES) :], musicnn_features(load_audio(path), SR), atol=1e-5)
    assert sorted(d.name for d in cache.iterdir()) == [f"v5-{SR}", f"vmusicnn-2-{SR}"]
