"""Measure a trained diffusion pipeline (or the GAN baseline's pipeline): emotion control, diversity and CPU speed.

- **Emotion control**: images generated over a 5×5 valence/arousal grid × several seeds are
  rated by the image emotion model; Spearman ρ between the requested and the rated valence
  (arousal) says whether the pictures move with the emotion asked for.
- **Diversity**: mean pairwise pixel distance (RMS, 0–1 scale) between seeds at a fixed
  valence/arousal, next to the same measure on random training images at the model's resolution.
- **Speed**: seconds per image for the chosen scheduler on this machine.

Writes ``evaluation.json`` and a picture of the generated grid (first seed) beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from music2img.assets import DIFFUSION_MODEL_DIR, IMAGE_MODEL_DIR  # noqa: E402
from music2img.diffusion.evaluation import (  # noqa: E402
    GRID,
    diversity_across_seeds,
    emotion_control,
    generate_grid,
    grid_points,
    is_diffusion,
    load_generator,
    pairwise_rms,
    save_grid,
    to_uint8,
)
from music2img.diffusion.schedulers import make_scheduler  # noqa: E402
from music2img.files import atomic_path  # noqa: E402
from music2img.image.emotion_model import ImageEmotionModel  # noqa: E402
from music2img.image.labelled_folder import load_images, read_labels  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(DIFFUSION_MODEL_DIR), help="pipeline folder (diffusion or GAN) or repo id")
    p.add_argument("--image-model", type=Path, default=IMAGE_MODEL_DIR)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--scheduler", default="dpm", choices=["ddpm", "ddim", "dpm"])
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument("--data", type=Path, help="training image folder (for the diversity reference)")
    p.add_argument("--labels", type=Path, help="its labels CSV")
    p.add_argument("--out", type=Path, help="output folder (default: the model folder)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    pipe = load_generator(args.model)
    diffusion = is_diffusion(pipe)
    if diffusion:  # the GAN paints in one pass: no sampler, steps or guidance
        pipe.scheduler = make_scheduler(args.scheduler, pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
    judge = ImageEmotionModel.load(args.image_model)
    out = Path(args.out or args.model)

    generated = generate_grid(pipe, grid_points(), range(args.seeds), steps=args.steps, guidance=args.guidance)
    rated = judge.predict(list(to_uint8(generated.flat)))
    asked = generated.requested
    control = emotion_control(asked, rated)
    report = {
        "model": str(args.model),
        **(
            {"scheduler": args.scheduler, "steps": args.steps, "guidance": args.guidance}
            if diffusion
            else {"generator": "GAN"}
        ),
        "images": int(len(asked)),
        "resolution": int(generated.images.shape[2]),
        "threads": args.threads,
        "seconds_per_image": float(f"{generated.seconds_per_image:.3g}"),
        **{k: round(v, 3) for k, v in control.items()},
        "rated_mean_by_requested_valence": {str(v): round(float(rated[asked[:, 0] == v, 0].mean()), 3) for v in GRID},
        "rated_mean_by_requested_arousal": {str(a): round(float(rated[asked[:, 1] == a, 1].mean()), 3) for a in GRID},
        "diversity_across_seeds": round(diversity_across_seeds(generated), 4),
    }
    if args.data:
        files, _ = read_labels(args.data, args.labels)
        pick = np.random.default_rng(0).choice(len(files), size=min(200, len(files)), replace=False)
        ref = (
            load_images([files[i] for i in pick], generated.images.shape[2], progress=False).permute(0, 2, 3, 1).numpy()
            / 255.0
        )
        report["diversity_training_images"] = round(pairwise_rms(ref[: args.seeds * 10]), 4)

    save_grid(out / "evaluation_grid.png", generated.images[0], len(GRID), flip_rows=True, scale=2)  # arousal up
    with atomic_path(out / "evaluation.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
