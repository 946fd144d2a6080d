"""Synthesised example clips, one per Russell quadrant (no recorded or copyrighted music).

Each generator is a pure function ``(seconds, sr, seed) -> float32 mono array`` in ``[-1, 1]``;
:func:`write_examples` renders them all to compressed audio files (OGG Vorbis by default)::

    python -m music2img.music.examples assets/examples
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from ..files import atomic_path

SR = 22050
_BLOCK = 1 << 16


def _hz(midi: float | np.ndarray) -> float | np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


def _osc(freq: float | np.ndarray, n: int, sr: int, harmonics: tuple[float, ...] = (1.0,)) -> np.ndarray:
    """An additive oscillator; ``freq`` is a constant or a per-sample frequency track (Hz)."""
    freq = np.broadcast_to(np.asarray(freq, dtype=float), (n,))
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return sum(a * np.sin(k * phase) for k, a in enumerate(harmonics, start=1))


def _notes(pattern: list[float], step_s: float, n: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample MIDI pitch cycling through ``pattern`` every ``step_s`` seconds, and time since onset."""
    t = np.arange(n) / sr
    idx = (t // step_s).astype(int)
    return np.asarray(pattern, dtype=float)[idx % len(pattern)], t - idx * step_s


def _drums(n: int, sr: int, bpm: float, rng: np.random.Generator, snare: bool = True) -> np.ndarray:
    """Kick on every beat, noise snare on beats 2 and 4, closed hi-hat on eighth notes."""
    out = np.zeros(n)
    beat = int(sr * 60.0 / bpm)
    k = np.arange(int(0.25 * sr))
    kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-k / (0.03 * sr))) / sr) * np.exp(-k / (0.08 * sr))
    sn = rng.standard_normal(k.size) * np.exp(-k / (0.05 * sr))
    hat = rng.standard_normal(int(0.04 * sr)) * np.exp(-np.arange(int(0.04 * sr)) / (0.008 * sr))
    hat = np.diff(hat, prepend=0.0)  # crude high-pass
    for i, start in enumerate(range(0, n, beat)):
        for hit, gain in ((kick, 0.9), (sn, 0.35 if snare and i % 2 == 1 else 0.0)):
            end = min(n, start + hit.size)
            out[start:end] += gain * hit[: end - start]
        for off in (start, start + beat // 2):
            end = min(n, off + hat.size)
            if off < n:
                out[off:end] += 0.25 * hat[: end - off]
    return out


def _finish(y: np.ndarray, sr: int, peak: float = 0.8) -> np.ndarray:
    fade = min(y.size // 4, int(0.05 * sr))
    ramp = np.linspace(0.0, 1.0, fade)
    y = y.copy()
    y[:fade] *= ramp
    y[y.size - fade:] *= ramp[::-1]
    return (peak * y / np.max(np.abs(y))).astype(np.float32)


def _shaker(n: int, sr: int, step_s: float, rng: np.random.Generator, decay: float = 30.0) -> np.ndarray:
    """A noise shaker hit every ``step_s`` seconds (broadband, like cymbals in a dense mix)."""
    since = (np.arange(n) / sr) % step_s
    return rng.standard_normal(n) * np.exp(-since * decay)


def bright_major(seconds: float = 10.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Happy / excited: 150 bpm major arpeggios in sixteenth notes over I–V–vi–IV, bass, drums, shaker."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    bpm = 150.0
    sixteenth = 60.0 / bpm / 4
    roots = (72, 79, 81, 77)  # C5 G5 A5 F5, one bar each
    arp = {"major": (0, 4, 7, 12, 16, 12, 7, 4) * 2, "minor": (0, 3, 7, 12, 15, 12, 7, 3) * 2}
    pattern = [r + i for r in roots for i in arp["minor" if r == 81 else "major"]]
    pitch, since = _notes(pattern, sixteenth, n, sr)
    lead = _osc(_hz(pitch), n, sr, (1.0, 0.5, 0.25, 0.12)) * np.exp(-since * 12.0)
    bass_pitch, _ = _notes([r - 36 for r in roots], 60.0 / bpm * 4, n, sr)
    bass = _osc(_hz(bass_pitch), n, sr, (1.0, 0.3))
    band = 0.5 * lead + 0.35 * bass + _drums(n, sr, bpm, rng)
    return _finish(0.8 * band / np.max(np.abs(band)) + 0.3 * _shaker(n, sr, sixteenth, rng), sr, peak=0.9)


def tense_dissonant(seconds: float = 10.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Angry / tense: 170 bpm chromatic minor-second stabs, tritone bass, distortion, loud drums."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    bpm = 170.0
    eighth = 60.0 / bpm / 2
    pitch, since = _notes([52, 53, 58, 52, 59, 53, 46, 58], eighth, n, sr)
    stab = sum(_osc(_hz(pitch + d), n, sr, (1.0, 0.7, 0.6, 0.5, 0.4)) for d in (0, 1, 6))
    stab = np.tanh(3.0 * stab * np.exp(-since * 6.0))
    bass_pitch, _ = _notes([28, 34], 60.0 / bpm * 2, n, sr)
    bass = np.tanh(2.0 * _osc(_hz(bass_pitch), n, sr, (1.0, 0.8, 0.6)))
    noise = 0.08 * rng.standard_normal(n)
    return _finish(0.45 * stab + 0.35 * bass + noise + 1.2 * _drums(n, sr, bpm, rng), sr, peak=0.9)


def dark_minor_drone(seconds: float = 10.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Sad / depressed: a low A-minor drone with a slow falling minor melody, no percussion."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * 0.1 * t) ** 2
    drone = sum(_osc(_hz(m), n, sr, (1.0, 0.4, 0.15)) for m in (33, 40, 45)) * swell
    pitch, since = _notes([69, 67, 65, 64, 62, 60, 57, 57], 1.25, n, sr)
    melody = _osc(_hz(pitch) * (1 + 0.003 * np.sin(2 * np.pi * 5 * t)), n, sr, (1.0, 0.2)) * np.minimum(since * 4, 1.0) * np.exp(-since * 1.2)
    air = np.convolve(rng.standard_normal(n), np.ones(64) / 64, mode="same")
    return _finish(0.35 * drone + 0.3 * melody + 0.05 * air, sr, peak=0.35)


def calm_major_pad(seconds: float = 10.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Calm / relaxed: soft slowly-swelling major-seventh pad chords with a gentle bell melody."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    chord_s = 2.5
    chords = ((60, 64, 67, 71), (65, 69, 72, 76), (62, 65, 69, 72), (67, 71, 74, 77))
    idx = (t // chord_s).astype(int) % len(chords)
    env = np.sin(np.pi * (t % chord_s) / chord_s) ** 2 * 0.7 + 0.3
    pad = sum(_osc(_hz(np.asarray([c[k] for c in chords])[idx] - 12), n, sr, (1.0, 0.15)) for k in range(4)) * env
    pitch, since = _notes([76, 79, 84, 83, 79, 76, 74, 72], 1.25, n, sr)
    bell = _osc(_hz(pitch), n, sr, (1.0, 0.0, 0.2)) * np.exp(-since * 2.5)
    breath = 0.01 * rng.standard_normal(n)
    return _finish(0.25 * pad + 0.3 * bell + breath, sr, peak=0.6)


#: File stem → generator, in quadrant order (Q1 happy, Q2 tense, Q3 sad, Q4 calm).
EXAMPLES: dict[str, Callable[..., np.ndarray]] = {
    "bright_major_150bpm": bright_major,
    "tense_dissonant_170bpm": tense_dissonant,
    "dark_minor_drone": dark_minor_drone,
    "calm_major_pad": calm_major_pad,
}


def write_examples(outdir: str | Path, seconds: float = 10.0, sr: int = SR, fmt: str = "ogg", seed: int = 0) -> list[Path]:
    """Render every clip in :data:`EXAMPLES` to ``outdir/<name>.<fmt>`` (atomically); return the paths."""
    import soundfile as sf

    outdir = Path(outdir)
    paths = []
    for name, make in EXAMPLES.items():
        path = outdir / f"{name}.{fmt}"
        y = make(seconds, sr, seed)
        with atomic_path(path) as tmp, sf.SoundFile(tmp, "w", sr, 1, format=fmt.upper()) as f:
            for start in range(0, y.size, _BLOCK):  # libsndfile 1.2's Vorbis encoder crashes on long single writes
                f.write(y[start:start + _BLOCK])
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m music2img.music.examples", description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path, help="folder to write the clips into")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10)")
    parser.add_argument("--sr", type=int, default=SR, help=f"sample rate (default {SR})")
    parser.add_argument("--format", default="ogg", choices=("ogg", "flac", "wav"), help="file format (default ogg)")
    args = parser.parse_args(argv)
    for path in write_examples(args.outdir, args.seconds, args.sr, args.format):
        print(f"{path}  {path.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
