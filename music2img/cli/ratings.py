"""``music2img ratings report DB --out DIR`` and ``music2img ratings export DB OUT.csv``: what visitors answered."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..assets import DIFFUSION_MODEL_DIR, IMAGE_MODEL_DIR, MUSIC_MODEL_DIR
from ..errors import Music2ImgError
from ._files import report_error


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ratings",
        help="report on or export visitors' ratings (docs/ratings.md)",
        description="Summarise or export the answers the page's rating questions stored.",
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    report = sub.add_parser(
        "report",
        help="Markdown report with plots",
        description="Write DIR/report.md and its plots: people's ratings against the requested "
        "emotion, agreement between people, the image-emotion model against people, "
        "'fits the music' by the song's quadrant.",
    )
    report.add_argument("db", type=Path, metavar="DB", help="the ratings SQLite file (read only)")
    report.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for report.md and the plots")
    report.add_argument(
        "--no-models",
        action="store_true",
        help="skip the image-emotion model section (it paints every rated picture again)",
    )
    report.add_argument(
        "--diffusion-model",
        default=str(DIFFUSION_MODEL_DIR),
        metavar="DIR_OR_REPO",
        help="the diffusion pipeline that painted the pictures (default: %(default)s)",
    )
    report.add_argument(
        "--music-model", type=Path, default=MUSIC_MODEL_DIR, help="music emotion model (default: %(default)s)"
    )
    report.add_argument(
        "--image-model", type=Path, default=IMAGE_MODEL_DIR, help="image emotion model (default: %(default)s)"
    )
    report.add_argument("--boot", type=int, default=2000, help="bootstrap resamples (default: %(default)s)")
    report.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s)")
    report.add_argument("--threads", type=int, help="torch threads (default: one per core)")
    report.set_defaults(func=run_report)
    export = sub.add_parser("export", help="every answer as CSV", description="Write every answer, one CSV row each.")
    export.add_argument("db", type=Path, metavar="DB", help="the ratings SQLite file (read only)")
    export.add_argument("out", type=Path, metavar="OUT.csv", help="CSV file to write (replaced atomically)")
    export.set_defaults(func=run_export)


def run_report(args: argparse.Namespace) -> int:
    from ..ratings.report import write_report

    m2i = image_model = None
    try:
        if not args.no_models:
            from ..image.emotion_model import ImageEmotionModel
            from ..music_to_image import MusicToImage

            m2i = MusicToImage.load(args.music_model, args.diffusion_model, num_threads=args.threads)
            image_model = ImageEmotionModel.load(args.image_model)
        path = write_report(
            args.db,
            args.out,
            m2i=m2i,
            image_model=image_model,
            n_boot=args.boot,
            seed=args.seed,
            progress=lambda done, total: print(
                f"\rpainting rated pictures again: {done}/{total}", end="" if done < total else "\n", file=sys.stderr
            ),
        )
    except (Music2ImgError, FileNotFoundError) as err:
        return report_error(err)
    print(path)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ..ratings.report import export_csv

    try:
        n = export_csv(args.db, args.out)
    except (Music2ImgError, FileNotFoundError) as err:
        return report_error(err)
    print(f"{n} answers → {args.out}")
    return 0
