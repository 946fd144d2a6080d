"""``music2img image-emotion FILE [FILE ...] [--json] [--model DIR]``: valence and arousal of photos."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..assets import IMAGE_MODEL_DIR
from ..errors import Music2ImgError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("image-emotion", help="valence and arousal (1–9) a photo conveys",
                                   description="Predict the valence and arousal (1–9) each image conveys.")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="image files")
    parser.add_argument("--json", action="store_true", help="one JSON object per line: file, valence, arousal")
    parser.add_argument("--model", type=Path, default=IMAGE_MODEL_DIR, help="image emotion model folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..image_emotion import ImageEmotionModel

    try:
        model = ImageEmotionModel.load(args.model)
    except Music2ImgError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for path in args.files:
        try:
            valence, arousal = model.predict([path])[0]
        except Music2ImgError as exc:
            failed += 1
            print(f"error: {path}: {exc}", file=sys.stderr)
            if args.json:
                print(json.dumps({"file": str(path), "error": str(exc)}), flush=True)
            continue
        if args.json:
            print(json.dumps({"file": str(path), "valence": round(float(valence), 4),
                              "arousal": round(float(arousal), 4)}), flush=True)
        else:
            print(f"{path}: valence {valence:.2f}, arousal {arousal:.2f}", flush=True)
    return 1 if failed else 0
