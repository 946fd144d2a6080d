"""Pictures painted ahead for the blind rating, for requests spread evenly over the plane and seeds.

The requests follow a fixed low-discrepancy design (:func:`design`), so the same (request, seed)
comes round again and several people rate the same picture. A background thread keeps a few
pictures ready; it paints only while no visitor's job runs or waits on the
:class:`~music2img.threads.JobLock`, and drops a picture half-way as soon as one does.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import random
import threading
from collections.abc import Container
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..diffusion import defaults
from ..va import VA_MAX, VA_MIN
from .pictures import picture_hash
from .store import Request

if TYPE_CHECKING:
    from ..music_to_image import MusicToImage

log = logging.getLogger(__name__)

#: Seeds of the design's pictures are drawn from ``range(SEED_RANGE)``.
SEED_RANGE = 10_000
#: Requests in the design before it repeats.
DESIGN_SIZE = 64
#: The plastic-number generalisation for 3 dimensions: the root of x⁴ = x + 1 (Roberts' R-sequence).
_PHI3 = 1.2207440846057596


def design(n: int = DESIGN_SIZE) -> list[tuple[float, float, int]]:
    """``n`` ``(valence, arousal, seed)`` requests: points 0…n−1 of Roberts' R₃ low-discrepancy sequence
    in the unit cube, scaled to the 1–9 plane (rounded to 0.1, the sliders' step) and to the seeds."""
    if n < 1:
        raise ValueError(f"the design needs at least one request, got {n}")
    alpha = 1.0 / _PHI3 ** np.arange(1, 4)
    u = (0.5 + np.arange(n)[:, None] * alpha) % 1.0
    va = np.round(VA_MIN + (VA_MAX - VA_MIN) * u[:, :2], 1)
    return [(float(v), float(a), int(s)) for (v, a), s in zip(va, (u[:, 2] * SEED_RANGE).astype(int))]


@dataclasses.dataclass(frozen=True)
class PoolPicture:
    """A picture ready to be rated: its place in the design, its request, the picture and its hash."""

    index: int
    request: Request
    image: Image.Image
    picture: str


class _GaveWay(Exception):
    """A visitor's job is waiting: the background picture is dropped."""


class PicturePool:
    """Keeps ``size`` pictures of the :func:`design` ready, painted by ``m2i`` in a background thread.

    Parameters
    ----------
    m2i : MusicToImage
        Paints the pictures (:meth:`~music2img.music_to_image.MusicToImage.generate`).
    size : int
        Pictures kept ready.
    design_size : int
        Requests in the design; the pool walks through it from a random place and starts again.
    display_size : int, optional
        ``size`` argument of ``generate``: the side the pictures are shown at.
    guidance_scale, steps, scheduler
        The sampler settings (default: the app's).
    poll : float
        Seconds between looks at whether the painter is idle.
    """

    def __init__(
        self,
        m2i: MusicToImage,
        *,
        size: int = 4,
        design_size: int = DESIGN_SIZE,
        display_size: int | None = None,
        guidance_scale: float = defaults.GUIDANCE_SCALE,
        steps: int = defaults.STEPS,
        scheduler: str = defaults.SCHEDULER,
        start: int | None = None,
        poll: float = 0.25,
    ):
        if size < 1:
            raise ValueError(f"the pool needs room for at least one picture, got size={size}")
        self.m2i = m2i
        self.size = int(size)
        self.design = design(design_size)
        self.display_size = display_size
        self.settings = dict(guidance_scale=float(guidance_scale), steps=int(steps), scheduler=str(scheduler))
        self.poll = float(poll)
        self._next = random.randrange(len(self.design)) if start is None else int(start) % len(self.design)
        self._ready: collections.deque[PoolPicture] = collections.deque()
        self._wanted = 0  # takers who found nothing they had not seen: paint beyond ``size`` for them
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.painted = 0
        self.dropped = 0

    def start(self) -> PicturePool:
        """Start the painting thread (a daemon); returns the pool."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rating-pool", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop painting (a picture under way is dropped at its next step) and wait for the thread."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def ready(self) -> int:
        """Pictures ready now."""
        with self._cond:
            return len(self._ready)

    def take(self, exclude: Container[str] = (), timeout: float | None = None) -> PoolPicture | None:
        """The oldest ready picture whose hash is not in ``exclude`` (the pictures a visitor has
        seen), waiting up to ``timeout`` seconds for one; ``None`` if none came."""
        with self._cond:
            item = self._find(exclude)
            if item is None:
                self._wanted += 1
                self._cond.notify_all()
                try:
                    self._cond.wait_for(lambda: self._stop.is_set() or self._find(exclude) is not None, timeout)
                finally:
                    self._wanted -= 1
                item = None if self._stop.is_set() else self._find(exclude)
            if item is not None:
                self._ready.remove(item)
                self._cond.notify_all()
            return item

    def _find(self, exclude: Container[str]) -> PoolPicture | None:
        return next((item for item in self._ready if item.picture not in exclude), None)

    def _give_way(self, step: int, total: int) -> None:
        if self.m2i.jobs.waiting or self._stop.is_set():
            raise _GaveWay

    def _run(self) -> None:
        jobs = self.m2i.jobs
        while not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: self._stop.is_set() or len(self._ready) < self.size + self._wanted)
            if self._stop.is_set():
                return
            if jobs.busy:
                self._stop.wait(self.poll)
                continue
            index = self._next
            valence, arousal, seed = self.design[index]
            request = Request(valence, arousal, seed, num_images=1, size=self.display_size, **self.settings)
            try:
                image = self.m2i.generate(
                    valence, arousal, seed=seed, size=self.display_size, progress=self._give_way, **self.settings
                )[0]
            except _GaveWay:
                self.dropped += 1
                continue
            except Exception:
                log.exception("the rating pool could not paint request %d (%s); trying the next", index, request)
                self._next = (index + 1) % len(self.design)
                self._stop.wait(self.poll)
                continue
            item = PoolPicture(index, request, image, picture_hash(image))
            with self._cond:
                self._ready.append(item)
                self._next = (index + 1) % len(self.design)
                self.painted += 1
                self._cond.notify_all()
