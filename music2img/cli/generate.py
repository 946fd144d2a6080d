"""``music2img generate``: paint landscapes for a valence/arousal point or for a song."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..assets import DIFFUSION_MODEL_DIR
from ..diffusion import defaults
from ..diffusion.colour import TOE_MAX_LEVEL
from ..errors import Music2ImgError
from ..limits import IMAGES, REDRAWS, SCHEDULER_MAX_STEPS, check_guidance, check_seed, check_steps, check_threads
from ._files import report_error
from ._options import checked, ranged

#: The keys of music2img.diffusion.schedulers.SCHEDULERS (spelt out: importing it loads diffusers).
SCHEDULER_NAMES = ("ddpm", "ddim", "dpm", "dpm3", "unipc", "lcm")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="generate landscape images for an emotion or a song",
        description="Generate landscape images for a valence/arousal point (1–9) or for the emotion of an audio file.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--valence", type=float, help="valence on the 1–9 scale (with --arousal)")
    src.add_argument("--audio", type=Path, metavar="FILE", help="take valence and arousal from this song")
    p.add_argument("--arousal", type=float, help="arousal on the 1–9 scale (with --valence)")
    p.add_argument("--seed", type=checked(int, check_seed), default=0, help="random seed (default: %(default)s)")
    p.add_argument(
        "--steps",
        type=ranged(int, 1, max(SCHEDULER_MAX_STEPS.values())),
        help="denoising steps (default: 12 for unipc, 25 for dpm and dpm3, 50 for ddim, 1000 for ddpm, "
        "4 for lcm; at most 100, 1000 for ddpm)",
    )
    p.add_argument(
        "--guidance",
        type=checked(float, check_guidance),
        default=defaults.GUIDANCE_SCALE,
        help="classifier-free guidance scale (default: %(default)s)",
    )
    p.add_argument(
        "--guidance-interval",
        type=float,
        nargs=2,
        default=defaults.GUIDANCE_INTERVAL,
        metavar=("START", "END"),
        help="guide only this part of the steps, as fractions (default: %(default)s)",
    )
    p.add_argument(
        "--guidance-lowpass",
        type=ranged(float, 0, 128),
        default=defaults.GUIDANCE_LOWPASS,
        metavar="SIGMA",
        help="in pictures of valence below {1:g} (fully at {0:g} and below), guide only the low frequencies, a "
        "Gaussian blur of SIGMA pixels: the detail is the conditional prediction's; 0 guides all frequencies "
        "(default: %(default)g)".format(*defaults.GUIDANCE_LOWPASS_VALENCE),
    )
    p.add_argument(
        "--layout-strength",
        type=float,
        default=defaults.LAYOUT_STRENGTH,
        metavar="S",
        help="share of the steps painted over a scene photo's colour layout, when the model has layouts; "
        "1 paints from noise alone (default: %(default).3g)",
    )
    p.add_argument(
        "--sad-layout-strength",
        type=ranged(float, 0, 1),
        default=defaults.SAD_LAYOUT_STRENGTH or 0.0,
        metavar="S",
        help="the layout strength of pictures of valence {:g} and below, blended to --layout-strength by {:g}; "
        "0 paints every picture at --layout-strength (default: %(default).3g)".format(*defaults.SAD_VALENCE),
    )
    p.add_argument(
        "--colour-ceiling",
        type=ranged(float, 0, 100),
        default=defaults.COLOUR_CEILING or 0.0,
        metavar="K",
        help="desaturate a picture painted over a layout to K times the colourfulness of the photos' layouts near "
        "its emotion where it is more colourful; 0 leaves the colour as painted (default: %(default)g)",
    )
    p.add_argument(
        "--black-point-drop",
        type=ranged(float, 0, 1),
        default=defaults.BLACK_POINT_DROP or 0.0,
        metavar="D",
        help="lower the black point of a picture painted over a layout (the 1st percentile of its darkest channel, "
        "0-1) by D, stretching its levels; 0 leaves the tone as painted (default: %(default)g)",
    )
    p.add_argument(
        "--shadow-toe",
        type=ranged(float, 0, 100),
        default=defaults.SHADOW_TOE or 0.0,
        metavar="S",
        help="make the darkest pixels of a picture painted over a layout black, S times the share of the layout's "
        f"photo's pixels with a channel at 0, up to a level of {TOE_MAX_LEVEL:g}; 0 leaves the shadows as they "
        "are (default: %(default)g)",
    )
    p.add_argument(
        "--max-redraws",
        type=ranged(int, *REDRAWS),
        default=defaults.MAX_REDRAWS,
        metavar="N",
        help="times a picture the landscape or scene check rejects is painted again from new noise; 0 keeps the "
        "first draws (default: %(default)s)",
    )
    p.add_argument(
        "--scheduler",
        choices=SCHEDULER_NAMES,
        help=f"sampler (default: {defaults.SCHEDULER}; lcm, the "
        "only one, for a consistency-distilled student from train/distill.py)",
    )
    p.add_argument("--threads", type=checked(int, check_threads), help="torch threads (default: one per core)")
    p.add_argument(
        "--num-images",
        type=ranged(int, *IMAGES),
        default=1,
        metavar="K",
        help="images to generate (default: %(default)s)",
    )
    p.add_argument(
        "--size",
        type=int,
        choices=defaults.SIZES,
        default=defaults.SIZE,
        help="side of the pictures in pixels; the model paints 128 (default: %(default)s)",
    )
    p.add_argument(
        "--upscaler",
        metavar="NAME",
        help="how pictures are enlarged: lanczos, or the model's upscaler "
        "network by name (default: the network if the model has one, else lanczos)",
    )
    p.add_argument(
        "--model",
        default=str(DIFFUSION_MODEL_DIR),
        metavar="DIR_OR_REPO",
        help="pipeline folder or Hugging Face repo id (default: %(default)s)",
    )
    p.add_argument("--music-model", type=Path, help="music emotion model folder for --audio (default: the shipped one)")
    p.add_argument("--out", type=Path, required=True, help="output folder, or a .png file when --num-images is 1")
    p.set_defaults(func=run, parser=p)


def _emotion(args: argparse.Namespace) -> tuple[float, float, dict]:
    """(valence, arousal, extra JSON fields) from the flags or from the song."""
    if args.audio is None:
        return args.valence, args.arousal, {}
    from ..music.emotion_model import MusicEmotionModel

    model = MusicEmotionModel.load(args.music_model) if args.music_model else MusicEmotionModel.load()
    song = model.predict_file(args.audio)
    return song.valence, song.arousal, {"audio": str(args.audio), "quadrant": song.quadrant}


def _paths(out: Path, k: int) -> list[Path]:
    if out.suffix.lower() == ".png":
        if k != 1:
            raise ValueError(f"--out {out} is a file: use a folder for --num-images {k}")
        return [out]
    return [out / f"landscape_{i:02d}.png" for i in range(k)]


def run(args: argparse.Namespace) -> int:
    if args.valence is not None and args.arousal is None:
        args.parser.error("--valence needs --arousal")
    if args.audio is not None and args.arousal is not None:
        args.parser.error("--arousal goes with --valence, not with --audio")
    start, end = args.guidance_interval
    if not 0 <= start <= end <= 1:
        args.parser.error(f"--guidance-interval needs 0 ≤ START ≤ END ≤ 1, got {start:g} {end:g}")
    if not 0 < args.layout_strength <= 1:
        args.parser.error(f"--layout-strength needs 0 < S ≤ 1, got {args.layout_strength:g}")
    try:
        paths = _paths(args.out, args.num_images)
    except ValueError as exc:
        args.parser.error(str(exc))
    try:
        if args.steps is not None:
            scheduler = args.scheduler or defaults.SCHEDULER
            check_steps(args.steps, scheduler, name=f"--steps of {scheduler}")
    except Music2ImgError as exc:
        args.parser.error(str(exc))

    import torch

    from ..diffusion.pipeline import check_va_lists, load_pipeline
    from ..diffusion.schedulers import DEFAULT_STEPS, default_scheduler, make_scheduler
    from ..files import atomic_path
    from ..threads import configure_threads

    configure_threads(args.threads)
    try:
        valence, arousal, extra = _emotion(args)
        check_va_lists(valence, arousal)
        pipe = load_pipeline(args.model)
    except Music2ImgError as exc:
        return report_error(exc)
    upscalers = ["lanczos"] + ([pipe.upscaler.config.name] if pipe.upscaler is not None else [])
    upscaler = args.upscaler or upscalers[-1]
    if upscaler not in upscalers:
        return report_error(ValueError(f"--upscaler {upscaler}: this model offers {' or '.join(upscalers)}"))
    args.scheduler = args.scheduler or default_scheduler(pipe.scheduler.config)
    try:
        pipe.scheduler = make_scheduler(args.scheduler, pipe.scheduler.config)
    except ValueError as exc:
        args.parser.error(str(exc))
    steps = DEFAULT_STEPS[args.scheduler] if args.steps is None else args.steps
    # the settings of pictures painted over a layout (0 on the command line: off)
    over_layout = {
        "sad_layout_strength": args.sad_layout_strength or None,
        "colour_ceiling": args.colour_ceiling or None,
        "black_point_drop": args.black_point_drop or None,
        "shadow_toe": args.shadow_toe or None,
    }
    out = pipe(
        valence,
        arousal,
        num_images_per_prompt=args.num_images,
        guidance_scale=args.guidance,
        guidance_interval=tuple(args.guidance_interval),
        guidance_lowpass=args.guidance_lowpass,
        num_inference_steps=steps,
        generator=torch.Generator().manual_seed(args.seed),
        size=args.size,
        use_upscaler=upscaler != "lanczos",
        layout_strength=args.layout_strength,
        **over_layout,
        max_redraws=args.max_redraws,
    )
    try:
        for image, path in zip(out.images, paths):
            with atomic_path(path) as tmp:
                image.save(tmp, format="PNG")
    except OSError as exc:
        return report_error(f"cannot write {path}: {exc.strerror or exc}")
    record = {
        "valence": round(valence, 3),
        "arousal": round(arousal, 3),
        **extra,
        "seed": args.seed,
        "scheduler": args.scheduler,
        "steps": steps,
        "guidance": args.guidance,
        "guidance_interval": list(args.guidance_interval),
        "guidance_lowpass": args.guidance_lowpass,
        "layout_strength": args.layout_strength if pipe.layouts is not None else None,
        **{k: v if pipe.layouts is not None else None for k, v in over_layout.items()},
        "max_redraws": args.max_redraws,
        "redraws": out.redraws,
        "size": args.size,
        "upscaler": upscaler,
        "model": str(args.model),
        "paths": [str(p) for p in paths],
    }
    print(json.dumps(record), flush=True)
    return 0
