#!/usr/bin/env python
"""Which emotion timeline (window, hop, smoothing) follows a song's changes of emotion best.

A film needs the song's emotion at every instant. The timeline is the music model's prediction on
windows of ``W`` seconds every ``hop`` seconds, smoothed by a Gaussian of ``σ`` seconds
(:func:`music2img.music.timeline.emotion_timeline`). Here it runs on medleys — pieces of different
emotion played one after another, each 8–32 s long — where the right answer at each instant is
known: the model's own prediction for the piece playing then, computed on that piece alone. Short
windows and no smoothing follow changes at once but are noisy within a piece; long windows and
strong smoothing are steady but late. The table gives, for every setting, the root-mean-square
error against that step function (valence and arousal pooled, 1–9 scale, sampled every 0.25 s),
the jitter within pieces (mean absolute change per second, away from the piece boundaries), and
the analysis time per second of music on a 2-minute medley. The baseline is the medley's mean
emotion held throughout (what one picture per song shows).

Pieces: 10–20 s excerpts of the four example songs (:mod:`music2img.music.examples`), and,
with ``--vgmidi``, VGMIDI piano phrases rendered with FluidSynth (not in the model's training data)::

    python benchmarks/film_timeline.py --vgmidi ../shared/data/music/vgmidi --medleys 16
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from music2img.assets import MUSIC_MODEL_DIR  # noqa: E402
from music2img.music.audio import SAMPLE_RATE, frame_windows, load_audio  # noqa: E402
from music2img.music.emotion_model import MusicEmotionModel  # noqa: E402
from music2img.music.examples import load_examples  # noqa: E402
from music2img.music.features import extract_features, extract_windows  # noqa: E402
from music2img.music.midi_render import Rendering, render_cached  # noqa: E402
from music2img.music.timeline import emotion_timeline, smooth_timeline  # noqa: E402

WINDOWS = (5.0, 10.0, 15.0, 20.0)
HOPS = (1.0, 2.0, 4.0)
SMOOTHINGS = (0.0, 2.0, 4.0, 8.0)
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"


def render_vgmidi(folder: Path, cache: Path, per_quadrant: int, seed: int) -> list[np.ndarray]:
    """``per_quadrant`` phrases of each quadrant rendered to audio with their own instruments (cached),
    silence trimmed."""
    import librosa

    if shutil.which("fluidsynth") is None or not Path(SOUNDFONT).is_file():
        sys.exit("--vgmidi needs the fluidsynth program and the FluidR3_GM SoundFont")
    with open(folder / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rng = np.random.default_rng(seed)
    chosen = []
    for q in ("Q1", "Q2", "Q3", "Q4"):
        of_q = [r for r in rows if r["quadrant"] == q]
        chosen += [of_q[i] for i in rng.permutation(len(of_q))[:per_quadrant]]
    rendering = Rendering(soundfont=SOUNDFONT, program=None)
    pieces = []
    for row in tqdm(chosen, desc="rendering VGMIDI"):
        audio = render_cached(folder / row["file"], rendering, cache)
        y, _ = librosa.effects.trim(load_audio(audio, SAMPLE_RATE, min_duration=0.5), top_db=40)
        if len(y) >= 4 * SAMPLE_RATE:
            pieces.append(y)
    return pieces


def make_medley(
    pieces: list[np.ndarray], rng: np.random.Generator, n: int = 5
) -> tuple[np.ndarray, list[float], np.ndarray]:
    """``n`` different pieces in a row, each looped or cut to 8–32 s: the signal, the pieces'
    boundaries (seconds) and their indices in ``pieces``."""
    order = rng.choice(len(pieces), size=n, replace=False)
    parts, bounds = [], [0.0]
    for i in order:
        length = int(rng.uniform(8, 32) * SAMPLE_RATE)
        y = pieces[i]
        parts.append(np.tile(y, -(-length // len(y)))[:length])
        bounds.append(bounds[-1] + length / SAMPLE_RATE)
    return np.concatenate(parts), bounds, order


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=MUSIC_MODEL_DIR, help="music emotion model folder")
    p.add_argument("--vgmidi", type=Path, help="VGMIDI folder (labels.csv, midi/): add its phrases to the pieces")
    p.add_argument("--per-quadrant", type=int, default=6, help="VGMIDI phrases per quadrant (default 6)")
    p.add_argument("--medleys", type=int, default=12, help="medleys of 5 pieces (default 12)")
    p.add_argument("--cache", type=Path, default=REPO / ".cache" / "film_timeline", help="rendered MIDI")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    model = MusicEmotionModel.load(args.model)
    rng = np.random.default_rng(args.seed)
    pieces = []
    for song in load_examples(sr=SAMPLE_RATE).values():  # three excerpts of each example song
        for _ in range(3):
            n = int(rng.uniform(10, 20) * SAMPLE_RATE)
            start = int(rng.integers(0, len(song) - n))
            pieces.append(song[start : start + n])
    n_synth = len(pieces)
    if args.vgmidi:
        pieces += render_vgmidi(args.vgmidi, args.cache / "vgmidi", args.per_quadrant, args.seed)
    print(f"{n_synth} example excerpts, {len(pieces) - n_synth} VGMIDI phrases, {args.medleys} medleys")
    targets = model.predict_features(np.stack([extract_features(y, SAMPLE_RATE) for y in pieces]))
    print(
        f"the pieces' own predictions: valence {targets[:, 0].min():.2f}–{targets[:, 0].max():.2f}, "
        f"arousal {targets[:, 1].min():.2f}–{targets[:, 1].max():.2f}"
    )

    configs = list(itertools.product(WINDOWS, HOPS, SMOOTHINGS))
    sq_err = {c: [] for c in configs}
    sq_err_const = []  # baseline: the song's mean emotion throughout (one picture per song)
    jitter = {c: [] for c in configs}
    for _ in tqdm(range(args.medleys), desc="medleys"):
        y, bounds, order = make_medley(pieces, rng)
        duration = len(y) / SAMPLE_RATE
        t = np.arange(0, duration, 0.25)
        piece_of_t = np.searchsorted(bounds, t, side="right") - 1
        truth = targets[order][piece_of_t]
        sq_err_const.append(((truth - truth.mean(axis=0)) ** 2).mean(axis=0))
        spans = {w: frame_windows(y, SAMPLE_RATE, window=w, hop=1.0, max_windows=len(y)) for w in WINDOWS}
        feats = extract_windows(y, SAMPLE_RATE, [s for w in WINDOWS for s in spans[w]])
        va_all = model.predict_features(feats)
        offsets = np.cumsum([0] + [len(spans[w]) for w in WINDOWS])
        inner = np.zeros(len(t), dtype=bool)
        for a, b in zip(bounds[:-1], bounds[1:]):
            inner |= (t > a + 4) & (t < b - 4)
        for w, hop, sigma in configs:
            k = WINDOWS.index(w)
            step = int(hop)
            tl = smooth_timeline(spans[w][::step], va_all[offsets[k] : offsets[k + 1]][::step], hop, sigma)
            pred = np.stack(tl(t), axis=1)
            sq_err[(w, hop, sigma)].append(((pred - truth) ** 2).mean(axis=0))
            change = np.abs(np.diff(pred, axis=0)).sum(axis=1) / 0.25
            jitter[(w, hop, sigma)].append(change[inner[1:] & inner[:-1]].mean())

    y, _, _ = make_medley(pieces, np.random.default_rng(args.seed))
    y = np.tile(y, -(-120 * SAMPLE_RATE // len(y)))[: 120 * SAMPLE_RATE]
    emotion_timeline(model, y[: 10 * SAMPLE_RATE], window=5, hop=5)  # warm-up: numba compilation
    cost = {}
    for w, hop in itertools.product(WINDOWS, HOPS):
        start = time.perf_counter()
        emotion_timeline(model, y, window=w, hop=hop, smoothing=0)
        cost[(w, hop)] = (time.perf_counter() - start) / 120

    print(
        f"\n{'window s':>8} {'hop s':>5} {'σ s':>4} | {'RMSE':>6} {'valence':>7} {'arousal':>7} | "
        f"{'jitter /s':>9} | {'analysis s/s':>12}"
    )
    rows = []
    for c in configs:
        mse = np.mean(sq_err[c], axis=0)
        rows.append((float(np.sqrt(mse.mean())), c, np.sqrt(mse), float(np.mean(jitter[c]))))
    best = min(r[0] for r in rows)
    for rmse, (w, hop, sigma), per_dim, jit in sorted(rows, key=lambda r: r[1]):
        mark = " ← best" if rmse == best else ""
        print(
            f"{w:8g} {hop:5g} {sigma:4g} | {rmse:6.3f} {per_dim[0]:7.3f} {per_dim[1]:7.3f} | {jit:9.3f} | "
            f"{cost[(w, hop)]:12.4f}{mark}"
        )
    const = np.sqrt(np.mean(sq_err_const, axis=0))
    print(
        f"{'baseline: the medley mean throughout':>25} | {np.sqrt(np.mean(const**2)):6.3f} {const[0]:7.3f} "
        f"{const[1]:7.3f} |"
    )
    print("\nRMSE against each piece's own prediction, ratio to the best setting:")
    for rmse, (w, hop, sigma), _, _ in sorted(rows)[:8]:
        print(f"  window {w:g} s, hop {hop:g} s, σ {sigma:g} s: {rmse:.3f} ({rmse / best:.3f}×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
