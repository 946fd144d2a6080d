"""The synthesised example clips."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soundfile as sf

from music2img.assets import EXAMPLES_DIR
from music2img.music.examples import (
    EXAMPLES,
    SR,
    bright_major,
    calm_major_pad,
    dark_minor_drone,
    main,
    tense_dissonant,
)


@pytest.mark.parametrize("make", list(EXAMPLES.values()))
def test_clip_is_mono_float_in_range_and_deterministic(make):
    y = make(2.0, SR, 0)
    assert y.dtype == np.float32 and y.shape == (2 * SR,)
    assert 0.3 < np.abs(y).max() <= 0.9 + 1e-6
    np.testing.assert_array_equal(y, make(2.0, SR, 0))


def _onset_rate(y: np.ndarray) -> float:
    return len(librosa.onset.onset_detect(y=y, sr=SR)) / (len(y) / SR)


def test_energetic_clips_have_more_onsets_and_brightness_than_calm_ones():
    clips = {f.__name__: f(6.0, SR, 0) for f in (bright_major, tense_dissonant, dark_minor_drone, calm_major_pad)}
    rate = {k: _onset_rate(y) for k, y in clips.items()}
    centroid = {k: librosa.feature.spectral_centroid(y=y, sr=SR).mean() for k, y in clips.items()}
    assert min(rate["bright_major"], rate["tense_dissonant"]) > max(rate["dark_minor_drone"], rate["calm_major_pad"])
    assert centroid["dark_minor_drone"] < centroid["calm_major_pad"] < centroid["bright_major"]


def test_cli_writes_readable_ogg_files(tmp_path, capsys):
    assert main([str(tmp_path), "--seconds", "1.5"]) == 0
    files = sorted(tmp_path.glob("*.ogg"))
    assert [f.stem for f in files] == sorted(EXAMPLES)
    for f in files:
        info = sf.info(f)
        assert info.samplerate == SR and info.channels == 1 and abs(info.duration - 1.5) < 0.01
    assert "KB" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*.tmp"))


def test_shipped_examples_are_small_ogg_clips():
    files = sorted(EXAMPLES_DIR.glob("*.ogg"))
    assert [f.stem for f in files] == sorted(EXAMPLES)
    for f in files:
        assert f.stat().st_size <= 200_000
        assert 8.0 <= sf.info(f).duration <= 12.0
