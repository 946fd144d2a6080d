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
import threading
from typing import Callable, Generator

import numpy as np
import torch
from PIL import Image

from . import film as film_lib
from .assets import DIFFUSION_MODEL_DIR, MUSIC_MODEL_DIR
from .diffusion.pipeline import EmotionLandscapePipeline, load_pipeline
from .diffusion.schedulers import make_scheduler
from .film import Film
from .music.audio import SAMPLE_RATE, load_audio
from .music.emotion_model import MusicEmotionModel, SongEmotion
from .music.timeline import emotion_timeline
from .va import QUADRANT_NAMES, check_va, quadrant

#: ``progress(step, total)``, called after every denoising step.
ProgressFn = Callable[[int, int], None]


class MusicToImage:
    """A :class:`MusicEmotionModel` and an :class:`EmotionLandscapePipeline`, loaded once and shared.

    Calls into the pipeline are serialised by a lock (the scheduler is stateful and swapped per
    request), so one instance can serve concurrent web requests. Audio analysis runs unlocked.

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
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        music_model: str | os.PathLike = MUSIC_MODEL_DIR,
        diffusion_model: str | os.PathLike = DIFFUSION_MODEL_DIR,
        *,
        device: str | torch.device | None = None,
        num_threads: int | None = None,
    ) -> "MusicToImage":
        """Load both models from folders (or a Hub repo id for the diffusion model).

        ``device`` defaults to CUDA when available, else CPU; ``num_threads`` sets torch's intra-op
        thread count (default: torch's own choice).
        Raises :class:`~music2img.errors.ModelFileError` when weights are missing.
        """
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls(MusicEmotionModel.load(music_model), load_pipeline(diffusion_model, device))

    @property
    def image_size(self) -> int:
        """Side in pixels of the images the pipeline paints."""
        return int(self.pipeline.unet.config.sample_size)

    def analyse(self, audio_path: str | os.PathLike) -> SongEmotion:
        """Valence and arousal of an audio file, overall and per window.

        Raises :class:`~music2img.errors.AudioError` for unreadable, silent, too short or too long audio.
        """
        return self.music_model.predict_file(audio_path)

    def _scheduler(self, name: str):
        if name not in self._schedulers:
            self._schedulers[name] = make_scheduler(name, self._scheduler_config)
        return self._schedulers[name]

    def _sample(self, valence, arousal, *, guidance_scale: float, steps: int, scheduler: str, **pipeline_kwargs):
        """Run the pipeline with sampler ``scheduler`` under the lock; returns its images."""
        with self._lock:
            self.pipeline.scheduler = self._scheduler(scheduler)
            return self.pipeline(valence, arousal, guidance_scale=float(guidance_scale),
                                 num_inference_steps=int(steps), **pipeline_kwargs).images

    def generate(
        self,
        valence: float,
        arousal: float,
        *,
        num_images: int = 1,
        guidance_scale: float = 3.0,
        steps: int = 25,
        scheduler: str = "dpm",
        seed: int = 0,
        size: int | None = None,
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
            One of ``"dpm"``, ``"ddim"``, ``"ddpm"``.
        seed : int
            Seed of the initial noise: the same arguments give the same images.
        size : int, optional
            Upscale (Lanczos) images smaller than this to ``size`` × ``size`` pixels for display.
        progress : callable, optional
            ``progress(step, total)`` after every denoising step.
        """
        valence, arousal = check_va(valence, arousal)
        if int(num_images) < 1 or int(steps) < 1:
            raise ValueError(f"num_images and steps must be at least 1, got {num_images} and {steps}")
        callback = None if progress is None else (lambda step, total, t: progress(step, total))
        images = self._sample(valence, arousal, num_images_per_prompt=int(num_images), guidance_scale=guidance_scale,
                              steps=steps, scheduler=scheduler, generator=torch.Generator().manual_seed(int(seed)),
                              output_type="pil", callback=callback)
        if size is not None:
            images = [im.resize((size, size), Image.LANCZOS) if max(im.size) < size else im for im in images]
        return images

    def paint(self, valence: float, arousal: float, noise: torch.Tensor, *, guidance_scale: float = film_lib.GUIDANCE_SCALE,
              steps: int = film_lib.STEPS, scheduler: str = film_lib.SCHEDULER) -> np.ndarray:
        """One picture, ``(size, size, 3)`` floats in [0, 1], from the initial ``noise`` ``(channels, size, size)``
        (deterministic samplers give the same picture for the same noise and emotion)."""
        valence, arousal = check_va(valence, arousal)
        return self._sample(valence, arousal, latents=noise[None], guidance_scale=guidance_scale, steps=steps,
                            scheduler=scheduler, output_type="np")[0]

    def music_to_image(self, audio_path: str | os.PathLike, **generate_kwargs) -> tuple[SongEmotion, list[Image.Image]]:
        """:meth:`analyse` a song, then :meth:`generate` at its overall valence and arousal."""
        song = self.analyse(audio_path)
        return song, self.generate(song.valence, song.arousal, **generate_kwargs)

    def storyboard(
        self, song: SongEmotion, *, sections: int = 4, seed: int = 0, progress: ProgressFn | None = None, **generate_kwargs
    ) -> list[tuple[Image.Image, str]]:
        """One image per section of a song: its windows split into at most ``sections`` contiguous
        groups, each painted at the group's mean valence and arousal with the same ``seed`` (so the
        pictures differ by emotion only). Returns ``(image, caption)`` pairs in time order;
        ``progress(step, total)`` counts the steps of all sections together."""
        groups = np.array_split(np.arange(len(song.windows)), min(sections, len(song.windows)))
        out = []
        for k, group in enumerate(groups):
            windows = [song.windows[i] for i in group]
            v = float(np.mean([w.valence for w in windows]))
            a = float(np.mean([w.arousal for w in windows]))
            sub = None if progress is None else (lambda i, n, k=k: progress(k * n + i, len(groups) * n))
            image = self.generate(v, a, num_images=1, seed=seed, progress=sub, **generate_kwargs)[0]
            out.append((image, f"{windows[0].start:.0f}–{windows[-1].end:.0f} s · {QUADRANT_NAMES[quadrant(v, a)]}"))
        return out

    def film(self, audio_path: str | os.PathLike, out: str | os.PathLike, *, progress: ProgressFn | None = None,
             **film_kwargs) -> Film:
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
            The keyframes' initial noise and sampler, as for :meth:`generate`.
        render_kwargs
            ``drift``, ``inbetween``, ``zoom``, ``encoder_threads`` of :func:`~music2img.film.render_film`.

        Raises :class:`~music2img.errors.AudioError` for unreadable, silent, too short or too long audio
        and :class:`~music2img.errors.OutputError` when the file cannot be written (a full disk).
        """
        if int(steps) < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        y = load_audio(audio_path, SAMPLE_RATE)
        start, duration = film_lib.film_span(len(y) / SAMPLE_RATE, start, duration, max_duration)
        first = round(start * SAMPLE_RATE)
        timeline = emotion_timeline(self.music_model, y[first:first + round(duration * SAMPLE_RATE)], SAMPLE_RATE)
        yield 0.0, duration
        unet = self.pipeline.unet.config
        paint = functools.partial(self.paint, guidance_scale=guidance_scale, steps=steps, scheduler=scheduler)
        return (yield from film_lib.render_film(
            paint, timeline, out, noise_shape=(unet.in_channels, unet.sample_size, unet.sample_size), audio=audio_path,
            start=start, duration=duration, fps=fps, keyframe_interval=keyframe_interval, size=size, seed=seed,
            **render_kwargs))
