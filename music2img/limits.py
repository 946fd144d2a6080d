"""The ranges the numeric settings of the library, the CLI and the app must lie in, defined once.

Each ``check_*`` returns the value (as ``int`` or ``float``) or raises
:class:`~music2img.errors.OptionError` naming the setting, its range and the value given. Importing
this module loads nothing heavy, so the CLI validates its arguments before torch is imported.
"""

from __future__ import annotations

import math

from .errors import OptionError

#: Torch threads: at least one, at most this many.
THREADS = (1, 1024)
#: Pictures per request of ``generate`` (one batch).
IMAGES = (1, 64)
#: Denoising steps: at least one; at most the training schedule's 1000 timesteps for DDPM (whose
#: default is 1000), and 100 for the other samplers, which converge within 50.
MAX_STEPS = 100
SCHEDULER_MAX_STEPS = {
    "ddpm": 1000,
    "ddim": MAX_STEPS,
    "dpm": MAX_STEPS,
    "dpm3": MAX_STEPS,
    "unipc": MAX_STEPS,
    "lcm": MAX_STEPS,
}
#: Times a picture the landscape or scene check rejects is painted again (0: first draws only).
REDRAWS = (0, 15)
#: Classifier-free guidance scale (≤ 1: unguided).
GUIDANCE = (0.0, 50.0)
#: Seeds of torch's generator.
SEED = (0, 2**63 - 1)
#: Frames per second of a film.
FPS = (1, 120)
#: Side of a film's frames, pixels (even, for the H.264 encoder's 4:2:0 colour).
FILM_SIZE = (16, 4096)
#: Seconds between a film's keyframes.
KEYFRAME_INTERVAL = (0.1, 600.0)
#: Camera zoom of a film (0: a still camera; 1: the view narrows to half the picture).
ZOOM = (0.0, 1.0)
#: Threads of the H.264 encoder (0: libx264's choice).
ENCODER_THREADS = (0, 256)
#: Landscapes of a storyboard.
SECTIONS = (1, 16)
#: TCP ports the app may serve on.
PORT = (1, 65535)


def _text(bound: float) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def check_range(
    name: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    integer: bool = False,
    above: bool = False,
) -> float | int:
    """``value`` if it is a finite number with ``low ≤ value ≤ high`` (``low < value`` with ``above``;
    either bound may be ``None``), else :class:`OptionError` (``"name must be …, got value"``)."""
    try:
        number = value if isinstance(value, int) else float(value)  # ints compared exactly
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a number, got {value!r}") from None
    whole = math.isfinite(number) and number == int(number)
    if not (
        math.isfinite(number)
        and (low is None or number > low or (number == low and not above))
        and (high is None or number <= high)
        and (whole or not integer)
    ):
        if low is not None and high is not None and not above:
            bounds = f"from {_text(low)} to {_text(high)}"
        else:
            parts = (
                None if low is None else f"{'above' if above else 'at least'} {_text(low)}",
                None if high is None else f"at most {_text(high)}",
            )
            bounds = " and ".join(b for b in parts if b)
        raise OptionError(f"{name} must be {'a whole number' if integer else 'a number'} {bounds}, got {value}")
    return int(number) if integer else number


def check_threads(threads: int, name: str = "threads") -> int:
    """Torch threads within :data:`THREADS`."""
    return check_range(name, threads, *THREADS, integer=True)


def check_images(num_images: int, name: str = "num_images") -> int:
    """Pictures per request within :data:`IMAGES`."""
    return check_range(name, num_images, *IMAGES, integer=True)


def check_steps(steps: int, scheduler: str, name: str = "steps") -> int:
    """Denoising steps for sampler ``scheduler``: 1 to :data:`SCHEDULER_MAX_STEPS` ``[scheduler]``."""
    return check_range(name, steps, 1, SCHEDULER_MAX_STEPS.get(scheduler, MAX_STEPS), integer=True)


def check_redraws(redraws: int, name: str = "max_redraws") -> int:
    """Redraws of a rejected picture within :data:`REDRAWS`."""
    return check_range(name, redraws, *REDRAWS, integer=True)


def check_guidance(scale: float, name: str = "guidance_scale") -> float:
    """A classifier-free guidance scale within :data:`GUIDANCE`."""
    return check_range(name, scale, *GUIDANCE)


def check_seed(seed: int, name: str = "seed") -> int:
    """A seed within :data:`SEED`."""
    return check_range(name, seed, *SEED, integer=True)


def check_film_size(size: int, name: str = "size") -> int:
    """A film frame side within :data:`FILM_SIZE`, even."""
    size = check_range(name, size, *FILM_SIZE, integer=True)
    if size % 2:
        raise OptionError(f"{name} must be even (H.264 halves the colour resolution), got {size}")
    return size
