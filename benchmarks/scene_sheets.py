"""Scenes counted by eye, blind: a quarter's corner cells painted by several pipelines, shuffled together.

    python benchmarks/scene_sheets.py paint --model assets/diffusion --model work/candidate --first-seed 144 \\
        --seeds 24 --out work/blind
    python benchmarks/scene_sheets.py count --out work/blind --non-scenes work/blind/non_scenes.txt

``paint``: every pipeline paints the four Q3 cells (valence 2, 3.5 × arousal 2, 3.5) and the four Q2 cells
(valence 2, 3.5 × arousal 6.5, 8) at each seed (``--quarters Q1 Q4``: the happy ones', valence 6.5, 8), as
``music2img generate --seed s`` does at the model's own size
(:meth:`~music2img.music_to_image.MusicToImage.generate`); ``--max-redraws 7 15`` with one ``--model`` given twice
compares how often a rejected picture is painted again. A picture two pipelines share is shown once; all are
shuffled onto numbered contact sheets (``sheet_K.png``, 48 a sheet). ``key.json`` says which is which: label the
sheets before opening it. ``count``: a text file of the numbers of the pictures that are no scene → scenes per
pipeline and quarter, and, against the first pipeline, the pictures a scene with only one of the two (paired);
then per pipeline and quarter the mean redraws and the fallbacks (every draw rejected, the best rated returned),
with the scenes among them. Given several raters' files (``--non-scenes A.txt B.txt …``), it counts each rater's
labels, how often each pair agrees (share and Cohen's κ over the distinct pictures), and all of the above for the
majority's labels (a non-scene when more than half of the raters call it one).
``labels``: the labelled pictures cut from the sheets into ``--images`` (``pictures/<sample>_seed<s>_v<v>_a<a>.webp``)
and a label table for the scene check (``train/scene_checker.py``), rows of a table already there kept.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.diffusion import defaults
from music2img.diffusion.pipeline import load_pipeline
from music2img.diffusion.schedulers import make_scheduler
from music2img.errors import OptionError
from music2img.files import atomic_path
from music2img.limits import check_redraws

#: (valence, arousal) of each quarter's four corner cells: valence and arousal 2, 3.5 (low) or 6.5, 8 (high).
QUARTER_CELLS = {
    q: [
        (v, a)
        for v in ((2, 3.5) if q in ("Q2", "Q3") else (6.5, 8))
        for a in ((2, 3.5) if q in ("Q3", "Q4") else (6.5, 8))
    ]
    for q in ("Q3", "Q2", "Q1", "Q4")
}
#: The quarters painted unless told otherwise: the sad ones.
SAD = ("Q3", "Q2")


def cells_of(quarters) -> tuple[list[tuple[float, float]], list[str]]:
    """The cells of ``quarters`` in order, and the quarter of each."""
    return [c for q in quarters for c in QUARTER_CELLS[q]], [q for q in quarters for _ in QUARTER_CELLS[q]]


CELLS = cells_of(SAD)[0]
PER_SHEET, COLUMNS = 48, 8


def paint(
    model: str, seeds: range, cells: list[tuple[float, float]] = CELLS, max_redraws: int = defaults.MAX_REDRAWS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(cells, seeds, h, w, 3)`` uint8 pictures of one pipeline, each as ``music2img generate --seed s`` paints
    it at the model's own size; and ``(cells, seeds)`` how many times each was redrawn and whether the checks
    passed it (``False``: every draw was rejected and the best rated returned)."""
    pipe = load_pipeline(model)
    pipe.scheduler = make_scheduler(defaults.SCHEDULER, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    threshold = 0.0 if pipe.scene_checker is None else pipe.scene_checker.config.threshold
    redraws, passed = np.zeros((len(cells), len(seeds)), int), np.ones((len(cells), len(seeds)), bool)
    pictures = None
    for c, k in tqdm([(c, k) for k in range(len(seeds)) for c in range(len(cells))], desc=f"painting {model}"):
        out = pipe(
            *cells[c],
            guidance_scale=defaults.GUIDANCE_SCALE,
            guidance_interval=defaults.GUIDANCE_INTERVAL,
            num_inference_steps=defaults.STEPS,
            generator=torch.Generator().manual_seed(seeds[k]),
            max_redraws=max_redraws,
        )
        picture = np.asarray(out.images[0])
        if pictures is None:
            pictures = np.zeros((len(cells), len(seeds), *picture.shape), np.uint8)
        pictures[c, k], redraws[c, k] = picture, out.redraws[0]
        passed[c, k] = out.ratings is None or out.ratings[0] >= threshold
    return pictures, redraws, passed


def shuffled_items(pictures: list[np.ndarray], seed: int) -> tuple[list[np.ndarray], list[dict]]:
    """The distinct pictures (one per cell, seed and look) in a seeded random order, and for each the cell, the
    seed index and the pipelines that painted it."""
    items, key = [], []
    for c in range(pictures[0].shape[0]):
        for k in range(pictures[0].shape[1]):
            seen: list[tuple[np.ndarray, list[int]]] = []
            for p, model_pictures in enumerate(pictures):
                same = next((s for s in seen if np.array_equal(s[0], model_pictures[c, k])), None)
                if same is None:
                    seen.append((model_pictures[c, k], [p]))
                else:
                    same[1].append(p)
            for picture, models in seen:
                items.append(picture)
                key.append({"cell": c, "seed": k, "models": models})
    order = np.random.default_rng(seed).permutation(len(items))
    return [items[i] for i in order], [key[i] for i in order]


def write_sheets(items: list[np.ndarray], out: Path) -> int:
    """Numbered contact sheets of ``items`` in ``out``; returns how many."""
    h, w = items[0].shape[:2]
    sheets = (len(items) + PER_SHEET - 1) // PER_SHEET
    for s in range(sheets):
        sheet = Image.new("RGB", (COLUMNS * (w + 12), PER_SHEET // COLUMNS * (h + 22)), "white")
        draw = ImageDraw.Draw(sheet)
        for n, picture in enumerate(items[s * PER_SHEET : (s + 1) * PER_SHEET]):
            x, y = n % COLUMNS * (w + 12), n // COLUMNS * (h + 22)
            sheet.paste(Image.fromarray(picture), (x + 6, y + 18))
            draw.text((x + 6, y + 3), str(s * PER_SHEET + n), fill="black")
        with atomic_path(out / f"sheet_{s}.png") as tmp:
            sheet.save(tmp, format="PNG")
    return sheets


def count(key: dict, non_scenes: set[int]) -> dict:
    """Scenes per pipeline and quarter, and against the first pipeline the pictures a scene with one only; where
    ``key`` records the draws, per pipeline and quarter the mean redraws, the fallbacks (pictures every draw of
    which the checks rejected) and the scenes among them."""
    models, seeds, names = key["models"], key["seeds"], key.get("quarters", SAD)
    _, quarters = cells_of(names)
    scene = {}
    for number, item in enumerate(key["items"]):
        for p in item["models"]:
            scene[p, item["cell"], item["seed"]] = number not in non_scenes
    result = {"scenes": {}, "one_only": {}, "draws": {}}
    for p, model in enumerate(models):
        result["scenes"][model] = {
            q: sum(scene[p, c, k] for c in range(len(quarters)) if quarters[c] == q for k in range(seeds))
            for q in names
        }
        if "passed" in key:  # sheets painted since the draws were recorded
            draws = {}
            for q in names:
                at = [(c, k) for c in range(len(quarters)) if quarters[c] == q for k in range(seeds)]
                fallbacks = [(c, k) for c, k in at if not key["passed"][p][c][k]]
                draws[q] = {
                    "redraws": float(np.mean([key["redraws"][p][c][k] for c, k in at])),
                    "fallbacks": len(fallbacks),
                    "fallback_scenes": sum(scene[p, c, k] for c, k in fallbacks),
                }
            result["draws"][model] = draws
    for p, model in enumerate(models[1:], start=1):
        result["one_only"][model] = {
            q: [
                sum(
                    scene[b, c, k] and not scene[o, c, k]
                    for c in range(len(quarters))
                    if quarters[c] == q
                    for k in range(seeds)
                )  # fmt: skip
                for b, o in ((0, p), (p, 0))
            ]
            for q in names
        }
    return result


def agreement(a: set[int], b: set[int], n: int) -> tuple[float, float]:
    """Share of ``n`` pictures two raters label alike, given the numbers each calls no scene, and Cohen's κ."""
    observed = 1 - len(a ^ b) / n
    pa, pb = len(a) / n, len(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    return observed, (observed - expected) / (1 - expected) if expected < 1 else 1.0


def majority(raters: list[set[int]]) -> set[int]:
    """The pictures more than half of the raters call no scene."""
    return {n for n in set().union(*raters) if 2 * sum(n in r for r in raters) > len(raters)}


def print_count(key: dict, non_scenes: set[int], title: str, draws: bool = True) -> None:
    """Print :func:`count`'s scenes per pipeline and quarter and, with ``draws``, the rest."""
    result = count(key, non_scenes)
    n = key["seeds"] * 4
    print(f"{title}, seeds {key['first_seed']}–{key['first_seed'] + key['seeds'] - 1}, of {n} a quarter")
    for model, scenes in result["scenes"].items():
        print(f"  {model}: " + ", ".join(f"{q} {k} / {n}" for q, k in scenes.items()))
    if not draws:
        return
    for model, drawn in result["draws"].items():
        print(
            f"  {model}, redraws / fallbacks (of them scenes): "
            + ", ".join(f"{q} {d['redraws']:.2f} / {d['fallbacks']} ({d['fallback_scenes']})" for q, d in drawn.items())
        )
    for model, pairs in result["one_only"].items():
        print(
            f"  a scene with one only, {key['models'][0]} / {model}: "
            + ", ".join(f"{q} {a} / {b}" for q, (a, b) in pairs.items())
        )


def cut(out: Path, number: int) -> np.ndarray:
    """Picture ``number`` of the contact sheets in ``out`` (the inverse of :func:`write_sheets`)."""
    sheet = np.asarray(Image.open(out / f"sheet_{number // PER_SHEET}.png").convert("RGB"))
    side = sheet.shape[1] // COLUMNS - 12
    n = number % PER_SHEET
    x, y = n % COLUMNS * (side + 12) + 6, n // COLUMNS * (side + 22) + 18
    return sheet[y : y + side, x : x + side]


def label_table(out: Path, key: dict, non_scenes: set[int], images: Path, sample: str) -> pd.DataFrame:
    """Write the sheets' pictures under ``images/pictures``; their labels (path, scene, sample, seed, valence,
    arousal), one row per distinct picture."""
    cells, _ = cells_of(key.get("quarters", SAD))
    (images / "pictures").mkdir(parents=True, exist_ok=True)
    rows, seen = [], {}
    for number, item in enumerate(key["items"]):
        (v, a), seed = cells[item["cell"]], key["first_seed"] + item["seed"]
        stem = f"pictures/{sample}_seed{seed}_v{v:g}_a{a:g}"
        seen[stem] = seen.get(stem, 0) + 1
        path = f"{stem}{'' if seen[stem] == 1 else f'_{seen[stem]}'}.webp"
        with atomic_path(images / path) as tmp:
            Image.fromarray(cut(out, number)).save(tmp, format="WEBP")
        rows.append(
            {
                "path": path,
                "scene": int(number not in non_scenes),
                "sample": sample,
                "seed": seed,
                "valence": v,
                "arousal": a,
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("paint", "count", "labels"))
    p.add_argument("--model", action="append", help="paint: pipeline folder (repeatable; the first is the baseline)")
    p.add_argument("--first-seed", type=int, default=96)
    p.add_argument("--seeds", type=int, default=24)
    p.add_argument(
        "--quarters", nargs="+", choices=list(QUARTER_CELLS), default=list(SAD), help="paint: the quarters' cells"
    )
    p.add_argument(
        "--max-redraws",
        type=int,
        nargs="+",
        help="paint: each pipeline's redraws of a rejected picture, in --model order (one value: every pipeline's; "
        f"default: {defaults.MAX_REDRAWS})",
    )
    p.add_argument("--shuffle-seed", type=int, default=0, help="paint: seed of the sheets' order")
    p.add_argument("--out", type=Path, required=True, help="folder of the sheets and key.json")
    p.add_argument(
        "--non-scenes",
        type=Path,
        nargs="+",
        help="count, labels: text file of the numbers of the pictures that are no scene (count: one per rater)",
    )
    p.add_argument("--images", type=Path, help="labels: folder to write pictures/ into")
    p.add_argument("--table", type=Path, help="labels: label table to write (its other rows kept)")
    p.add_argument("--sample", default="blind", help="labels: the pictures' sample name")
    args = p.parse_args(argv)

    if args.what == "paint":
        if not args.model:
            p.error("paint needs at least one --model")
        redraws = args.max_redraws or [defaults.MAX_REDRAWS]
        if len(redraws) not in (1, len(args.model)):
            p.error(f"--max-redraws takes one value or one per --model ({len(args.model)})")
        redraws = redraws * len(args.model) if len(redraws) == 1 else redraws
        try:
            redraws = [check_redraws(r, "--max-redraws") for r in redraws]
        except OptionError as err:
            p.error(str(err))
        names = args.model if args.max_redraws is None else [f"{m} ({r} redraws)" for m, r in zip(args.model, redraws)]
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        cells, _ = cells_of(args.quarters)
        painted = [paint(model, seeds, cells, r) for model, r in zip(args.model, redraws)]
        items, key = shuffled_items([pictures for pictures, _, _ in painted], args.shuffle_seed)
        sheets = write_sheets(items, args.out)
        record = {
            "models": names,
            "seeds": args.seeds,
            "first_seed": args.first_seed,
            "quarters": args.quarters,
            "items": key,
            "redraws": [r.tolist() for _, r, _ in painted],
            "passed": [ok.tolist() for _, _, ok in painted],
        }
        with atomic_path(args.out / "key.json") as tmp:
            tmp.write_text(json.dumps(record) + "\n")
        print(f"{len(items)} pictures on {sheets} sheets in {args.out}; label them before opening key.json")
        return 0
    if args.non_scenes is None:
        p.error(f"{args.what} needs --non-scenes")
    key = json.loads((args.out / "key.json").read_text())
    raters = []
    for path in args.non_scenes:
        raters.append({int(n) for n in re.findall(r"\d+", path.read_text())})
        if raters[-1] and max(raters[-1]) >= len(key["items"]):
            raise SystemExit(f"error: {path} names picture {max(raters[-1])}; the sheets hold {len(key['items'])}")
    non_scenes = raters[0]
    if args.what == "labels":
        if args.images is None or args.table is None or len(raters) > 1:
            p.error("labels needs --images, --table and one --non-scenes file")
        table = label_table(args.out, key, non_scenes, args.images, args.sample)
        if args.table.is_file():
            kept = pd.read_csv(args.table)
            table = pd.concat([kept[~kept["path"].isin(table["path"])], table], ignore_index=True)
        with atomic_path(args.table) as tmp:
            table.to_csv(tmp, index=False)
        print(f"{len(table)} labelled pictures ({int(table['scene'].sum())} scenes) in {args.table}")
        return 0
    if len(raters) == 1:
        print_count(key, non_scenes, "scenes by eye")
        return 0
    for path, labels in zip(args.non_scenes, raters):
        print_count(key, labels, f"scenes by {path.name} ({len(labels)} non-scenes)", draws=False)
    n = len(key["items"])
    for i in range(len(raters)):
        for j in range(i + 1, len(raters)):
            share, kappa = agreement(raters[i], raters[j], n)
            names = f"{args.non_scenes[i].name} / {args.non_scenes[j].name}"
            print(f"agreement {names}: {share:.0%} of {n} pictures, Cohen's κ {kappa:.2f}")
    print_count(key, majority(raters), f"scenes by the majority of {len(raters)} raters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
