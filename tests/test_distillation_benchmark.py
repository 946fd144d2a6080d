"""benchmarks/distillation.py end to end on a tiny teacher, a tiny student and a few synthetic photos."""

import json

import numpy as np
import pytest
from conftest import load_script
from factories_diffusion import make_labelled_folder, make_tiny_unet, perturb_emotion
from PIL import Image
from sklearn.neighbors import KNeighborsRegressor

from music2img.assets import IMAGE_MODEL_DIR
from music2img.diffusion.pipeline import EmotionLandscapePipeline
from music2img.diffusion.schedulers import consistency_scheduler, training_scheduler
from music2img.files import save_checked_joblib
from music2img.image.features import FEATURE_NAMES, SCHEMA_VERSION, image_features
from music2img.image.labelled_folder import read_labels


def test_distillation_benchmark_reports_every_measure(tmp_path, capsys):
    bench = load_script("benchmarks/distillation.py")
    teacher = tmp_path / "teacher"
    EmotionLandscapePipeline(unet=perturb_emotion(make_tiny_unet()), scheduler=training_scheduler()).save_pretrained(
        teacher
    )
    student = tmp_path / "student"
    EmotionLandscapePipeline(
        unet=perturb_emotion(make_tiny_unet(guidance_embedding=True)),
        scheduler=consistency_scheduler(training_scheduler().config),
    ).save_pretrained(student)
    data = tmp_path / "data"
    make_labelled_folder(data, n=12, size=24)
    out = tmp_path / "out"
    cmd = [
        "--teacher",
        str(teacher),
        "--student",
        str(student),
        "--data",
        str(data),
        "--labels",
        str(data / "labels.csv"),
        "--seeds",
        "1",
        "--steps",
        "3",
        "--timing-repeats",
        "1",
        "--cache",
        str(tmp_path / "cache"),
        "--out",
        str(out),
    ]
    assert bench.main([*cmd, "--student-steps", "1", "2"]) == 0
    report = json.loads((out / "distillation.json").read_text())
    assert list(report["runs"]) == ["teacher (unipc 3)", "student (lcm 1)", "student (lcm 2)"]
    for row in report["runs"].values():
        assert row["detail"] > 0 and row["frechet_features"] > 0 and 0 <= row["non_landscapes"] <= 1
        assert 0 <= row["saturated"] <= 1 and row["saturated_ratio"] >= 0 and row["warm_seconds"] > 0
    teacher_row = report["runs"]["teacher (unipc 3)"]
    assert teacher_row["time_vs_teacher"] == 1 and teacher_row["difference_from_teacher"] == 0
    assert report["runs"]["student (lcm 1)"]["difference_from_teacher"] > 0
    assert "| student (lcm 2) |" in capsys.readouterr().out and (out / "grids.png").is_file()

    # the second rater: a model on the hand-crafted features only (a v3-style model is refused)
    files, va = read_labels(data, data / "labels.csv")
    features = np.stack([image_features(np.asarray(Image.open(f).convert("RGB"))) for f in files])
    regressor = KNeighborsRegressor(len(files), weights="distance").fit(features, va)  # varies smoothly, stays in 1–9
    save_checked_joblib(
        regressor, tmp_path / "rater2", {"schema_version": SCHEMA_VERSION, "feature_names": list(FEATURE_NAMES)}
    )
    assert bench.main([*cmd, "--student-steps", "1", "--rater2", str(tmp_path / "rater2")]) == 0
    row = json.loads((out / "distillation.json").read_text())["runs"]["student (lcm 1)"]
    assert -1 <= row["spearman_valence_rater2"] <= 1 and -1 <= row["spearman_arousal_rater2"] <= 1
    with pytest.raises(SystemExit, match="hand-crafted"):
        bench.main([*cmd, "--rater2", str(IMAGE_MODEL_DIR)])
