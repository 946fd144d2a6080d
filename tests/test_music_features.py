"""music2img.music.features: the schema, and that sharing intermediates changes no value."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from conftest import SR, synth_music

from music2img.music.features import (
    FEATURE_NAMES,
    FMAX,
    LEVEL_DBFS,
    SCHEMA_VERSION,
    estimate_key,
    extract_features,
    extract_windows,
    frame_features,
)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return synth_music(6.0, bpm=100.0, minor=True, seed=3)


def test_schema(clip):
    x = extract_features(clip, SR)
    assert x.shape == (len(FEATURE_NAMES),) and x.dtype == np.float32
    assert np.all(np.isfinite(x))
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES) and SCHEMA_VERSION
    assert {"mfcc00_mean", "chroma_cens_rel11_std", "tonnetz05_mean", "rms_std", "tempo"} <= set(FEATURE_NAMES)


def test_features_depend_on_the_music(clip):
    other = synth_music(6.0, bpm=150.0, root_hz=330.0, seed=4)
    assert not np.allclose(extract_features(clip, SR), extract_features(other, SR))


def test_shared_intermediates_equal_naive_librosa(clip):
    """Each descriptor equals librosa's own function called on the levelled signal (recomputing
    STFT/CQT), the spectral ones on the spectrum up to FMAX."""
    sr = SR
    y = clip * np.float32(10 ** (LEVEL_DBFS / 20) / np.sqrt(np.mean(np.square(clip, dtype=np.float64))))
    frames, onset_env = frame_features(clip, sr)  # which sets the level itself
    S = np.abs(librosa.stft(y))
    freq = librosa.fft_frequencies(sr=sr)
    low = dict(S=S[freq <= FMAX], freq=freq[freq <= FMAX])
    naive = {
        "mfcc": librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13, fmax=FMAX),
        "chroma_stft": librosa.feature.chroma_stft(y=y, sr=sr),
        "spectral_contrast": librosa.feature.spectral_contrast(sr=sr, **low),
        "spectral_rolloff": librosa.feature.spectral_rolloff(sr=sr, **low),
        "spectral_centroid": librosa.feature.spectral_centroid(sr=sr, **low),
        "spectral_bandwidth": librosa.feature.spectral_bandwidth(sr=sr, **low),
        "zcr": librosa.feature.zero_crossing_rate(y),
        "rms": librosa.feature.rms(y=y),
        "tonnetz": librosa.feature.tonnetz(y=y, sr=sr),
        "chroma_cqt": librosa.feature.chroma_cqt(y=y, sr=sr),
        "chroma_cens": librosa.feature.chroma_cens(y=y, sr=sr),
        "mel_band": librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=16, fmax=FMAX)),
    }
    for name, expected in naive.items():
        np.testing.assert_allclose(frames[name], expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max(), err_msg=name)
    np.testing.assert_allclose(onset_env, librosa.onset.onset_strength(y=y, sr=sr, fmax=FMAX), rtol=1e-4)


def test_features_ignore_level_and_the_top_octave(clip):
    """Gain changes nothing; content above FMAX (what a 16 kHz or low-bit-rate version lacks)
    changes nothing but the few broadband descriptors."""
    clip = clip + np.random.default_rng(0).normal(0, 1e-3, len(clip)).astype(
        np.float32
    )  # a noise floor, as recordings have
    x = extract_features(clip, SR)
    np.testing.assert_allclose(extract_features(clip * 0.1, SR), x, rtol=1e-3, atol=1e-4)
    t = np.arange(len(clip)) / SR
    hiss = 0.003 * np.sin(2 * np.pi * 9500 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    bright = extract_features((clip + hiss).astype(np.float32), SR)
    spectral = [
        i
        for i, n in enumerate(FEATURE_NAMES)
        if n.startswith(("mfcc", "mel_band", "spectral_", "tempo", "onset_strength"))
    ]
    np.testing.assert_allclose(bright[spectral], x[spectral], rtol=0.02, atol=0.02)


def test_summary_order_matches_names(clip):
    frames, onset_env = frame_features(clip, SR)
    x = extract_features(clip, SR)
    assert x[FEATURE_NAMES.index("mfcc03_mean")] == pytest.approx(frames["mfcc"][3].mean(), rel=1e-5)
    assert x[FEATURE_NAMES.index("spectral_centroid_std")] == pytest.approx(
        frames["spectral_centroid"][0].std(), rel=1e-5
    )
    assert x[FEATURE_NAMES.index("mel_band04_delta")] == pytest.approx(
        np.abs(np.diff(frames["mel_band"][4])).mean(), rel=1e-5
    )
    assert x[FEATURE_NAMES.index("tempo")] == pytest.approx(float(librosa.feature.tempo(y=clip, sr=SR)[0]), rel=1e-6)
    assert x[FEATURE_NAMES.index("onset_strength_mean")] == pytest.approx(onset_env.mean(), rel=1e-5)
    rms = frames["rms"][0]
    assert x[FEATURE_NAMES.index("low_energy_rate")] == pytest.approx(np.mean(rms < rms.mean()))
    periodicity = librosa.feature.tempogram(onset_envelope=onset_env, sr=SR).mean(axis=-1)
    assert x[FEATURE_NAMES.index("tempogram_beat")] == pytest.approx(periodicity[20:60].mean(), rel=1e-5)


def test_key_stability_and_chord_changes():
    """A song that turns from major to minor has an unstable segment mode; an arpeggio changes its
    chroma from frame to frame far more than one sustained note."""
    steady = synth_music(12.0, root_hz=261.63, minor=False, seed=6)
    turning = np.concatenate(
        [synth_music(6.0, root_hz=261.63, minor=False, seed=6), synth_music(6.0, root_hz=261.63, minor=True, seed=6)]
    )
    mode_std = FEATURE_NAMES.index("segment_mode_std")
    assert extract_features(turning, SR)[mode_std] > 2 * extract_features(steady, SR)[mode_std]
    t = np.arange(int(6.0 * SR)) / SR
    drone = (0.5 * np.sin(2 * np.pi * 261.63 * t)).astype(np.float32)
    flux = FEATURE_NAMES.index("chroma_flux_mean")
    assert extract_features(steady, SR)[flux] > 2 * extract_features(drone, SR)[flux]


def test_key_and_mode():
    """A C-major arpeggio correlates best with a major key, an A-minor one with a minor key."""
    major = extract_features(synth_music(6.0, root_hz=261.63, minor=False), SR)
    minor = extract_features(synth_music(6.0, root_hz=220.0, minor=True), SR)
    mode = FEATURE_NAMES.index("mode_major_minor")
    assert major[mode] > 0 > minor[mode]
    assert major[FEATURE_NAMES.index("key_clarity")] > 0.5


def test_estimate_key_finds_the_tonic():
    """C major → tonic 0 (C), major mode; A minor → tonic 9 (A), minor mode; one value per column."""
    c_major = frame_features(synth_music(6.0, root_hz=261.63, minor=False), SR)[0]["chroma_cqt"].mean(axis=-1)
    a_minor = frame_features(synth_music(6.0, root_hz=220.0, minor=True), SR)[0]["chroma_cqt"].mean(axis=-1)
    tonic, clarity, mode = estimate_key(np.stack([c_major, a_minor], axis=1))
    assert tonic.tolist() == [0, 9]
    assert mode[0] > 0 > mode[1] and np.all(clarity > 0.5)


def test_chroma_is_relative_to_the_key():
    """A transposed song keeps its key-relative chroma features; the raw chromagram moves."""
    c = synth_music(6.0, root_hz=261.63, seed=5)
    e = synth_music(6.0, root_hz=261.63 * 2 ** (4 / 12), seed=5)
    rel = [i for i, n in enumerate(FEATURE_NAMES) if n.startswith("chroma_cqt_rel") and n.endswith("_mean")]
    x_c, x_e = extract_features(c, SR), extract_features(e, SR)
    np.testing.assert_allclose(x_c[rel], x_e[rel], atol=0.08)
    raw_c = frame_features(c, SR)[0]["chroma_cqt"].mean(axis=-1)
    raw_e = frame_features(e, SR)[0]["chroma_cqt"].mean(axis=-1)
    assert np.abs(raw_c - raw_e).max() > 0.3
    np.testing.assert_allclose(np.roll(raw_c, 4), raw_e, atol=0.08)


def test_windows_share_work_but_match_separate_extraction():
    y = np.concatenate([synth_music(8.0, bpm=100, seed=1), synth_music(8.0, bpm=140, root_hz=330, seed=2)])
    spans = [(0.0, 6.0), (6.0, 12.0), (10.0, 16.0)]
    shared = extract_windows(y, SR, spans)
    separate = np.stack([extract_features(y[int(s * SR) : int(e * SR)], SR) for s, e in spans])
    assert shared.shape == separate.shape
    # Same values up to the tuning estimate and a few edge frames: close, and far closer than
    # the difference between the two halves of the signal.
    scale = np.abs(separate).max(axis=0) + 1e-6
    close = np.median(np.abs(shared - separate) / scale)
    far = np.median(np.abs(separate[0] - separate[2]) / scale)
    assert close < 0.02 and close < far / 10
    # Windows with gaps between them are extracted one by one: exactly extract_features.
    gapped = [(0.0, 5.0), (10.0, 15.0)]
    np.testing.assert_array_equal(
        extract_windows(y, SR, gapped),
        np.stack([extract_features(y[int(s * SR) : int(e * SR)], SR) for s, e in gapped]),
    )
