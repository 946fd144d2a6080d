"""benchmarks/music_robustness.py: the shift measures on hand-made numbers, and a run end to end on
a tiny 4Q-style dataset."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import load_script, synth_music
from factories_music import make_tiny_music_model

from music2img.music.audio import SAMPLE_RATE, load_audio
from music2img.music.emotion_model import MusicEmotionModel

bench = load_script("benchmarks/music_robustness.py")


def test_shifts_measure_predictions_quadrants_and_the_features_that_move():
    rng = np.random.default_rng(0)
    va = np.array([[3.0, 3.0], [7.0, 3.0], [4.8, 6.0], [6.0, 7.0]])
    x = rng.standard_normal((4, 3))
    moved_x = x.copy()
    moved_x[:, 1] += 2 * x[:, 1].std()  # feature "b" moves by two standard deviations
    moved_va = va + [0.4, -0.1]  # the third clip crosses valence 5
    report = bench.shifts({"va": va, "features": x}, {"louder": {"va": moved_va, "features": moved_x}}, ["a", "b", "c"])
    r = report["louder"]
    assert r["mean_shift"] == {"valence": 0.4, "arousal": 0.1}
    assert r["quadrant_changed"] == 0.25
    assert list(r["features_moving_most"])[0] == "b"
    assert r["features_moving_most"]["b"] == pytest.approx(2.0)
    assert r["features_moving_most"]["a"] == 0.0
    assert report["spread"]["valence"] == pytest.approx(va[:, 0].std(), abs=1e-3)


def test_pick_clips_takes_every_quadrant_alike():
    table = pd.DataFrame(
        {"id": [f"c{i}" for i in range(20)], "quadrant": ["Q1"] * 11 + ["Q2"] * 3 + ["Q3"] * 3 + ["Q4"] * 3}
    )
    picked = bench.pick_clips(table, 8, seed=0)
    assert sorted(r.quadrant for r in picked) == ["Q1", "Q1", "Q2", "Q2", "Q3", "Q3", "Q4", "Q4"]
    assert [r.id for r in bench.pick_clips(table, 8, seed=0)] == [r.id for r in picked]


def test_robustness_benchmark_end_to_end(tmp_path, capsys):
    root = tmp_path / "4q"
    (root / "audio").mkdir(parents=True)
    rows = []
    for i, (quad, mood) in enumerate([("Q1", "happy"), ("Q2", "angry"), ("Q3", "sad"), ("Q4", "calm")]):
        y = synth_music(6.0, bpm=80 + 30 * i, minor=i % 2 == 1, seed=i)
        sf.write(root / "audio" / f"S{i}.mp3", np.stack([y, 0.5 * y], 1), 22050)
        rows.append({"Song": f"S{i}", "Artist": f"A{i}", "Quadrant": quad, "MoodsStrSplit": mood})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    pd.DataFrame(
        {
            "word": ["happy", "angry", "sad", "calm"],
            "valence_mean": [8.0, 2.5, 2.1, 6.9],
            "arousal_mean": [6.0, 6.2, 3.5, 1.7],
        }
    ).to_csv(root / "mood_lexicon.csv", index=False)
    out = tmp_path / "out"
    model = make_tiny_music_model(tmp_path / "model")
    cmd = ["--dataset", f"4q:{root}", "--model", str(model), "--clips", "4", "--out", str(out)]
    assert bench.main(cmd) == 0
    report = json.loads((out / "robustness.json").read_text())
    versions = set(report["shifts"]) - {"spread"}
    labels = {e.label for e in bench.ENCODINGS.values()}
    expected = set(bench.SIGNAL_CHANGES) | (labels if shutil.which("ffmpeg") else set())
    assert versions == expected
    assert sorted(report["clips"]) == ["S0", "S1", "S2", "S3"]
    for name in versions:
        r = report["shifts"][name]
        assert r["clips"] == 4 and len(r["features_moving_most"]) == 5
    # the shifts, recomputed clip by clip through the library's own song prediction
    music = MusicEmotionModel.load(model)
    for name, change in bench.SIGNAL_CHANGES.items():
        d = []
        for i in range(4):
            y = load_audio(root / "audio" / f"S{i}.mp3")
            before, after = music.predict_audio(y, SAMPLE_RATE), music.predict_audio(change(y), SAMPLE_RATE)
            d.append([abs(after.valence - before.valence), abs(after.arousal - before.arousal)])
        expected = np.mean(d, axis=0)
        shift = report["shifts"][name]["mean_shift"]
        assert [shift["valence"], shift["arousal"]] == pytest.approx(expected, abs=1e-3)
    assert "| gain −12 dB | 4 |" in capsys.readouterr().out
