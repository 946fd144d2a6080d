"""``music2img emotion``: readable and JSON output, per-file errors, exit codes."""

from __future__ import annotations

import json

import pytest
from factories_music import make_tiny_music_model

from music2img.cli import main as run


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_music_model(tmp_path_factory.mktemp("cli") / "model")


def test_readable_output(model_dir, make_audio, capsys):
    a = make_audio("a.wav", seconds=4.0)
    assert run(["emotion", str(a), "--model", str(model_dir)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"{a}: valence ") and "arousal" in out[0]
    assert any(f" Q{i} (" in out[0] for i in range(1, 5))


def test_json_timeline_and_a_bad_file(model_dir, make_audio, tmp_path, capsys):
    good = [make_audio("a.ogg", seconds=4.0), make_audio("b.flac", seconds=35.0, bpm=90)]
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\x00" * 1000)
    code = run(["emotion", str(good[0]), str(bad), str(good[1]), "--json", "--timeline", "--model", str(model_dir)])
    captured = capsys.readouterr()
    assert code == 1
    records = [json.loads(line) for line in captured.out.strip().splitlines()]
    assert [r["file"] for r in records] == [str(good[0]), str(bad), str(good[1])]
    assert "error" in records[1] and f"error: {bad}: cannot decode" in captured.err
    assert not records[1]["error"].startswith("bad.mp3"), "the file name is not repeated"
    for r in (records[0], records[2]):
        assert {"file", "valence", "arousal", "quadrant", "windows"} <= set(r)
        assert 1 <= r["valence"] <= 9 and r["quadrant"] in {"Q1", "Q2", "Q3", "Q4"}
    assert len(records[0]["windows"]) == 1 and len(records[2]["windows"]) == 2
    assert records[2]["windows"][1] == {**records[2]["windows"][1], "start": 5.0, "end": 35.0}


def test_text_timeline_and_missing_model(model_dir, make_audio, tmp_path, capsys):
    song = make_audio("s.wav", seconds=35.0)
    assert run(["emotion", str(song), "--timeline", "--model", str(model_dir)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[1].strip().startswith("0.0–  30.0 s: valence")
    assert run(["emotion", str(song), "--model", str(tmp_path / "none")]) == 2
    assert "no music emotion model" in capsys.readouterr().err
