"""The app served in-process with tiny models, for the client and browser tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from factories_diffusion import make_tiny_pipeline
from factories_music import make_tiny_music_model

from music2img.music_to_image import MusicToImage


class RunningApp(NamedTuple):
    url: str
    m2i: MusicToImage


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(tmp: Path) -> Iterator[RunningApp]:
    """Build tiny models under ``tmp``, serve ``app.build_demo`` on a free localhost port, close it after."""
    import app

    m2i = MusicToImage.load(make_tiny_music_model(tmp / "music"), make_tiny_pipeline(tmp / "diffusion"), device="cpu")
    demo = app.build_demo(m2i)
    _, url, _ = app.launch(demo, host="127.0.0.1", port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield RunningApp(url, m2i)
    finally:
        demo.close()
