"""``music2img emotion FILE [FILE ...]``: valence, arousal and quadrant of audio files."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..assets import MUSIC_MODEL_DIR
from ..va import QUADRANT_NAMES
from ._files import run_per_file


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "emotion",
        help="predict the emotion (valence, arousal, quadrant) of audio files",
        description="Predict valence and arousal (1–9) and the Russell quadrant of audio files.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="audio files (wav, flac, ogg, mp3, …)")
    p.add_argument("--json", action="store_true", help="print one JSON object per file")
    p.add_argument("--timeline", action="store_true", help="also print the values of each 30 s window")
    p.add_argument("--model", type=Path, default=MUSIC_MODEL_DIR, help="model folder (default: %(default)s)")
    p.set_defaults(func=run)


def _line(name: str, valence: float, arousal: float, quadrant: str | None = None) -> str:
    text = f"valence {valence:.2f}  arousal {arousal:.2f}"
    return f"{name}: {text}  {quadrant} ({QUADRANT_NAMES[quadrant]})" if quadrant else f"{name}: {text}"


def _record(path: Path, song, timeline: bool) -> dict:
    record = {
        "file": str(path),
        "valence": round(song.valence, 2),
        "arousal": round(song.arousal, 2),
        "quadrant": song.quadrant,
        "duration": round(song.duration, 2),
    }
    if timeline:
        record["windows"] = [
            {
                "start": round(w.start, 2),
                "end": round(w.end, 2),
                "valence": round(w.valence, 2),
                "arousal": round(w.arousal, 2),
            }
            for w in song.windows
        ]
    return record


def _text(path: Path, song, timeline: bool) -> str:
    lines = [_line(str(path), song.valence, song.arousal, song.quadrant)]
    if timeline:
        lines += ["  " + _line(f"{w.start:6.1f}–{w.end:6.1f} s", w.valence, w.arousal) for w in song.windows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..music.emotion_model import MusicEmotionModel

    return run_per_file(
        args.files,
        lambda: MusicEmotionModel.load(args.model),
        lambda model, path: model.predict_file(path),
        to_record=lambda path, song: _record(path, song, args.timeline),
        to_text=lambda path, song: _text(path, song, args.timeline),
        as_json=args.json,
    )
