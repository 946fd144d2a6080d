"""Writing films: H.264 video with a song's audio in an MP4 that browsers play, one frame at a time.

:class:`FilmWriter` encodes RGB frames with libx264 (yuv420p, ``+faststart`` so playback can begin
before the download ends) and muxes in a stretch of an audio file, decoded, resampled and encoded
as AAC as the frames arrive, so neither the frames nor the audio are ever held whole in memory.
Encoding and decoding go through PyAV, whose wheels carry their own FFmpeg libraries.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np

from .errors import AudioError, OutputError

#: H.264 quality (constant rate factor: lower is better and bigger) and encoder speed preset.
CRF = 20
PRESET = "veryfast"
AUDIO_RATE = 44100
AUDIO_BITRATE = 160_000


def audio_frames(
    path: str | os.PathLike, start: float = 0.0, duration: float | None = None, rate: int = AUDIO_RATE
) -> Iterator[av.AudioFrame]:
    """The audio of ``path`` from ``start`` for ``duration`` seconds (to the end if ``None``) as
    stereo float frames at ``rate`` Hz, cut to the sample, with ``pts`` counted in samples from 0.

    Raises :class:`~music2img.errors.AudioError` when the file has no decodable audio.
    """
    first = round(start * rate)
    last = None if duration is None else first + round(duration * rate)
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
    position = 0  # samples decoded and resampled so far, from the beginning of the file
    written = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(f"{os.path.basename(path)}: no audio stream to put in the film")
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    samples = out.to_ndarray()
                    lo, hi = (
                        max(first - position, 0),
                        samples.shape[1] if last is None else min(last - position, samples.shape[1]),
                    )
                    position += samples.shape[1]
                    if hi > lo:
                        yield _audio_frame(samples[:, lo:hi], rate, written)
                        written += hi - lo
                if last is not None and position >= last:
                    return
    except av.FFmpegError as exc:
        raise AudioError(f"{os.path.basename(path)}: cannot decode the audio for the film ({exc})") from None


def _audio_frame(samples: np.ndarray, rate: int, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32), format="fltp", layout="stereo")
    frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
    return frame


class FilmWriter:
    """An MP4 file being written: ``write`` RGB frames; the audio follows along.

    Parameters
    ----------
    path : path-like
        The file to write (always MP4, whatever its suffix, so a temporary name works).
    fps : int
        Frames per second.
    size : int
        Width and height of the frames, pixels (even).
    audio : path-like, optional
        Audio file whose stretch ``[start, start + duration)`` becomes the soundtrack.
    start, duration : float
        The stretch of ``audio``, seconds.
    threads : int
        Encoder threads (0: as many as libx264 likes).

    Use as a context manager; leaving it with an exception closes the file without finishing it
    (the caller removes it, e.g. through :func:`music2img.files.atomic_path`). Errors writing the
    file (a full disk) raise :class:`~music2img.errors.OutputError`.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: int,
        size: int,
        audio: str | os.PathLike | None = None,
        start: float = 0.0,
        duration: float | None = None,
        threads: int = 0,
    ):
        if int(fps) < 1 or int(size) < 2 or int(size) % 2:
            raise ValueError(f"fps must be at least 1 and size a positive even number, got {fps} and {size}")
        self.fps, self.size, self.frames = int(fps), int(size), 0
        self._path = str(path)
        with _output_errors(self._path):
            self._container = av.open(self._path, "w", format="mp4", options={"movflags": "+faststart"})
            options = {"crf": str(CRF), "preset": PRESET, "threads": str(int(threads))}
            self._video = self._container.add_stream("libx264", rate=self.fps, options=options)
            self._video.width = self._video.height = self.size
            self._video.pix_fmt = "yuv420p"
        self._audio_stream = None
        self._audio = None if audio is None else audio_frames(audio, start, duration)
        self._audio_time = 0.0
        if self._audio is not None:
            self._audio_stream = self._container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            self._audio_stream.bit_rate = AUDIO_BITRATE

    def write(self, frame: np.ndarray) -> None:
        """Append one ``(size, size, 3)`` uint8 RGB frame, and the audio up to its end."""
        if frame.shape != (self.size, self.size, 3) or frame.dtype != np.uint8:
            raise ValueError(f"expected a ({self.size}, {self.size}, 3) uint8 frame, got {frame.shape} {frame.dtype}")
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.pts = self.frames
        with _output_errors(self._path):
            self._container.mux(self._video.encode(video_frame))
            self.frames += 1
            self._feed_audio(self.frames / self.fps)

    def _feed_audio(self, until: float | None) -> None:
        """Encode audio frames until the soundtrack reaches ``until`` seconds (``None``: its end)."""
        while self._audio is not None and (until is None or self._audio_time < until):
            frame = next(self._audio, None)
            if frame is None:
                self._audio = None
                break
            self._container.mux(self._audio_stream.encode(frame))
            self._audio_time = (frame.pts + frame.samples) / frame.sample_rate

    def close(self) -> None:
        """Finish the file: the rest of the audio, the encoders' buffered packets and the index."""
        with _output_errors(self._path):
            self._feed_audio(None)
            self._container.mux(self._video.encode(None))
            if self._audio_stream is not None:
                self._container.mux(self._audio_stream.encode(None))
            self._container.close()

    def __enter__(self) -> FilmWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        if self._audio is not None:
            self._audio.close()
        with contextlib.suppress(av.FFmpegError, OSError):  # the file is abandoned; the first error matters
            self._container.close()


@contextlib.contextmanager
def _output_errors(path: str) -> Iterator[None]:
    """Turn an operating-system error while writing ``path`` (a full disk) into an :class:`OutputError`."""
    try:
        yield
    except OSError as exc:
        reason = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise OutputError(f"cannot write the film to {os.path.dirname(path) or '.'}: {reason}") from exc
