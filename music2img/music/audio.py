"""Loading audio for analysis, and cutting it into analysis windows.

:func:`load_audio` returns float32 mono at :data:`SAMPLE_RATE`, and turns every way a file can be
unusable into an :class:`~music2img.errors.AudioError` with a readable message:

- missing, empty, unreadable or corrupt file;
- shorter than :data:`MIN_DURATION` (3 s: too little music to judge);
- longer than :data:`MAX_DURATION` (20 minutes: refused before decoding, so a huge upload cannot
  tie up the machine; songs up to that length are analysed in at most
  :data:`MAX_WINDOWS` windows, see :func:`frame_windows`);
- silent (RMS below :data:`SILENCE_DBFS`).

Files are decoded by soundfile (libsndfile: WAV, FLAC, OGG, MP3, …); other formats fall back to
librosa/audioread when a decoder for them is installed. Resampling uses soxr (high quality).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import AudioError

SAMPLE_RATE = 22050
#: Shortest accepted clip, seconds.
MIN_DURATION = 3.0
#: Longest accepted file, seconds (20 minutes); longer files raise AudioError.
MAX_DURATION = 20 * 60.0
#: A signal whose overall RMS is below this level (dB relative to full scale) counts as silence.
SILENCE_DBFS = -60.0
#: Default analysis window and hop, seconds (non-overlapping 30 s windows).
WINDOW = 30.0
HOP = 30.0
#: At most this many windows are analysed per song; longer songs get evenly spread windows.
MAX_WINDOWS = 6


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """``(samples, sr)`` with samples ``(n,)`` or ``(n, channels)``; raises AudioError."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        info = None
    if info is not None:
        if info.samplerate > 0 and info.frames / info.samplerate > MAX_DURATION:
            raise AudioError(
                f"{path.name}: {info.frames / info.samplerate / 60:.1f} minutes is too long "
                f"(at most {MAX_DURATION / 60:g} minutes)"
            )
        try:
            return sf.read(str(path), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
            pass
    return _decode_fallback(path)


def _decode_fallback(path: Path) -> tuple[np.ndarray, int]:
    """Decode with librosa (audioread) for formats libsndfile does not read."""
    import librosa

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y, sr = librosa.load(str(path), sr=None, mono=True, duration=MAX_DURATION + 1.0)
    except Exception as exc:  # audioread raises many unrelated types
        raise AudioError(
            f"{path.name}: cannot decode this file — unreadable, corrupt or an unsupported format "
            f"({type(exc).__name__})"
        ) from None
    return y, sr


def load_audio(path: str | os.PathLike, sr: int = SAMPLE_RATE, *, min_duration: float = MIN_DURATION) -> np.ndarray:
    """Read an audio file as float32 mono at ``sr`` Hz.

    Parameters
    ----------
    path : str or path-like
        Audio file (WAV, FLAC, OGG, MP3, …).
    sr : int
        Target sample rate.
    min_duration : float
        Shortest accepted duration in seconds.

    Raises
    ------
    AudioError
        Missing, empty, unreadable, too short, too long or silent audio.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    if path.stat().st_size == 0:
        raise AudioError(f"{path.name}: the file is empty")
    y, orig_sr = _decode(path)
    if y.ndim == 2:
        y = y.mean(axis=1)
    check_signal(y, orig_sr, min_duration=min_duration, name=path.name)
    if orig_sr != sr:
        y = resample(y, orig_sr, sr)
    return np.ascontiguousarray(y, dtype=np.float32)


def resample(y: np.ndarray, orig_sr: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a signal with soxr (high quality); a no-op when the rates match."""
    if orig_sr == sr:
        return y
    import librosa

    return librosa.resample(np.asarray(y, dtype=np.float32), orig_sr=orig_sr, target_sr=sr, res_type="soxr_hq")


def check_signal(y: np.ndarray, sr: int, *, min_duration: float = MIN_DURATION, name: str = "audio") -> None:
    """Raise :class:`AudioError` unless ``y`` is a usable mono signal: 1-D, finite, between
    ``min_duration`` and :data:`MAX_DURATION` seconds long and not silent."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise AudioError(f"{name}: expected mono audio (one dimension), got shape {y.shape}")
    if y.size == 0:
        raise AudioError(f"{name}: contains no audio")
    if not np.all(np.isfinite(y)):
        raise AudioError(f"{name}: the audio contains invalid (NaN or infinite) samples")
    duration = y.size / sr
    if duration < min_duration:
        raise AudioError(f"{name}: {duration:.1f} s is too short (at least {min_duration:g} s)")
    if duration > MAX_DURATION:
        raise AudioError(f"{name}: {duration / 60:.1f} minutes is too long (at most {MAX_DURATION / 60:g} minutes)")
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    if rms <= 10 ** (SILENCE_DBFS / 20):
        raise AudioError(f"{name}: the audio is silent (level {20 * np.log10(max(rms, 1e-12)):.0f} dBFS)")


def frame_windows(
    y: np.ndarray, sr: int = SAMPLE_RATE, window: float = WINDOW, hop: float = HOP, max_windows: int = MAX_WINDOWS
) -> list[tuple[float, float]]:
    """Start and end times (seconds) of the analysis windows of a signal.

    Windows of ``window`` seconds start every ``hop`` seconds; when they do not reach the end, one
    more window is aligned to the end so the whole signal is covered. A signal no longer than one
    window is a single window. When there would be more than ``max_windows``, ``max_windows``
    windows are spread evenly from start to end instead.
    """
    if window <= 0 or hop <= 0 or max_windows < 1:
        raise ValueError("window, hop and max_windows must be positive")
    duration = len(y) / sr
    if duration <= window:
        return [(0.0, duration)]
    starts = list(np.arange(0.0, duration - window + 1e-9, hop))
    if starts[-1] + window < duration - 1e-6:
        starts.append(duration - window)
    if len(starts) > max_windows:
        starts = list(np.linspace(0.0, duration - window, max_windows))
    return [(float(s), float(s) + window) for s in starts]
