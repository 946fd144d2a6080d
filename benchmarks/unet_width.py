"""Would a wider or deeper EmotionUNet fit the CPU budget? Seconds per sampling step on this CPU.

For the production config and a few larger ones (random weights: speed does not depend on them),
times one guided sampling step — a UNet forward of a batch of 2 (conditional + unconditional) at
128×128, ``channels_last`` and ``no_grad`` as in the product — and reports the median over
``--repeats``, the ratio to the production config measured in the same run, GFLOPs, parameters,
and the seconds per picture this gives at 4, 8, 10 and 25 steps. The configs take turns within every
repeat, so that load from other processes falls on all of them alike and the ratios hold even on a
busy machine; absolute seconds need a quiet one::

    flock -x LOCK python benchmarks/unet_width.py --threads 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.diffusion_speed import unet_stats
from music2img.diffusion.unet import EmotionUNet

#: Label → EmotionUNet arguments (on top of the defaults, which are the production config).
CONFIGS = {
    "production 24-48-96-192-256": {},
    "wider ×1.33 32-64-128-256-320": {"block_out_channels": (32, 64, 128, 256, 320)},
    "deeper: 2 blocks per level": {"layers_per_block": 2},
    "wider ×2 48-96-192-384-512": {"block_out_channels": (48, 96, 192, 384, 512)},
}
STEPS = (4, 8, 10, 25)


@torch.no_grad()
def step_seconds(unets: list[EmotionUNet], repeats: int) -> list[float]:
    """Median seconds of one guided step (a forward of a batch of 2) of each UNet, taking turns."""
    x = torch.randn(2, 3, 128, 128).contiguous(memory_format=torch.channels_last)
    t, v, drop = torch.tensor([500, 500]), torch.tensor([5.0, 5.0]), torch.tensor([False, True])
    times = [[] for _ in unets]
    for i in range(repeats + 2):  # two warm-up rounds
        for unet, spent in zip(unets, times):
            start = time.perf_counter()
            unet(x, t, v, v, drop_emotion=drop)
            if i >= 2:
                spent.append(time.perf_counter() - start)
    return [float(np.median(spent)) for spent in times]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    unets = [EmotionUNet(**config).eval().to(memory_format=torch.channels_last) for config in CONFIGS.values()]
    stats = [unet_stats(unet) for unet in unets]
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for label, stat, seconds in zip(CONFIGS, stats, step_seconds(unets, args.repeats)):
            rows.append({"config": label, "threads": threads, **stat, "s_per_step": seconds})
    print(f"load average at the end: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    print(
        f"{'config':<32}{'M params':>9}{'GFLOPs':>8}{'threads':>8}{'s/step':>8}{'× prod.':>8}"
        + "".join(f"{f's/pic {n}':>11}" for n in STEPS)
    )
    for r in rows:
        base = next(b for b in rows if b["threads"] == r["threads"])["s_per_step"]
        print(
            f"{r['config']:<32}{r['params_M']:>9.2f}{r['gflops_per_forward']:>8.2f}{r['threads']:>8}"
            f"{r['s_per_step']:>8.3f}{r['s_per_step'] / base:>8.2f}"
            + "".join(f"{r['s_per_step'] * n:>11.2f}" for n in STEPS)
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
