"""train/gpu_train.sh `aside` / `restore` in a scratch git repository: tracked files leave the tree and come back."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _sh(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "train/gpu_train.sh", *args], cwd=repo, capture_output=True, text=True, check=False)


def test_aside_moves_what_the_gpu_never_reads_and_restore_brings_it_back(tmp_path):
    repo = tmp_path / "repo"
    (repo / "train").mkdir(parents=True)
    shutil.copy(ROOT / "train" / "gpu_train.sh", repo / "train")
    files = {
        "assets/music_emotion/model.joblib": "m",
        "assets/examples/a.ogg": "o",
        "docs/x.md": "d",
        "assets/diffusion/grid.png": "g",
        "assets/diffusion/unet/w.safetensors": "w",
        "assets/diffusion/model_index.json": "{}",
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    (repo / ".gitignore").write_text("gpu_aside/\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(git + ["add", "-A"], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-qm", "x"], cwd=repo, check=True)

    r = _sh(repo, "aside")
    assert r.returncode == 0, r.stderr
    kept = {"assets/diffusion/unet/w.safetensors", "assets/diffusion/model_index.json"}
    for name in files:
        assert (repo / name).exists() == (name in kept), name
    assert _sh(repo, "aside").returncode != 0  # a second aside would lose track of the first

    r = _sh(repo, "restore")
    assert r.returncode == 0, r.stderr
    assert all((repo / name).read_text() == text for name, text in files.items())
    assert not (repo / "gpu_aside").exists()
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    assert status == ""


def test_aside_with_nothing_to_move_and_restore_with_nothing_aside(tmp_path):
    (tmp_path / "train").mkdir()
    shutil.copy(ROOT / "train" / "gpu_train.sh", tmp_path / "train")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert "moved aside: 0 paths" in _sh(tmp_path, "aside").stdout
    assert _sh(tmp_path, "restore").returncode == 0
    assert not (tmp_path / "gpu_aside").exists()
    assert _sh(tmp_path, "restore").stdout.strip() == "nothing aside"
