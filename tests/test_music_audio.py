"""music2img.music.audio: decoding, resampling, down-mixing, and a clear AudioError for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from music2img.errors import AudioError
from music2img.music.audio import (
    MAX_DURATION,
    MAX_WINDOWS,
    SAMPLE_RATE,
    frame_windows,
    load_audio,
)


@pytest.mark.parametrize(
    "name, sr, stereo",
    [
        ("a.wav", 44100, True),
        ("b.flac", 16000, False),
        ("c.ogg", 44100, False),
        ("d.wav", 16000, True),
    ],
)
def test_formats_rates_and_channels(make_audio, name, sr, stereo):
    y = load_audio(make_audio(name, seconds=4.0, sr=sr, stereo=stereo))
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.size - 4.0 * SAMPLE_RATE) <= SAMPLE_RATE * 0.01
    assert 0.05 < np.abs(y).max() <= 1.0


def test_stereo_is_averaged(tmp_path):
    left = np.full(SAMPLE_RATE * 4, 0.5, dtype=np.float32)
    sf.write(tmp_path / "s.wav", np.stack([left, -0.5 * left], axis=1), SAMPLE_RATE)
    assert np.allclose(load_audio(tmp_path / "s.wav"), 0.125)


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("missing.wav", None, "not found"),
        ("empty.wav", b"", "empty"),
        ("junk.mp3", np.random.default_rng(0).bytes(5000), "cannot decode"),
        ("text.wav", b"RIFF not really a wave file", "cannot decode"),
    ],
)
def test_unusable_files(tmp_path, name, content, match):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(AudioError, match=match):
        load_audio(tmp_path / name)


def test_silent_too_short(tmp_path, make_audio):
    sf.write(tmp_path / "silence.wav", np.zeros(SAMPLE_RATE * 5, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="silent"):
        load_audio(tmp_path / "silence.wav")
    with pytest.raises(AudioError, match="too short"):
        load_audio(make_audio("short.wav", seconds=1.0))


def test_too_long_is_refused_before_decoding(tmp_path):
    # 8 kHz 8-bit mono keeps the file small (~10 MB) while exceeding the limit.
    sr = 8000
    n = int((MAX_DURATION + 10) * sr)
    sf.write(tmp_path / "long.wav", np.zeros(n, dtype=np.float32) + 0.1, sr, subtype="PCM_U8")
    with pytest.raises(AudioError, match="too long"):
        load_audio(tmp_path / "long.wav")


def test_frame_windows():
    sr = 100
    assert frame_windows(np.zeros(10 * sr), sr) == [(0.0, 10.0)]
    assert frame_windows(np.zeros(90 * sr), sr) == [(0.0, 30.0), (30.0, 60.0), (60.0, 90.0)]
    tail = frame_windows(np.zeros(70 * sr), sr)
    assert tail[-1] == (40.0, 70.0) and len(tail) == 3
    long = frame_windows(np.zeros(600 * sr), sr)
    assert len(long) == MAX_WINDOWS and long[0][0] == 0.0 and long[-1][1] == pytest.approx(600.0)
    assert frame_windows(np.zeros(60 * sr), sr, window=30, hop=15) == [(0.0, 30.0), (15.0, 45.0), (30.0, 60.0)]
