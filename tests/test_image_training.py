import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def _write_images(folder, n, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        img = np.clip(rng.integers(0, 256, 3) + rng.normal(0, 30, (40, 52, 3)), 0, 255).astype(np.uint8)
        names.append(f"img_{i}.webp")
        Image.fromarray(img).save(folder / names[-1])
    return names


def _run(script, *args):
    return subprocess.run(
        [sys.executable, str(REPO / "train" / script), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=240,
    )


def test_train_then_label(tmp_path):
    rng = np.random.default_rng(1)
    for source, n, groups in (("setA", 20, ["a", "b", "c", "d"]), ("setB", 12, ["a", "b"])):
        names = _write_images(tmp_path / source, n, seed=n)
        pd.DataFrame(
            {
                "file": names,
                "valence": rng.uniform(1, 9, n).round(2),
                "arousal": rng.uniform(1, 9, n).round(2),
                "group": groups * (n // len(groups)),
                "category": ["Scenery", "Object"] * (n // 2),
            }
        ).to_csv(tmp_path / source / f"{source}.csv", index=False)
    out = tmp_path / "model"
    notes = tmp_path / "notes.md"
    notes.write_text("## What the landscapes show\n\nnothing yet\n")
    proc = _run(
        "image_emotion.py",
        "--dataset",
        f"csv:{tmp_path / 'setA' / 'setA.csv'}",
        "--dataset",
        f"csv:{tmp_path / 'setB' / 'setB.csv'}",
        "--weight",
        "setB=0.5",
        "--out",
        out,
        "--folds",
        2,
        "--cache-dir",
        tmp_path / "cache",
        "--notes",
        notes,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("model.joblib", "model.json", "MODEL_CARD.md", "model_card.json", "cv_scatter.png"):
        assert (out / name).is_file(), name
    card = json.loads((out / "model_card.json").read_text())
    # setA has 4 groups = 2 × folds: split by group and shuffled; setB (2 groups) shuffled only
    assert set(card["evaluations"]) == {
        "within setA, groups unseen",
        "within setA, shuffled",
        "within setB",
        "setA unseen",
        "setB unseen",
    }
    assert card["weights"] == {"setA": 1.0, "setB": 0.5}
    within = card["evaluations"]["within setA, groups unseen"]["subsets"]
    assert within["all"]["n"] == 20 and within["scenery"]["n"] == 10
    assert set(within["all"]["scores"]) == {"v3", "v2 recipe", "v1 recipe"}  # no Emotion6 rows: no "v1 as shipped"
    assert "What the landscapes show" in (out / "MODEL_CARD.md").read_text()
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2 * 32  # hand-crafted and detector parts

    # label a folder with an index.csv (scene column) and one unreadable file
    folder = tmp_path / "scenes"
    files = _write_images(folder, 6, seed=3)
    (folder / "broken.webp").write_bytes(b"xx")
    pd.DataFrame({"file": files + ["broken.webp"], "scene": ["sea", "rain"] * 3 + ["sea"]}).to_csv(
        folder / "index.csv", index=False
    )
    labels_csv = tmp_path / "labels.csv"
    proc = _run(
        "label_images.py",
        folder,
        "--out",
        labels_csv,
        "--model",
        out,
        "--figures",
        tmp_path / "fig",
        "--thumbnails",
        4,
        "--rescale",
        "rank",
    )
    assert proc.returncode == 0, proc.stderr
    labels = pd.read_csv(labels_csv)
    assert (
        labels.file.tolist() == files
        and ((labels[["valence", "arousal"]] >= 1) & (labels[["valence", "arousal"]] <= 9)).all().all()
    )
    assert "broken.webp" in proc.stderr
    for name in (
        "scenes_va_plane.png",
        "scenes_extremes.png",
        "scenes_scene_means.csv",
        "scenes_arousal_deciles.png",
        "scenes_valence_deciles.png",
    ):
        assert (tmp_path / "fig" / name).is_file(), name
    assert set(pd.read_csv(tmp_path / "fig" / "scenes_scene_means.csv").scene) == {"sea", "rain"}


def test_dataset_weights():
    sys.path.insert(0, str(REPO / "train"))
    from image_emotion import parse_weights

    assert parse_weights([]) == {"emotion6": 0.25}
    assert parse_weights(["emotion6=1", "oasis=2.5"]) == {"emotion6": 1.0, "oasis": 2.5}
    for bad in ("oasis", "oasis=-1", "oasis=x"):
        with pytest.raises(SystemExit):
            parse_weights([bad])


def test_rank_rescale_keeps_order():
    sys.path.insert(0, str(REPO / "train"))
    from label_images import rank_rescale

    values = np.array([5.1, 4.9, 5.0, 5.3])
    out = rank_rescale(values, np.linspace(1, 9, 101))
    assert np.array_equal(np.argsort(out), np.argsort(values)) and out.min() >= 1 and out.max() <= 9
    assert out.max() - out.min() > 5
