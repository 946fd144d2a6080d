"""Music → emotion → landscape: the music emotion model and the diffusion pipeline behind one object.

>>> from music2img.music_to_image import MusicToImage
>>> m2i = MusicToImage.load()                                  # the shipped models
>>> song, images = m2i.music_to_image("song.ogg", seed=0)
>>> song.valence, song.arousal, song.quadrant
>>> images[0].save("landscape.png")
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Generator

import numpy as np
import torch
from PIL import Image

from . import film as film_lib
from .assets import DIFFUSION_MODEL_DIR, MUSIC_MODEL_DIR
from .diffusion import defaults
from .diffusion.pipeline import EmotionLandscapePipeline, check_va_lists, load_pipeline
from .diffusion.schedulers import default_scheduler, make_scheduler, scheduler_choices
from .film import Film
from .limits import check_film_size, check_images, check_range, check_redraws, check_steps
from .music.audio import SAMPLE_RATE, load_audio
from .music.emotion_model import MusicEmotionModel, SongEmotion
from .music.timeline import emotion_timeline
from .threads import JobLock, configure_threads
from .va import QUADRANT_NAMES, check_va, quadrant

#: ``progress(step, total)``, called after every denoising step.
ProgressFn = Callable[[int, int], None]


class MusicToImage:
    """A :class:`MusicEmotionModel` and an :class:`EmotionLandscapePipeline`, loaded once and shared.

    One instance can serve concurrent web requests: song analysis and painting run one at a time,
    each with all the cores (see :mod:`music2img.threads`; the scheduler is also stateful and
    swapped per request).

    Parameters
    ----------
    music_model : MusicEmotionModel
        Predicts a song's valence and arousal.
    pipeline : EmotionLandscapePipeline
        Paints an image for a (valence, arousal) point.
    """

    def __init__(self, music_model: MusicEmotionModel, pipeline: EmotionLandscapePipeline):
        self.music_model = music_model
        self.pipeline = pipeline
        pipeline.set_progress_bar_config(disable=True)  # progress goes to the ``progress`` callback
        self._scheduler_config = pipeline.scheduler.config
        self._schedulers: dict[str, object] = {}
        self._lock = JobLock()  # one CPU-heavy job at a time

    @classmethod
    def load(
        cls,
        music_model: str | os.PathLike = MUSIC_MODEL_DIR,
        diffusion_model: str | os.PathLike = DIFFUSION_MODEL_DIR,
        *,
        device: str | torch.device | None = None,
        num_threads: int | None = None,
    ) -> MusicToImage:
        """Load both models from folders (or a Hub repo id for the diffusion model).

        ``device`` defaults to CUDA when available, else CPU; ``num_threads`` sets torch's intra-op
        thread count (default: one per core, :func:`~music2img.threads.configure_threads`).
        Raises :class:`~music2img.errors.ModelFileError` when weights are missing.
        """
        configure_threads(num_threads)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls(MusicEmotionModel.load(music_model), load_pipeline(diffusion_model, device))

    @property
    def jobs(self) -> JobLock:
        """The lock CPU-heavy jobs (analysis, painting, filming) take; background work watches it."""
        return self._lock

    @property
    def image_size(self) -> int:
        """Side in pixels of the images the pipeline paints."""
        return int(self.pipeline.unet.config.sample_size)

    @property
    def schedulers(self) -> list[str]:
        """The samplers the pipeline can paint with (``["lcm"]`` for a distilled student)."""
        return scheduler_choices(self._scheduler_config)

    @property
    def default_scheduler(self) -> str:
        """The sampler to offer first: the app's default for a teacher, ``"lcm"`` for a student."""
        return default_scheduler(self._scheduler_config)

    def analyse(self, audio_path: str | os.PathLike) -> SongEmotion:
        """Valence and arousal of an audio file, overall and per window.

        Raises :class:`~music2img.errors.AudioError` for unreadable, silent, too short or too long audio.
        """
        with self._lock:
            return self.music_model.predict_file(audio_path)

    def _scheduler(self, name: str):
        if name not in self._schedulers:
            self._schedulers[name] = make_scheduler(name, self._scheduler_config)
        return self._schedulers[name]

    def _sample(self, valence, arousal, *, guidance_scale: float, steps: int, scheduler: str, **pipeline_kwargs):
        """Run the pipeline with sampler ``scheduler`` under the lock; returns its images."""
        with self._lock:
            self.pipeline.scheduler = self._scheduler(scheduler)
            return self.pipeline(
                valence,
                arousal,
                guidance_scale=float(guidance_scale),
                num_inference_steps=int(steps),
                **pipeline_kwargs,
            ).images

    def generate(
        self,
        valence: float,
        arousal: float,
        *,
        num_images: int = 1,
        guidance_scale: float = defaults.GUIDANCE_SCALE,
        steps: int = defaults.STEPS,
        scheduler: str = defaults.SCHEDULER,
        guidance_interval: tuple[float, float] = defaults.GUIDANCE_INTERVAL,
        seed: int = 0,
        size: int | None = None,
        use_upscaler: bool = True,
        max_redraws: int = defaults.MAX_REDRAWS,
        progress: ProgressFn | None = None,
    ) -> list[Image.Image]:
        """Paint ``num_images`` landscapes for one point of the valence/arousal plane.

        Parameters
        ----------
        valence, arousal : float
            The emotion, on the 1–9 scale (:class:`~music2img.errors.EmotionRangeError` otherwise).
        num_images : int
            Images painted in one batch.
        guidance_scale : float
            Classifier-free guidance strength (1 = no guidance).
        steps : int
            Denoising steps.
        scheduler : str
            A key of :data:`~music2img.diffusion.schedulers.SCHEDULERS` (``"dpm"``, ``"unipc"``, …).
        guidance_interval : (float, float)
            The part of the steps that is guided, as fractions of the steps.
        seed : int
            Seed of the initial noise: the same arguments give the same images.
        size : int, optional
            Enlarge the images (painted at :attr:`image_size`) to ``size`` × ``size`` pixels, by the
            pipeline's upscaler network (:meth:`~music2img.diffusion.pipeline.EmotionLandscapePipeline.resize`).
        use_upscaler : bool
            Enlarge with the upscaler network when the pipeline has one, else with Lanczos.
        max_redraws : int
            Times a picture the pipeline's landscape or scene check rejects is painted again from new noise
            (0: the first draws; :data:`~music2img.limits.REDRAWS`).
        progress : callable, optional
            ``progress(step, total)`` after every denoising step.
        """
        num_images, max_redraws = check_images(num_images), check_redraws(max_redraws)
        generator = torch.Generator().manual_seed(int(seed))
        return self._paint(
            [valence],
            [arousal],
            generator,
            num_images=int(num_images),
            guidance_scale=guidance_scale,
            steps=steps,
            scheduler=scheduler,
            guidance_interval=guidance_interval,
            size=size,
            use_upscaler=use_upscaler,
            max_redraws=max_redraws,
            progress=progress,
        )

    def _paint(
        self,
        valence: list[float],
        arousal: list[float],
        generator,
        *,
        num_images: int = 1,
        guidance_scale: float,
        steps: int,
        scheduler: str,
        guidance_interval: tuple[float, float],
        size: int | None,
        use_upscaler: bool = True,
        max_redraws: int = defaults.MAX_REDRAWS,
        progress: ProgressFn | None,
    ) -> list[Image.Image]:
        """One batch through the pipeline (``num_images`` per emotion pair), at ``size``."""
        valence, arousal = check_va_lists(valence, arousal)
        steps = check_steps(steps, scheduler)
        callback = None if progress is None else (lambda step, total, t: progress(step, total))
        images = self._sample(
            valence,
            arousal,
            num_images_per_prompt=num_images,
            guidance_scale=guidance_scale,
            guidance_interval=tuple(guidance_interval),
            steps=steps,
            scheduler=scheduler,
            generator=generator,
            output_type="pil",
            callback=callback,
            size=size if size is not None and size > self.image_size else None,
            use_upscaler=use_upscaler,
            max_redraws=max_redraws,
        )
        return images

    def paint(
        self,
        valence: float,
        arousal: float,
        noise: torch.Tensor,
        scene: int | None = None,
        *,
        guidance_scale: float = film_lib.GUIDANCE_SCALE,
        steps: int = film_lib.STEPS,
        scheduler: str = film_lib.SCHEDULER,
        layout_strength: float = film_lib.LAYOUT_STRENGTH,
        guidance_lowpass: float = film_lib.GUIDANCE_LOWPASS,
    ) -> np.ndarray:
        """One picture, ``(size, size, 3)`` floats in [0, 1], from the initial ``noise`` ``(channels, size, size)``
        (deterministic samplers give the same picture for the same noise and emotion) added to the pipeline's
        scene layout number ``scene`` at ``layout_strength`` (``None``: from the noise alone). Films are made from
        these 128-px pictures: from 512-px keyframes by the upscaler their frames cost 0.59 instead of 0.12
        CPU seconds per second of music (``benchmarks/upscaler.py``), beyond a film's budget."""
        valence, arousal = check_va(valence, arousal)
        layouts = self.pipeline.layouts
        if scene is not None and layouts is None:
            raise ValueError("this pipeline has no scene layouts to paint over")
        return self._sample(
            valence,
            arousal,
            latents=noise[None],
            layout=None if scene is None else layouts.enlarge([scene], self.image_size),
            layout_strength=1.0 if scene is None else layout_strength,
            sad_layout_strength=None,  # a film's keyframes all start at one step
            black_point_drop=None,  # levels set per keyframe flatten the changes that carry the song's arousal
            shadow_toe=None,
            guidance_scale=guidance_scale,
            guidance_lowpass=guidance_lowpass,
            steps=steps,
            scheduler=scheduler,
            output_type="np",
        )[0]

    def music_to_image(self, audio_path: str | os.PathLike, **generate_kwargs) -> tuple[SongEmotion, list[Image.Image]]:
        """:meth:`analyse` a song, then :meth:`generate` at its overall valence and arousal."""
        song = self.analyse(audio_path)
        return song, self.generate(song.valence, song.arousal, **generate_kwargs)

    def storyboard(
        self,
        song: SongEmotion,
        *,
        sections: int = 4,
        seed: int = 0,
        guidance_scale: float = defaults.GUIDANCE_SCALE,
        steps: int = defaults.STEPS,
        scheduler: str = defaults.SCHEDULER,
        guidance_interval: tuple[float, float] = defaults.GUIDANCE_INTERVAL,
        size: int | None = None,
        progress: ProgressFn | None = None,
    ) -> list[tuple[Image.Image, str]]:
        """One image per section of a song: its windows split into at most ``sections`` contiguous
        groups, each painted at the group's mean valence and arousal from the same ``seed``'s noise
        (so the pictures differ by emotion only; each is the picture :meth:`generate` paints there),
        all in one batch. Returns ``(image, caption)`` pairs in time order."""
        groups = np.array_split(np.arange(len(song.windows)), min(sections, len(song.windows)))
        windows = [[song.windows[i] for i in group] for group in groups]
        vs = [float(np.mean([w.valence for w in ws])) for ws in windows]
        as_ = [float(np.mean([w.arousal for w in ws])) for ws in windows]
        generators = [torch.Generator().manual_seed(int(seed)) for _ in groups]
        images = self._paint(
            vs,
            as_,
            generators,
            guidance_scale=guidance_scale,
            steps=steps,
            scheduler=scheduler,
            guidance_interval=guidance_interval,
            size=size,
            progress=progress,
        )
        return [
            (image, f"{ws[0].start:.0f}–{ws[-1].end:.0f} s · {QUADRANT_NAMES[quadrant(v, a)]}")
            for image, ws, v, a in zip(images, windows, vs, as_)
        ]

    def film(
        self,
        audio_path: str | os.PathLike,
        out: str | os.PathLike,
        *,
        progress: ProgressFn | None = None,
        **film_kwargs,
    ) -> Film:
        """Turn a song into a film (MP4 with the song's audio) at ``out``; see :meth:`film_steps` for the
        arguments. ``progress(seconds done, seconds in all)`` is called after every frame."""
        steps = self.film_steps(audio_path, out, **film_kwargs)
        while True:
            try:
                done, total = next(steps)
            except StopIteration as stop:
                return stop.value
            if progress is not None:
                progress(done, total)

    def film_steps(
        self,
        audio_path: str | os.PathLike,
        out: str | os.PathLike,
        *,
        start: float = 0.0,
        duration: float | None = None,
        max_duration: float = film_lib.MAX_DURATION,
        fps: int = film_lib.FPS,
        keyframe_interval: float = film_lib.KEYFRAME_INTERVAL,
        size: int = film_lib.SIZE,
        seed: int = 0,
        steps: int = film_lib.STEPS,
        guidance_scale: float = film_lib.GUIDANCE_SCALE,
        scheduler: str = film_lib.SCHEDULER,
        layout_strength: float = film_lib.LAYOUT_STRENGTH,
        **render_kwargs,
    ) -> Generator[tuple[float, float], None, Film]:
        """Make the film of a song step by step: yields ``(seconds done, seconds in all)`` after every
        frame and returns the :class:`~music2img.film.Film`; closing it early leaves no file at ``out``.

        Parameters
        ----------
        audio_path : path-like
            The song; its audio from ``start`` for ``duration`` seconds (default: to the end) is analysed
            into an :func:`~music2img.music.timeline.emotion_timeline` and becomes the film's soundtrack.
        out : path-like
            The MP4 to write (H.264 yuv420p and AAC; replaced only when complete).
        max_duration : float
            Longest stretch accepted, seconds (:class:`~music2img.errors.AudioError` beyond).
        fps, keyframe_interval, size
            Frames per second, seconds between painted keyframes, frame side in pixels.
        seed, steps, guidance_scale, scheduler
            The keyframes' initial noise and sampler, as for :meth:`generate`. With the pipeline's scene
            layouts, ``seed`` also chooses the keyframes' scenes
            (:meth:`~music2img.diffusion.scene_layouts.SceneLayouts.track`).
        layout_strength : float
            Share of a keyframe's steps painted over its scene's layout (in (0, 1]); 1 paints from noise alone.
        render_kwargs
            ``drift``, ``inbetween``, ``zoom``, ``encoder_threads``, ``repaints`` of
            :func:`~music2img.film.render_film`.
            Keyframes the pipeline's landscape checker rejects are painted again from nearby noise.

        Raises :class:`~music2img.errors.AudioError` for unreadable, silent, too short or too long audio
        and :class:`~music2img.errors.OutputError` when the file cannot be written (a full disk).
        """
        steps, size = check_steps(steps, scheduler), check_film_size(size)
        layout_strength = check_range("layout_strength", layout_strength, 0, 1, above=True)
        y = load_audio(audio_path, SAMPLE_RATE)
        start, duration = film_lib.film_span(len(y) / SAMPLE_RATE, start, duration, max_duration)
        first = round(start * SAMPLE_RATE)
        with self._lock:
            timeline = emotion_timeline(self.music_model, y[first : first + round(duration * SAMPLE_RATE)], SAMPLE_RATE)
        yield 0.0, duration
        unet = self.pipeline.unet.config
        paint = functools.partial(
            self.paint, guidance_scale=guidance_scale, steps=steps, scheduler=scheduler, layout_strength=layout_strength
        )
        checker, layouts = self.pipeline.landscape_checker, self.pipeline.layouts
        track = None
        if layouts is not None and layout_strength < 1:
            track = functools.partial(layouts.track, seed=seed, radius=film_lib.SCENE_RADIUS)
        return (
            yield from film_lib.render_film(
                paint,
                timeline,
                out,
                noise_shape=(unet.in_channels, unet.sample_size, unet.sample_size),
                audio=audio_path,
                start=start,
                duration=duration,
                fps=fps,
                keyframe_interval=keyframe_interval,
                size=size,
                seed=seed,
                is_landscape=None if checker is None else checker.is_landscape,
                scene_track=track,
                **render_kwargs,
            )
        )
