"""Choose the app's sampling settings: sampler × steps × guidance interval, quality against seconds.

Two measurements, each with the current default (DPM-Solver++ 2M, 25 steps, guidance 3 on every
step) as the baseline row of its table:

``quality``
    Every setting samples the same pictures from the same initial noise (``--points`` ×
    ``--seeds``); each is compared with a **reference** sampled from that noise with DPM-Solver++
    2M at ``--reference-steps`` steps (the ODE solution the few-step samplers approximate):
    *MAD*, the mean absolute pixel difference to the reference (0–255), and *detail*, the
    variance of the Laplacian of the luminance ÷ the reference's (median over the pictures;
    < 1 means smoother). Cost is counted in UNet image-forwards per picture (a guided step
    costs two). No timing: run it under a shared lock on a busy machine.
``speed``
    Seconds per picture (one 128×128 picture, warm, median of ``--repeats`` runs) of the
    settings named with ``--settings`` (default: all), with ``--threads`` torch threads. Run it
    on a quiet machine.

A setting is written ``SAMPLER-STEPS[-gSTART:END]``, e.g. ``dpm-12-g0:0.5`` = DPM-Solver++ 2M,
12 steps, guidance on the first half of the steps; the samplers are the app's
(:data:`music2img.diffusion.schedulers.SCHEDULERS`) plus ``dpm-karras`` and ``dpm-linspace``
(Karras sigmas / ``linspace`` timestep spacing, for comparison only).

Usage::

    python benchmarks/sampling_settings.py quality [--json work/quality.json]
    python benchmarks/sampling_settings.py speed --threads 2 [--settings dpm-25 dpm-12-g0:0.5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch
from scipy import ndimage

from music2img.assets import DIFFUSION_MODEL_DIR  # music2img first: it sets the OpenMP wait policy
from music2img.diffusion.pipeline import EmotionLandscapePipeline, load_pipeline
from music2img.diffusion.schedulers import SCHEDULERS, make_scheduler

#: Samplers measured besides the app's: (app sampler, extra options).
VARIANTS = {
    "dpm-karras": ("dpm", {"use_karras_sigmas": True}),
    "dpm-linspace": ("dpm", {"timestep_spacing": "linspace"}),
}
BASELINE = "dpm-25"
DEFAULT_SETTINGS = (
    "dpm-25",
    "dpm-20",
    "dpm-15",
    "dpm-12",
    "dpm-10",
    "dpm-8",
    "dpm3-15",
    "dpm3-12",
    "dpm3-10",
    "dpm3-8",
    "unipc-15",
    "unipc-12",
    "unipc-10",
    "unipc-8",
    "unipc-6",
    "dpm-karras-12",
    "dpm-linspace-12",
    "dpm-12-g0:0.5",
    "dpm-12-g0.5:1",
    "dpm-12-g0.25:0.75",
    "dpm-12-g0:0",
    "unipc-10-g0:0.5",
    "unipc-12-g0:0.5",
    "dpm3-12-g0:0.5",
    "dpm-15-g0:0.5",
    "dpm-20-g0:0.5",
)
#: (valence, arousal) points over the plane, corners and centre included.
POINTS = ((2.0, 2.0), (2.0, 8.0), (8.0, 2.0), (8.0, 8.0), (5.0, 5.0), (3.5, 6.5), (6.5, 3.5), (6.5, 6.5))


@dataclass(frozen=True)
class Setting:
    """One way of sampling a picture."""

    sampler: str
    steps: int
    guidance_interval: tuple[float, float] = (0.0, 1.0)

    @classmethod
    def parse(cls, text: str) -> Setting:
        head, _, interval = text.partition("-g")
        sampler, _, steps = head.rpartition("-")
        if sampler not in SCHEDULERS and sampler not in VARIANTS:
            raise ValueError(f"unknown sampler in {text!r}")
        gi = tuple(float(x) for x in interval.split(":")) if interval else (0.0, 1.0)
        return cls(sampler, int(steps), gi)

    @property
    def name(self) -> str:
        start, end = self.guidance_interval
        gi = "" if self.guidance_interval == (0.0, 1.0) else f"-g{start:g}:{end:g}"
        return f"{self.sampler}-{self.steps}{gi}"

    def forwards(self) -> int:
        """UNet image-forwards per picture (a guided step costs two)."""
        start, end = self.guidance_interval
        return sum(2 if start <= i / self.steps < end else 1 for i in range(self.steps))

    def scheduler(self, config):
        base, extra = VARIANTS.get(self.sampler, (self.sampler, {}))
        return make_scheduler(base, config, **extra)

    def sample(self, pipe: EmotionLandscapePipeline, config, points, seeds, guidance: float) -> np.ndarray:
        """Pictures ``(len(points) × len(seeds), h, w, 3)`` in [0, 1], noise fixed by point order and seed."""
        pipe.scheduler = self.scheduler(config)
        v = [p[0] for p in points for _ in seeds]
        a = [p[1] for p in points for _ in seeds]
        gens = [torch.Generator().manual_seed(s) for _ in points for s in seeds]
        return pipe(
            v,
            a,
            guidance_scale=guidance,
            guidance_interval=self.guidance_interval,
            num_inference_steps=self.steps,
            generator=gens,
            output_type="np",
        ).images


def laplacian_variance(images: np.ndarray) -> np.ndarray:
    """Per picture, the variance of the Laplacian of the luminance (0–255 scale)."""
    luma = (images * 255.0) @ np.array([0.299, 0.587, 0.114])
    return np.array([ndimage.laplace(y).var() for y in luma])


def quality(pipe, args) -> list[dict]:
    config = pipe.scheduler.config
    seeds = range(args.seeds)
    reference = Setting("dpm", args.reference_steps).sample(pipe, config, POINTS, seeds, args.guidance)
    ref_detail = laplacian_variance(reference)
    rows = []
    for text in args.settings:
        s = Setting.parse(text)
        try:
            images = s.sample(pipe, config, POINTS, seeds, args.guidance)
        except (IndexError, ValueError, RuntimeError) as err:  # a sampler that cannot run this schedule
            rows.append({"setting": s.name, "forwards": s.forwards(), "error": f"{type(err).__name__}: {err}"})
            print(f"  {s.name:20s} failed: {rows[-1]['error']}", file=sys.stderr, flush=True)
            continue
        mad = np.abs(images - reference).reshape(len(images), -1).mean(1) * 255
        rows.append(
            {
                "setting": s.name,
                "forwards": s.forwards(),
                "mad": float(np.mean(mad)),
                "mad_max": float(np.max(mad)),
                "detail": float(np.median(laplacian_variance(images) / ref_detail)),
            }
        )
        print(
            f"  {s.name:20s} MAD {rows[-1]['mad']:5.2f}  detail {rows[-1]['detail']:.3f}", file=sys.stderr, flush=True
        )
    base = next(r for r in rows if r["setting"] == BASELINE)
    print(
        f"\nQuality against DPM-Solver++ 2M {args.reference_steps} steps from the same noise "
        f"({len(POINTS)} points × {args.seeds} seeds, guidance {args.guidance}); baseline {BASELINE}\n"
    )
    print("| setting | UNet forwards / picture | × baseline cost | MAD (0–255) | max MAD | detail ÷ reference |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        measures = (
            f"{r['mad']:.2f} | {r['mad_max']:.2f} | {r['detail']:.3f}"
            if "error" not in r
            else f"fails: {r['error'][:60]} | | "
        )
        print(f"| {r['setting']} | {r['forwards']} | {r['forwards'] / base['forwards']:.2f} | {measures} |")
    return rows


def speed(pipe, args) -> list[dict]:
    config = pipe.scheduler.config
    rows = []
    for text in args.settings:
        s = Setting.parse(text)
        s.sample(pipe, config, [(5.0, 5.0)], [0], args.guidance)  # warm-up
        times = []
        for k in range(args.repeats):
            start = time.perf_counter()
            s.sample(pipe, config, [POINTS[k % len(POINTS)]], [k], args.guidance)
            times.append(time.perf_counter() - start)
        rows.append(
            {
                "setting": s.name,
                "forwards": s.forwards(),
                "s_median": float(np.median(times)),
                "s_min": float(np.min(times)),
                "s_max": float(np.max(times)),
            }
        )
    base = next((r for r in rows if r["setting"] == BASELINE), rows[0])
    print(
        f"\nSeconds per 128×128 picture, warm, {args.threads} torch thread(s), median of {args.repeats}; "
        f"baseline {base['setting']}\n"
    )
    print("| setting | UNet forwards / picture | s / picture (median) | min–max | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['setting']} | {r['forwards']} | {r['s_median']:.2f} | {r['s_min']:.2f}–{r['s_max']:.2f} | "
            f"{base['s_median'] / r['s_median']:.2f}× |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("part", choices=["quality", "speed"])
    p.add_argument("--model", default=str(DIFFUSION_MODEL_DIR), help="pipeline folder or repo id")
    p.add_argument("--settings", nargs="+", default=list(DEFAULT_SETTINGS), help="settings to measure (see above)")
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument("--seeds", type=int, default=2, help="quality: seeds per point")
    p.add_argument("--reference-steps", type=int, default=100, help="quality: steps of the reference")
    p.add_argument("--repeats", type=int, default=5, help="speed: timed pictures per setting")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)
    if BASELINE not in args.settings:
        args.settings.insert(0, BASELINE)
    torch.set_num_threads(args.threads)
    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    rows = quality(pipe, args) if args.part == "quality" else speed(pipe, args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
