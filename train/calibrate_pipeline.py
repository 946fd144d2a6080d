"""Calibrate a trained pipeline to its training photos: the landscape checker and the label quantiles.

    nice -n 10 python train/calibrate_pipeline.py assets/diffusion \\
        --data ../shared/data/images/landscapes --labels assets/landscape_labels.csv

* the :class:`~music2img.diffusion.landscape_check.LandscapeChecker` is fitted on the image
  features of a random 80 % of the photos, its threshold set at ``--quantile`` of the distances of
  another 10 %, and the share of the last 10 % it rejects (real photos it would redraw) is printed;
* the quantiles of the labels (``--labels``, the ones the model was trained on) go into the
  pipeline's config, so that requests are mapped onto them
  (:mod:`music2img.diffusion.emotion_map`).

The folder is updated in place (``landscape_checker/``, ``model_index.json`` and the weight hashes
``weights.sha256``), each file written atomically; ``--no-checker`` or ``--no-quantiles`` leave that part as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.diffusion.emotion_map import label_quantiles
from music2img.diffusion.evaluation import photo_statistics
from music2img.diffusion.landscape_check import LandscapeChecker, photo_split
from music2img.diffusion.pipeline import load_pipeline, save_component
from music2img.errors import Music2ImgError
from music2img.files import atomic_path
from music2img.image.labelled_folder import read_labels


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pipeline", type=Path, help="pipeline folder to update")
    p.add_argument("--data", type=Path, required=True, help="the training photo folder")
    p.add_argument("--labels", type=Path, help="the training labels CSV (file, valence, arousal)")
    p.add_argument(
        "--quantile", type=float, default=0.99, help="share of real photos the checker passes (default: %(default)s)"
    )
    p.add_argument("--no-checker", action="store_true", help="keep the pipeline's landscape checker")
    p.add_argument("--no-quantiles", action="store_true", help="keep the pipeline's label quantiles")
    args = p.parse_args(argv)

    try:
        load_pipeline(args.pipeline)  # a clear error for a folder that is no pipeline
        files, labels = read_labels(args.data, args.labels)
    except Music2ImgError as err:
        raise SystemExit(f"error: {err}") from None
    if not args.no_checker:
        features = photo_statistics(files)["features"]
        fit, calibrate, test = photo_split(len(files))
        checker = LandscapeChecker.fit(features[fit], features[calibrate], args.quantile)
        rejected = float(np.mean(checker.distance_of_features(features[test]) > checker.config.threshold))
        save_component(args.pipeline, "landscape_checker", checker)
        print(
            f"landscape checker: threshold {checker.config.threshold:.3f} ({args.quantile:g} quantile of "
            f"{len(calibrate)} photos); rejects {rejected:.2%} of {len(test)} held-out photos"
        )
    if not args.no_quantiles:
        index_file = args.pipeline / "model_index.json"
        index = json.loads(index_file.read_text())
        index["emotion_quantiles"] = label_quantiles(labels)
        levels = np.quantile(labels, [0, 0.25, 0.5, 0.75, 1], axis=0).round(2)
        print(f"label quantiles 0, ¼, ½, ¾, 1: valence {levels[:, 0].tolist()}, arousal {levels[:, 1].tolist()}")
        with atomic_path(index_file) as tmp:
            tmp.write_text(json.dumps(index, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
