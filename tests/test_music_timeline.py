"""The emotion timeline: overlapping windows, smoothing, interpolation (a stand-in model that hears loudness)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SR, synth_music
from factories_film import LoudnessRegressor

from music2img.errors import AudioError
from music2img.music.emotion_model import MusicEmotionModel
from music2img.music.features import FEATURE_NAMES, SCHEMA_VERSION
from music2img.music.timeline import EmotionTimeline, emotion_timeline


@pytest.fixture(scope="module")
def model():
    return MusicEmotionModel(LoudnessRegressor(), FEATURE_NAMES, SCHEMA_VERSION)


@pytest.fixture(scope="module")
def quiet_then_loud():
    return np.concatenate([0.04 * synth_music(12.0, seed=1), synth_music(12.0, seed=2)])


def test_windows_every_hop_and_a_change_in_the_music_is_heard(model, quiet_then_loud):
    tl = emotion_timeline(model, quiet_then_loud, SR, window=4.0, hop=1.0, smoothing=0.0)
    np.testing.assert_allclose(tl.times, np.arange(21) + 2.0)
    assert tl.valence[tl.times < 9].max() < 3 and tl.valence[tl.times > 15].min() > 6
    np.testing.assert_allclose(tl.valence, tl.arousal)


def test_smoothing_spreads_the_change_over_time(model, quiet_then_loud):
    raw = emotion_timeline(model, quiet_then_loud, SR, window=4.0, hop=1.0, smoothing=0.0)
    smooth = emotion_timeline(model, quiet_then_loud, SR, window=4.0, hop=1.0, smoothing=3.0)
    assert np.abs(np.diff(smooth.valence)).max() < 0.5 * np.abs(np.diff(raw.valence)).max()
    assert smooth.valence.mean() == pytest.approx(raw.valence.mean(), abs=0.2)
    with pytest.raises(ValueError, match="smoothing"):
        emotion_timeline(model, quiet_then_loud, SR, smoothing=-1.0)


def test_a_signal_shorter_than_a_window_is_one_window_and_other_rates_are_resampled(model):
    y = synth_music(5.0, sr=44100)
    tl = emotion_timeline(model, y, 44100, window=10.0, hop=2.0)
    assert len(tl.times) == 1 and tl.times[0] == pytest.approx(2.5, abs=1e-3)
    v, a = tl(np.array([0.0, 100.0]))
    assert v[0] == v[1] == tl.valence[0] and a[0] == tl.arousal[0]
    at_22k = emotion_timeline(model, synth_music(5.0), SR, window=10.0, hop=2.0)
    assert tl.valence[0] == pytest.approx(at_22k.valence[0], abs=0.3)


def test_the_timeline_interpolates_between_window_centres():
    tl = EmotionTimeline(np.array([1.0, 3.0]), np.array([2.0, 6.0]), np.array([8.0, 4.0]))
    v, a = tl(np.array([0.0, 1.0, 2.0, 3.0, 9.0]))
    np.testing.assert_allclose(v, [2, 2, 4, 6, 6])
    np.testing.assert_allclose(a, [8, 8, 6, 4, 4])


def test_silence_is_refused(model):
    with pytest.raises(AudioError, match="silent"):
        emotion_timeline(model, np.zeros(10 * SR, dtype=np.float32), SR)
