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
