"""music2img.music.midi_render and the VGMIDI loader, on tiny MIDI files written here."""

from __future__ import annotations

import shutil
from pathlib import Path

import mido
import numpy as np
import pandas as pd
import pytest
from factories_music import write_midi

from music2img.errors import AudioError
from music2img.music import midi_render
from music2img.music.datasets import COLUMNS, VGMIDI_LEVELS, load_dataset
from music2img.music.midi_render import (
    Rendering,
    augmentations,
    find_soundfonts,
    render,
    render_cached,
    transform_midi,
)

SOUNDFONTS = find_soundfonts()
needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not SOUNDFONTS, reason="fluidsynth and a General MIDI SoundFont are needed"
)


def _messages(path: Path, kind: str) -> list:
    return [m for t in mido.MidiFile(path).tracks for m in t if m.type == kind]


def test_transform_midi(tmp_path):
    src = write_midi(tmp_path / "a.mid")
    transform_midi(src, tmp_path / "b.mid", Rendering("x.sf2", program=48, tempo=2.0, velocity=0.5))
    assert [m.program for m in _messages(tmp_path / "b.mid", "program_change")] == [48]
    assert [m.tempo for m in _messages(tmp_path / "b.mid", "set_tempo")] == [250000]
    assert {m.velocity for m in _messages(tmp_path / "b.mid", "note_on")} == {40}
    assert mido.MidiFile(tmp_path / "b.mid").length == pytest.approx(mido.MidiFile(src).length / 2)
    # A file without tempo or instrument gets them; program None keeps the file's instruments.
    bare = write_midi(tmp_path / "bare.mid", tempo=False, program=False)
    transform_midi(bare, tmp_path / "c.mid", Rendering("x.sf2", program=24, tempo=0.5))
    assert [m.program for m in _messages(tmp_path / "c.mid", "program_change")] == [24]
    assert mido.MidiFile(tmp_path / "c.mid").length == pytest.approx(2 * mido.MidiFile(bare).length)
    transform_midi(src, tmp_path / "d.mid", Rendering("x.sf2", program=None, velocity=2.0))
    assert [m.program for m in _messages(tmp_path / "d.mid", "program_change")] == [0]
    assert {m.velocity for m in _messages(tmp_path / "d.mid", "note_on")} == {127}
    (tmp_path / "bad.mid").write_bytes(b"MThd not really")
    with pytest.raises(AudioError, match="cannot read this MIDI file"):
        transform_midi(tmp_path / "bad.mid", tmp_path / "e.mid", Rendering("x.sf2"))


def test_rendering_values_and_augmentations():
    with pytest.raises(ValueError, match="0–127"):
        Rendering("x.sf2", program=128)
    with pytest.raises(ValueError, match="positive"):
        Rendering("x.sf2", tempo=0)
    fonts = ["a.sf2", "b.sf2", "c.sf3"]
    one, again, other = (
        augmentations("p.mid", fonts, 6),
        augmentations("p.mid", fonts, 6),
        augmentations("q.mid", fonts, 6),
    )
    assert one == again and one != other and len(one) == 6
    assert [r.soundfont for r in one] == ["b.sf2", "c.sf3", "a.sf2"] * 2
    for r in one + other:
        assert r.program in midi_render.AUGMENT_PROGRAMS
        assert midi_render.TEMPO_RANGE[0] <= r.tempo <= midi_render.TEMPO_RANGE[1]
        assert midi_render.VELOCITY_RANGE[0] <= r.velocity <= midi_render.VELOCITY_RANGE[1]
        assert midi_render.GAIN_DB_RANGE[0] <= r.gain_db <= midi_render.GAIN_DB_RANGE[1]
    assert len({r.name() for r in one}) == 6
    with pytest.raises(ValueError, match="no SoundFont"):
        augmentations("p.mid", [], 2)


@needs_fluidsynth
def test_render_and_cache(tmp_path, monkeypatch):
    src = write_midi(tmp_path / "a.mid", seconds=3.0)
    y = render(src, Rendering(SOUNDFONTS[0], gain_db=-6.0), sr=16000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert np.max(np.abs(y)) == pytest.approx(10 ** (-6 / 20), rel=1e-4)
    assert 3.0 <= len(y) / 16000 < 6.0  # the notes, then the release and reverb tail
    fast = render(src, Rendering(SOUNDFONTS[0], tempo=2.0), sr=16000)
    assert len(fast) < len(y)
    roomy = render(src, Rendering(SOUNDFONTS[0], gain_db=-6.0, settings=("synth.reverb.room-size=1.0",)), sr=16000)
    n = min(len(y), len(roomy))
    assert not np.allclose(roomy[:n], y[:n], atol=1e-3)  # the extra FluidSynth setting is applied
    path = render_cached(src, Rendering(SOUNDFONTS[0]), tmp_path / "cache", sr=16000, max_seconds=2.0)
    import soundfile as sf

    info = sf.info(str(path))
    assert path.suffix == ".flac" and info.samplerate == 16000 and info.duration == pytest.approx(2.0)
    stamp = path.stat().st_mtime_ns
    monkeypatch.setattr(midi_render, "render", lambda *a, **k: pytest.fail("rendered again"))
    assert render_cached(src, Rendering(SOUNDFONTS[0]), tmp_path / "cache", sr=16000, max_seconds=2.0) == path
    assert path.stat().st_mtime_ns == stamp


def test_render_errors(tmp_path, monkeypatch):
    src = write_midi(tmp_path / "a.mid")
    with pytest.raises(AudioError, match="MIDI file not found"):
        render(tmp_path / "none.mid", Rendering(SOUNDFONTS[0] if SOUNDFONTS else str(src)))
    with pytest.raises(AudioError, match="SoundFont not found"):
        render(src, Rendering(str(tmp_path / "none.sf2")))
    with pytest.raises(AudioError, match="SoundFont not found"):
        render_cached(src, Rendering(str(tmp_path / "none.sf2")), tmp_path / "cache")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(AudioError, match="fluidsynth program is needed"):
        render(src, Rendering(str(src)))  # any existing file passes the SoundFont check


@needs_fluidsynth
def test_load_vgmidi(tmp_path):
    root = tmp_path / "vgmidi"
    rows = []
    for i, (game, v, a, q) in enumerate([("Game A", 1, 1, "Q1"), ("Game A", -1, -1, "Q3"), ("Game B", 1, -1, "Q4")]):
        name = f"midi/{game}_{i}.mid"
        write_midi(root / name, seconds=4.0, minor=v < 0)
        rows.append(
            {
                "file": name,
                "series": game,
                "game": game,
                "piece": str(i),
                "valence_sign": v,
                "arousal_sign": a,
                "quadrant": q,
            }
        )
    rows.append(
        {
            "file": "midi/broken.mid",
            "series": "C",
            "game": "Game C",
            "piece": "x",
            "valence_sign": 1,
            "arousal_sign": 1,
            "quadrant": "Q1",
        }
    )
    (root / "midi" / "broken.mid").write_bytes(b"not midi")
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    with pytest.warns(UserWarning, match="vgmidi: skipped 1"):
        table = load_dataset("vgmidi", root, render_dir=tmp_path / "renders", augment=2, progress=False)
    assert list(table.columns) == COLUMNS + ["piece", "rendering"]
    assert len(table) == 3 * (1 + 2)  # one window of the reference rendering and two augmented ones per phrase
    assert (table["rendering"] == "reference").sum() == 3 and table["id"].is_unique
    assert set(table["group"]) == {"vgmidi:Game A", "vgmidi:Game B"} and set(table["source"]) == {"vgmidi"}
    first = table[table["piece"] == "midi/Game A_0.mid"]
    assert set(first["valence"]) == {5 + VGMIDI_LEVELS[0]} and set(first["arousal"]) == {5 + VGMIDI_LEVELS[1]}
    third = table[table["piece"] == "midi/Game B_2.mid"]
    assert set(third["arousal"]) == {5 - VGMIDI_LEVELS[1]} and set(third["quadrant"]) == {"Q4"}
    assert all(Path(p).is_file() for p in table["audio_path"])
    assert "broken.mid" in table.attrs["skipped"][0][0]
