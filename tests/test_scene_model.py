"""The scene model (train/scene_model.py, music2img.image.scene_model) and the curation of training photos."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import load_script
from factories_scenes import scene_picture, texture_picture
from PIL import Image

from music2img.diffusion.landscape_check import LandscapeChecker
from music2img.errors import DatasetError, ModelFileError
from music2img.image import features as hand
from music2img.image.scene_model import PICTURE_SCENE_MODEL_DIR, SceneModel


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A folder of 30 synthetic scenes and 30 close-ups and its labels CSV."""
    root = tmp_path_factory.mktemp("scenes")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(60):
        scene = i % 2 == 0
        path = f"set/{i}.png"
        (root / "set").mkdir(exist_ok=True)
        Image.fromarray(scene_picture(rng) if scene else texture_picture(rng)).save(root / path)
        rows.append({"path": path, "scene": int(scene)})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    return root


@pytest.fixture(scope="module")
def trained(labelled, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    load_script("train/scene_model.py").main(
        ["--images", str(labelled), "--labels", str(labelled / "labels.csv"), "--out", str(out)]
    )
    return out


def test_training_separates_scenes_from_close_ups_it_never_saw(trained):
    model = SceneModel.load(trained)
    assert model.metadata["cross_validated"]["all"]["roc_auc"] > 0.9
    rng = np.random.default_rng(99)
    fresh_scenes, fresh_textures = [scene_picture(rng) for _ in range(5)], [texture_picture(rng) for _ in range(5)]
    assert model.is_scene(fresh_scenes).all() and not model.is_scene(fresh_textures).any()


def test_grouped_folds_keep_copies_of_a_picture_out_of_its_own_scoring():
    """Five copies of each of 20 random pictures, labelled at random per picture: only a fold that holds
    a copy of the scored picture can score it well, so grouped cross-validation must be near chance."""
    script = load_script("train/scene_model.py")
    rng = np.random.default_rng(0)
    group = np.repeat(np.arange(20), 5)
    X, y = rng.normal(size=(20, 8))[group], rng.permutation(np.repeat([0, 1], 10))[group]
    leaked = script.evaluate(X, y, {})["all"]["roc_auc"]
    grouped = script.evaluate(X, y, {}, folds_by=group)["all"]["roc_auc"]
    assert leaked > 0.95 and grouped < 0.8


def test_pictures_scene_model_is_trained_on_its_shipped_labelled_pictures():
    script = load_script("train/scene_model.py")
    table = script.read_scene_labels(PICTURE_SCENE_MODEL_DIR, PICTURE_SCENE_MODEL_DIR / "labels.csv")
    model = SceneModel.load(PICTURE_SCENE_MODEL_DIR)
    assert model.metadata["photos"] == len(table) and model.metadata["folds_grouped_by"] == "seed"
    assert {"seed", "valence", "arousal", "sample"} <= set(table.columns)


def test_training_with_groups_and_a_baseline(labelled, trained, tmp_path):
    table = pd.read_csv(labelled / "labels.csv")
    table.assign(seed=np.arange(len(table)) // 4, valence=2.0, arousal=2.0).to_csv(tmp_path / "l.csv", index=False)
    script = load_script("train/scene_model.py")
    out = tmp_path / "model"
    args = ["--images", str(labelled), "--labels", str(tmp_path / "l.csv"), "--out", str(out)]
    script.main([*args, "--group-column", "seed", "--baseline", str(trained)])
    metadata = SceneModel.load(out).metadata
    assert metadata["folds_grouped_by"] == "seed" and metadata["baseline"]["scores"]["requested Q3"]["photos"] == 60
    assert "requested Q1" not in metadata["cross_validated"]  # no picture painted there
    with pytest.raises(DatasetError, match="no column 'take'"):
        script.main([*args, "--group-column", "take"])


def test_corrupt_or_foreign_model_files_are_refused(trained, tmp_path):
    model = SceneModel.load(trained)
    model.save(tmp_path / "copy")
    with open(tmp_path / "copy" / "model.joblib", "r+b") as f:
        f.seek(100)
        f.write(b"\0" * 16)
    with pytest.raises(ModelFileError):
        SceneModel.load(tmp_path / "copy")
    with pytest.raises(ModelFileError, match="no scene model"):
        SceneModel.load(tmp_path / "absent")
    with pytest.raises(ModelFileError, match="feature schema"):
        SceneModel(model.classifier, "image-features-0")


def test_bad_labels_are_refused(labelled, tmp_path):
    script = load_script("train/scene_model.py")
    pd.DataFrame({"path": ["set/0.png"], "scene": [2]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DatasetError, match="0 or 1"):
        script.read_scene_labels(labelled, tmp_path / "bad.csv")
    pd.DataFrame({"path": ["set/none.png"], "scene": [1]}).to_csv(tmp_path / "missing.csv", index=False)
    with pytest.raises(DatasetError, match="missing"):
        script.read_scene_labels(labelled, tmp_path / "missing.csv")


def test_curation_keeps_scenes_and_rated_scenes_that_are_landscapes(trained, tmp_path):
    rng = np.random.default_rng(5)
    images = tmp_path / "images"
    for name in ("landscapes", "emotion6", "oasis"):
        (images / name / "images").mkdir(parents=True)
    pictures = {
        "landscapes": [scene_picture(rng), texture_picture(rng), scene_picture(rng)],
        "emotion6": [scene_picture(rng), texture_picture(rng)],
        "oasis": [scene_picture(rng)],
    }
    for name, pics in pictures.items():
        files = [f"images/{i}.png" for i in range(len(pics))]
        for f, im in zip(files, pics):
            Image.fromarray(im).save(images / name / f)
        table = pd.DataFrame({"file": files, "valence_1to9": 3.0, "arousal_1to9": 7.0})
        table.to_csv(images / name / ("index.csv" if name == "landscapes" else "labels.csv"), index=False)
    labels = tmp_path / "landscape_labels.csv"
    pd.DataFrame(
        {"file": [f"images/{i}.png" for i in range(3)], "valence": [2.0, 5.0, 8.0], "arousal": [4.0, 5.0, 6.0]}
    ).to_csv(labels, index=False)
    features = np.stack([hand.image_features(im) for pics in pictures.values() for im in pics])
    checker = LandscapeChecker.fit(features, features, quantile=1.0)  # every scene passes
    script = load_script("train/curate_scenes.py")
    table = script.curate(images, labels, SceneModel.load(trained), checker, 0.5, 0.5, tmp_path / "cache")
    assert table["file"].tolist() == [
        "landscapes/images/0.png",
        "landscapes/images/2.png",
        "emotion6/images/0.png",
        "oasis/images/0.png",
    ]
    assert table["valence"].tolist() == [2.0, 8.0, 3.0, 3.0]  # landscapes keep their labels, rated photos their ratings
    strict = LandscapeChecker.fit(features, features, quantile=1.0)
    strict.register_to_config(threshold=-1.0)  # rejects everything
    assert set(
        script.curate(images, labels, SceneModel.load(trained), strict, 0.5, 0.5, tmp_path / "cache")["source"]
    ) == {"landscapes"}


def test_content_weights_even_out_groups_inside_each_cell():
    script = load_script("train/curate_scenes.py")
    rng = np.random.default_rng(0)
    # one valence/arousal cell (low corner) holding 60 photos of one look and 20 of another; a second cell of 20
    X = np.concatenate([rng.normal(0, 0.1, (60, 5)), rng.normal(5, 0.1, (20, 5)), rng.normal(0, 0.1, (20, 5))])
    va = np.concatenate([np.full((80, 2), 2.0), np.full((20, 2), 8.0)])
    w, group = script.content_weights(X, va, groups=2, min_group=1)
    assert len(set(group[:60])) == 1 and len(set(group[60:80])) == 1 and group[0] != group[60]
    assert w[:60].sum() == pytest.approx(40) and w[60:80].sum() == pytest.approx(40)  # half the cell each
    assert w[80:].sum() == pytest.approx(20) and w.sum() == pytest.approx(100)  # cells keep their totals
    w, _ = script.content_weights(X, va, groups=2, min_group=40)  # the group of 20 counts as 40: half a share
    assert w[:60].sum() / w[60:80].sum() == pytest.approx(2.0)
    table = pd.DataFrame({"valence": va[:, 0], "arousal": va[:, 1], "content_group": group, "weight": w})
    summary = script.content_summary(table)  # the low cell: 75 % of the photos, 2/3 of the weight in one group
    assert "75.0" in summary and "66.7" in summary and "largest weight 1.3" in summary
