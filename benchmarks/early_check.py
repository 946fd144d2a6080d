"""Can the landscape check, or the scene check, reject a picture before it is finished?

The pipeline paints a picture, checks it (:mod:`music2img.diffusion.landscape_check`,
:mod:`music2img.diffusion.scene_check`) and paints again from new noise when it is rejected — a rejected
first draw costs a whole picture. This benchmark paints the 5 × 5 valence/arousal grid (2 … 8; ``--grid``
other values) × ``--seeds`` seeds one picture at a time,
as ``music2img generate --seed s`` does (no redraws), and after every sampler step checks the
model's current estimate of the finished picture, x̂₀ = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t. For each step
it prints how the early verdict agrees with the verdict on the finished picture (caught: rejected
early and at the end; false alarms: rejected early, accepted at the end) and the UNet forwards a
picture would cost on average with one redraw, if a picture rejected at that step were abandoned
there and painted again, against checking only the finished picture. With ``--check scene`` a picture is
rejected when finished below the scene checker's ``threshold`` and early below its ``early_threshold``.

    OMP_NUM_THREADS=1 python benchmarks/early_check.py --model assets/diffusion --seeds 4
    OMP_NUM_THREADS=2 python benchmarks/early_check.py --check scene --grid 2 2.75 3.5 --seeds 18 --first-seed 5000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.assets import DIFFUSION_MODEL_DIR
from music2img.diffusion import defaults
from music2img.diffusion.evaluation import GRID, grid_points, to_uint8
from music2img.diffusion.pipeline import load_pipeline
from music2img.diffusion.schedulers import DEFAULT_STEPS, make_scheduler
from music2img.files import atomic_path


def paint_with_estimates(
    pipe, valence: float, arousal: float, seed: int, steps: int, guidance: float, interval: tuple[float, float]
) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
    """One picture (uint8, no redraw), the x̂₀ estimate after every step (uint8) and the UNet forwards
    spent up to each step."""
    scheduler, estimates = pipe.scheduler, []
    step = scheduler.step
    abar = scheduler.alphas_cumprod

    def recording_step(eps, t, sample, **kwargs):
        a = abar[int(t)].to(sample)
        estimates.append(
            to_uint8(
                ((sample - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1).permute(0, 2, 3, 1).float().numpy() / 2 + 0.5
            )[0]
        )
        return step(eps, t, sample, **kwargs)

    scheduler.step = recording_step
    try:
        image = pipe(
            valence,
            arousal,
            guidance_scale=guidance,
            guidance_interval=interval,
            num_inference_steps=steps,
            generator=torch.Generator().manual_seed(seed),
            output_type="np",
            max_redraws=0,
        ).images
    finally:
        del scheduler.step
    total = len(estimates)
    guided = [guidance > 1 and interval[0] <= i / total < interval[1] for i in range(total)]
    forwards = np.cumsum([2 if g else 1 for g in guided]).tolist()
    return to_uint8(image)[0], estimates, forwards


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(DIFFUSION_MODEL_DIR))
    p.add_argument("--check", choices=("landscape", "scene"), default="landscape")
    p.add_argument("--grid", type=float, nargs="+", default=list(GRID), help="valence and arousal values of the grid")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--scheduler", default=defaults.SCHEDULER)
    p.add_argument("--steps", type=int)
    p.add_argument("--guidance", type=float, default=defaults.GUIDANCE_SCALE)
    p.add_argument("--guidance-interval", type=float, nargs=2, default=defaults.GUIDANCE_INTERVAL)
    p.add_argument("--threads", type=int)
    p.add_argument("--json", type=Path, help="write the per-step table here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    pipe = load_pipeline(args.model)
    checker = getattr(pipe, f"{args.check}_checker")
    if checker is None:
        raise SystemExit(f"error: {args.model} has no {args.check} checker")
    if args.check == "scene" and not checker.config.early_threshold > 0:
        raise SystemExit(f"error: {args.model}'s scene checker has no early_threshold")
    pipe.scheduler = make_scheduler(args.scheduler, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    steps = args.steps or DEFAULT_STEPS[args.scheduler]

    def rejected(images: np.ndarray, early: bool) -> np.ndarray:
        if args.check == "landscape":
            return ~checker.is_landscape(images)
        threshold = checker.config.early_threshold if early else checker.config.threshold
        return checker.probability(images) < threshold

    final, early, forwards = [], [], None
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(v, a, s) for v, a in grid_points(args.grid) for s in seeds]
    for v, a, s in tqdm(jobs, desc="painting", unit="picture"):
        image, estimates, forwards = paint_with_estimates(
            pipe, v, a, s, steps, args.guidance, tuple(args.guidance_interval)
        )
        final.append(rejected(image[None], early=False)[0])
        early.append(rejected(np.stack(estimates), early=True))
    final, early = np.array(final), np.array(early)  # (pictures,), (pictures, steps)
    full = forwards[-1]
    # one redraw: a rejected first draw costs what was spent on it, then a whole second picture
    base = full + final.mean() * full
    rows = []
    for k in range(early.shape[1]):
        flag = early[:, k]
        # abandoned at step k when flagged; otherwise finished and checked at the end as now
        cost = np.where(flag, forwards[k], full + final * full) + flag * full
        rows.append(
            {
                "step": k + 1,
                "forwards so far": forwards[k],
                "rejected early": float(flag.mean()),
                "caught": float((flag & final).sum() / max(final.sum(), 1)),
                "false alarms": float((flag & ~final).sum() / max((~final).sum(), 1)),
                "forwards per picture": float(cost.mean()),
                "vs finished-only": float(cost.mean() / base),
            }
        )
    print(
        f"\n{args.model}, {args.check} check: {len(final)} pictures, {final.mean():.0%} rejected when finished; "
        f"checking only finished pictures costs {base:.1f} UNet forwards per picture (one redraw)"
    )
    print("| step | forwards so far | rejected early | caught | false alarms | forwards per picture | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['step']} | {r['forwards so far']} | {r['rejected early']:.0%} | {r['caught']:.0%} | "
            f"{r['false alarms']:.0%} | {r['forwards per picture']:.1f} | {r['vs finished-only']:.2f} |"
        )
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(
                json.dumps(
                    {
                        "model": args.model,
                        "check": args.check,
                        "pictures": len(final),
                        "rejected": float(final.mean()),
                        "baseline_forwards": base,
                        "steps": rows,
                    },
                    indent=1,
                )
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
