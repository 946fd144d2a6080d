"""``music2img image-emotion FILE [FILE ...] [--json] [--model DIR]``: valence and arousal of photos."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..assets import IMAGE_MODEL_DIR
from ._files import run_per_file


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "image-emotion",
        help="valence and arousal (1–9) a photo conveys",
        description="Predict the valence and arousal (1–9) each image conveys.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="image files")
    parser.add_argument("--json", action="store_true", help="one JSON object per line: file, valence, arousal")
    parser.add_argument("--model", type=Path, default=IMAGE_MODEL_DIR, help="image emotion model folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..image.emotion_model import ImageEmotionModel

    return run_per_file(
        args.files,
        lambda: ImageEmotionModel.load(args.model),
        lambda model, path: model.predict([path])[0],
        to_record=lambda path, va: {
            "file": str(path),
            "valence": round(float(va[0]), 4),
            "arousal": round(float(va[1]), 4),
        },
        to_text=lambda path, va: f"{path}: valence {va[0]:.2f}, arousal {va[1]:.2f}",
        as_json=args.json,
    )
