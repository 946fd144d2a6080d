"""Other productions of the same audio file, written by ``ffmpeg``: low-bit-rate MP3 and Ogg Vorbis,
a 16 kHz resampling, a mono down-mix.

Used to measure how far predictions move when the same music is stored differently
(``benchmarks/music_robustness.py``) and to train on such copies (``train/music_emotion.py
--reencode``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

from ..errors import AudioError
from ..files import atomic_path


class Encoding(NamedTuple):
    """How ``ffmpeg`` writes one version of a file."""

    #: What the version is, for tables.
    label: str
    #: Output file suffix.
    suffix: str
    #: ``ffmpeg``'s name of the container.
    container: str
    #: ``ffmpeg`` output arguments.
    args: tuple[str, ...]


#: Versions by name.
ENCODINGS: dict[str, Encoding] = {
    "mp3-64k": Encoding("mp3 64 kb/s", ".mp3", "mp3", ("-c:a", "libmp3lame", "-b:a", "64k")),
    "mp3-32k": Encoding("mp3 32 kb/s", ".mp3", "mp3", ("-c:a", "libmp3lame", "-b:a", "32k")),
    "ogg-q0": Encoding("ogg q0", ".ogg", "ogg", ("-c:a", "libvorbis", "-q:a", "0")),
    "16khz": Encoding("resampled 16 kHz", ".wav", "wav", ("-ar", "16000")),
    "mono": Encoding("mono file", ".wav", "wav", ("-ac", "1")),
}


def have_ffmpeg() -> bool:
    """Whether ``ffmpeg`` is on the ``PATH``."""
    return shutil.which("ffmpeg") is not None


def encode(src: str | os.PathLike, dst: str | os.PathLike, name: str) -> None:
    """Write ``src`` as version ``name`` of :data:`ENCODINGS` to ``dst`` (atomically)."""
    if name not in ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}; choose from {', '.join(ENCODINGS)}")
    if not have_ffmpeg():
        raise AudioError("ffmpeg not found: it is needed to re-encode audio (e.g. apt-get install ffmpeg)")
    dst = Path(dst)
    with atomic_path(dst) as tmp:
        done = subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(src),
                *ENCODINGS[name].args,
                "-f",
                ENCODINGS[name].container,
                str(tmp),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise AudioError(f"ffmpeg could not re-encode {src} as {name}: {done.stderr.strip()[-300:]}")


def reencoded(src: str | os.PathLike, name: str, out_dir: str | os.PathLike) -> Path:
    """Version ``name`` of ``src``, cached in ``out_dir/<name>/`` by the source's name and folder."""
    src = Path(src)
    folder = hashlib.sha1(str(src.resolve().parent).encode()).hexdigest()[:8]
    dst = Path(out_dir) / name / f"{src.stem}-{folder}{ENCODINGS[name].suffix}"
    if not dst.is_file():
        encode(src, dst, name)
    return dst
