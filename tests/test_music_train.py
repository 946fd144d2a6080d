"""train/music_emotion.py end to end on a dozen synthesised clips (tiny, no real training)."""

from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import load_script, synth_music
from factories_music import write_vgmidi

from music2img.music.emotion_model import MusicEmotionModel
from music2img.music.midi_render import find_soundfonts

#: Tag → (valence, arousal), one word per quadrant, in QUADRANT_SOUND order (Q1, Q2, Q3, Q4).
TAGS = {"cheerful": (8.0, 7.0), "angry": (2.5, 7.5), "gloomy": (2.0, 3.0), "serene": (7.5, 2.0)}
#: synth_music settings per quadrant: fast major, fast minor, slow minor, slow major.
QUADRANT_SOUND = [
    {"bpm": 150, "minor": False, "root_hz": 330.0},
    {"bpm": 170, "minor": True, "root_hz": 220.0},
    {"bpm": 70, "minor": True, "root_hz": 147.0},
    {"bpm": 70, "minor": False, "root_hz": 262.0},
]


@pytest.fixture(scope="module")
def train_module():
    return load_script("train/music_emotion.py")


@pytest.fixture
def tiny_4q(tmp_path):
    root = tmp_path / "4q"
    (root / "audio").mkdir(parents=True)
    rows = []
    for i in range(12):
        q = i % 4
        song = f"MT{i:04d}"
        sf.write(root / "audio" / f"{song}.mp3", synth_music(4.0, seed=i, **QUADRANT_SOUND[q]), 22050, format="MP3")
        rows.append(
            {
                "Song": song,
                "Artist": f"artist {i}",
                "Title": f"song {i}",
                "Quadrant": f"Q{q + 1}",
                "MoodsStrSplit": list(TAGS)[q],
            }
        )
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    pd.DataFrame([{"word": w, "valence_mean": v, "arousal_mean": a} for w, (v, a) in TAGS.items()]).to_csv(
        tmp_path / "lexicon.csv", index=False
    )
    return root, tmp_path / "lexicon.csv"


def test_train_end_to_end(train_module, tiny_4q, tmp_path, capsys):
    root, lexicon = tiny_4q
    out, storage = tmp_path / "model", f"sqlite:///{tmp_path / 'study.db'}"
    common = [
        "--dataset",
        f"4q:{root}",
        "--lexicon",
        str(lexicon),
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--storage",
        storage,
        "--cv-folds",
        "2",
        "--seed",
        "1",
    ]
    assert (
        train_module.main(
            common + ["--trials", "2", "--eval-folds", "2", "--eval-repeats", "2", "--center-targets", "--nested"]
        )
        == 0
    )
    for name in (
        "model.joblib",
        "model.json",
        "MODEL_CARD.md",
        "model_card.json",
        "pred_vs_true.png",
        "feature_importance.png",
        "confusion.png",
        "spread.png",
    ):
        assert (out / name).is_file(), name
    card = json.loads((out / "model_card.json").read_text())
    assert card["data"]["clips"] == 12 and card["split"]["train"] + card["split"]["test"] == 12
    assert set(card["held_out"]["regression"]) == {"valence", "arousal"}
    assert {"mse", "mae", "rmse", "r2", "explained_variance", "pearson_r"} <= set(
        card["held_out"]["regression"]["valence"]
    )
    assert 0 <= card["held_out"]["quadrant_dataset"]["macro_f1"] <= 1
    assert card["cross_validation"]["tuned"]["folds"] == 2 and card["tuning"]["trials"] == 2
    assert card["cross_validation"]["tuned"]["repeats"] == 2
    # Nested: every clip is a test clip once, each outer fold with its own study.
    nested = card["nested"]
    assert nested["quadrant_targets"]["n"] == 12 and len(nested["macro_f1_per_fold"]) == nested["folds"] >= 2
    assert nested["macro_f1_per_fold"][0] == card["held_out"]["quadrant_dataset"]["macro_f1"]
    assert "Nested grouped CV" in (out / "MODEL_CARD.md").read_text()
    assert "Held-out results" in (out / "MODEL_CARD.md").read_text()
    # 4 quadrants × 3 clips at the tag norms: mean valence 5.0, arousal 4.875 → shifted by +0.125
    assert card["target_offset_final"] == pytest.approx([0.0, 0.125])
    model = MusicEmotionModel.load(out)
    assert model.metadata["clips"] == 12
    assert model.regressor.get_params()["n_estimators"] == card["params"]["n_estimators"]
    # Spread calibration: every method measured raw and calibrated, the default (linear) shipped and applied.
    assert set(nested["by_calibration"]) == {"none", "linear", "quantile"} and "predictions" not in nested
    assert nested["regression"] == nested["by_calibration"]["linear"]["regression"]
    assert card["calibration"] == "linear" and model.calibration is not None and model.calibration.method == "linear"
    assert "## Spread calibration" in (out / "MODEL_CARD.md").read_text()

    # The study is stored: asking for 3 trials runs only one more (resume), features come from the cache.
    assert train_module.main(common + ["--trials", "3", "--eval-folds", "0"]) == 0
    printed = capsys.readouterr()
    assert "resuming study 'music_emotion': 2 trials done, 1 to go" in printed.out
    assert "12 from cache" in printed.out + printed.err
    assert json.loads((out / "model_card.json").read_text())["tuning"]["trials"] == 3

    # Tuning for the quadrant macro-F1 instead: the card reports the CV score as an F1.
    f1_common = [*common[:-6], "--storage", f"sqlite:///{tmp_path / 'f1.db'}", "--cv-folds", "2", "--seed", "1"]
    assert train_module.main(f1_common + ["--trials", "2", "--eval-folds", "0", "--objective", "macro_f1"]) == 0
    tuning = json.loads((out / "model_card.json").read_text())["tuning"]
    assert tuning["objective"] == "macro_f1" and 0 <= tuning["best_cv"] <= 1


def test_bad_dataset_argument(train_module, capsys):
    with pytest.raises(SystemExit):
        train_module.main(["--dataset", "mp3:/x"])
    assert "KIND:PATH" in capsys.readouterr().err


@pytest.mark.skipif(
    not find_soundfonts() or shutil.which("fluidsynth") is None,
    reason="fluidsynth and a General MIDI SoundFont are needed",
)
def test_train_with_vgmidi(train_module, tiny_4q, tmp_path):
    """4Q plus sign-labelled MIDI phrases of four games: folds by game, VGMIDI metrics per phrase."""
    root, lexicon = tiny_4q
    vg = write_vgmidi(tmp_path / "vgmidi")
    out = tmp_path / "model"
    assert (
        train_module.main(
            [
                "--dataset",
                f"4q:{root}",
                "--lexicon",
                str(lexicon),
                "--dataset",
                f"vgmidi:{vg}",
                "--render-dir",
                str(tmp_path / "renders"),
                "--augment",
                "1",
                "--out",
                str(out),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--cv-folds",
                "2",
                "--test-size",
                "0.5",
                "--trials",
                "1",
                "--eval-folds",
                "0",
                "--center-targets",
                "--nested",
            ]
        )
        == 0
    )
    card = json.loads((out / "model_card.json").read_text())
    assert card["data"]["datasets"]["vgmidi"] == {"clips": 8, "groups": 4, "skipped": 0, "pieces": 4}
    # Every phrase is a test phrase once; its game is never in the training part.
    nested = card["nested"]
    assert nested["vgmidi"]["n"] == 4 and nested["vgmidi"]["groups"] == 4
    assert {"macro_f1", "valence_auc", "arousal_auc", "augmented"} <= set(nested["vgmidi"])
    assert set(nested["by_calibration"]["linear"]["vgmidi"]) >= {"valence_std", "arousal_std"}
    assert nested["quadrant_dataset"]["n"] == 12  # 4Q metrics on the 4Q clips only
    # The 4Q targets alone set the re-centring (the phrases' targets are 5 ± levels already).
    assert card["target_offset_final"] == pytest.approx([0.0, 0.125])
    text = (out / "MODEL_CARD.md").read_text()
    assert "VGMIDI piano phrases of unseen games" in text and "4 phrases of 4 games" in text
    assert "re-centred on their own" in text
    assert (out / "vgmidi.png").is_file()
    assert MusicEmotionModel.load(out).calibration is not None


def test_centring_shifts_sign_targets_on_their_own(train_module):
    """--center-targets: the continuous rows share one offset; VGMIDI's sign rows are centred separately."""
    Y = np.array(
        [
            [6.0, 5.5],
            [4.0, 4.5],
            [5.0, 5.0],  # continuous: mean 5.0, 5.0
            [6.56, 5.79],
            [6.56, 4.21],
            [3.44, 5.79],
        ]
    )  # signs: 2 of 3 happy, 2 of 3 excited
    table = pd.DataFrame({"weight": 1.0, "continuous": [True] * 3 + [False] * 3})
    data = train_module.Data(np.zeros((6, 1)), Y, table)
    targets, offset = data.shifted(True)
    assert offset == pytest.approx([0.0, 0.0])
    assert targets[:3] == pytest.approx(Y[:3])
    assert targets[3:].mean(axis=0) == pytest.approx([5.0, 5.0])
    assert np.sign(targets[3:] - 5) == pytest.approx(np.sign(Y[3:] - 5))  # every phrase keeps its quadrant
    assert data.shifted(False)[0] == pytest.approx(Y)


def test_training_rows_share_each_clips_weight_with_its_copies(train_module):
    """--train-reencoded: a clip's copies are fitted beside it with its targets, its weight shared."""
    X, Y = np.arange(6.0).reshape(3, 2), np.array([[6.0, 4.0], [4.0, 6.0], [5.0, 5.0]])
    table = pd.DataFrame({"weight": [1.0, 1.0, 0.5], "continuous": [True, True, False]})
    copy = np.array([[10.0, 11.0], [12.0, 13.0], [np.nan, np.nan]])  # the sign-labelled row has no copy
    data = train_module.Data(X, Y, table, {"mp3-32k": copy})
    Xt, Yt, Wt = data.training_rows(Y, with_copies=True)
    assert Xt.tolist() == [*X.tolist(), [10.0, 11.0], [12.0, 13.0]]
    assert Yt.tolist() == [*Y.tolist(), Y[0].tolist(), Y[1].tolist()]
    assert Wt.tolist() == [0.5, 0.5, 0.5, 0.5, 0.5]  # each clip's total weight unchanged
    assert data.training_rows(Y, with_copies=False)[0] is X
    sub = data.sub([1, 2])
    assert sub.copies["mp3-32k"][0].tolist() == [12.0, 13.0] and np.isnan(sub.copies["mp3-32k"][1]).all()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is needed to re-encode")
def test_train_on_reencoded_copies(train_module, tiny_4q, tmp_path, capsys, monkeypatch):
    """Copies are made once (cached), fitted with --train-reencoded, and every test clip's shift reported."""
    root, lexicon = tiny_4q
    out = tmp_path / "model"
    common = [
        "--dataset",
        f"4q:{root}",
        "--lexicon",
        str(lexicon),
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--reencode-dir",
        str(tmp_path / "copies"),
        "--cv-folds",
        "2",
        "--trials",
        "2",
        "--eval-folds",
        "0",
        "--seed",
        "1",
    ]
    assert train_module.main(common + ["--train-reencoded"]) == 2
    assert "needs at least one --reencode" in capsys.readouterr().err
    monkeypatch.setattr(train_module, "have_ffmpeg", lambda: False)
    assert train_module.main(common + ["--reencode", "mp3-32k"]) == 2
    assert "--reencode needs ffmpeg" in capsys.readouterr().err
    monkeypatch.undo()
    assert train_module.main(common + ["--reencode", "mp3-32k", "--train-reencoded", "--nested"]) == 0
    assert len(list((tmp_path / "copies" / "mp3-32k").glob("*.mp3"))) == 12
    card = json.loads((out / "model_card.json").read_text())
    assert card["data"]["reencode"] == ["mp3-32k"] and card["data"]["train_reencoded"]
    shift = card["nested"]["reencoded"]["4q"]["mp3-32k"]
    assert shift["n"] == 12 and 0 <= shift["quadrant_changed"] <= 1 and shift["mean_shift"]["valence"] >= 0
    assert card["held_out"]["reencoded"]["4q"]["mp3-32k"]["n"] == card["split"]["test"]
    text = (out / "MODEL_CARD.md").read_text()
    assert "## The same clips stored differently" in text and "| 4q | mp3 32 kb/s | 12 |" in text
    assert "fitted on re-encoded copies too" in text


def test_reencoding_shifts_per_source(train_module):
    """Shifts of the copies' predictions, per source; rows without a copy are left out."""
    table = pd.DataFrame({"source": ["4q", "4q", "4q", "vgmidi"]})
    pred = np.array([[6.0, 6.0], [4.0, 6.0], [5.5, 4.0], [3.0, 3.0]])
    copy = np.array([[6.5, 6.0], [6.0, 5.0], [np.nan, np.nan], [3.0, 3.5]])
    shifts = train_module.reencoding_shifts(table, pred, {"ogg-q0": copy})
    four = shifts["4q"]["ogg-q0"]
    assert four["n"] == 2 and four["mean_shift"] == {"valence": 1.25, "arousal": 0.5}
    assert four["quadrant_changed"] == 0.5  # (4, 6) in Q2 → (6, 5) in Q1
    assert shifts["vgmidi"]["ogg-q0"] == {
        "n": 1,
        "mean_shift": {"valence": 0.0, "arousal": 0.5},
        "p90_shift": {"valence": 0.0, "arousal": 0.5},
        "quadrant_changed": 0.0,
    }


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is needed to re-encode")
def test_a_copy_that_cannot_be_made_is_skipped(train_module, tmp_path, capsys):
    """An unreadable file gets no copy (a NaN row, reported); the others do."""
    good, bad = tmp_path / "good.wav", tmp_path / "bad.mp3"
    sf.write(good, synth_music(3.0, seed=0), 22050)
    bad.write_bytes(b"not audio")
    args = argparse.Namespace(
        reencode_dir=tmp_path / "copies", cache_dir=tmp_path / "cache", n_jobs=1, features=("librosa",)
    )
    X = train_module.reencoded_features(pd.DataFrame({"audio_path": [str(bad), str(good)]}), "ogg-q0", args)
    assert np.isnan(X[0]).all() and np.isfinite(X[1]).all()
    assert "skipped the ogg-q0 copy of" in capsys.readouterr().err


def test_train_on_musicnn_features(train_module, tiny_4q, tmp_path):
    """--features librosa+musicnn: the forest reads both parts, the saved model computes both."""
    root, lexicon = tiny_4q
    out = tmp_path / "model"
    assert (
        train_module.main(
            [
                "--dataset",
                f"4q:{root}",
                "--lexicon",
                str(lexicon),
                "--out",
                str(out),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--trials",
                "1",
                "--cv-folds",
                "2",
                "--eval-folds",
                "0",
                "--features",
                "librosa+musicnn",
            ]
        )
        == 0
    )
    card = json.loads((out / "model_card.json").read_text())
    assert card["feature_parts"] == ["librosa", "musicnn"] and card["schema_version"] == "5+musicnn-2"
    assert card["n_features"] == len(card["feature_names"]) == 1170
    assert "musicnn 0.1.0" in (out / "MODEL_CARD.md").read_text()
    model = MusicEmotionModel.load(out)
    assert model.parts == ("librosa", "musicnn")
    assert 1 <= model.predict_file(root / "audio" / "MT0000.mp3").valence <= 9
    with pytest.raises(SystemExit):
        train_module.main(["--dataset", f"4q:{root}", "--features", "librosa+vggish"])


def test_linear_and_kernel_heads_in_the_nested_evaluation(tiny_4q, tmp_path):
    heads = load_script("train/music_heads.py")
    root, lexicon = tiny_4q
    out = tmp_path / "heads.json"
    assert (
        heads.main(
            [
                "--dataset",
                f"4q:{root}",
                "--lexicon",
                str(lexicon),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--cv-folds",
                "2",
                "--center-targets",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert result["features"] == ["librosa"] and set(result["heads"]) == {"forest", "ridge", "svr"}
    for metrics in result["heads"].values():
        assert metrics["quadrant_targets"]["n"] == 12 and 0 <= metrics["quadrant_dataset"]["macro_f1"] <= 1
        assert np.isfinite(metrics["regression"]["valence"]["pearson_r"])
    # The model card compares the forest with the heads, each in its own nested evaluation.
    train = load_script("train/music_emotion.py")
    model = tmp_path / "model"
    assert (
        train.main(
            [
                "--dataset",
                f"4q:{root}",
                "--lexicon",
                str(lexicon),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--out",
                str(model),
                "--trials",
                "1",
                "--cv-folds",
                "2",
                "--eval-folds",
                "0",
                "--center-targets",
                "--nested",
                "--compare",
                str(out),
            ]
        )
        == 0
    )
    rows = json.loads((model / "model_card.json").read_text())["comparison"]
    assert [r["label"] for r in rows] == [
        "untuned forest on librosa",
        "ridge on librosa",
        "svr on librosa",
        "forest on librosa (this model)",
    ]
    assert rows[1]["macro_f1"] == result["heads"]["ridge"]["quadrant_dataset"]["macro_f1"]
    assert "| svr on librosa |" in (model / "MODEL_CARD.md").read_text()
