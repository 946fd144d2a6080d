"""Draw less often the scene layouts whose pictures people called no scene.

    python train/layout_labels.py assets/diffusion --labels assets/picture_scene_model/strict_labels.csv \\
        assets/picture_scene_model/strict_labels_next.csv assets/picture_scene_model/strict_labels_next_raters.csv

The label tables (``scene_sheets.py labels`` writes them) name pictures the pipeline returned (``path``, relative to
the table's folder), the request (``valence``, ``arousal``) and one or more people's labels (``scene`` and
``rater_*``: 1 scene, 0 not); rows of several tables with the same ``path`` are one picture, so a table of further
raters' columns joins the one it rates. Each picture is matched to the layout it was painted over by its block means
(:meth:`~music2img.diffusion.scene_layouts.SceneLayouts.painted_over`) and counts as the share of its raters who
called it a scene. A layout's scene rate is its pictures' mean, shrunk towards the mean of all pictures ``p`` by
``--strength`` pictures at ``p``; its label factor is that rate over ``p``, at most 1, to the ``--power``: a layout
people found no worse than the average keeps its weight, one whose pictures were mostly no scene is drawn less, and
a layout with no labelled picture keeps its weight too. The factors are written to the pipeline's ``layouts/``
(``label_factors``, beside the scene check's ``weights`` from ``train/layout_prior.py``, which they leave alone: a
second run sets the same factors again, it does not compound).

With a ``sample`` column (the labelled sets), the printout holds each set out in turn, sets the factors on the
others and weights the held-out set's pictures by them: an estimate of the share of scenes the factors give on
pictures they were not fitted on, per quarter of the plane, before and after, by the mean of the raters and by the
strictest one.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.diffusion.emotion_map import map_to_labels
from music2img.diffusion.pipeline import load_pipeline, save_component
from music2img.diffusion.scene_layouts import SceneLayouts
from music2img.errors import DatasetError, Music2ImgError
from music2img.image.labelled_folder import load_images
from music2img.va import quadrants

REQUEST = ["valence", "arousal"]
#: Pictures matched to their layouts at once (as floats: 2,878 pictures of 128 px would take 566 MB).
CHUNK = 256
#: Valences and arousals of the quarters' corner cells (``benchmarks/scene_sheets.py`` counts scenes there).
CORNERS = (2.0, 3.5, 6.5, 8.0)


def read_labels(tables: list[Path]) -> pd.DataFrame:
    """The tables joined on their pictures' paths (made absolute): one row a picture, with the request and the
    columns ``scene`` and ``rater_*`` (a missing label left empty). Raises :class:`DatasetError` on a table without
    ``path``, a picture without a request or a label, or a label other than 0 or 1."""
    joined = None
    for table in tables:
        try:
            rows = pd.read_csv(table)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise DatasetError(f"cannot read the label table {table}: {err}") from err
        if "path" not in rows.columns:
            raise DatasetError(f"{table} has no 'path' column")
        rows["path"] = [str((table.parent / p).resolve()) for p in rows["path"]]
        rows = rows.drop_duplicates("path").set_index("path")
        joined = rows if joined is None else joined.combine_first(rows)
    raters = [c for c in joined.columns if c == "scene" or c.startswith("rater_")]
    missing = [c for c in REQUEST if c not in joined.columns]
    if missing or not raters:
        raise DatasetError(f"the label tables lack {missing or 'a label column (scene, rater_*)'}")
    bad = joined[REQUEST].isna().any(axis=1) | joined[raters].isna().all(axis=1)
    bad |= ~joined[raters].isin([0, 1]).where(joined[raters].notna(), True).all(axis=1)
    if bad.any():
        raise DatasetError(
            f"{int(bad.sum())} labelled pictures lack a request or a label of 0 or 1, e.g. {bad.index[bad][0]}"
        )
    return joined.reset_index()


def label_factors(layout: np.ndarray, scene: np.ndarray, num_layouts: int, strength: float, power: float) -> np.ndarray:
    """One factor per layout from its pictures' scene labels (``scene`` in [0, 1], each picture's ``layout``): the
    shrunk scene rate over the mean of all, at most 1, to ``power``; 1 for a layout with no picture."""
    mean = float(np.mean(scene))
    if not 0 < mean:
        raise DatasetError("no labelled picture is a scene: nothing to tell the layouts apart by")
    sums = np.bincount(layout, scene, minlength=num_layouts)
    counts = np.bincount(layout, minlength=num_layouts)
    rate = (sums + strength * mean) / (counts + strength)
    return np.minimum(rate / mean, 1.0) ** power


def held_out(labels: pd.DataFrame, num_layouts: int, strength: float, power: float) -> pd.DataFrame:
    """Per quarter of the plane (:func:`~music2img.va.quadrants`), the share of scenes among each labelled sample's
    pictures and that share with the pictures weighted by factors set on the other samples (pooled over samples), by
    the raters' mean (``mean``) and by the strictest rater (``strictest``)."""
    rows = []
    for sample in labels["sample"].unique():
        fit, test = labels[labels["sample"] != sample], labels[labels["sample"] == sample]
        factors = label_factors(fit["layout"].to_numpy(), fit["mean"].to_numpy(), num_layouts, strength, power)
        rows.append(test.assign(weight=factors[test["layout"].to_numpy()]))
    weighted = pd.concat(rows)
    out = {}
    for name, group in weighted.groupby("quarter"):
        out[name] = {
            f"{label} {when}": np.average(group[label], weights=None if when == "before" else group["weight"])
            for label in ("mean", "strictest")
            for when in ("before", "after")
        } | {"pictures": len(group)}
    return pd.DataFrame(out).T.astype({"pictures": int})


def weighted_only(layouts: SceneLayouts) -> SceneLayouts:
    """A copy of ``layouts`` drawn by their weights alone (every label factor 1)."""
    plain = copy.deepcopy(layouts)
    plain.set_label_factors(np.ones(layouts.config.num_layouts))
    return plain


def variety(layouts: SceneLayouts, cells: list[tuple[float, float]]) -> pd.DataFrame:
    """For each (valence, arousal) cell (as the pipeline maps it), the effective number of layouts it draws among (the
    exponent of the entropy of :meth:`~music2img.diffusion.scene_layouts.SceneLayouts.draw_chances`) and the largest
    chance."""
    rows = {}
    for v, a in cells:
        chances = layouts.draw_chances(v, a)[1]
        chances = chances[chances > 0]
        rows[(v, a)] = {"layouts": float(np.exp(-(chances * np.log(chances)).sum())), "largest": chances.max()}
    return pd.DataFrame(rows).T


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pipeline", type=Path, help="pipeline folder whose layouts to weight")
    p.add_argument("--labels", type=Path, nargs="+", required=True, help="label tables of the pipeline's pictures")
    p.add_argument(
        "--strength", type=float, default=5.0, help="pictures at the mean rate each layout's rate starts from"
    )
    p.add_argument("--power", type=float, default=3.0, help="factor = (scene rate / mean rate, at most 1) ** power")
    args = p.parse_args(argv)
    if not (args.strength > 0 and args.power > 0):
        p.error("--strength and --power must be positive")

    pipe = load_pipeline(args.pipeline)
    if pipe.layouts is None:
        p.error(f"{args.pipeline} has no scene layouts")
    layouts = pipe.layouts
    try:
        labels = read_labels(args.labels)
        pictures = load_images(labels["path"].tolist(), pipe.unet.config.sample_size)  # uint8, as painted
        v, a = labels["valence"].to_numpy(float), labels["arousal"].to_numpy(float)
        mv, ma = map_to_labels(v, a, pipe.config.emotion_quantiles) if pipe.config.emotion_quantiles else (v, a)
        raters = labels[[c for c in labels.columns if c == "scene" or c.startswith("rater_")]]
        painted_over = [
            layout
            for k in range(0, len(labels), CHUNK)
            for layout in layouts.painted_over(pictures[k : k + CHUNK] / 255, mv[k : k + CHUNK], ma[k : k + CHUNK])
        ]
        labels = labels.assign(
            layout=painted_over,
            mean=raters.mean(axis=1),
            strictest=raters.min(axis=1),
            quarter=quadrants(v, a),
        )
        n = layouts.config.num_layouts
        factors = label_factors(labels["layout"].to_numpy(), labels["mean"].to_numpy(), n, args.strength, args.power)
    except Music2ImgError as err:
        raise SystemExit(f"error: {err}") from None
    if "sample" in labels.columns and labels["sample"].nunique() > 1:
        print("Scene shares, each labelled sample held out in turn (before → after its pictures are weighted):")
        print(held_out(labels, n, args.strength, args.power).round(3).to_string())
    cells = [(v, a) for v in CORNERS for a in CORNERS]
    mapped = map_to_labels(*np.array(cells).T, pipe.config.emotion_quantiles) if pipe.config.emotion_quantiles else None
    requests = list(zip(*mapped)) if mapped else cells
    before = variety(weighted_only(layouts), requests)
    layouts.set_label_factors(factors)
    after = variety(layouts, requests)
    print("Layouts a corner cell draws among (effective number, largest chance), before → after:")
    print(pd.concat({"before": before, "after": after}, axis=1).set_axis(cells).round(2).to_string())
    save_component(args.pipeline, "layouts", layouts)
    lowered = factors < 1
    print(
        f"{len(labels)} labelled pictures over {labels['layout'].nunique()} layouts, {labels['mean'].mean():.1%} "
        f"scenes by the raters' mean; {int(lowered.sum())} layouts drawn less (factors "
        f"{factors.min():.2f}–1), written to {args.pipeline / 'layouts'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
