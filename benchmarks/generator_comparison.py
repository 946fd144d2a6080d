"""Compare emotion-conditioned landscape generators — diffusion pipelines and the GAN baseline —
by the measures of ``benchmarks/diffusion_quality.py``: one table and one picture (every
generator's 5 × 5 valence/arousal grid, side by side), written into a comparison document.

    flock -s /tmp/cpu.lock nice -n 10 python benchmarks/generator_comparison.py \\
        --data ../shared/data/images/landscapes --labels assets/landscape_labels.csv \\
        --model "GAN 64 px, CPU 2 h=runs/gan64/pipeline" \\
        --model "diffusion 64 px, CPU 2 h=runs/diffusion64/pipeline" \\
        --model "diffusion 128 px, H100 24 min (shipped)=assets/diffusion" \\
        --doc docs/generator_comparison.md --cache work/comparison
    # then the same command under `flock -x /tmp/cpu.lock` (a quiet machine): everything but the
    # timing comes from the cache, and seconds per picture are measured undisturbed

Every generator paints the grid × ``--seeds`` seeds (seed ``s`` for every picture of seed ``s``;
diffusion: ``--scheduler``, ``--steps``, ``--guidance``; the GAN in one pass). Larger pictures are
box-downsampled to ``--size`` first, so that every generator is measured as a ``--size``-pixel one
(the shipped 128 × 128 model beside 64 × 64 ones). The measures are
:meth:`PhotoReference.measure <diffusion_quality.PhotoReference.measure>`'s against the training
photos — detail (Laplacian variance at 128 × 128, smaller pictures Lanczos-upscaled, ÷ the photos'),
Fréchet distances on the standardised image features and on 64 pixel principal components (with the floor
that as many random photos reach), emotion control (Spearman ρ of requested vs rated valence and
arousal over the first ``--control-seeds`` seeds), diversity across seeds (mode collapse shows
there), the median distance to the nearest training photo — and seconds per picture at the
generator's own size: one uncached 25-picture batch, ``--threads`` torch threads. The training
column is read from each model card.

Writes ``comparison.json`` and ``grids.png`` into ``--out`` (default: ``generator_comparison/``
beside the document) and replaces what lies between ``<!-- comparison:begin -->`` and
``<!-- comparison:end -->`` in ``--doc`` (created when missing) with the table, the picture and
the command line; ``--section NAME`` writes between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``
instead, so that one document keeps several comparisons, each with its own command.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from diffusion_quality import PhotoReference, add_measure_arguments, cached_photo_statistics, markdown

from music2img.diffusion.evaluation import (
    GRID,
    Generated,
    generate_grid,
    grid_points,
    is_diffusion,
    load_generator,
    resize,
    tile,
)
from music2img.diffusion.schedulers import make_scheduler
from music2img.files import atomic_path
from music2img.image.emotion_model import ImageEmotionModel
from music2img.image.labelled_folder import read_labels


def markers(section: str = "comparison") -> tuple[str, str]:
    """The comment lines between which ``section`` is written."""
    return f"<!-- {section}:begin -->", f"<!-- {section}:end -->"


BEGIN, END = markers()
COLUMNS = {  # report key → table header
    "resolution": "px",
    "training": "training",
    "parameters_m": "M params",
    "detail": "detail",
    "frechet_features": "FD features",
    "frechet_pixels": "FD pixels",
    "spearman_valence": "ρ valence",
    "spearman_arousal": "ρ arousal",
    "diversity": "diversity",
    "nearest_photo_median": "nearest photo",
    "seconds_per_picture": "s/picture",
}


def named_model(text: str) -> tuple[str, Path]:
    """``NAME=PATH`` (or a bare path, named by its folder)."""
    name, sep, path = text.rpartition("=")
    return (name if sep else Path(path).name), Path(path)


def training_summary(folder: Path) -> str:
    """Device, training minutes and images seen, from the model card (``?`` where it says nothing)."""
    card = folder / "MODEL_CARD.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    device = re.search(r"device: ([^;\n]+); training time ([\d.]+) min", text)
    seen = re.search(r"images seen: ([\d,]+)", text)
    if not device:
        return "?"
    images = f", {seen.group(1)} images" if seen else ""
    return f"{device.group(1).split(' (')[0]}, {float(device.group(2)):g} min{images}"


def seconds_per_picture(pipe, args) -> float:
    """Wall time of one uncached batch of the 25 grid pictures (seed 0), per picture."""
    points = grid_points()
    settings = (
        {
            "guidance_scale": args.guidance,
            "guidance_interval": tuple(args.guidance_interval),
            "num_inference_steps": args.steps,
        }
        if is_diffusion(pipe)
        else {}
    )
    start = time.perf_counter()
    pipe(
        [v for v, _ in points],
        [a for _, a in points],
        generator=[torch.Generator().manual_seed(0) for _ in points],
        output_type="np",
        **settings,
    )
    return (time.perf_counter() - start) / len(points)


def side_by_side(grids: list[Image.Image], names: list[str], gap: int = 12, title: int = 18) -> Image.Image:
    """The grids in a row on white, each under its name, with the axes' meaning below."""
    width = sum(g.width for g in grids) + gap * (len(grids) + 1)
    height = max(g.height for g in grids) + 2 * title + gap
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    x = gap
    for grid, name in zip(grids, names):
        draw.text((x, 3), name, fill="black")
        sheet.paste(grid, (x, title))
        x += grid.width + gap
    draw.text(
        (gap, height - title + 2),
        f"valence {GRID[0]:g} to {GRID[-1]:g} left to right, arousal "
        f"{GRID[0]:g} to {GRID[-1]:g} bottom to top; one seed for every picture",
        fill="black",
    )
    return sheet


def write_section(doc: Path, section: str, name: str = "comparison") -> None:
    """Put ``section`` between the markers ``name`` of ``doc`` (a new document gets a title and the markers)."""
    begin, end = markers(name)
    text = doc.read_text(encoding="utf-8") if doc.is_file() else f"# Generator comparison\n\n{begin}\n{end}\n"
    if begin not in text or end not in text:
        raise SystemExit(f"error: {doc} lacks the markers {begin} … {end}")
    head, rest = text.split(begin, 1)
    with atomic_path(doc) as tmp:
        Path(tmp).write_text(f"{head}{begin}\n{section}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model",
        action="append",
        type=named_model,
        required=True,
        metavar="NAME=PATH",
        help="a pipeline folder (diffusion or GAN), named for the table; repeat for every generator",
    )
    add_measure_arguments(p)
    p.add_argument(
        "--size", type=int, default=64, help="pictures are measured at this size (larger ones box-downsampled)"
    )
    p.add_argument("--doc", type=Path, required=True, help="Markdown document to write the comparison into")
    p.add_argument("--out", type=Path, help="folder for comparison.json and grids.png (default: beside --doc)")
    p.add_argument("--note", default="", help="a line put above the table (e.g. what kind of run this is)")
    p.add_argument(
        "--section", default="comparison", help="write between <!-- SECTION:begin --> and <!-- SECTION:end --> of --doc"
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.out or args.doc.parent / "generator_comparison"
    out.mkdir(parents=True, exist_ok=True)

    files, _ = read_labels(args.data, args.labels)
    reference = PhotoReference(
        cached_photo_statistics(files, args.cache), args.seeds * len(GRID) ** 2, args.seeds, np.random.default_rng(0)
    )
    rater = ImageEmotionModel.load(args.rater)
    report = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "model"},
        "photos": reference.report,
        "generators": {},
    }
    grids = []
    for name, folder in args.model:
        pipe = load_generator(folder)
        if is_diffusion(pipe):
            pipe.scheduler = make_scheduler(args.scheduler, pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        net = pipe.unet if is_diffusion(pipe) else pipe.gan
        native = generate_grid(
            pipe,
            grid_points(),
            range(args.seeds),
            steps=args.steps,
            guidance=args.guidance,
            guidance_interval=tuple(args.guidance_interval),
            cache=args.cache,
        )
        images = np.stack(
            [resize(seed, args.size) if native.images.shape[2] > args.size else seed for seed in native.images]
        )
        measures = reference.measure(
            Generated(images, native.points, native.seeds, float("nan")), rater, args.control_seeds
        )[0]
        report["generators"][name] = {
            "model": str(folder),
            "kind": "diffusion" if is_diffusion(pipe) else "GAN",
            **measures,
            "resolution": int(native.images.shape[2]),
            "training": training_summary(folder),
            "parameters_m": round(sum(t.numel() for t in net.parameters()) / 1e6, 2),
            "seconds_per_picture": float(f"{seconds_per_picture(pipe, args):.3g}"),
        }
        grids.append(tile(images[0], len(GRID), flip_rows=True))
        print(f"{name}: {json.dumps(report['generators'][name])}", flush=True)

    picture = side_by_side(grids, [name for name, _ in args.model])
    with atomic_path(out / "grids.png") as tmp:
        picture.save(tmp, format="PNG")
    with atomic_path(out / "comparison.json") as tmp:
        Path(tmp).write_text(json.dumps(report, indent=2) + "\n")
    rows = [[name] + [row[k] for k in COLUMNS] for name, row in report["generators"].items()]
    ph = reference.report
    rows.append(
        [
            "training photos",
            128,
            "",
            "",
            1,
            f"{ph['frechet_features_floor']:g} (floor)",
            f"{ph['frechet_pixels_floor']:g} (floor)",
            None,
            None,
            ph["diversity"],
            ph["nearest_photo_median"],
            None,
        ]
    )
    table = markdown(rows, ["generator", *COLUMNS.values()])
    command = "python benchmarks/generator_comparison.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    picture_path = os.path.relpath(out / "grids.png", args.doc.parent)
    start, end = args.guidance_interval
    section = "\n".join(
        [
            *([args.note, ""] if args.note else []),
            table,
            "",
            f"Measured at {args.size} × {args.size}; {args.seeds} seeds × 25 points "
            f"(emotion control over {args.control_seeds} seeds); diffusion: {args.scheduler} "
            f"{args.steps} steps, guidance {args.guidance:g} on {start:.0%}–{end:.0%} of them (first "
            f"draws, no landscape check); seconds per picture with {args.threads} "
            f"torch thread(s) at each generator's own size.",
            "",
            f"![grids]({picture_path})",
            "",
            "```",
            command,
            "```",
        ]
    )
    write_section(args.doc, section, args.section)
    print(table)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
