"""Tiny music emotion models and MIDI files for tests (no real training)."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

from music2img.music.emotion_model import MusicEmotionModel
from music2img.music.features import FEATURE_NAMES, SCHEMA_VERSION


def make_tiny_music_model(path: str | Path, seed: int = 0) -> Path:
    """Fit a 5-tree forest on random features with the real :data:`FEATURE_NAMES`, save it to the
    folder ``path`` and return the folder. Its predictions are meaningless but on the 1–9 scale."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, len(FEATURE_NAMES))).astype(np.float32)
    Y = rng.uniform(1.0, 9.0, size=(40, 2))
    forest = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=seed).fit(X, Y)
    path = Path(path)
    MusicEmotionModel(forest, FEATURE_NAMES, SCHEMA_VERSION, metadata={"tiny": True}).save(path)
    return path


def write_midi(path: Path, seconds: float = 4.0, minor: bool = False, tempo: bool = True, program: bool = True) -> Path:
    """A piano arpeggio of ``seconds`` at 120 bpm (a quarter note every 0.5 s)."""
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    if tempo:
        track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    if program:
        track.append(mido.Message("program_change", channel=0, program=0, time=0))
    chord = [57, 60, 64] if minor else [57, 61, 64]
    for i in range(int(seconds * 2)):
        note = chord[i % 3] + 12 * (i // 3 % 2)
        track.append(mido.Message("note_on", note=note, velocity=80, time=0))
        track.append(mido.Message("note_off", note=note, velocity=0, time=480))
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(path)
    return path


def write_vgmidi(folder: Path, seconds: float = 4.0) -> Path:
    """A VGMIDI-style folder: one phrase per quadrant, each of its own game (``game 0`` … ``game 3``),
    as ``midi/*.mid`` and ``labels.csv`` with the listeners' signs."""
    rows = []
    for i, (q, v, a) in enumerate([("Q1", 1, 1), ("Q2", -1, 1), ("Q3", -1, -1), ("Q4", 1, -1)]):
        name = f"midi/game{i}_{q}.mid"
        write_midi(folder / name, seconds=seconds, minor=v < 0)
        rows.append(
            {
                "file": name,
                "series": f"game {i}",
                "game": f"game {i}",
                "piece": q,
                "valence_sign": v,
                "arousal_sign": a,
                "quadrant": q,
            }
        )
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    return folder
