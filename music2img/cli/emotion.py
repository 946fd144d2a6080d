"""``music2img emotion FILE [FILE ...]``: valence, arousal and quadrant of audio files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..assets import MUSIC_MODEL_DIR
from ..errors import Music2ImgError
from ..va import QUADRANT_NAMES


def register(subparsers) -> None:
    p = subparsers.add_parser("emotion", help="predict the emotion (valence, arousal, quadrant) of audio files",
                              description="Predict valence and arousal (1–9) and the Russell quadrant of audio files.")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="audio files (wav, flac, ogg, mp3, …)")
    p.add_argument("--json", action="store_true", help="print one JSON object per file")
    p.add_argument("--timeline", action="store_true", help="also print the values of each 30 s window")
    p.add_argument("--model", type=Path, default=MUSIC_MODEL_DIR, help="model folder (default: %(default)s)")
    p.set_defaults(func=run)


def _line(name: str, valence: float, arousal: float, quadrant: str | None = None) -> str:
    text = f"valence {valence:.2f}  arousal {arousal:.2f}"
    return f"{name}: {text}  {quadrant} ({QUADRANT_NAMES[quadrant]})" if quadrant else f"{name}: {text}"


def run(args: argparse.Namespace) -> int:
    from ..music_model import MusicEmotionModel

    try:
        model = MusicEmotionModel.load(args.model)
    except Music2ImgError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for path in args.files:
        try:
            song = model.predict_file(path)
        except Music2ImgError as exc:
            failed += 1
            print(f"error: {path}: {exc}", file=sys.stderr)
            if args.json:
                print(json.dumps({"file": str(path), "error": str(exc)}), flush=True)
            continue
        if args.json:
            record = {"file": str(path), "valence": round(song.valence, 2), "arousal": round(song.arousal, 2),
                      "quadrant": song.quadrant, "duration": round(song.duration, 2)}
            if args.timeline:
                record["windows"] = [{"start": round(w.start, 2), "end": round(w.end, 2), "valence": round(w.valence, 2),
                                      "arousal": round(w.arousal, 2)} for w in song.windows]
            print(json.dumps(record), flush=True)
            continue
        print(_line(str(path), song.valence, song.arousal, song.quadrant), flush=True)
        if args.timeline:
            for w in song.windows:
                print("  " + _line(f"{w.start:6.1f}–{w.end:6.1f} s", w.valence, w.arousal))
    return 1 if failed else 0
