"""The song as a film: landscapes painted along the song's emotion timeline, moving between keyframes.

A film of ``duration`` seconds at ``fps`` frames per second is made of

1. **keyframes** every ``keyframe_interval`` seconds, each painted by the diffusion pipeline
   (deterministic DPM-Solver) at the timeline's valence and arousal at that instant, from initial
   noise that is the same for every keyframe or, with ``drift``, moves slowly along a spherical
   path between seeded noise anchors — so the scene stays recognisable and its emotion moves; with a
   ``scene_track`` (the pipeline's scene layouts), over a scene photo's colour layout that is kept while
   the song's emotion stays near it and changes when the emotion moves on, or with each noise anchor of
   ``drift`` (a new scene, cross-faded);
2. **in-between frames** interpolated from the neighbouring keyframes in pixel space
   (``"cubic"``: Catmull-Rom through four keyframes, continuous in value and speed; ``"linear"``:
   a cross-fade; ``"hold"``: a slideshow);
3. a slow **camera** (zoom and drift) over the whole film: each frame is one Lanczos resampling
   of a sub-pixel crop of the 128×128 picture to ``size`` × ``size``.

Keyframes are painted from given noise, which turns the pipeline's own redraw off; a keyframe its
landscape check rejects is painted again from nearby noise instead (:class:`RepaintingPainter`).
``benchmarks/film.py checks`` (4 seeds × 2 emotion paths × 9 keyframes, shipped weights): over tracked
scenes none of the 72 keyframes is rejected (guidance 3 and 6); from noise at guidance 3
(``--layout-strength 1``) 18 (25 %) are as first painted and 5 (7 %) after at most two repaints, and a
repaint changes its picture by 29–37/255 (mean absolute difference to the rejected one), against 12–13
between neighbouring keyframes of a film, so a repainted keyframe is a visible but local change of scene.

Keyframes are painted when the frames first need them and frames go straight to the encoder
(:class:`~music2img.video.FilmWriter`), so at most four pictures are held whatever the song's length.

The defaults come from ``benchmarks/film.py inbetween``: along the largest change of emotion the
plane allows (corner to corner in 16 s), cubic in-betweens from keyframes every 4 s stay within
1.8/255 (mean absolute difference) of painting every frame, at 1 % of its cost, and change no more
from one frame to the next than painting every frame does (at most 0.24 against 0.27); cross-fades
are 2.0/255 off, a slideshow 9.0 with cuts of 20. A scene drifting to a new one every 30 s
changes twice as fast as a song's emotion typically moves it (0.11 against 0.06 per frame), so
by default the noise is fixed. Over tracked scenes (``benchmarks/film.py scenes``, the four example songs,
guidance 6) the scene model for the pictures calls 83–100 % of the keyframes scenes (0–100 % from noise), none
is rejected after the repaints (1–3 per song from noise), and a song changes scene 1–2 times; a film costs about
the same.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import limits
from .errors import AudioError
from .files import atomic_path
from .limits import check_range
from .music.audio import MIN_DURATION
from .music.timeline import EmotionTimeline
from .video import FilmWriter

FPS = 24
KEYFRAME_INTERVAL = 4.0
SIZE = 512
#: Sampler settings of the keyframes. Guidance 6 since the keyframes are painted over scenes
#: (``benchmarks/film.py scenes``, the example songs: at 3 the keyframes followed the songs' emotion less than
#: from noise, Spearman ρ by the image emotion model valence 0.71, arousal 0.36; at 6: 0.82, 0.74; at 9: 0.83,
#: 0.80 with bluer, more saturated keyframes and fewer scenes; from noise at 3, the former default: 0.80, 0.68).
STEPS = 10
GUIDANCE_SCALE = 6.0
#: The keyframes keep plain guidance. The low-pass the still pictures use in the sad half of the plane
#: (:data:`music2img.diffusion.defaults.GUIDANCE_LOWPASS`) measured on films (``benchmarks/film.py scenes
#: --guidance-lowpass 16``, the example songs over scenes): keyframe scenes 83 → 89 % for the sad song, the others
#: 100 % either way, but valence followed less (Spearman ρ 0.82 → 0.76; arousal 0.74 → 0.73).
GUIDANCE_LOWPASS = 0.0
SCHEDULER = "dpm"
INBETWEEN = "cubic"
INBETWEENS = ("cubic", "linear", "hold")
#: Seconds between the noise anchors the keyframes' initial noise moves through (0: one fixed noise).
DRIFT = 0.0
#: Largest zoom of the camera (0.1: the view narrows to 1/1.1 of the picture) and its period, seconds.
ZOOM = 0.1
CAMERA_PERIOD = 24.0
#: Share of the keyframes' steps painted over their scene's layout (9 of DPM-Solver's 10), and how far the song's
#: emotion may move (on the 1–9 scale) before the film changes scene
#: (:meth:`~music2img.diffusion.scene_layouts.SceneLayouts.track`).
LAYOUT_STRENGTH = 0.9
SCENE_RADIUS = 1.0
#: Threads of the H.264 encoder (0: libx264's choice).
ENCODER_THREADS = 0
#: Longest film, seconds (10 minutes).
MAX_DURATION = 600.0
#: Times a keyframe the landscape check rejects is painted again, each time from its noise moved this
#: far (spherically, as a fraction) toward a fresh draw: close enough to keep the scene, far enough to
#: leave the rejected picture (``benchmarks/film.py checks``).
REPAINTS = 2
REPAINT_STEP = 0.3

#: ``paint(valence, arousal, noise, scene) -> (h, w, 3)`` float picture in [0, 1]; ``scene``: the index of the
#: scene layout to paint over, or ``None`` (from noise alone).
PaintFn = Callable[[float, float, torch.Tensor, int | None], np.ndarray]
#: ``scene_track(valence, arousal, segments=…) -> scene per keyframe``, ``segments``: the keyframes' noise anchor
#: when the film drifts, else ``None`` (e.g. :meth:`~music2img.diffusion.scene_layouts.SceneLayouts.track`).
SceneTrackFn = Callable[[np.ndarray, np.ndarray, np.ndarray | None], Sequence[int | None]]
#: ``is_landscape(pictures) -> bool per picture``, pictures ``(n, h, w, 3)`` uint8
#: (:meth:`~music2img.diffusion.landscape_check.LandscapeChecker.is_landscape`).
CheckFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class Film:
    """A written film: where, which stretch of the song, how many frames and keyframes, and the
    emotion timeline (times relative to ``start``) that drove it."""

    path: Path
    start: float
    duration: float
    fps: int
    frames: int
    keyframes: int
    timeline: EmotionTimeline
    #: Keyframes the landscape check rejected and that were painted again, and those still rejected after
    #: :data:`REPAINTS` tries (kept: the last try).
    repainted: int = 0
    rejected: int = 0
    #: Scenes (runs of keyframes over one layout) the film shows; 0 when painted from noise alone.
    scenes: int = 0


def film_span(
    song_duration: float, start: float = 0.0, duration: float | None = None, max_duration: float = MAX_DURATION
) -> tuple[float, float]:
    """``(start, duration)`` of the stretch of a song of ``song_duration`` seconds to film.

    Raises :class:`~music2img.errors.AudioError` when the stretch starts outside the song, is shorter
    than :data:`~music2img.music.audio.MIN_DURATION` or longer than ``max_duration`` seconds.
    """
    if not 0 <= start < song_duration:
        raise AudioError(f"the film cannot start at {start:g} s: the song lasts {song_duration:.1f} s")
    if duration is not None and duration <= 0:
        raise AudioError(f"the film's duration must be positive, got {duration:g} s")
    length = song_duration - start if duration is None else min(duration, song_duration - start)
    if length < MIN_DURATION:
        raise AudioError(f"{length:.1f} s of music is too short for a film (at least {MIN_DURATION:g} s)")
    if length > max_duration:
        raise AudioError(
            f"{length / 60:.1f} minutes of music is longer than the film limit of {max_duration / 60:g} "
            "minutes: film a part of the song (start, duration) or raise the limit"
        )
    return float(start), float(length)


def scenes_shown(scenes: Sequence[int | None]) -> int:
    """How many scenes a film's keyframes show one after another (``None``: a keyframe from noise alone)."""
    return sum(s is not None and (k == 0 or s != scenes[k - 1]) for k, s in enumerate(scenes))


def keyframe_times(duration: float, interval: float) -> np.ndarray:
    """Times of the keyframes, seconds: ``0, interval, 2·interval, …`` up to the first at or after ``duration``."""
    if interval <= 0:
        raise ValueError(f"the keyframe interval must be positive, got {interval:g}")
    return np.arange(max(1, math.ceil(duration / interval - 1e-9)) + 1) * float(interval)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between two noise tensors (keeps a Gaussian sample's norm)."""
    cos = torch.dot(a.flatten(), b.flatten()) / (a.norm() * b.norm())
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega < 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def keyframe_noise(
    times: np.ndarray, shape: tuple[int, ...], seed: int, drift: float = DRIFT
) -> Iterator[torch.Tensor]:
    """Initial noise of each keyframe: anchors drawn in turn from one generator seeded with ``seed``
    (the first is the noise :meth:`~music2img.music_to_image.MusicToImage.generate` uses), one every
    ``drift`` seconds, spherically interpolated at the keyframe times; ``drift = 0`` keeps the first."""
    generator = torch.Generator().manual_seed(int(seed))
    anchors = [torch.randn(shape, generator=generator)]
    for t in times:
        if drift <= 0:
            yield anchors[0]
            continue
        j, u = divmod(float(t) / drift, 1.0)
        while len(anchors) < int(j) + 2:
            anchors.append(torch.randn(shape, generator=generator))
        yield slerp(anchors[int(j)], anchors[int(j) + 1], u)


class RepaintingPainter:
    """``paint`` wrapped so that a keyframe ``is_landscape`` rejects is painted again, up to ``repaints`` times,
    from nearby noise: try ``k`` starts from the keyframe's noise moved ``k · step`` of the way (:func:`slerp`)
    toward a fresh draw seeded by ``(seed, keyframe number, k)``, so films stay reproducible. Counts the
    keyframes ``repainted`` and those still ``rejected`` after the last try (which is kept)."""

    def __init__(
        self, paint: PaintFn, is_landscape: CheckFn, seed: int, repaints: int = REPAINTS, step: float = REPAINT_STEP
    ):
        self.paint, self.is_landscape, self.seed = paint, is_landscape, int(seed)
        self.repaints, self.step = int(repaints), float(step)
        self.painted = self.repainted = self.rejected = 0

    def _accepted(self, picture: np.ndarray) -> bool:
        return bool(self.is_landscape((np.asarray(picture)[None] * 255 + 0.5).astype(np.uint8))[0])

    def __call__(self, valence: float, arousal: float, noise: torch.Tensor, scene: int | None = None) -> np.ndarray:
        number, self.painted = self.painted, self.painted + 1
        picture = self.paint(valence, arousal, noise, scene)
        if self._accepted(picture):
            return picture
        self.repainted += 1
        for k in range(1, self.repaints + 1):
            draw = int(np.random.SeedSequence([self.seed, number, k]).generate_state(1)[0])
            fresh = torch.randn(noise.shape, generator=torch.Generator().manual_seed(draw))
            picture = self.paint(valence, arousal, slerp(noise, fresh.to(noise), min(1.0, k * self.step)), scene)
            if self._accepted(picture):
                return picture
        self.rejected += 1
        return picture


def interpolate(
    keys: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], u: float, method: str = INBETWEEN
) -> np.ndarray:
    """The picture at fraction ``u`` ∈ [0, 1] of the way from ``keys[1]`` to ``keys[2]`` (``keys[0]`` and
    ``keys[3]`` are their outer neighbours, used by ``"cubic"``), clipped to [0, 1]."""
    p0, p1, p2, p3 = keys
    if method == "hold":
        return p1
    if method == "linear":
        return (1 - u) * p1 + u * p2
    if method != "cubic":
        raise ValueError(f"unknown in-between method {method!r}; choose one of {', '.join(INBETWEENS)}")
    u2, u3 = u * u, u * u * u  # Catmull-Rom
    out = 0.5 * (2 * p1 + (p2 - p0) * u + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u2 + (3 * (p1 - p2) + p3 - p0) * u3)
    return np.clip(out, 0.0, 1.0)


def camera_box(
    t: float, side: int, zoom: float = ZOOM, period: float = CAMERA_PERIOD
) -> tuple[float, float, float, float]:
    """The crop ``(left, top, right, bottom)`` of a ``side``-pixel picture seen at time ``t``: the view
    narrows to ``1 / (1 + zoom)`` and back every ``period`` seconds while drifting within the picture."""
    phase = 2 * math.pi * t / period
    view = side / (1 + zoom * (1 - math.cos(phase)) / 2)
    margin = (side - view) / 2
    cx = side / 2 + margin * math.sin(0.7 * phase)
    cy = side / 2 + margin * math.sin(0.45 * phase + 1.0)
    return cx - view / 2, cy - view / 2, cx + view / 2, cy + view / 2


def film_frames(
    keyframes: Iterator[np.ndarray],
    times: np.ndarray,
    fps: int,
    n_frames: int,
    size: int = SIZE,
    *,
    inbetween: str = INBETWEEN,
    zoom: float = ZOOM,
) -> Iterator[np.ndarray]:
    """``n_frames`` ``(size, size, 3)`` uint8 frames from pictures painted at the keyframe ``times``
    (at least two, the last at or after the last frame).

    ``keyframes`` is consumed lazily (a keyframe is drawn when a frame first needs it) and at most
    four are kept."""
    keys: dict[int, np.ndarray] = {}
    last, loaded = len(times) - 1, 0
    for i in range(n_frames):
        t = i / fps
        k = min(int(np.searchsorted(times, t, side="right")) - 1, last - 1)
        while loaded <= min(k + 2, last):
            keys[loaded] = next(keyframes)
            loaded += 1
        for old in [j for j in keys if j < k - 1]:
            del keys[old]
        window = tuple(keys[min(max(j, 0), last)] for j in (k - 1, k, k + 1, k + 2))
        picture = interpolate(window, (t - times[k]) / (times[k + 1] - times[k]), inbetween)
        image = Image.fromarray(np.round(picture * 255).astype(np.uint8))
        box = camera_box(t, image.width, zoom) if zoom > 0 else None
        yield np.asarray(image.resize((size, size), Image.LANCZOS, box=box))


def render_film(
    paint: PaintFn,
    timeline: EmotionTimeline,
    out: str | os.PathLike,
    *,
    noise_shape: tuple[int, ...],
    audio: str | os.PathLike | None = None,
    start: float = 0.0,
    duration: float,
    fps: int = FPS,
    keyframe_interval: float = KEYFRAME_INTERVAL,
    size: int = SIZE,
    seed: int = 0,
    drift: float = DRIFT,
    inbetween: str = INBETWEEN,
    zoom: float = ZOOM,
    encoder_threads: int = ENCODER_THREADS,
    is_landscape: CheckFn | None = None,
    repaints: int = REPAINTS,
    scene_track: SceneTrackFn | None = None,
) -> Generator[tuple[float, float], None, Film]:
    """Write the film of ``timeline`` to ``out``: yields ``(seconds done, seconds in all)`` after every
    frame and returns the :class:`Film`.

    ``paint`` paints one keyframe; the soundtrack is ``audio`` from ``start`` for ``duration`` seconds;
    ``encoder_threads`` goes to :class:`~music2img.video.FilmWriter`. With ``is_landscape``, keyframes it
    rejects are painted again from nearby noise (:class:`RepaintingPainter`, ``repaints`` times). With
    ``scene_track``, each keyframe is painted over the scene it gives for the keyframes' emotions (and, with
    ``drift``, a new scene with each noise anchor).
    The file appears at ``out`` only when it is complete: an error, or closing the generator before
    the end, leaves no file there (and an earlier one untouched).
    """
    if inbetween not in INBETWEENS:
        raise ValueError(f"unknown in-between method {inbetween!r}; choose one of {', '.join(INBETWEENS)}")
    fps, zoom, drift = (
        check_range("fps", fps, *limits.FPS, integer=True),
        check_range("zoom", zoom, *limits.ZOOM),
        check_range("drift", drift, 0),
    )
    keyframe_interval = check_range("keyframe_interval", keyframe_interval, *limits.KEYFRAME_INTERVAL)
    times = keyframe_times(duration, keyframe_interval)
    valence, arousal = timeline(times)
    noise = keyframe_noise(times, noise_shape, seed, drift)
    if is_landscape is not None:
        paint = RepaintingPainter(paint, is_landscape, seed, repaints)
    anchors = (times // drift).astype(int) if drift > 0 else None
    scenes = list(scene_track(valence, arousal, segments=anchors)) if scene_track is not None else [None] * len(times)
    keyframes = (paint(float(v), float(a), z, s) for v, a, z, s in zip(valence, arousal, noise, scenes))
    n_frames = max(1, round(duration * fps))
    with atomic_path(out) as tmp, FilmWriter(tmp, fps, size, audio, start, duration, encoder_threads) as writer:
        for i, frame in enumerate(film_frames(keyframes, times, fps, n_frames, size, inbetween=inbetween, zoom=zoom)):
            writer.write(frame)
            yield (i + 1) / fps, n_frames / fps
    counts = (paint.repainted, paint.rejected) if isinstance(paint, RepaintingPainter) else (0, 0)
    return Film(Path(out), start, duration, int(fps), n_frames, len(times), timeline, *counts, scenes_shown(scenes))
