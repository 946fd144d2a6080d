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
    ratings: object = None  # a music2img.ratings.page.RatingsPage when asked for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(tmp: Path, ratings_db: Path | None = None) -> Iterator[RunningApp]:
    """Build tiny models under ``tmp``, serve ``app.build_demo`` on a free localhost port, close it after;
    with ``ratings_db``, the rating questions too (answers stored there, a pool of two pictures)."""
    import app
    from music2img.ratings.page import RatingsPage

    m2i = MusicToImage.load(make_tiny_music_model(tmp / "music"), make_tiny_pipeline(tmp / "diffusion"), device="cpu")
    ratings = (
        None
        if ratings_db is None
        else RatingsPage.create(m2i, ratings_db, display_size=app.DISPLAY_SIZE, pool_size=2, env={})
    )
    demo = app.build_demo(m2i, ratings)
    _, url, _ = app.launch(demo, host="127.0.0.1", port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield RunningApp(url, m2i, ratings)
    finally:
        demo.close()
        if ratings is not None:
            ratings.close()
