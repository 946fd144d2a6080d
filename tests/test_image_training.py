import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
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
    return subprocess.run([sys.executable, str(REPO / "train" / script), *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=240)


def test_train_then_label(tmp_path):
    names = _write_images(tmp_path / "data", 20)
    rng = np.random.default_rng(1)
    pd.DataFrame({"file": names, "valence": rng.uniform(1, 9, 20).round(2), "arousal": rng.uniform(1, 9, 20).round(2),
                  "group": ["a", "b"] * 10}).to_csv(tmp_path / "data" / "labels.csv", index=False)
    out = tmp_path / "model"
    proc = _run("image_emotion.py", "--dataset", f"csv:{tmp_path / 'data' / 'labels.csv'}", "--out", out, "--folds", 2)
    assert proc.returncode == 0, proc.stderr
    for name in ("model.joblib", "model.json", "MODEL_CARD.md", "model_card.json", "cv_scatter.png"):
        assert (out / name).is_file(), name
    card = json.loads((out / "model_card.json").read_text())
    assert set(card["evaluations"]) == {"2-fold", "leave-one-group-out"}
    assert "baseline: colour-only random forest" in card["evaluations"]["2-fold"]["scores"]

    # label a folder with an index.csv (scene column) and one unreadable file
    folder = tmp_path / "scenes"
    files = _write_images(folder, 6, seed=3)
    (folder / "broken.webp").write_bytes(b"xx")
    pd.DataFrame({"file": files + ["broken.webp"], "scene": ["sea", "rain"] * 3 + ["sea"]}).to_csv(
        folder / "index.csv", index=False)
    labels_csv = tmp_path / "labels.csv"
    proc = _run("label_images.py", folder, "--out", labels_csv, "--model", out, "--figures", tmp_path / "fig",
                "--thumbnails", 4, "--rescale", "rank")
    assert proc.returncode == 0, proc.stderr
    labels = pd.read_csv(labels_csv)
    assert labels.file.tolist() == files and ((labels[["valence", "arousal"]] >= 1) & (labels[["valence", "arousal"]] <= 9)).all().all()
    assert "broken.webp" in proc.stderr
    for name in ("scenes_va_plane.png", "scenes_extremes.png", "scenes_scene_means.csv"):
        assert (tmp_path / "fig" / name).is_file(), name
    assert set(pd.read_csv(tmp_path / "fig" / "scenes_scene_means.csv").scene) == {"sea", "rain"}


def test_rank_rescale_keeps_order():
    sys.path.insert(0, str(REPO / "train"))
    from label_images import rank_rescale

    values = np.array([5.1, 4.9, 5.0, 5.3])
    out = rank_rescale(values, np.linspace(1, 9, 101))
    assert np.array_equal(np.argsort(out), np.argsort(values)) and out.min() >= 1 and out.max() <= 9
    assert out.max() - out.min() > 5
