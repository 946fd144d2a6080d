"""The example songs: scores written as notes, rendered with a General MIDI SoundFont."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
import soundfile as sf

from music2img.assets import EXAMPLES_DIR, MUSIC_MODEL_DIR
from music2img.music.examples import EXAMPLES, SOUNDFONT, SR, main, pitches, seq, steps

ENERGETIC, CALM = EXAMPLES[:2], EXAMPLES[2:]


def test_notation():
    assert pitches("C4+E4+G4") == [60, 64, 67]
    assert seq("C4/1 r/.5 D4+F#4/2/100", start=4, velocity=70, legato=0.5) == [
        (4.0, 0.5, 60, 70),
        (5.5, 1.0, 62, 100),
        (5.5, 1.0, 66, 100),
    ]
    assert steps("X.|x-", 36, 100, start=1, step=0.5) == [
        (1.0, 0.45, 36, 100),
        (2.0, 0.45, 36, 80),
        (2.5, 0.45, 36, 55),
    ]


def test_pieces_are_one_per_quadrant_in_order_with_distinct_names():
    assert [p.quadrant for p in EXAMPLES] == ["Q1", "Q2", "Q3", "Q4"]
    assert len({p.name for p in EXAMPLES}) == 4 and all(p.title.startswith(p.quadrant) for p in EXAMPLES)


def _notes_per_second(piece) -> float:
    return sum(len(p.notes) for p in piece.parts) / piece.seconds


def _mean_velocity(piece) -> float:
    return float(np.mean([n[3] for p in piece.parts for n in p.notes]))


def test_energetic_pieces_are_faster_denser_louder_and_drummed():
    for fast in ENERGETIC:
        assert any(p.drums for p in fast.parts)
        for slow in CALM:
            assert not any(p.drums for p in slow.parts)
            assert fast.bpm > 1.5 * slow.bpm
            assert _notes_per_second(fast) > 3 * _notes_per_second(slow)
            assert _mean_velocity(fast) > _mean_velocity(slow) + 10 and fast.peak > slow.peak


def _pitch_classes(piece, lo: int = 0) -> np.ndarray:
    """Duration-weighted pitch-class profile of the melodic parts."""
    hist = np.zeros(12)
    for part in piece.parts:
        if not part.drums:
            for _, length, pitch, _ in part.notes:
                hist[pitch % 12] += length
    return hist / hist.sum()


@pytest.mark.parametrize(
    "piece, tonic, minor", [(EXAMPLES[0], 0, False), (EXAMPLES[2], 9, True), (EXAMPLES[3], 2, False)]
)
def test_tonal_pieces_dwell_on_their_key_triad(piece, tonic, minor):
    profile = _pitch_classes(piece)
    third = (tonic + (3 if minor else 4)) % 12
    other_third = (tonic + (4 if minor else 3)) % 12
    assert profile[tonic] + profile[third] + profile[(tonic + 7) % 12] > 0.45
    assert profile[third] > 2 * profile[other_third]


def test_tense_piece_leans_on_the_minor_second_and_tritone():
    profile = _pitch_classes(EXAMPLES[1])  # E Phrygian: F (semitone) and B♭ (tritone) above E
    assert profile[5] > 0.1 and profile[10] > 0.04


@pytest.mark.parametrize("piece", EXAMPLES, ids=lambda p: p.name)
def test_midi_is_valid_deterministic_and_fits_the_clip(piece):
    mido = pytest.importorskip("mido")
    raw = io.BytesIO()
    piece.to_midi().save(file=raw)
    again = io.BytesIO()
    piece.to_midi().save(file=again)
    assert raw.getvalue() == again.getvalue()
    midi = mido.MidiFile(file=io.BytesIO(raw.getvalue()))
    assert 20.0 <= midi.length <= 30.0 and midi.length == pytest.approx(piece.seconds, abs=0.01)
    drum_tracks = [t for t in midi.tracks if any(getattr(m, "channel", None) == 9 for m in t)]
    assert len(drum_tracks) == sum(p.drums for p in piece.parts)
    for track in midi.tracks[1:]:  # every note is switched off, never before it starts
        on = {}
        for msg in track:
            if msg.type == "note_on":
                assert msg.note not in on
                on[msg.note] = True
            elif msg.type == "note_off":
                assert on.pop(msg.note)
        assert not on


def test_shipped_examples_are_small_mono_ogg_clips_with_a_licence_note():
    assert sorted(f.stem for f in EXAMPLES_DIR.glob("*.ogg")) == sorted(p.name for p in EXAMPLES)
    for piece in EXAMPLES:
        path = EXAMPLES_DIR / f"{piece.name}.ogg"
        info = sf.info(path)
        assert info.format == "OGG" and info.samplerate == SR and info.channels == 1
        assert info.duration == pytest.approx(piece.seconds, abs=0.05)
        assert path.stat().st_size <= 250_000
    note = (EXAMPLES_DIR / "LICENSE.md").read_text()
    assert "FluidR3_GM" in note and "MIT" in note


@pytest.fixture(scope="module")
def music_model():
    from music2img.music.emotion_model import MusicEmotionModel

    return MusicEmotionModel.load(MUSIC_MODEL_DIR)


@pytest.mark.parametrize("piece", EXAMPLES, ids=lambda p: p.name)
def test_shipped_model_puts_each_example_in_its_quadrant(piece, music_model):
    song = music_model.predict_file(EXAMPLES_DIR / f"{piece.name}.ogg")
    assert song.quadrant == piece.quadrant, (song.valence, song.arousal)


needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not SOUNDFONT.is_file(),
    reason="rendering needs fluidsynth and fluid-soundfont-gm",
)


@needs_fluidsynth
def test_regenerating_gives_the_shipped_clips(tmp_path, capsys):
    pytest.importorskip("mido")
    assert main([str(tmp_path)]) == 0
    assert "KB" in capsys.readouterr().out and not list(tmp_path.glob(".*.tmp"))
    for piece in EXAMPLES:
        fresh, _ = sf.read(tmp_path / f"{piece.name}.ogg", dtype="float32")
        shipped, _ = sf.read(EXAMPLES_DIR / f"{piece.name}.ogg", dtype="float32")
        assert fresh.shape == shipped.shape
        # the same notes, sounds and level (other Vorbis or FluidSynth builds may differ in detail)
        assert np.corrcoef(fresh, shipped)[0, 1] > 0.99
        assert np.abs(fresh).max() == pytest.approx(np.abs(shipped).max(), rel=0.05)


def test_cli_reports_a_missing_soundfont(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / "out"), "--soundfont", str(tmp_path / "none.sf2")])
    assert exit_.value.code == 2
    assert "none.sf2" in capsys.readouterr().err and not (tmp_path / "out").exists()
