"""music2img.music.datasets against the real annotation files, with tiny stand-in audio."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import SR, synth_music

from music2img.errors import DatasetError
from music2img.music.datasets import COLUMNS, load_4q, load_dataset, load_deam
from music2img.va import quadrants


def _write_clips(folder, ids) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in ids:
        sf.write(folder / f"{i}.mp3", synth_music(0.5, seed=int(i) % 7), SR, format="MP3")


def test_deam(shared_data, tmp_path):
    src = shared_data / "music" / "deam"
    (tmp_path / "annotations").mkdir()
    for f in src.glob("*.csv"):
        shutil.copy(f, tmp_path / "annotations" / f.name)
    ids = ["2", "3", "2001"]  # two from the first file, one from the second (the one with the header typo)
    _write_clips(tmp_path / "MEMD_audio", ids)
    with pytest.warns(UserWarning, match="deam: skipped"):
        table = load_deam(tmp_path)
    assert list(table.columns) == COLUMNS
    assert sorted(table["id"]) == sorted(ids)
    assert len(table.attrs["skipped"]) == 1802 - 3
    row = table.set_index("id").loc["2"]
    assert (row.valence, row.arousal) == (3.1, 3.0)
    assert table["valence"].between(1, 9).all() and table["group"].is_unique
    assert table["quadrant"].isna().all() and set(table["source"]) == {"deam"}


def test_pmemo_rescales_and_skips_bad_rows(shared_data, tmp_path):
    labels = pd.read_csv(shared_data / "music" / "pmemo" / "static_annotations.csv")
    ids = [str(i) for i in labels["musicId"][:4]]
    labels.loc[2, "Valence(mean)"] = np.nan  # a broken label among the real ones
    labels.loc[3, "Arousal(mean)"] = 1.7  # outside 0–1, so outside 1–9 after rescaling
    (tmp_path / "annotations").mkdir()
    labels.to_csv(tmp_path / "annotations" / "static_annotations.csv", index=False)
    _write_clips(tmp_path / "chorus", ids)
    with pytest.warns(UserWarning, match="pmemo: skipped"):
        table = load_dataset("pmemo", tmp_path)
    assert list(table["id"]) == ids[:2]
    reasons = dict(table.attrs["skipped"])
    assert "missing" in reasons[ids[2]] and "outside" in reasons[ids[3]]
    np.testing.assert_allclose(table["valence"], 1 + 8 * labels["Valence(mean)"][:2])
    np.testing.assert_allclose(table["arousal"], 1 + 8 * labels["Arousal(mean)"][:2])


def test_4q(shared_data, tmp_path):
    music = shared_data / "music"
    shutil.copy(music / "4q" / "metadata.csv", tmp_path / "metadata.csv")
    songs = pd.read_csv(music / "4q" / "metadata.csv")["Song"]
    (tmp_path / "audio").mkdir()
    for s in songs[1:]:  # audio stubs; the first song's file is missing
        (tmp_path / "audio" / f"{s}.mp3").touch()
    with pytest.warns(UserWarning, match="4q: skipped 1 of 720"):
        table = load_4q(tmp_path, music / "mood_lexicon.csv")
    assert len(table) == 719 and table["valence"].between(1, 9).all() and table["arousal"].between(1, 9).all()
    agreement = np.mean(quadrants(table["valence"], table["arousal"]) == table["quadrant"])
    assert 0.95 < agreement < 0.98  # the published ~97%
    assert table["group"].nunique() < len(table)  # artists with several songs share a group
    # "Circular; Greasy; Messy" → the mean of the norms of the tags in the lexicon
    lex = pd.read_csv(music / "mood_lexicon.csv").set_index("word")
    row = table.set_index("id").loc[songs[1]]
    tags = [t.strip().lower() for t in pd.read_csv(music / "4q" / "metadata.csv")["MoodsStrSplit"][1].split(";")]
    known = [t for t in tags if t in lex.index]
    assert row.valence == pytest.approx(lex.loc[known, "valence_mean"].mean())


def test_layout_errors(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_deam(tmp_path / "nope")
    with pytest.raises(DatasetError, match="no DEAM static annotation"):
        load_deam(tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset kind"):
        load_dataset("mp3s", tmp_path)
