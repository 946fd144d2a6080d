import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from music2img.errors import DatasetError
from music2img.image.datasets import (
    load_cgna,
    load_csv,
    load_dataset,
    load_datasets,
    load_emotion6,
    load_oasis,
)


def _img(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)


def test_emotion6_loader(tmp_path, shared_data):
    real = pd.read_csv(shared_data / "images" / "emotion6" / "labels.csv").head(10)
    real.to_csv(tmp_path / "labels.csv", index=False)
    for i, f in enumerate(real.file[:9]):  # the 10th image is missing
        _img(tmp_path / f, i)
    with pytest.warns(UserWarning, match="skipped 1"):
        table = load_emotion6(tmp_path)
    assert list(table.columns) == ["file", "valence", "arousal", "group", "category", "source"]
    assert len(table) == 9 and table.attrs["skipped"][0].endswith(str((tmp_path / real.file[9]).resolve()))
    assert np.allclose(table.valence, real.valence_1to9[:9]) and set(table.group) <= set(real.keyword_folder)
    assert all(p.startswith("/") for p in table.file)


def test_oasis_loader(tmp_path, shared_data):
    real = pd.read_csv(shared_data / "images" / "oasis" / "labels.csv").head(6)
    real.to_csv(tmp_path / "labels.csv", index=False)
    for i, f in enumerate(real.file):
        _img(tmp_path / f, i)
    table = load_dataset(f"oasis:{tmp_path}")
    assert len(table) == 6 and set(table.source) == {"oasis"}
    assert np.allclose(table.arousal, real.arousal_1to9) and table.category.tolist() == real.category.tolist()
    assert table.group.tolist() == [f.split("/")[-1].rsplit("_", 1)[0] for f in real.file]  # theme: Acorns_3 → Acorns
    (tmp_path / "labels.csv").write_text("file,valence_1to9,arousal_1to9\n")
    with pytest.raises(DatasetError, match="category"):
        load_oasis(tmp_path)


def test_cgna_layout(tmp_path):
    for n in range(1, 5):
        _img(tmp_path / f"{n}.jpg", n)
    (tmp_path / "valence_avg_10766_v2.txt").write_text("2.5\n7.0\n5\n9.5\n")
    (tmp_path / "arousal_avg_10766_v2.txt").write_text("3\n6.5\n4\n5\n")
    with pytest.warns(UserWarning):
        table = load_cgna(tmp_path)
    assert [t.rsplit("/", 1)[1] for t in table.file] == ["1.jpg", "2.jpg", "3.jpg"]  # 1-based; 4.jpg out of range
    assert table.valence.tolist() == [2.5, 7.0, 5.0] and table.arousal.tolist() == [3.0, 6.5, 4.0]
    (tmp_path / "1.jpg").rename(tmp_path / "0.jpg")
    (tmp_path / "4.jpg").unlink()
    with pytest.warns(UserWarning):
        zero_based = load_dataset(f"cgna:{tmp_path}")
    assert zero_based.file.str.endswith("0.jpg").iloc[0]
    (tmp_path / "arousal_avg_10766_v2.txt").unlink()
    with pytest.raises(DatasetError, match="arousal"):
        load_cgna(tmp_path)


def test_csv_with_broken_rows(tmp_path):
    for n in range(3):
        _img(tmp_path / "img" / f"{n}.png", n)
    (tmp_path / "labels.csv").write_text(
        "file,valence,arousal\nimg/0.png,3,4\nimg/1.png,abc,4\nimg/2.png,5,0.5\nimg/missing.png,5,5\n"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = load_datasets([f"csv:{tmp_path / 'labels.csv'}"])
    assert len(table) == 1 and table.valence.iloc[0] == 3.0 and len(table.attrs["skipped"]) == 3
    assert caught and "skipped 3" in str(caught[0].message)
    messages = " ".join(table.attrs["skipped"])
    assert "non-numeric" in messages and "outside" in messages and "not found" in messages


def test_bad_layouts(tmp_path):
    (tmp_path / "x.csv").write_text("path,v,a\n")
    with pytest.raises(DatasetError, match="lacks"):
        load_csv(tmp_path / "x.csv")
    with pytest.raises(DatasetError):
        load_emotion6(tmp_path)
    with pytest.raises(DatasetError, match="KIND:PATH"):
        load_dataset("deam:/x")
