"""What the scene check costs: seconds per picture and redraws, per quadrant, with and without it.

    OMP_NUM_THREADS=2 python benchmarks/scene_check.py --model assets/diffusion --seeds 24 25 26 27 28 29

Paints one picture at the centre of each quadrant's corner cell (valence and arousal 2 or 8) and of the plane
per seed, one process-like call at a time as ``music2img generate --seed s --size 128`` does (the app's
defaults: requests mapped, the landscape check's redraws), first with the pipeline's scene checker removed (the
baseline), then with it, in the same run. Prints the seconds per picture and the mean redraws per point, and
the ratio of the two runs' times.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.assets import DIFFUSION_MODEL_DIR
from music2img.diffusion import defaults
from music2img.diffusion.pipeline import load_pipeline
from music2img.diffusion.schedulers import make_scheduler

#: The corner cells' centres and the plane's.
POINTS = {"Q1": (8.0, 8.0), "Q2": (2.0, 8.0), "Q3": (2.0, 2.0), "Q4": (8.0, 2.0), "centre": (5.0, 5.0)}


def paint(pipe, valence: float, arousal: float, seed: int) -> tuple[float, int]:
    """Seconds and redraws of one picture at the app's defaults."""
    start = time.perf_counter()
    out = pipe(
        valence,
        arousal,
        guidance_scale=defaults.GUIDANCE_SCALE,
        guidance_interval=defaults.GUIDANCE_INTERVAL,
        num_inference_steps=defaults.STEPS,
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
    )
    return time.perf_counter() - start, out.redraws[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=DIFFUSION_MODEL_DIR, help="pipeline folder with a scene_checker")
    p.add_argument("--seeds", type=int, nargs="+", default=[24, 25, 26, 27])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    pipe = load_pipeline(args.model)
    if pipe.scene_checker is None:
        p.error(f"{args.model} has no scene_checker (add one with train/scene_checker.py)")
    pipe.scheduler = make_scheduler(defaults.SCHEDULER, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    checker, results = pipe.scene_checker, {}
    paint(pipe, 5.0, 5.0, 0)  # warm-up
    for name, scene_checker in (("without", None), ("with", checker)):
        pipe.scene_checker = scene_checker
        rows = {key: [paint(pipe, v, a, seed) for seed in args.seeds] for key, (v, a) in POINTS.items()}
        results[name] = {
            key: {"seconds": round(float(np.mean([s for s, _ in r])), 3), "redraws": float(np.mean([n for _, n in r]))}
            for key, r in rows.items()
        }
        results[name]["all"] = {
            "seconds": round(float(np.mean([s for r in rows.values() for s, _ in r])), 3),
            "redraws": float(np.mean([n for r in rows.values() for _, n in r])),
        }
    print(f"{'point':<8} {'s/picture without':>18} {'with':>8} {'ratio':>6} {'redraws with':>13}")
    for key in results["with"]:
        without, with_ = results["without"][key], results["with"][key]
        ratio = with_["seconds"] / without["seconds"]
        print(f"{key:<8} {without['seconds']:>18.2f} {with_['seconds']:>8.2f} {ratio:>6.2f} {with_['redraws']:>13.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
