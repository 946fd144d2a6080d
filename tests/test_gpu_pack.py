"""train/make_gpu_pack.py on a few generated images: readable pack, size cap, broken images skipped."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from music2img.errors import DatasetError
from music2img.image.labelled_folder import read_labels

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from train import make_gpu_pack  # noqa: E402

VA = [(2.0, 3.5), (4.25, 8.0), (5.0, 5.0), (6.5, 1.5), (8.0, 7.25), (1.0, 9.0)]


@pytest.fixture
def folder(tmp_path) -> tuple[Path, Path]:
    """Six noisy images of different sizes and formats (two with the same stem) plus one broken file."""
    src = tmp_path / "src"
    (src / "b").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = ["a0.png", "a1.jpg", "a2.webp", "a3.png", "a4.jpg", "b/a0.png"]
    for i, name in enumerate(names):
        h, w = 40 + 7 * i, 56 - 3 * i
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(src / name)
    (src / "broken.jpg").write_bytes(b"not a jpeg at all")
    table = pd.DataFrame(
        {"file": names + ["broken.jpg"], "valence": [v for v, _ in VA] + [5.0], "arousal": [a for _, a in VA] + [5.0]}
    )
    table.to_csv(src / "labels.csv", index=False)
    return src, src / "labels.csv"


def test_pack_reads_back_and_skips_broken(folder, tmp_path, capsys):
    src, labels = folder
    out = tmp_path / "pack"
    assert (
        make_gpu_pack.main(
            [
                "--images",
                str(src),
                "--labels",
                str(labels),
                "--out",
                str(out),
                "--resolution",
                "16",
                "--quality",
                "80",
                "--quiet",
            ]
        )
        == 0
    )
    report = capsys.readouterr()
    assert "broken.jpg" in report.err and "1 unreadable image(s) skipped" in report.out
    files, va = read_labels(out, out / "labels.csv")
    assert [f.name for f in files] == ["a0.webp", "a1.webp", "a2.webp", "a3.webp", "a4.webp", "a0-2.webp"]
    np.testing.assert_allclose(va, np.array(VA, np.float32))
    for f in files:
        with Image.open(f) as im:
            assert im.format == "WEBP" and im.size == (16, 16)
    assert sorted(p.name for p in out.iterdir()) == ["images", "labels.csv"]
    assert not list(tmp_path.glob(".pack.*"))  # no temporary folder left behind


def test_quality_is_chosen_to_fit_the_cap(folder, tmp_path):
    src, labels = folder
    full = make_gpu_pack.make_pack(src, labels, tmp_path / "full", resolution=32, quality=100, progress=False)
    cap = 0.6 * full["bytes"] / make_gpu_pack.MIB
    small = make_gpu_pack.make_pack(src, labels, tmp_path / "small", resolution=32, max_mb=cap, progress=False)
    assert small["quality"] < 100 and small["bytes"] <= cap * make_gpu_pack.MIB
    on_disk = sum(f.stat().st_size for f in (tmp_path / "small").rglob("*") if f.is_file())
    assert on_disk == small["bytes"] and small["count"] == 6


def test_impossible_cap_fails_and_keeps_the_old_pack(folder, tmp_path, capsys):
    src, labels = folder
    out = tmp_path / "pack"
    make_gpu_pack.make_pack(src, labels, out, resolution=16, quality=50, progress=False)
    before = sorted(p.name for p in (out / "images").iterdir())
    with pytest.raises(DatasetError, match="quality 1"):
        make_gpu_pack.make_pack(src, labels, out, resolution=16, max_mb=1e-4, progress=False)
    assert (
        make_gpu_pack.main(
            [
                "--images",
                str(src),
                "--labels",
                str(labels),
                "--out",
                str(out),
                "--resolution",
                "16",
                "--quality",
                "100",
                "--max-mb",
                "0.001",
                "--quiet",
            ]
        )
        == 1
    )
    assert "over --max-mb" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "images").iterdir()) == before


def test_weight_column_travels_with_its_rows(folder, tmp_path):
    src, labels = folder
    table = pd.read_csv(labels)
    table["weight"] = [0.5, 2.0, 1.0, 0.0, 3.0, 1.5, 9.0]  # the broken row's weight must not shift onto another
    table.to_csv(labels, index=False)
    out = tmp_path / "pack"
    make_gpu_pack.make_pack(src, labels, out, resolution=16, quality=50, progress=False)
    packed = pd.read_csv(out / "labels.csv")
    assert packed["weight"].tolist() == [0.5, 2.0, 1.0, 0.0, 3.0, 1.5]
    assert packed["file"].tolist()[-1] == "images/a0-2.webp"
