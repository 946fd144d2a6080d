"""musicnn in torch: the port against the original package's own output, weights checks, features."""

from __future__ import annotations

import shutil

import librosa
import numpy as np
import pytest

from music2img.assets import EXAMPLES_DIR
from music2img.errors import ModelFileError
from music2img.music.musicnn import MUSICNN_DIR, PATCH_FRAMES, SR, TAGS, load_musicnn, log_mel_patches, musicnn_patches
from music2img.music.musicnn_features import FEATURE_NAMES, musicnn_features, musicnn_windows, spaced_patches

REFERENCE = "tests/data/musicnn_reference.npz"


@pytest.fixture(scope="module")
def reference(request) -> dict[str, np.ndarray]:
    return dict(np.load(request.config.rootpath / REFERENCE))


@pytest.mark.parametrize("model", list(TAGS))
def test_port_matches_the_original_package(reference, model):
    """Tag probabilities of every 3 s patch of 13 s of each example song, and the first patch's
    penultimate embedding, as the original TensorFlow package computed them (train/convert_musicnn.py)."""
    songs = sorted({key.split("/")[0] for key in reference})
    assert len(songs) == 4
    every = []
    for song in songs:
        y, _ = librosa.load(EXAMPLES_DIR / f"{song}.ogg", sr=SR, duration=13.0)
        tags, emb = musicnn_patches(log_mel_patches(y), model)
        expected = reference[f"{song}/{model}/tags"]
        assert tags.shape == expected.shape == (4, 50)
        np.testing.assert_allclose(tags, expected, atol=5e-3)  # float16 weights
        np.testing.assert_allclose(emb[:1], reference[f"{song}/{model}/penultimate"], atol=0.05)
        every.append(expected)
    assert np.concatenate(every).std(axis=0).max() > 0.1  # the songs are tagged differently: not a constant


def test_corrupt_or_missing_weights_are_refused(tmp_path):
    for name in TAGS:
        shutil.copy(MUSICNN_DIR / f"{name}.safetensors", tmp_path)
    load_musicnn("MTT_musicnn", tmp_path)  # intact copy loads
    path = tmp_path / "MSD_musicnn.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load_musicnn("MSD_musicnn", tmp_path)
    (tmp_path / "MTT_musicnn.safetensors").unlink()
    with pytest.raises(ModelFileError, match="not found"):
        load_musicnn("MTT_musicnn", tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="unknown musicnn model"):
        load_musicnn("MSD_vgg")


def test_patches_cover_whole_3_second_stretches():
    rng = np.random.default_rng(0)
    assert log_mel_patches(rng.standard_normal(SR * 7).astype(np.float32) * 0.1).shape == (2, PATCH_FRAMES, 96)
    short = log_mel_patches(rng.standard_normal(SR).astype(np.float32) * 0.1)
    assert short.shape == (1, PATCH_FRAMES, 96) and np.all(short[0, 70:] == 0)  # padded with silence


def test_window_features_summarise_each_window_on_its_own():
    sr = 22050
    t = np.arange(sr * 14) / sr
    y = np.concatenate(
        [0.3 * np.sin(2 * np.pi * 220 * t[: sr * 7]), 0.3 * np.random.default_rng(1).standard_normal(sr * 7)]
    ).astype(np.float32)
    rows = musicnn_windows(y, sr, [(0.0, 7.0), (7.0, 14.0)])
    assert rows.shape == (2, len(FEATURE_NAMES)) == (2, 900) and rows.dtype == np.float32
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert {"msd.tag.sad", "mtt.tag.slow", "msd.emb199_std"} <= set(FEATURE_NAMES)
    np.testing.assert_allclose(rows[1], musicnn_features(y[sr * 7 :], sr), atol=1e-5)
    tags = [i for i, n in enumerate(FEATURE_NAMES) if ".tag." in n]
    assert np.all((rows[:, tags] >= 0) & (rows[:, tags] <= 1)) and np.abs(rows[0, tags] - rows[1, tags]).max() > 0.1


def test_spaced_patches_pick_evenly_from_first_to_last():
    patches = np.arange(10)[:, None, None] * np.ones((1, 2, 3))
    assert spaced_patches(patches, 3)[:, 0, 0].tolist() == [0, 4, 9]  # round(4.5) is 4: banker's rounding
    assert spaced_patches(patches, 1)[:, 0, 0].tolist() == [5]
    assert spaced_patches(patches[:2], 3).shape == (2, 2, 3)  # fewer than asked: all of them


def test_a_window_is_read_through_its_spaced_patches():
    sr = SR
    y = (0.2 * np.random.default_rng(2).standard_normal(sr * 13)).astype(np.float32)  # 4 patches
    row = musicnn_windows(y, sr, [(0.0, 13.0)])[0]
    picked = spaced_patches(log_mel_patches(y))
    assert len(picked) == 3
    tags, emb = musicnn_patches(picked, "MSD_musicnn")
    np.testing.assert_allclose(row[:50], tags.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(row[50:250], emb.mean(axis=0), atol=1e-5)


def test_window_features_compute_the_parts_side_by_side_in_order():
    from music2img.music.feature_parts import window_features
    from music2img.music.features import extract_windows

    sr = 22050
    y = (0.2 * np.random.default_rng(3).standard_normal(sr * 8)).astype(np.float32)
    spans = [(0.0, 4.0), (4.0, 8.0)]
    both = window_features(y, sr, spans, ("musicnn", "librosa"))  # computed in two threads, stored in PARTS order
    np.testing.assert_array_equal(
        both, np.hstack([extract_windows(y, sr, spans), musicnn_windows(y, sr, spans)]).astype(np.float32)
    )
