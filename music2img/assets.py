"""Where the shipped models live. Every loader takes an explicit path; these are the defaults."""

from __future__ import annotations

import os
from pathlib import Path

#: ``assets/`` at the repository root; override with the ``MUSIC2IMG_ASSETS`` environment variable.
ASSETS_DIR = Path(os.environ.get("MUSIC2IMG_ASSETS", Path(__file__).resolve().parent.parent / "assets"))

MUSIC_MODEL_DIR = ASSETS_DIR / "music_emotion"
IMAGE_MODEL_DIR = ASSETS_DIR / "image_emotion"
DIFFUSION_MODEL_DIR = ASSETS_DIR / "diffusion"
EXAMPLES_DIR = ASSETS_DIR / "examples"
