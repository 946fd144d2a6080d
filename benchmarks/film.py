#!/usr/bin/env python
"""Films: how to fill the frames between keyframes, and what a film costs per second of music.

``inbetween`` (no timing; fine on a busy machine)
    Along an emotion path, a **reference** picture is painted every 0.5 s from the same initial
    noise (what painting every frame would show). Keyframes are the reference pictures every
    ``interval`` seconds; the frames between them are made by ``hold`` (a slideshow), ``linear``
    (a cross-fade) or ``cubic`` (Catmull-Rom) in-betweens at 24 fps. For each method × interval:
    the keyframe cost in seconds of painting per second of music (measured seconds per keyframe ÷
    interval; the baseline row paints all 24 frames of every second), the in-between error (mean
    absolute difference, 0–255, to the reference at the 0.5 s marks between keyframes), and the
    frame-to-frame change at 24 fps (median and largest mean absolute difference between
    consecutive frames, 0–255; a slideshow's largest is its cut). The camera's own contribution
    (``--zoom``) and cost per frame are measured on a still picture.
``checks`` (no timing)
    Keyframes the landscape check rejects, before and after :class:`~music2img.film.RepaintingPainter`
    paints them again from nearby noise: for ``--check-seeds`` scenes and both emotion paths, keyframes
    every 4 s over 32 s at the film's sampler settings (one noise per scene, as a film with no drift).
    Per path: keyframes rejected as first painted and after the repaints, the tries the repainted ones
    needed, and how far a repaint moved the picture (mean absolute difference, 0–255, to the rejected
    picture) against the change between neighbouring keyframes of the same film.
``scenes`` (seconds per keyframe are indicative; run it on a quiet machine to compare them)
    The keyframes of the example songs' films (``assets/examples``, one song per quadrant, or ``--songs``;
    keyframes every 4 s at the film's sampler settings, the landscape check's repaints on) for
    ``--check-seeds`` seeds, painted from noise alone and over the scenes
    :meth:`~music2img.diffusion.scene_layouts.SceneLayouts.track` gives along the song's emotion: per song
    and way, the scenes shown, the keyframes the pictures' scene model calls scenes, those still rejected after the
    repaints, the change between neighbouring keyframes (median and largest mean absolute difference,
    0–255; a change of scene is the largest) and seconds per keyframe (its repaints included); per way, how
    closely the keyframes follow the songs' emotion (Spearman ρ of the timeline's valence and arousal at each
    keyframe against the image emotion model's rating of it, over all songs); a keyframe sheet (``--out``;
    rows: song × way, seed 0).
``speed`` (timing: run it on a quiet machine)
    Whole films at the defaults of :mod:`music2img.film` (CLI and page) of songs made by repeating the
    example songs to ``--seconds`` each: wall and CPU seconds per second of music, split into
    analysis, keyframe painting and frames (in-betweens, upscaling, encoding, audio). The baseline
    row is the first song filmed with keyframes at the still pictures' sampler settings
    (DPM-Solver 25 steps).

Usage::

    python benchmarks/film.py inbetween [--seeds 3 4] [--path sweep]
    python benchmarks/film.py checks [--check-seeds 12]
    python benchmarks/film.py scenes [--check-seeds 2] [--guidance-lowpass 16] [--out docs/film_scenes.jpg]
    python benchmarks/film.py speed [--seconds 30 60 180] [--threads 2] [--encoder-threads 0]
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

from music2img import film as film_lib  # noqa: E402
from music2img.assets import DIFFUSION_MODEL_DIR, EXAMPLES_DIR, IMAGE_MODEL_DIR, MUSIC_MODEL_DIR  # noqa: E402
from music2img.diffusion.evaluation import emotion_control, tile  # noqa: E402
from music2img.image.emotion_model import ImageEmotionModel  # noqa: E402
from music2img.image.features import image_features  # noqa: E402
from music2img.image.scene_model import PICTURE_SCENE_MODEL_DIR, SceneModel  # noqa: E402
from music2img.image.scene_model import THRESHOLD as SCENE  # noqa: E402
from music2img.music.audio import SAMPLE_RATE, load_audio  # noqa: E402
from music2img.music.timeline import emotion_timeline  # noqa: E402
from music2img.music_to_image import MusicToImage  # noqa: E402

FPS = 24
#: Emotion paths (valence, arousal) from t = 0 to t = 1 (fraction of the stretch).
PATHS = {
    "sweep": ((7.5, 3.0), (2.5, 7.5)),  # calm-positive to tense-negative: as far as the plane goes
    "drift": ((5.5, 4.5), (4.0, 6.0)),  # the size of change a song's smoothed timeline makes
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def inbetween(m2i: MusicToImage, args: argparse.Namespace) -> None:
    (v0, a0), (v1, a1) = PATHS[args.path]
    grid = np.arange(0, args.seconds + 1e-9, 0.5)
    shape = (3, m2i.image_size, m2i.image_size)
    intervals = [i for i in (1.0, 2.0, 4.0, 8.0) if i <= args.seconds]
    rows: dict[tuple[str, float], list] = {}
    paint_seconds = []
    for seed in args.seeds:
        noise = next(film_lib.keyframe_noise(np.zeros(1), shape, seed, drift=0))
        reference = []
        for t in tqdm(grid, desc=f"reference pictures, seed {seed}"):
            u = t / args.seconds
            start = time.perf_counter()
            reference.append(m2i.paint(v0 + u * (v1 - v0), a0 + u * (a1 - a0), noise, steps=args.steps))
            paint_seconds.append(time.perf_counter() - start)
        reference = np.stack(reference)
        ref_u8 = np.round(reference * 255)
        # painting every frame: the reference's change per 0.5 s spread over 12 frames
        step = np.abs(np.diff(ref_u8, axis=0)).mean(axis=(1, 2, 3)) / (0.5 * FPS)
        rows.setdefault(("every frame", 1 / FPS), []).append((0.0, np.median(step), step.max()))
        n_frames = int(args.seconds * FPS)
        for method in film_lib.INBETWEENS:
            for interval in intervals:
                times = film_lib.keyframe_times(args.seconds, interval)
                keys = iter(reference[np.round(times / 0.5).astype(int).clip(0, len(grid) - 1)])
                frames = np.stack(
                    list(
                        film_lib.film_frames(keys, times, FPS, n_frames + 1, m2i.image_size, inbetween=method, zoom=0.0)
                    )
                ).astype(float)
                marks = [k for k, t in enumerate(grid) if t % interval > 1e-9 and t < args.seconds]
                error = np.mean([np.abs(frames[int(round(grid[k] * FPS))] - ref_u8[k]).mean() for k in marks])
                change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
                rows.setdefault((method, interval), []).append((error, np.median(change), change.max()))
    per_key = float(np.median(paint_seconds))
    print(
        f"\nemotion path '{args.path}': {PATHS[args.path][0]} → {PATHS[args.path][1]} over {args.seconds:g} s, "
        f"seeds {args.seeds}, {args.steps} DPM-Solver steps, guidance {film_lib.GUIDANCE_SCALE:g}; "
        f"{per_key:.2f} s per keyframe (median)"
    )
    print(
        f"{'in-between':>11} {'every s':>7} | {'paint s/s':>9} {'ratio':>6} | {'error vs ref':>12} | "
        f"{'change p50':>10} {'change max':>10}"
    )
    baseline = per_key * FPS
    for (method, interval), values in rows.items():
        error, p50, peak = np.mean(values, axis=0)
        cost = per_key / interval
        print(
            f"{method:>11} {interval:7.3g} | {cost:9.2f} {cost / baseline:6.3f} | {error:12.2f} | {p50:10.2f} "
            f"{peak:10.2f}"
        )

    still = Image.fromarray(np.round(reference[0] * 255).astype(np.uint8))
    for zoom in (0.0, args.zoom):
        frames, start = [], time.perf_counter()
        for i in range(FPS * 10):
            box = film_lib.camera_box(i / FPS, still.width, zoom) if zoom else None
            frames.append(np.asarray(still.resize((film_lib.SIZE, film_lib.SIZE), Image.LANCZOS, box=box), dtype=float))
        per_frame = (time.perf_counter() - start) / len(frames)
        change = [np.abs(b - a).mean() for a, b in zip(frames, frames[1:])]
        print(
            f"camera zoom {zoom:g}: change per frame p50 {np.median(change):.2f} max {np.max(change):.2f} "
            f"(0–255, {film_lib.SIZE} px); Lanczos upscale {per_frame * 1000:.1f} ms per frame"
        )


def checks(m2i: MusicToImage, args: argparse.Namespace) -> None:
    checker = m2i.pipeline.landscape_checker
    shape = (3, m2i.image_size, m2i.image_size)
    times = film_lib.keyframe_times(32.0, 4.0)
    print(
        f"keyframes every 4 s over 32 s ({len(times)} per film), {args.steps} DPM-Solver steps, guidance "
        f"{film_lib.GUIDANCE_SCALE:g}; repaints: {film_lib.REPAINTS} tries, noise moved {film_lib.REPAINT_STEP:g} "
        f"of the way to a fresh draw per try; layout strength {args.layout_strength:g}; seeds 0–{args.check_seeds - 1}"
    )
    print(
        f"{'path':>6} | {'keyframes':>9} {'rejected':>8} {'after':>5} | {'tries 1':>7} {'tries 2':>7} | "
        f"{'repaint change':>14} {'neighbour change':>16}"
    )
    for name, ((v0, a0), (v1, a1)) in PATHS.items():
        u = times / times[-1]
        valence, arousal = v0 + u * (v1 - v0), a0 + u * (a1 - a0)
        total = rejected = after = 0
        tries: list[int] = []
        moved: list[float] = []
        neighbour: list[float] = []
        for seed in tqdm(range(args.check_seeds), desc=name):
            pictures: list[np.ndarray] = []

            def paint(v, a, z, scene, pictures=pictures):
                pictures.append(m2i.paint(v, a, z, scene, steps=args.steps, layout_strength=args.layout_strength))
                return pictures[-1]

            painter = film_lib.RepaintingPainter(paint, checker.is_landscape, seed)
            keys = []
            track = [None] * len(times)
            if m2i.pipeline.layouts is not None and args.layout_strength < 1:
                track = m2i.pipeline.layouts.track(valence, arousal, seed, film_lib.SCENE_RADIUS)
            for v, a, z, scene in zip(valence, arousal, film_lib.keyframe_noise(times, shape, seed), track):
                first, failed = len(pictures), painter.rejected
                keys.append(painter(float(v), float(a), z, scene))
                if len(pictures) > first + 1:  # the first try was rejected
                    rejected += 1
                    moved.append(np.abs(keys[-1] - pictures[first]).mean() * 255)
                    if painter.rejected == failed:  # accepted at try len − 1
                        tries.append(len(pictures) - first - 1)
            total += len(keys)
            after += painter.rejected
            neighbour += [np.abs(b - a).mean() * 255 for a, b in zip(keys, keys[1:])]
        n1, n2 = tries.count(1), tries.count(2)
        print(
            f"{name:>6} | {total:9d} {rejected:8d} {after:5d} | {n1:7d} {n2:7d} | "
            f"{np.mean(moved) if moved else float('nan'):14.1f} {np.mean(neighbour):16.1f}"
        )


def scenes(m2i: MusicToImage, args: argparse.Namespace) -> None:
    checker, layouts = m2i.pipeline.landscape_checker, m2i.pipeline.layouts
    scene_model = SceneModel.load(PICTURE_SCENE_MODEL_DIR)
    rater = ImageEmotionModel.load(IMAGE_MODEL_DIR)
    if layouts is None:
        raise SystemExit(f"{args.model} has no scene layouts")
    shape = (3, m2i.image_size, m2i.image_size)
    ways = {"from noise": 1.0, "over scenes": film_lib.LAYOUT_STRENGTH}
    print(
        f"keyframes every {film_lib.KEYFRAME_INTERVAL:g} s, {film_lib.STEPS} {film_lib.SCHEDULER} steps, guidance "
        f"{args.guidance:g} (low-pass σ {args.guidance_lowpass:g}); over scenes: layout strength "
        f"{film_lib.LAYOUT_STRENGTH:g}, a scene kept while "
        f"the emotion stays within {film_lib.SCENE_RADIUS:g} of where it was chosen; seeds 0–{args.check_seeds - 1}"
    )
    print(
        f"{'song':>22} {'way':>11} | {'keys':>4} {'scenes':>6} {'scene model':>11} {'rejected':>8} | "
        f"{'change median':>13} {'largest':>7} | {'s/key':>5}"
    )
    sheet: list[list[np.ndarray]] = []
    followed: dict[str, tuple[list, list]] = {way: ([], []) for way in ways}
    for path in args.songs or sorted(EXAMPLES_DIR.glob("*.ogg")):
        y = load_audio(path, SAMPLE_RATE)
        times = film_lib.keyframe_times(len(y) / SAMPLE_RATE, film_lib.KEYFRAME_INTERVAL)
        valence, arousal = emotion_timeline(m2i.music_model, y, SAMPLE_RATE)(times)
        for way, strength in ways.items():
            keys, shown, rejected, seconds = [], 0, 0, 0.0
            change: list[float] = []
            for seed in range(args.check_seeds):
                track = [None] * len(times)
                if strength < 1:
                    track = layouts.track(valence, arousal, seed, film_lib.SCENE_RADIUS)
                painter = film_lib.RepaintingPainter(
                    functools.partial(
                        m2i.paint,
                        layout_strength=strength,
                        guidance_scale=args.guidance,
                        guidance_lowpass=args.guidance_lowpass,
                    ),
                    checker.is_landscape,
                    seed,
                )
                start = time.perf_counter()
                film = [
                    painter(float(v), float(a), z, scene)
                    for v, a, z, scene in zip(valence, arousal, film_lib.keyframe_noise(times, shape, seed), track)
                ]
                seconds += time.perf_counter() - start
                keys += film
                shown += film_lib.scenes_shown(track)
                rejected += painter.rejected
                change += [np.abs(b - a).mean() * 255 for a, b in zip(film, film[1:])]
                if seed == 0:
                    sheet.append(film)
            u8 = (np.stack(keys) * 255 + 0.5).astype(np.uint8)
            followed[way][0].extend(np.tile(np.stack([valence, arousal], 1), (args.check_seeds, 1)))
            followed[way][1].extend(rater.predict(list(u8)))
            share = (scene_model.predict_proba_features(np.stack([image_features(k) for k in u8])) >= SCENE).mean()
            print(
                f"{path.stem:>22} {way:>11} | {len(keys):4d} {shown:6d} {share:11.0%} {rejected:8d} | "
                f"{np.median(change):13.1f} {max(change):7.1f} | {seconds / len(keys):5.2f}"
            )
    for way, (requested, rated) in followed.items():
        rho = emotion_control(np.array(requested), np.array(rated))
        print(
            f"{way}: the keyframes follow the songs' emotion, Spearman ρ valence {rho['spearman_valence']:.2f}, "
            f"arousal {rho['spearman_arousal']:.2f} (image emotion model, {len(rated)} keyframes)"
        )
    if args.out:
        columns = max(len(row) for row in sheet)
        blank = np.ones_like(sheet[0][0])
        tile(np.stack([k for row in sheet for k in row + [blank] * (columns - len(row))]), columns).save(args.out)
        print(f"keyframes (rows: each song from noise, then over scenes; seed 0): {args.out}")


def song(seconds: float, folder: Path) -> Path:
    """The example songs one after another, repeated to ``seconds``, as a FLAC file."""
    pieces = [load_audio(p) for p in sorted(EXAMPLES_DIR.glob("*.ogg"))]
    y = np.concatenate(pieces)
    y = np.tile(y, -(-int(seconds * SAMPLE_RATE) // len(y)))[: int(seconds * SAMPLE_RATE)]
    path = folder / f"song_{seconds:g}s.flac"
    sf.write(path, y, SAMPLE_RATE)
    return path


def film_costs(m2i: MusicToImage, path: Path, out: Path, **kwargs) -> dict:
    """Wall and CPU seconds of one film, by phase."""
    painting = {"wall": 0.0, "cpu": 0.0, "n": 0}
    paint = m2i.paint

    def timed_paint(*a, **k):
        wall, cpu = time.perf_counter(), cpu_seconds()
        picture = paint(*a, **k)
        painting["wall"] += time.perf_counter() - wall
        painting["cpu"] += cpu_seconds() - cpu
        painting["n"] += 1
        return picture

    m2i.paint = timed_paint
    try:
        wall, cpu = time.perf_counter(), cpu_seconds()
        steps = m2i.film_steps(path, out, **kwargs)
        next(steps)
        analysis = time.perf_counter() - wall, cpu_seconds() - cpu
        while True:
            try:
                next(steps)
            except StopIteration as stop:
                made = stop.value
                break
        total = time.perf_counter() - wall, cpu_seconds() - cpu
    finally:
        del m2i.paint
    return {
        "duration": made.duration,
        "keyframes": painting["n"],
        "total": total,
        "analysis": analysis,
        "paint": (painting["wall"], painting["cpu"]),
        "frames": tuple(t - a - p for t, a, p in zip(total, analysis, (painting["wall"], painting["cpu"]))),
        "bytes": out.stat().st_size,
    }


def speed(m2i: MusicToImage, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        warm = song(8.0, folder)
        m2i.film(warm, folder / "warm.mp4", duration=4.0)  # numba compilation, first torch calls
        songs = [song(s, folder) for s in args.seconds]
        encoder = {"encoder_threads": args.encoder_threads}
        runs = [("baseline: 25-step keyframes", film_costs(m2i, songs[0], folder / "base.mp4", steps=25, **encoder))]
        runs += [
            (f"defaults, {s:g} s song", film_costs(m2i, p, folder / f"{s:g}.mp4", **encoder))
            for s, p in zip(args.seconds, songs)
        ]
    print(
        f"\nfilm defaults: {film_lib.FPS} fps, keyframe every {film_lib.KEYFRAME_INTERVAL:g} s, {film_lib.SIZE} px, "
        f"{film_lib.STEPS} {film_lib.SCHEDULER} steps, guidance {film_lib.GUIDANCE_SCALE:g}, "
        f"in-betweens {film_lib.INBETWEEN}; torch threads {torch.get_num_threads()}, encoder threads "
        f"{args.encoder_threads or 'auto'}"
    )
    print(
        f"{'run':>28} {'music s':>7} {'keys':>5} | {'wall s/s':>8} {'cpu s/s':>7} | {'analysis':>8} {'painting':>8} "
        f"{'frames':>7} (wall s/s) | {'MB':>5} | {'ratio':>5}"
    )
    base = runs[0][1]["total"][0] / runs[0][1]["duration"]
    for name, r in runs:
        d = r["duration"]
        wall = r["total"][0] / d
        print(
            f"{name:>28} {d:7.0f} {r['keyframes']:5d} | {wall:8.3f} {r['total'][1] / d:7.3f} | "
            f"{r['analysis'][0] / d:8.3f} {r['paint'][0] / d:8.3f} {r['frames'][0] / d:7.3f}            | "
            f"{r['bytes'] / 1e6:5.1f} | {wall / base:5.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("inbetween", "checks", "scenes", "speed"))
    p.add_argument("--music-model", type=Path, default=MUSIC_MODEL_DIR)
    p.add_argument("--model", default=str(DIFFUSION_MODEL_DIR), help="diffusion pipeline folder")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--encoder-threads", type=int, default=film_lib.ENCODER_THREADS, help="speed: H.264 encoder threads")
    p.add_argument("--seeds", type=int, nargs="+", default=[3, 4], help="inbetween: scenes (default 3 4)")
    p.add_argument("--path", choices=sorted(PATHS), default="sweep", help="inbetween: emotion path (default sweep)")
    p.add_argument(
        "--seconds",
        type=float,
        nargs="+",
        default=None,
        help="inbetween: length of the path (default 16); speed: song lengths (default 30 60 180)",
    )
    p.add_argument("--steps", type=int, default=film_lib.STEPS, help="inbetween: sampler steps of the pictures")
    p.add_argument("--zoom", type=float, default=film_lib.ZOOM, help="inbetween: camera zoom to measure")
    p.add_argument(
        "--check-seeds", type=int, default=None, help="checks: scenes per emotion path (default 12); scenes: seeds (2)"
    )
    p.add_argument("--out", type=Path, help="scenes: keyframe sheet to write (.jpg or .png)")
    p.add_argument("--songs", type=Path, nargs="+", help="scenes: songs to film (default: the example songs)")
    p.add_argument("--guidance", type=float, default=film_lib.GUIDANCE_SCALE, help="scenes: the keyframes' guidance")
    p.add_argument(
        "--guidance-lowpass",
        type=float,
        default=film_lib.GUIDANCE_LOWPASS,
        help="scenes: the keyframes' guidance low-pass σ in pixels (valences as the still pictures')",
    )
    p.add_argument(
        "--layout-strength",
        type=float,
        default=film_lib.LAYOUT_STRENGTH,
        help="checks: keyframes over the path's tracked scenes at this strength (1: from noise alone)",
    )
    args = p.parse_args(argv)
    m2i = MusicToImage.load(args.music_model, args.model, device="cpu", num_threads=args.threads)
    if args.what == "inbetween":
        args.seconds = (args.seconds or [16.0])[0]
        inbetween(m2i, args)
    elif args.what == "checks":
        args.check_seeds = args.check_seeds or 12
        checks(m2i, args)
    elif args.what == "scenes":
        args.check_seeds = args.check_seeds or 2
        scenes(m2i, args)
    else:
        args.seconds = args.seconds or [30.0, 60.0, 180.0]
        speed(m2i, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
