"""Shared test fixtures. Tests make their own tiny data; at most a few small files come from
``../shared/data``."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

# Tests run side by side with other processes on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

torch.set_num_threads(1)

#: Skips outside an allow-list fail the run when ``MUSIC2IMG_ALLOWED_SKIPS`` names one (CI: ``.ci/run``).
pytest_plugins = ["skip_allowlist"]

REPO = Path(__file__).resolve().parent.parent
#: The project's data folder (``../shared/data`` beside the repository; ``MUSIC2IMG_SHARED_DATA`` overrides it).
SHARED_DATA = Path(os.environ.get("MUSIC2IMG_SHARED_DATA", REPO.parent / "shared" / "data"))
SR = 22050


def load_script(path: str) -> ModuleType:
    """Import a script of the repository (``"benchmarks/x.py"``, ``"train/y.py"``) as a module."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside the repository")
    return SHARED_DATA


def synth_music(
    seconds: float, sr: int = SR, bpm: float = 120.0, root_hz: float = 220.0, minor: bool = False, seed: int = 0
) -> np.ndarray:
    """A short synthetic 'song': a chord arpeggio with percussive clicks on the beat."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    third = 6 / 5 if minor else 5 / 4
    notes = [root_hz, root_hz * third, root_hz * 3 / 2, root_hz * 2]
    beat = 60.0 / bpm
    idx = (t // beat).astype(int) % len(notes)
    freq = np.asarray(notes)[idx]
    phase = 2 * np.pi * np.cumsum(freq) / sr
    env = np.exp(-(t % beat) * 4.0)
    y = 0.4 * env * np.sin(phase) + 0.1 * np.sin(2 * phase)
    clicks = np.zeros_like(t)
    clicks[(np.arange(0, seconds, beat) * sr).astype(int)] = 1.0
    y += 0.3 * np.convolve(clicks, rng.standard_normal(200) * np.exp(-np.arange(200) / 30), mode="same")
    return (y / np.max(np.abs(y)) * 0.8).astype(np.float32)


@pytest.fixture
def make_audio(tmp_path):
    """``make_audio(name, seconds, sr=22050, stereo=False, **synth_kwargs) -> Path`` writes a file
    (format from the suffix: .wav, .flac, .ogg) with synthetic music."""
    import soundfile as sf

    def _make(name: str = "song.wav", seconds: float = 5.0, sr: int = SR, stereo: bool = False, **kw) -> Path:
        y = synth_music(seconds, sr=sr, **kw)
        if stereo:
            y = np.stack([y, 0.5 * y], axis=1)
        path = tmp_path / name
        sf.write(path, y, sr)
        return path

    return _make
