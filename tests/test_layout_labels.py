"""train/layout_labels.py: layouts whose pictures people called no scene are drawn less."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from factories_diffusion import make_tiny_pipeline
from PIL import Image

from music2img.diffusion.pipeline import load_pipeline, save_component
from music2img.diffusion.scene_layouts import SceneLayouts
from train.layout_labels import label_factors, main, variety, weighted_only

GREYS = [40, 100, 160, 220]


@pytest.fixture
def pipeline(tmp_path):
    """A tiny pipeline with four flat grey layouts of one emotion, the second weighted twice."""
    folder = make_tiny_pipeline(tmp_path / "pipe")
    photos = torch.tensor(GREYS, dtype=torch.uint8).view(4, 1, 1, 1).expand(4, 3, 16, 16).contiguous()
    layouts = SceneLayouts.from_photos(photos, np.full((4, 2), 3.0), neighbours=4)
    layouts.set_weights([1, 2, 1, 1])
    save_component(folder, "layouts", layouts)
    return folder


def _labelled(tmp_path, painted_over: list[int], scenes: list[int], samples: list[str]) -> pd.DataFrame:
    """Pictures near the grey of the layout each was painted over (noise added), saved as PNG, and their table."""
    (tmp_path / "pictures").mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i, layout in enumerate(painted_over):
        picture = np.clip(GREYS[layout] + rng.normal(0, 8, (32, 32, 3)), 0, 255).astype(np.uint8)
        paths.append(f"pictures/{i}.png")
        Image.fromarray(picture).save(tmp_path / paths[-1])
    return pd.DataFrame({"path": paths, "scene": scenes, "sample": samples, "valence": 3.0, "arousal": 3.0})


def test_layouts_people_called_no_scene_are_drawn_less_and_a_second_run_does_not_compound(pipeline, tmp_path, capsys):
    """Layout 0's pictures were no scene by every rater, layout 1's scenes, layout 2's split; layout 3 was never
    labelled. A second table adds a rater to some pictures by path."""
    over = [0] * 6 + [1] * 6 + [2] * 4
    table = _labelled(tmp_path, over, [0] * 6 + [1] * 6 + [1, 1, 0, 0], ["a", "b"] * 8)
    table.to_csv(tmp_path / "labels.csv", index=False)
    table[["path"]].assign(rater_2=[0] * 6 + [1] * 6 + [1, 1, 1, 1]).to_csv(tmp_path / "raters.csv", index=False)
    argv = [str(pipeline), "--labels", str(tmp_path / "labels.csv"), str(tmp_path / "raters.csv")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "16 labelled pictures over 3 layouts" in out and "held out" in out and "Q3" in out
    layouts = load_pipeline(pipeline).layouts
    factors = layouts.label_factors.numpy()
    # the raters' mean: 0 for layout 0, 1 for layout 1, 0.75 for layout 2; the mean of all 0.5625
    assert np.allclose(factors, label_factors(np.array(over), np.array([0] * 6 + [1] * 6 + [1, 1, 0.5, 0.5]), 4, 5, 3))
    assert factors[0] < 0.2 and factors[1] == factors[2] == factors[3] == 1.0
    assert layouts.weights.tolist() == [1, 2, 1, 1]  # the scene check's weights stay
    drawn = np.bincount(layouts.choose([3.0] * 400, [3.0] * 400, torch.Generator().manual_seed(0)), minlength=4)
    assert drawn[0] < 15 and drawn[1] > drawn[2]
    assert "Layouts a corner cell draws among" in out
    # weights 1, 2, 1, 1 alone: 4 layouts at 1/5, 2/5, 1/5, 1/5; with layout 0 all but gone, fewer and a larger top one
    before, after = variety(weighted_only(layouts), [(3.0, 3.0)]).iloc[0], variety(layouts, [(3.0, 3.0)]).iloc[0]
    assert (
        before["layouts"] == pytest.approx(np.exp(-(0.6 * np.log(0.2) + 0.4 * np.log(0.4))))
        and before["largest"] == 0.4
    )
    assert after["layouts"] < before["layouts"] and after["largest"] > 0.4
    assert main(argv) == 0
    assert np.allclose(load_pipeline(pipeline).layouts.label_factors.numpy(), factors)


def test_a_rate_is_shrunk_towards_the_mean_and_never_raises_a_weight():
    layout, scene = np.array([0, 0, 1, 1, 1, 1]), np.array([0.0, 0, 1, 1, 1, 1])
    few = label_factors(layout, scene, 3, strength=5, power=1)
    assert few[0] == pytest.approx((0 + 5 * 4 / 6) / 7 / (4 / 6)) and few[1] == few[2] == 1.0
    assert label_factors(layout, scene, 3, strength=1, power=1)[0] < few[0]  # fewer made-up pictures: lower
    assert label_factors(layout, scene, 3, strength=5, power=3)[0] == pytest.approx(few[0] ** 3)


def test_broken_label_tables_are_refused_with_the_reason(pipeline, tmp_path):
    table = _labelled(tmp_path, [0, 1], [0, 1], ["a", "a"])
    cases = {
        "no 'path' column": table.drop(columns="path"),
        "label of 0 or 1": table.assign(scene=[0, 2]),
        "lack a request": table.assign(valence=[3.0, None]),
        "cannot read image": table.assign(path=["pictures/0.png", "pictures/gone.png"]),
    }
    for message, broken in cases.items():
        broken.to_csv(tmp_path / "broken.csv", index=False)
        with pytest.raises(SystemExit, match=message):
            main([str(pipeline), "--labels", str(tmp_path / "broken.csv")])
    table.assign(scene=0).to_csv(tmp_path / "none.csv", index=False)
    with pytest.raises(SystemExit, match="no labelled picture is a scene"):
        main([str(pipeline), "--labels", str(tmp_path / "none.csv")])
    assert load_pipeline(pipeline).layouts.label_factors.tolist() == [1.0] * 4  # nothing written
