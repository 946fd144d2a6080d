"""``music2img film SONG --out film.mp4``: the song as a film whose landscape follows its emotion."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import film as film_lib
from ..assets import DIFFUSION_MODEL_DIR, MUSIC_MODEL_DIR
from ..errors import Music2ImgError
from ..limits import (
    ENCODER_THREADS,
    FPS,
    KEYFRAME_INTERVAL,
    SCHEDULER_MAX_STEPS,
    ZOOM,
    check_film_size,
    check_guidance,
    check_seed,
    check_steps,
    check_threads,
)
from ._files import report_error
from ._options import checked, ranged
from .generate import SCHEDULER_NAMES


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "film",
        help="turn a song into a film (MP4 with the song's audio) whose landscape follows its emotion",
        description="Turn a song into an MP4 film: landscapes painted along the song's emotion over time, "
        "moving smoothly between keyframes, with the song as the soundtrack.",
    )
    p.add_argument("song", type=Path, metavar="SONG", help="audio file (wav, flac, ogg, mp3, …)")
    p.add_argument("--out", type=Path, required=True, help="the MP4 file to write")
    p.add_argument(
        "--start", type=ranged(float, 0), default=0.0, help="film from this second of the song (default: %(default)s)"
    )
    p.add_argument("--duration", type=ranged(float, 0, above=True), help="film this many seconds (default: to the end)")
    p.add_argument(
        "--max-duration",
        type=ranged(float, 0, above=True),
        default=film_lib.MAX_DURATION,
        help="refuse films longer than this, seconds (default: %(default)g)",
    )
    p.add_argument(
        "--fps", type=ranged(int, *FPS), default=film_lib.FPS, help="frames per second (default: %(default)s)"
    )
    p.add_argument(
        "--keyframe-interval",
        type=ranged(float, *KEYFRAME_INTERVAL),
        default=film_lib.KEYFRAME_INTERVAL,
        metavar="SECONDS",
        help="seconds between painted keyframes (default: %(default)g)",
    )
    p.add_argument(
        "--size",
        type=checked(int, check_film_size),
        default=film_lib.SIZE,
        help="frame side in pixels, even (default: %(default)s)",
    )
    p.add_argument("--seed", type=checked(int, check_seed), default=0, help="seed of the scene (default: %(default)s)")
    p.add_argument(
        "--steps",
        type=ranged(int, 1, max(SCHEDULER_MAX_STEPS.values())),
        default=film_lib.STEPS,
        help="denoising steps per keyframe (default: %(default)s)",
    )
    p.add_argument(
        "--guidance",
        type=checked(float, check_guidance),
        default=film_lib.GUIDANCE_SCALE,
        help="classifier-free guidance scale (default: %(default)s)",
    )
    p.add_argument(
        "--scheduler", choices=SCHEDULER_NAMES, default=film_lib.SCHEDULER, help="sampler (default: %(default)s)"
    )
    p.add_argument(
        "--layout-strength",
        type=ranged(float, 0, 1, above=True),
        default=film_lib.LAYOUT_STRENGTH,
        metavar="S",
        help="share of a keyframe's steps painted over its scene's colour layout, when the model has layouts; "
        "1 paints from noise alone (default: %(default)g)",
    )
    p.add_argument(
        "--inbetween",
        choices=film_lib.INBETWEENS,
        default=film_lib.INBETWEEN,
        help="frames between keyframes (default: %(default)s)",
    )
    p.add_argument(
        "--drift",
        type=ranged(float, 0),
        default=film_lib.DRIFT,
        metavar="SECONDS",
        help="seconds over which the scene drifts to a new one; 0 keeps one scene (default: %(default)g)",
    )
    p.add_argument(
        "--zoom",
        type=ranged(float, *ZOOM),
        default=film_lib.ZOOM,
        help="camera zoom, 0 for a still camera (default: %(default)g)",
    )
    p.add_argument(
        "--model",
        default=str(DIFFUSION_MODEL_DIR),
        metavar="DIR_OR_REPO",
        help="diffusion pipeline folder or Hugging Face repo id (default: %(default)s)",
    )
    p.add_argument(
        "--music-model", type=Path, default=MUSIC_MODEL_DIR, help="music emotion model folder (default: %(default)s)"
    )
    p.add_argument(
        "--threads", type=checked(int, check_threads), help="torch threads for painting (default: torch's choice)"
    )
    p.add_argument(
        "--encoder-threads",
        type=ranged(int, *ENCODER_THREADS),
        default=film_lib.ENCODER_THREADS,
        help="H.264 encoder threads, 0 for libx264's choice (default: %(default)s)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..music_to_image import MusicToImage

    try:
        check_steps(args.steps, args.scheduler, name=f"--steps of {args.scheduler}")
    except Music2ImgError as exc:
        args.parser.error(str(exc))
    try:
        m2i = MusicToImage.load(args.music_model, args.model, num_threads=args.threads)
    except Music2ImgError as exc:
        return report_error(exc)
    bars: list = []

    def progress(done: float, total: float) -> None:
        if not bars:  # after the analysis, when the length is known
            bars.append(
                tqdm(
                    total=round(total, 1),
                    unit="s",
                    desc="film",
                    disable=args.quiet,
                    bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s of music [{elapsed}<{remaining}]",
                )
            )
        bars[0].update(done - bars[0].n)

    try:
        made = m2i.film(
            args.song,
            args.out,
            start=args.start,
            duration=args.duration,
            max_duration=args.max_duration,
            fps=args.fps,
            keyframe_interval=args.keyframe_interval,
            size=args.size,
            seed=args.seed,
            steps=args.steps,
            guidance_scale=args.guidance,
            scheduler=args.scheduler,
            layout_strength=args.layout_strength,
            inbetween=args.inbetween,
            drift=args.drift,
            zoom=args.zoom,
            encoder_threads=args.encoder_threads,
            progress=progress,
        )
    except (Music2ImgError, ValueError) as exc:
        return report_error(exc)
    finally:
        for bar in bars:
            bar.close()
    print(
        json.dumps(
            {
                "path": str(made.path),
                "song": str(args.song),
                "start": made.start,
                "duration": round(made.duration, 3),
                "fps": made.fps,
                "frames": made.frames,
                "keyframes": made.keyframes,
                "repainted": made.repainted,
                "rejected": made.rejected,
                "scenes": made.scenes,
                "seed": args.seed,
            }
        ),
        flush=True,
    )
    return 0
