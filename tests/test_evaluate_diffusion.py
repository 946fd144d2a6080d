"""train/evaluate_diffusion.py on a tiny pipeline (diffusion or GAN) and a few generated training images."""

import json
import subprocess
import sys

import pytest
from conftest import REPO
from factories_diffusion import make_labelled_folder, make_tiny_gan_pipeline, make_tiny_pipeline
from PIL import Image


@pytest.mark.parametrize("make", [make_tiny_pipeline, make_tiny_gan_pipeline])
def test_evaluation_reports_control_diversity_and_speed(tmp_path, make):
    model = make(tmp_path / "pipe")
    data = tmp_path / "data"
    make_labelled_folder(data)
    out = tmp_path / "eval"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "train" / "evaluate_diffusion.py"),
            "--model",
            str(model),
            "--seeds",
            "2",
            "--steps",
            "2",
            "--threads",
            "1",
            "--data",
            str(data),
            "--labels",
            str(data / "labels.csv"),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    report = json.loads((out / "evaluation.json").read_text())
    assert report["images"] == 50 and report["resolution"] == 16
    assert -1 <= report["spearman_valence"] <= 1 and -1 <= report["spearman_arousal"] <= 1
    assert report["diversity_across_seeds"] > 0 and report["diversity_training_images"] > 0
    assert report["seconds_per_image"] > 0
    assert ("generator" in report) == (make is make_tiny_gan_pipeline) != ("steps" in report)
    assert Image.open(out / "evaluation_grid.png").size[0] == 2 * (5 * 18 + 2)
