"""CPU threads, chosen once per process.

Two OpenMP threads on two cores wait for each other at every operation. Spinning while they wait
is fast on an idle machine and a collapse on a busy one: when anything else takes one of the cores,
each wait lasts a scheduler time slice (``benchmarks/cpu_contention.py`` measures both). So:

* importing :mod:`music2img` sets ``OMP_WAIT_POLICY=PASSIVE`` (a waiting thread sleeps and gives
  its core back) unless the variable is set already; it takes effect only if torch is imported
  after music2img, as the app, the CLI and :class:`~music2img.music_to_image.MusicToImage` do;
* :func:`configure_threads` gives torch one intra-op thread per core this process may use and a
  single inter-op thread, once;
* CPU-heavy work runs one job at a time per process, with all the cores
  (:class:`~music2img.music_to_image.MusicToImage`'s :class:`JobLock`; the page's queue); background
  work (the rating pool, :mod:`music2img.ratings.pool`) starts only when the lock is idle and gives
  way as soon as a job waits.
"""

from __future__ import annotations

import os
import threading

WAIT_POLICY = "PASSIVE"


def set_wait_policy() -> None:
    """Ask OpenMP to sleep rather than spin while it waits, unless ``OMP_WAIT_POLICY`` is set."""
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def configure_threads(threads: int | None = None) -> int:
    """Give torch ``threads`` intra-op threads (default: :func:`available_cores`) and one inter-op
    thread; returns the intra-op count (:class:`~music2img.errors.OptionError` outside
    :data:`~music2img.limits.THREADS`)."""
    import torch

    from .limits import check_threads

    threads = available_cores() if threads is None else check_threads(threads)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work has started: keep what there is
        pass
    return threads


class JobLock:
    """A lock for one CPU-heavy job at a time that knows whether a job runs or waits, so that
    background work can wait for idle cores and give way to a waiting job."""

    def __init__(self):
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self._waiting = 0

    def __enter__(self) -> JobLock:
        with self._count:
            self._waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._count:
                self._waiting -= 1
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()

    @property
    def waiting(self) -> int:
        """Jobs waiting for the lock."""
        return self._waiting

    @property
    def busy(self) -> bool:
        """Whether a job holds the lock or waits for it."""
        return self._lock.locked() or self._waiting > 0
