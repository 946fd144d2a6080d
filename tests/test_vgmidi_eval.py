"""benchmarks/vgmidi_eval.py: a saved music model on sign-labelled MIDI phrases (tiny data and model)."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import load_script
from factories_music import make_tiny_music_model, write_vgmidi

from music2img.music.midi_render import find_soundfonts

pytestmark = pytest.mark.skipif(
    not find_soundfonts() or shutil.which("fluidsynth") is None,
    reason="fluidsynth and a General MIDI SoundFont are needed",
)


@pytest.fixture(scope="module")
def vgmidi_eval():
    return load_script("benchmarks/vgmidi_eval.py")


def test_scores_every_phrase_and_restricts_to_games(vgmidi_eval, tmp_path, capsys):
    vg = write_vgmidi(tmp_path / "vgmidi")
    model = make_tiny_music_model(tmp_path / "model")
    common = [
        "--model",
        str(model),
        "--vgmidi",
        str(vg),
        "--render-dir",
        str(tmp_path / "renders"),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert vgmidi_eval.main([*common, "--json", str(tmp_path / "all.json")]) == 0
    out = capsys.readouterr().out
    assert "macro-F1" in out and "| game 3 | 1 |" in out
    report = json.loads((tmp_path / "all.json").read_text())
    raw = report["results"]["none"]
    assert raw["n"] == 4 and sum(map(sum, raw["confusion"])) == 4
    assert 0 <= raw["macro_f1"] <= 1 and 0 <= raw["valence_auc"] <= 1
    assert set(report["per_game"]) == {"game 0", "game 1", "game 2", "game 3"}

    assert vgmidi_eval.main([*common, "--games", "game 0", "game 2", "--json", str(tmp_path / "two.json")]) == 0
    two = json.loads((tmp_path / "two.json").read_text())
    assert two["results"]["none"]["n"] == 2 and set(two["per_game"]) == {"game 0", "game 2"}
    capsys.readouterr()
    assert vgmidi_eval.main([*common, "--games", "no such game"]) == 2
    assert "unknown game(s): no such game" in capsys.readouterr().err
