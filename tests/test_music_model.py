"""music2img.music.emotion_model: save/load with checksum, prediction per window and per song."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from conftest import SR, synth_music
from factories_music import make_tiny_music_model

from music2img.errors import AudioError, ModelFileError
from music2img.music.emotion_model import (
    CONFIG_FILE,
    MODEL_FILE,
    MusicEmotionModel,
    SongEmotion,
)
from music2img.music.features import FEATURE_NAMES, SCHEMA_VERSION


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_music_model(tmp_path_factory.mktemp("m") / "music_emotion")


def test_round_trip(model_dir):
    model = MusicEmotionModel.load(model_dir)
    config = json.loads((model_dir / CONFIG_FILE).read_text())
    assert config["feature_names"] == FEATURE_NAMES and config["metadata"] == {"tiny": True}
    X = np.random.default_rng(1).standard_normal((7, len(FEATURE_NAMES)))
    va = model.predict_features(X)
    assert va.shape == (7, 2) and np.all((va >= 1) & (va <= 9))
    np.testing.assert_allclose(va, np.clip(model.regressor.predict(X.astype(np.float32)), 1, 9))
    with pytest.raises(ValueError, match="shape"):
        model.predict_features(X[:, :10])


class _Exploit:
    """Unpickling it creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checksum_checked_before_unpickling(model_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    marker = tmp_path / "pwned_marker"
    (bad / CONFIG_FILE).write_text((model_dir / CONFIG_FILE).read_text())
    (bad / MODEL_FILE).write_bytes(pickle.dumps(_Exploit(marker)))
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Exploit(probe))).close()
    assert probe.exists()  # the exploit works when unpickled
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        MusicEmotionModel.load(bad)
    assert not marker.exists()


def test_missing_and_incompatible(model_dir, tmp_path):
    with pytest.raises(ModelFileError, match="no music emotion model"):
        MusicEmotionModel.load(tmp_path / "nowhere")
    (tmp_path / "nojoblib").mkdir()
    (tmp_path / "nojoblib" / CONFIG_FILE).write_text((model_dir / CONFIG_FILE).read_text())
    with pytest.raises(ModelFileError, match="not found"):
        MusicEmotionModel.load(tmp_path / "nojoblib")
    old = tmp_path / "old"
    MusicEmotionModel.load(model_dir).save(old)
    config = json.loads((old / CONFIG_FILE).read_text())
    config["schema_version"] = "0"
    (old / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="retrain"):
        MusicEmotionModel.load(old)


def test_predict_audio_windows(model_dir):
    model = MusicEmotionModel.load(model_dir)
    y = np.concatenate([synth_music(35.0, seed=1), synth_music(35.0, bpm=170, minor=True, seed=2)])
    song = model.predict_audio(y, SR)
    assert isinstance(song, SongEmotion) and song.duration == pytest.approx(70.0)
    assert [(w.start, w.end) for w in song.windows] == [(0.0, 30.0), (30.0, 60.0), (40.0, 70.0)]
    assert song.valence == pytest.approx(np.mean([w.valence for w in song.windows]))
    assert song.arousal == pytest.approx(np.mean([w.arousal for w in song.windows]))
    d = song.to_dict()
    assert set(d) == {"valence", "arousal", "quadrant", "duration", "windows"} and len(d["windows"]) == 3
    # Another sample rate is resampled first; a short clip is one window.
    short = model.predict_audio(synth_music(5.0, sr=16000), 16000)
    assert short.duration == pytest.approx(5.0, abs=1e-3) and len(short.windows) == 1


class _Constant:
    """A regressor that hears the same valence and arousal in every window."""

    def __init__(self, valence, arousal):
        self.va = (valence, arousal)

    def predict(self, X):
        return np.tile(self.va, (len(X), 1))


@pytest.mark.parametrize(
    ("valence", "arousal", "expected"), [(7.2, 6.1, "Q1"), (2.5, 7.9, "Q2"), (3.0, 2.0, "Q3"), (6.4, 2.7, "Q4")]
)
def test_a_songs_quadrant_is_where_its_emotion_lies(valence, arousal, expected):
    model = MusicEmotionModel(_Constant(valence, arousal), FEATURE_NAMES, SCHEMA_VERSION)
    song = model.predict_audio(synth_music(5.0), SR)
    assert (song.valence, song.arousal, song.quadrant) == (pytest.approx(valence), pytest.approx(arousal), expected)


def test_predict_errors(model_dir, tmp_path):
    model = MusicEmotionModel.load(model_dir)
    with pytest.raises(AudioError, match="too short"):
        model.predict_audio(synth_music(1.0), SR)
    with pytest.raises(AudioError, match="silent"):
        model.predict_audio(np.zeros(5 * SR, dtype=np.float32), SR)
    with pytest.raises(AudioError, match="not found"):
        model.predict_file(tmp_path / "missing.ogg")


def test_a_model_on_musicnn_features_computes_them(tmp_path):
    """A model's schema names its feature parts; it computes those, and refuses other versions."""
    from sklearn.linear_model import LinearRegression

    from music2img.music.feature_parts import feature_names, schema_version

    parts = ("librosa", "musicnn")
    names = feature_names(parts)
    assert schema_version(parts) == "5+musicnn-2" and len(names) == len(FEATURE_NAMES) + 900
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((30, len(names))), rng.uniform(2, 8, (30, 2))
    MusicEmotionModel(LinearRegression().fit(X, Y), names, "5+musicnn-2").save(tmp_path / "both")
    model = MusicEmotionModel.load(tmp_path / "both")
    assert model.parts == parts
    song = model.predict_audio(synth_music(7.0, seed=3), SR)
    assert len(song.windows) == 1 and 1 <= song.valence <= 9
    with pytest.raises(ModelFileError, match="differ from the 1170"):
        MusicEmotionModel(LinearRegression(), names[:-1] + ["x"], "5+musicnn-2")
    with pytest.raises(ModelFileError, match="musicnn vmusicnn-2"):
        MusicEmotionModel(LinearRegression(), names, "5+musicnn-0")
    assert MusicEmotionModel(LinearRegression(), names[len(FEATURE_NAMES) :], "musicnn-2").parts == ("musicnn",)
