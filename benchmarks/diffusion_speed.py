"""CPU sampling speed of the emotion UNet: seconds per 128×128 image with guidance, per sampler.

Compares the production :class:`~music2img.diffusion.unet.EmotionUNet` default config with a big
"original-work-like" config (~110 M parameters, DDPM-church-sized), both random-initialised (speed
does not depend on the weights). Every number is measured in this run:

* DPM-Solver-25 and DDIM-50: full sampling runs, guidance on (one batched cond+uncond forward per step),
  reported as median step time × steps (and mean step time × steps);
* DDPM-1000: **extrapolated** from ``--ddpm-steps`` timed DDPM steps (× 1000 / steps);
* the big config: only ``--big-steps`` timed steps, extrapolated to each sampler's step count;
* training images/s of the production config at 64 and 128 px (batch 8, median of a few steps);
* GFLOPs per UNet forward of one image (``torch.utils.flop_counter``; multiply-add = 2 FLOPs),
  parameter count and fp16 weight size.

Usage: ``python benchmarks/diffusion_speed.py [--threads 2] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.diffusion.pipeline import EmotionLandscapePipeline
from music2img.diffusion.schedulers import (
    DEFAULT_STEPS,
    make_scheduler,
    training_scheduler,
)
from music2img.diffusion.unet import EmotionUNet

#: A DDPM-church-like pixel UNet at 128×128 in this architecture, for comparison.
BIG_CONFIG = dict(
    block_out_channels=(128, 128, 256, 256, 512, 512),
    layers_per_block=2,
    attention_resolutions=(16,),
    norm_num_groups=32,
)


def unet_stats(unet: EmotionUNet) -> dict:
    size = unet.config.sample_size
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        unet(torch.zeros(1, 3, size, size), 500, 5.0, 5.0)
    n = sum(p.numel() for p in unet.parameters())
    return {
        "params_M": round(n / 1e6, 2),
        "fp16_MB": round(2 * n / 1e6, 1),
        "gflops_per_forward": round(counter.get_total_flops() / 1e9, 2),
    }


def time_sampler(pipe: EmotionLandscapePipeline, name: str, steps: int, timed_steps: int, guidance: float) -> dict:
    """Seconds per image for ``steps`` steps of sampler ``name``, timing ``timed_steps`` of them.

    The machine is shared, so besides the total (``s_per_image_total``) the estimate uses the median
    step time × steps (``s_per_image``), which ignores bursts of load from other processes.
    """
    pipe.scheduler = make_scheduler(name, training_scheduler().config)
    pipe(5.0, 5.0, num_inference_steps=2, guidance_scale=guidance)  # warm-up
    stamps = [time.perf_counter()]

    class Enough(Exception):
        pass

    def callback(i, total, t):
        stamps.append(time.perf_counter())
        if i >= timed_steps:
            raise Enough

    try:
        pipe(
            6.5,
            3.5,
            num_inference_steps=steps,
            guidance_scale=guidance,
            callback=callback,
            generator=torch.Generator().manual_seed(0),
        )
    except Enough:
        pass
    dts = np.diff(stamps)
    return {
        "sampler": name,
        "steps": steps,
        "timed_steps": len(dts),
        "extrapolated": len(dts) < steps,
        "s_per_image": round(float(np.median(dts)) * steps, 2),
        "s_per_image_total": round(float(dts.sum()) / len(dts) * steps, 2),
    }


def train_speed(resolution: int, batch_size: int, steps: int) -> dict:
    """Training images/s of the production config (forward, backward, AdamW step), median over ``steps``."""
    unet = EmotionUNet(sample_size=resolution)
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    x = torch.randn(batch_size, 3, resolution, resolution)
    t = torch.randint(0, 1000, (batch_size,))
    va = torch.rand(batch_size) * 8 + 1
    dts = []
    for i in range(steps + 2):  # two warm-up steps
        start = time.perf_counter()
        loss = torch.nn.functional.mse_loss(unet(x, t, va, va).sample, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:
            dts.append(time.perf_counter() - start)
    return {
        "resolution": resolution,
        "batch_size": batch_size,
        "images_per_s": round(batch_size / float(np.median(dts)), 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument("--ddpm-steps", type=int, default=50, help="timed DDPM steps (extrapolated to 1000)")
    p.add_argument("--big-steps", type=int, default=3, help="timed steps for the big config")
    p.add_argument("--skip-big", action="store_true")
    p.add_argument("--train-steps", type=int, default=5, help="timed training steps per resolution (0: skip)")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    results = {
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": args.threads,
        "load_avg_at_start": os.getloadavg()[0],
        "configs": {},
    }
    configs = {"production (EmotionUNet default)": {}}
    if not args.skip_big:
        configs["big original-work-like"] = BIG_CONFIG
    for label, config in configs.items():
        unet = EmotionUNet(**config).eval().to(memory_format=torch.channels_last)  # as load_pipeline does
        pipe = EmotionLandscapePipeline(unet=unet, scheduler=training_scheduler())
        pipe.set_progress_bar_config(disable=True)
        entry = {"config": dict(unet.config), **unet_stats(unet), "samplers": []}
        for name in ("dpm", "ddim", "ddpm"):
            steps = DEFAULT_STEPS[name]
            timed = args.big_steps if config else (args.ddpm_steps if name == "ddpm" else steps)
            entry["samplers"].append(time_sampler(pipe, name, steps, timed, args.guidance))
            s = entry["samplers"][-1]
            extrapolated = f" (extrapolated from {s['timed_steps']} steps)" if s["extrapolated"] else ""
            print(
                f"{label:34s} {name:4s}-{steps:<4d} {s['s_per_image']:9.2f} s/image "
                f"(mean step: {s['s_per_image_total']:.2f}){extrapolated}",
                flush=True,
            )
        print(
            f"{label:34s} {entry['params_M']} M params, {entry['fp16_MB']} MB fp16, "
            f"{entry['gflops_per_forward']} GFLOPs per forward (one image)",
            flush=True,
        )
        results["configs"][label] = entry
    if len(results["configs"]) == 2:
        prod, big = results["configs"].values()
        ratio = big["samplers"][0]["s_per_image"] / prod["samplers"][0]["s_per_image"]
        print(
            f"production is {ratio:.1f}× faster than the big config (DPM-25 with guidance), "
            f"{big['gflops_per_forward'] / prod['gflops_per_forward']:.1f}× fewer FLOPs"
        )
    if args.train_steps:
        results["training"] = [train_speed(r, 8, args.train_steps) for r in (64, 128)]
        for r in results["training"]:
            print(
                f"training, production config, {r['resolution']}×{r['resolution']}, batch {r['batch_size']}: "
                f"{r['images_per_s']} images/s (median step)"
            )
    results["load_avg_at_end"] = os.getloadavg()[0]
    print(
        f"load average: {results['load_avg_at_start']:.1f} at start, {results['load_avg_at_end']:.1f} at end "
        f"({os.cpu_count()} CPUs; other processes slow these timings)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=list))
    return 0


if __name__ == "__main__":
    sys.exit(main())
