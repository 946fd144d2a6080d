"""music2img.files: atomic writes and checksum-verified joblib folders."""

from __future__ import annotations

import json
import pickle

import pytest

from music2img.errors import ModelFileError
from music2img.files import (
    atomic_path,
    load_checked_joblib,
    save_checked_joblib,
    sha256sum,
)


class _Exploit:
    """Unpickling this writes the file ``marker``: proof that the pickle was executed."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_atomic_path_keeps_old_file_when_body_raises(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temporary file left behind
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_round_trip_records_checksum(tmp_path):
    folder = save_checked_joblib({"w": [1, 2, 3]}, tmp_path / "m", {"version": "1"})
    config = json.loads((folder / "model.json").read_text())
    assert config == {"sha256": sha256sum(folder / "model.joblib"), "version": "1"}
    obj, loaded = load_checked_joblib(folder, required=("version",))
    assert obj == {"w": [1, 2, 3]} and loaded == config


def test_checksum_mismatch_refused_before_unpickling(tmp_path):
    folder = save_checked_joblib([0], tmp_path / "m", {})
    marker = tmp_path / "pwned"
    (folder / "model.joblib").write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load_checked_joblib(folder)
    assert not marker.exists()
    # the same pickle with a matching checksum *is* executed: the check above is what stops it
    config = json.loads((folder / "model.json").read_text())
    config["sha256"] = sha256sum(folder / "model.joblib")
    (folder / "model.json").write_text(json.dumps(config))
    load_checked_joblib(folder)
    assert marker.exists()


def test_missing_or_invalid_config(tmp_path):
    with pytest.raises(ModelFileError, match=r"no widget at .*model\.json not found.*train it"):
        load_checked_joblib(tmp_path / "nowhere", what="widget", hint="train it")
    folder = save_checked_joblib([0], tmp_path / "m", {})
    with pytest.raises(ModelFileError, match="not a valid model description.*version"):
        load_checked_joblib(folder, required=("version",))
    for text in ("{not json", "[1, 2]"):
        (folder / "model.json").write_text(text)
        with pytest.raises(ModelFileError, match="not a valid model description"):
            load_checked_joblib(folder)
    (folder / "model.json").write_text(json.dumps({"sha256": "0" * 64}))
    (folder / "model.joblib").unlink()
    with pytest.raises(ModelFileError, match="model file not found"):
        load_checked_joblib(folder)
