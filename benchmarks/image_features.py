#!/usr/bin/env python
"""Image feature and prediction throughput on one core, against a colour-statistics baseline.

The baseline computes only per-channel RGB mean and standard deviation of the same prepared
(centre-cropped, resized) image, i.e. the floor cost of looking at the pixels; the ratio says how
much the full :mod:`music2img.image.features` vector and the detector's features
(:mod:`music2img.image.detector_features`, the network run at 320 px) cost on top.

    python benchmarks/image_features.py             # 300 generated 128×128 images
    python benchmarks/image_features.py --n 1000 --size 64
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from PIL import Image

from music2img.image.detector_features import detector_features
from music2img.image.features import FEATURE_NAMES, image_features, prepare


def baseline_features(rgb: np.ndarray) -> np.ndarray:
    img = prepare(rgb)
    return np.concatenate([img.mean(axis=(0, 1)), img.std(axis=(0, 1))])


def rate(fn, images) -> float:
    fn(images[0])
    t0 = time.perf_counter()
    for img in images:
        fn(img)
    return len(images) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="number of images")
    parser.add_argument("--size", type=int, default=128, help="side of the generated images")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0 : args.size, 0 : args.size] / args.size
    images = [
        np.clip(
            255 * np.stack([xx * rng.random(), yy, 1 - yy * rng.random()], -1)
            + rng.normal(0, 20, (args.size, args.size, 3)),
            0,
            255,
        ).astype(np.uint8)
        for _ in range(args.n)
    ]
    base = rate(baseline_features, images)
    full = rate(image_features, images)
    print(f"{args.n} images of {args.size}×{args.size} px, {len(FEATURE_NAMES)} features")
    print(f"baseline (RGB mean/std):   {base:8.0f} images/s")
    print(f"image_features:            {full:8.0f} images/s  ({base / full:.1f}× the baseline's time)")
    import torch

    torch.set_num_threads(1)
    detector = rate(detector_features, images[: max(1, args.n // 10)])
    print(
        f"detector_features:         {detector:8.1f} images/s  ({base / detector:.0f}× the baseline's time, "
        f"{full / detector:.0f}× image_features'; {args.n // 10} images)"
    )
    try:
        from music2img.image.emotion_model import ImageEmotionModel

        model = ImageEmotionModel.load()
    except Exception as exc:  # the shipped model may be absent in a fresh checkout
        print(f"shipped model not loaded ({exc}); predict timing skipped")
        return
    pil = [Image.fromarray(img) for img in images]
    t0 = time.perf_counter()
    model.predict(pil)
    print(
        f"ImageEmotionModel.predict: {args.n / (time.perf_counter() - t0):8.0f} images/s (PIL input, batch of {args.n})"
    )


if __name__ == "__main__":
    main()
