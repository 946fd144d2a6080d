"""benchmarks/picture_quality.py end to end on a tiny pipeline and a few synthetic photos."""

import json

import numpy as np
import pytest
from conftest import load_script
from factories_diffusion import make_labelled_folder, make_tiny_unet, perturb_emotion

from music2img.diffusion.pipeline import EmotionLandscapePipeline
from music2img.diffusion.schedulers import training_scheduler


def test_quadrant_measures_leave_out_the_centre_lines():
    bench = load_script("benchmarks/picture_quality.py")
    requested = np.array([[2.0, 8.0], [8.0, 8.0], [2.0, 2.0], [8.0, 2.0], [5.0, 8.0], [8.0, 5.0], [3.5, 6.5]])
    ok = np.array([True, False, True, True, False, False, False])
    assert bench.per_quadrant(ok, requested) == {"Q1": 0.0, "Q2": 0.5, "Q3": 1.0, "Q4": 1.0}
    values = np.array([1.0, 2.0, 3.0, 4.0, 9.0, 9.0, 7.0])
    assert bench.per_quadrant(values, requested, np.median) == {"Q1": 2.0, "Q2": 4.0, "Q3": 3.0, "Q4": 4.0}


def test_picture_quality_benchmark_reports_every_measure(tmp_path, capsys, monkeypatch):
    bench = load_script("benchmarks/picture_quality.py")
    model = tmp_path / "pipe"
    EmotionLandscapePipeline(unet=perturb_emotion(make_tiny_unet()), scheduler=training_scheduler()).save_pretrained(
        model
    )
    data = tmp_path / "data"
    make_labelled_folder(data, n=10, size=24)
    out = tmp_path / "out"
    cmd = [
        "--model",
        str(model),
        "--data",
        str(data),
        "--labels",
        str(data / "labels.csv"),
        "--photos",
        "6",
        "--seeds",
        "2",
        "--steps",
        "2",
        "--threads",
        "1",
        "--variants",
        "clip",
        "clip-apg",
        "--cache",
        str(tmp_path / "cache"),
        "--out",
        str(out),
    ]
    assert bench.main(cmd) == 0
    report = json.loads((out / "picture_quality.json").read_text())
    assert set(report["rows"]) == {"pipe:clip", "pipe:clip-apg"}
    today, apg = report["rows"]["pipe:clip"], report["rows"]["pipe:clip-apg"]
    for row in (today, apg):
        assert 0 <= row["saturated"] <= 1 and 0 <= row["clipped"] <= 1 and row["colourfulness"] > 0
        assert row["clipped_ratio"] == pytest.approx(row["clipped"] / report["photos"]["photos_clipped"], rel=0.01)
        assert set(row["scenes_per_quadrant"]) == {"Q1", "Q2", "Q3", "Q4"} and 0 <= row["scenes"] <= 1
        assert set(row["colourfulness_per_quadrant"]) == {"Q1", "Q2", "Q3", "Q4"}
        assert row["non_landscapes"] is None  # the tiny pipeline has no checker
    assert today["colourfulness"] != apg["colourfulness"]  # the guidance changed the pictures
    assert (out / "pipe_clip-apg_seed1.png").is_file()
    assert "| pipe:clip-apg |" in capsys.readouterr().out
    assert bench.main(cmd) == 0  # a second run reads the pictures from the cache
    assert (
        json.loads((out / "picture_quality.json").read_text())["rows"]["pipe:clip-apg"]["seconds_per_picture"] is None
    )
    assert not list((tmp_path / "cache").glob("*_seed2.npz"))
    cached = set((tmp_path / "cache").glob("*_seed1.npz"))
    monkeypatch.setattr(bench.defaults, "MAX_REDRAWS", bench.defaults.MAX_REDRAWS + 1)
    assert bench.main(cmd[:-6] + ["clip", *cmd[-4:]]) == 0  # other redraws: painted again, not read from the cache
    assert len(set((tmp_path / "cache").glob("*_seed1.npz")) - cached) == 1
    assert bench.main(cmd + ["--first-seed", "2", "--variants", "clip"]) == 0  # fresh seeds 2 and 3
    assert len(list((tmp_path / "cache").glob("*_seed3.npz"))) == 1
