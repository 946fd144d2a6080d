#!/usr/bin/env python
"""A saved music emotion model on the VGMIDI piano phrases: quadrant macro-F1, valence AUC and
arousal AUC against the listeners' signs.

    nice -n 10 python benchmarks/vgmidi_eval.py --model assets/music_emotion \\
        --vgmidi ../shared/data/music/vgmidi

Every phrase of ``labels.csv`` is rendered as training renders it
(:func:`music2img.music.datasets.load_vgmidi`: General MIDI piano of the first SoundFont, as
written, into ``--render-dir``), cut into the analysis windows a prediction uses, and its features
are extracted (cached in ``--cache-dir``, shared with ``train/music_emotion.py``). A phrase's
prediction is the mean over its windows; the metrics are those the training script reports for
VGMIDI (:func:`train.music_emotion.sign_metrics`): quadrant accuracy and macro-F1, ROC AUC of the
predicted valence (arousal) for telling the phrases heard as positive from those heard as
negative, and the predictions' standard deviation. Printed for the raw forest output and for the
model's own spread calibration (what the app uses), overall and per game; with ``--augment N``
also per augmented window (other SoundFont, instrument, tempo, velocity, level).

A model trained on VGMIDI has seen some games: restrict the evaluation to games it never saw with
``--games`` (names as in the ``game`` column). ``--json`` keeps every number.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from music2img.assets import MUSIC_MODEL_DIR  # noqa: E402
from music2img.files import atomic_path  # noqa: E402
from music2img.music.datasets import load_vgmidi  # noqa: E402
from music2img.music.emotion_model import MusicEmotionModel  # noqa: E402
from music2img.music.feature_cache import extract_many  # noqa: E402
from music2img.va import QUADRANTS, VA_MAX, VA_MIN, quadrants  # noqa: E402
from train.music_emotion import sign_metrics  # noqa: E402

DEFAULT_VGMIDI = REPO.parent / "shared" / "data" / "music" / "vgmidi"


def predictions(model: MusicEmotionModel, X: np.ndarray) -> dict[str, np.ndarray]:
    """``{"none": raw forest output, <calibration>: as the app predicts}``, both clipped to 1–9."""
    raw = np.asarray(model.regressor.predict(np.asarray(X, dtype=np.float32)), dtype=float).reshape(len(X), 2)
    out = {"none": np.clip(raw, VA_MIN, VA_MAX)}
    if model.calibration is not None:
        out[model.calibration.method] = model.predict_features(X)
    return out


def table_lines(results: dict[str, dict]) -> list[str]:
    head = "| calibration | phrases | games | macro-F1 | accuracy | valence AUC | arousal AUC | std v / a |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, m in results.items():
        lines.append(
            f"| {name} | {m['n']} | {m.get('groups', '–')} | {m['macro_f1']:.1%} | {m['accuracy']:.1%} | "
            f"{m['valence_auc']:.3f} | {m['arousal_auc']:.3f} | {m['valence_std']:.2f} / "
            f"{m['arousal_std']:.2f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", type=Path, default=MUSIC_MODEL_DIR, help="model folder (default: %(default)s)")
    p.add_argument(
        "--vgmidi",
        type=Path,
        default=DEFAULT_VGMIDI,
        help="VGMIDI folder with labels.csv and midi/ (default: %(default)s)",
    )
    p.add_argument(
        "--render-dir",
        type=Path,
        default=REPO / "work" / "vgmidi_renders",
        help="rendering cache, shared with train/music_emotion.py (default: %(default)s)",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=REPO / "work" / "music_cache",
        help="feature cache, shared with train/music_emotion.py (default: %(default)s)",
    )
    p.add_argument(
        "--soundfont",
        action="append",
        metavar="PATH",
        help="General MIDI SoundFont; repeatable, the first plays the reference piano "
        "(default: those installed, FluidR3 first)",
    )
    p.add_argument(
        "--augment",
        type=int,
        default=0,
        help="augmented renderings per phrase to score as well (default: %(default)s, plain rendering only)",
    )
    p.add_argument("--games", nargs="+", metavar="GAME", help="evaluate only the phrases of these games")
    p.add_argument("--seed", type=int, default=0, help="augmentation seed, as in training (default: %(default)s)")
    p.add_argument("--n-jobs", type=int, default=1, help="feature extraction processes (default: %(default)s)")
    p.add_argument("--json", type=Path, help="write every number here")
    args = p.parse_args(argv)

    model = MusicEmotionModel.load(args.model)
    trained_on = model.metadata.get("trained_on", [])
    table = load_vgmidi(args.vgmidi, args.render_dir, args.soundfont, augment=args.augment, seed=args.seed)
    if args.games:
        games = {f"vgmidi:{g}" for g in args.games}
        unknown = games - set(table["group"])
        if unknown:
            print(f"error: unknown game(s): {', '.join(sorted(g.split(':', 1)[1] for g in unknown))}", file=sys.stderr)
            return 2
        table = table[table["group"].isin(games)].reset_index(drop=True)
    extraction = extract_many(table["audio_path"], args.cache_dir, n_jobs=args.n_jobs, parts=model.parts)
    for path, err in extraction.errors:
        print(f"skipped {path}: {err}", file=sys.stderr)
    table = table[extraction.ok].reset_index(drop=True)
    preds = predictions(model, extraction.X[extraction.ok])

    overall = {name: sign_metrics(table, P) for name, P in preds.items()}
    shipped = list(preds)[-1]
    print(f"\nmodel {args.model} (trained on {', '.join(trained_on) or 'unknown'})")
    if any(str(s).startswith("vgmidi") for s in trained_on) and not args.games:
        print("warning: this model was trained on VGMIDI; phrases of the games it saw are included", file=sys.stderr)
    print("\nVGMIDI, reference piano rendering, one prediction per phrase (mean over its windows):\n")
    print("\n".join(table_lines(overall)))
    if args.augment:
        print("\nper augmented window:\n")
        print("\n".join(table_lines({n: m["augmented"] for n, m in overall.items() if "augmented" in m})))

    m = overall[shipped]
    print(f"\nconfusion ({shipped}; rows = listeners' quadrant, columns = predicted {', '.join(QUADRANTS)}):")
    for q, row in zip(QUADRANTS, m["confusion"]):
        print(f"  {q}: {row}")

    per_game = {}
    print(f"\nper game ({shipped}):\n")
    print("| game | phrases | accuracy | mean valence (+ / −) | mean arousal (+ / −) |\n|---|---|---|---|---|")
    pieces = table[table["rendering"] == "reference"]
    reference = (table["rendering"] == "reference").to_numpy()
    P = preds[shipped][reference]
    frame = pieces.assign(valence_pred=P[:, 0], arousal_pred=P[:, 1])
    per_piece = frame.groupby("piece").agg(
        game=("group", "first"), quadrant=("quadrant", "first"), v=("valence_pred", "mean"), a=("arousal_pred", "mean")
    )
    per_piece["pred"] = quadrants(per_piece["v"].to_numpy(), per_piece["a"].to_numpy())
    for game, g in per_piece.groupby("game"):
        vpos, apos = g["quadrant"].isin(["Q1", "Q4"]), g["quadrant"].isin(["Q1", "Q2"])
        fmt = lambda s: f"{s.mean():.2f}" if len(s) else "–"  # noqa: E731
        per_game[game.split(":", 1)[1]] = {"phrases": len(g), "accuracy": float((g["pred"] == g["quadrant"]).mean())}
        print(
            f"| {game.split(':', 1)[1]} | {len(g)} | {(g['pred'] == g['quadrant']).mean():.0%} | "
            f"{fmt(g['v'][vpos])} / {fmt(g['v'][~vpos])} | {fmt(g['a'][apos])} / {fmt(g['a'][~apos])} |"
        )

    if args.json:
        for part in overall.values():
            part.pop("predictions", None)
            part.pop("quadrants", None)
        out = {
            "model": str(args.model),
            "trained_on": trained_on,
            "games": args.games,
            "augment": args.augment,
            "results": overall,
            "per_game": per_game,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
