"""Give a pipeline the high-noise expert a run trained from it: the noisiest steps, where the layout is decided.

    .venv/bin/python train/high_noise_unet.py assets/diffusion runs/high_noise/pipeline

The run (``train/diffusion.py --init-from PIPELINE --timesteps-from T``) exported a pipeline whose
``high_noise_unet`` paints timesteps T–999 and whose ``unet`` is the one it started from. This checks that
``unet`` is PIPELINE's own (an expert only fits the UNet it was trained beside) and writes the expert into
PIPELINE's ``high_noise_unet/`` with ``high_noise_from`` T in ``model_index.json``, the weight hashes
updated, each file atomically; the rest of PIPELINE is left as it is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.diffusion.pipeline import load_pipeline, save_component


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pipeline", type=Path, help="saved pipeline folder to add high_noise_unet/ to")
    p.add_argument("run", type=Path, help="the pipeline a train/diffusion.py --timesteps-from run exported")
    args = p.parse_args(argv)
    target, run = load_pipeline(args.pipeline), load_pipeline(args.run)
    if run.high_noise_unet is None:
        p.error(f"{args.run} has no high_noise_unet: train one with train/diffusion.py --timesteps-from")
    ours, theirs = target.unet.state_dict(), run.unet.state_dict()
    if ours.keys() != theirs.keys() or not all(torch.equal(ours[k], theirs[k]) for k in ours):
        p.error(f"{args.run} was trained beside another UNet than {args.pipeline}'s: its expert would not fit")
    first = run.config.high_noise_from
    save_component(args.pipeline, "high_noise_unet", run.high_noise_unet.half(), high_noise_from=first)
    print(f"saved {args.pipeline / 'high_noise_unet'}: paints timesteps {first}–999")
    return 0


if __name__ == "__main__":
    sys.exit(main())
