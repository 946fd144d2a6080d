"""benchmarks/scene_sheets.py: blind contact sheets of the sad quarters' cells, and the count of the labels."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import load_script
from factories_diffusion import make_tiny_pipeline


def test_sheets_show_each_distinct_picture_once_and_the_count_reads_the_labels(tmp_path, capsys):
    bench = load_script("benchmarks/scene_sheets.py")
    a = make_tiny_pipeline(tmp_path / "a")
    shutil.copytree(a, tmp_path / "same")  # paints a's pictures: shown once, counted for both
    other = make_tiny_pipeline(tmp_path / "other", seed=1)
    out = tmp_path / "blind"
    models = [str(a), str(tmp_path / "same"), str(other)]
    assert bench.main(["paint", *(x for m in models for x in ("--model", m)), "--seeds", "2", "--out", str(out)]) == 0
    key = json.loads((out / "key.json").read_text())
    assert len(key["items"]) == 2 * 8 * 2 and sorted(out.glob("sheet_*.png")) == [out / "sheet_0.png"]
    assert all(item["models"] in ([0, 1], [2]) for item in key["items"])

    other_only = [n for n, item in enumerate(key["items"]) if item["models"] == [2]]
    q3_of_a = [n for n, item in enumerate(key["items"]) if item["models"] == [0, 1] and item["cell"] < 4]
    (out / "labels.txt").write_text(" ".join(map(str, other_only + q3_of_a[:3])))
    result = bench.count(key, set(other_only + q3_of_a[:3]))
    assert result["scenes"] == {
        models[0]: {"Q3": 5, "Q2": 8},
        models[1]: {"Q3": 5, "Q2": 8},
        models[2]: {"Q3": 0, "Q2": 0},
    }
    assert result["one_only"][models[1]] == {"Q3": [0, 0], "Q2": [0, 0]}
    assert result["one_only"][models[2]] == {"Q3": [5, 0], "Q2": [8, 0]}
    assert bench.main(["count", "--out", str(out), "--non-scenes", str(out / "labels.txt")]) == 0
    assert "Q3 5 / 8, Q2 8 / 8" in capsys.readouterr().out

    (out / "bad.txt").write_text("999")
    with pytest.raises(SystemExit, match="sheets hold 32"):
        bench.main(["count", "--out", str(out), "--non-scenes", str(out / "bad.txt")])

    # three raters: the second calls every picture of a a scene, the third one of a's Q3 pictures no scene
    (out / "r2.txt").write_text(" ".join(map(str, other_only)))
    (out / "r3.txt").write_text(" ".join(map(str, other_only + q3_of_a[:1])))
    raters = [str(out / name) for name in ("labels.txt", "r2.txt", "r3.txt")]
    assert bench.main(["count", "--out", str(out), "--non-scenes", *raters]) == 0
    printed = capsys.readouterr().out
    majority = printed.split("majority of 3 raters")[1]
    assert "Q3 5 / 8" in printed and "Q3 8 / 8" in printed and "Q3 7 / 8, Q2 8 / 8" in majority
    share, kappa = bench.agreement(set(other_only + q3_of_a[:3]), set(other_only), 32)
    assert f"agreement labels.txt / r2.txt: {share:.0%} of 32 pictures, Cohen's κ {kappa:.2f}" in printed
    with pytest.raises(SystemExit):  # a label table takes one rater's labels
        bench.main(
            ["labels", "--out", str(out), "--non-scenes", *raters, "--images", str(tmp_path), "--table", "t.csv"]
        )


def test_raters_agreement_and_majority():
    """Two raters of 10 pictures disagreeing on two: 80 % alike, κ (0.8 − 0.68) / 0.32; the majority of three."""
    bench = load_script("benchmarks/scene_sheets.py")
    share, kappa = bench.agreement({1, 2}, {2, 3}, 10)
    assert share == pytest.approx(0.8) and kappa == pytest.approx(0.375)
    assert bench.agreement({1, 2}, {1, 2}, 10) == (1.0, 1.0) and bench.agreement({1}, {2}, 2)[1] == pytest.approx(-1)
    assert bench.majority([{1, 2}, {2, 3}, {2, 4}]) == {2} and bench.majority([{1}, {1, 2}]) == {1}


def test_one_pipeline_is_painted_at_two_redraw_settings_and_counted_apart(tmp_path, monkeypatch):
    bench = load_script("benchmarks/scene_sheets.py")
    model = str(make_tiny_pipeline(tmp_path / "a"))
    asked = []
    paint = bench.paint
    monkeypatch.setattr(bench, "paint", lambda m, s, c, r: asked.append(r) or paint(m, s, c, r))
    out = tmp_path / "redraws"
    args = ["paint", "--model", model, "--model", model, "--seeds", "1", "--out", str(out), "--max-redraws"]
    assert bench.main([*args, "0", "3"]) == 0
    key = json.loads((out / "key.json").read_text())
    assert asked == [0, 3] and key["models"] == [f"{model} (0 redraws)", f"{model} (3 redraws)"]
    assert set(bench.count(key, set())["scenes"]) == set(key["models"])
    with pytest.raises(SystemExit):
        bench.main([*args, "0", "3", "7"])
    with pytest.raises(SystemExit):
        bench.main([*args, "-1"])


def test_paint_paints_what_generate_does_and_the_count_reads_the_fallbacks(tmp_path, capsys):
    """The sheets' pictures are the CLI's and the app's; with a scene check that rejects every draw, each picture
    is a fallback after its redraws, and the count says how many of those were labelled scenes."""
    import numpy as np

    from music2img.diffusion.pipeline import load_pipeline, save_component
    from music2img.diffusion.scene_check import SceneChecker
    from music2img.music_to_image import MusicToImage

    bench = load_script("benchmarks/scene_sheets.py")
    model = make_tiny_pipeline(tmp_path / "a")
    pictures, redraws, passed = bench.paint(str(model), range(3, 4), bench.CELLS[:2], max_redraws=0)
    m2i = MusicToImage(None, load_pipeline(model))
    for c, (v, a) in enumerate(bench.CELLS[:2]):
        assert np.array_equal(pictures[c, 0], np.asarray(m2i.generate(v, a, seed=3, max_redraws=0)[0]))
    assert redraws.tolist() == [[0], [0]] and passed.all()  # no scene check: nothing rejected

    rejecting = SceneChecker()
    rejecting.intercept.fill_(-20.0)
    save_component(model, "scene_checker", rejecting)
    out = tmp_path / "blind"
    assert bench.main(["paint", "--model", str(model), "--seeds", "1", "--out", str(out), "--max-redraws", "1"]) == 0
    key = json.loads((out / "key.json").read_text())
    assert key["redraws"] == [[[1]] * 8] and key["passed"] == [[[False]] * 8]
    q3 = [n for n, item in enumerate(key["items"]) if item["cell"] < 4]
    draws = bench.count(key, set(q3[:1]))["draws"][key["models"][0]]
    assert draws == {
        "Q3": {"redraws": 1.0, "fallbacks": 4, "fallback_scenes": 3},
        "Q2": {"redraws": 1.0, "fallbacks": 4, "fallback_scenes": 4},
    }
    (out / "labels.txt").write_text(str(q3[0]))
    assert bench.main(["count", "--out", str(out), "--non-scenes", str(out / "labels.txt")]) == 0
    assert "Q3 1.00 / 4 (3), Q2 1.00 / 4 (4)" in capsys.readouterr().out


def test_the_happy_quarters_are_painted_and_counted_when_asked(tmp_path, capsys):
    bench = load_script("benchmarks/scene_sheets.py")
    model = make_tiny_pipeline(tmp_path / "a")
    out = tmp_path / "happy"
    args = ["paint", "--model", str(model), "--seeds", "1", "--quarters", "Q1", "Q4", "--out", str(out)]
    assert bench.main(args) == 0
    key = json.loads((out / "key.json").read_text())
    assert key["quarters"] == ["Q1", "Q4"] and len(key["items"]) == 8
    q4 = [n for n, item in enumerate(key["items"]) if item["cell"] >= 4]
    assert bench.count(key, set(q4[:1]))["scenes"] == {str(model): {"Q1": 4, "Q4": 3}}
    assert bench.cells_of(["Q1", "Q4"])[0] == [
        (6.5, 6.5),
        (6.5, 8),
        (8, 6.5),
        (8, 8),
        (6.5, 2),
        (6.5, 3.5),
        (8, 2),
        (8, 3.5),
    ]


def test_labelled_sheets_become_a_label_table_for_the_scene_check(tmp_path, capsys):
    """``labels``: each numbered picture is cut from its sheet exactly as painted, written under ``--images`` and
    labelled 0 where its number is listed; rows of the table already there for other pictures are kept."""
    import numpy as np
    import pandas as pd
    from PIL import Image

    bench = load_script("benchmarks/scene_sheets.py")
    model = make_tiny_pipeline(tmp_path / "a")
    out, images = tmp_path / "blind", tmp_path / "labelled"
    assert bench.main(["paint", "--model", str(model), "--seeds", "1", "--first-seed", "7", "--out", str(out)]) == 0
    key = json.loads((out / "key.json").read_text())
    painted, _, _ = bench.paint(str(model), range(7, 8))
    for number, item in enumerate(key["items"]):
        assert np.array_equal(bench.cut(out, number), painted[item["cell"], item["seed"]])

    table = images / "labels.csv"
    images.mkdir()
    pd.DataFrame([{"path": "pictures/old.webp", "scene": 1, "sample": "old", "seed": 0}]).to_csv(table, index=False)
    (out / "non_scenes.txt").write_text("0 3")
    args = ["--out", str(out), "--non-scenes", str(out / "non_scenes.txt"), "--images", str(images)]
    assert bench.main(["labels", *args, "--table", str(table), "--sample", "strict"]) == 0
    rows = pd.read_csv(table)
    assert len(rows) == 1 + len(key["items"]) and rows["path"].iloc[0] == "pictures/old.webp"
    new = rows.iloc[1:].reset_index(drop=True)
    assert new["scene"].tolist() == [int(n not in (0, 3)) for n in range(len(key["items"]))]
    v, a = bench.CELLS[key["items"][0]["cell"]]
    assert new["path"][0] == f"pictures/strict_seed7_v{v:g}_a{a:g}.webp" and set(new["seed"]) == {7}
    assert {Image.open(images / p).size for p in new["path"]} == {painted.shape[3:1:-1]}
    assert "7 scenes" in capsys.readouterr().out.splitlines()[-1]

    with pytest.raises(SystemExit):
        bench.main(["labels", *args])  # no --table
