"""train/layout_prior.py: first draws painted resumably; layouts weighted by how often their pictures pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from factories_diffusion import make_tiny_pipeline

from music2img.diffusion.pipeline import load_pipeline, save_component
from music2img.diffusion.scene_check import SceneChecker
from music2img.diffusion.scene_layouts import SceneLayouts
from train.layout_prior import main, paint


def _sky_or_wall(n: int) -> torch.Tensor:
    """Photos alternately a bright sky over dark land and a dark wall, each with its own shade."""
    photos = torch.full((n, 3, 16, 16), 40, dtype=torch.uint8)
    for i in range(0, n, 2):
        photos[i, :, :8] = 200 + i
    photos += torch.arange(n, dtype=torch.uint8)[:, None, None, None]
    return photos


@pytest.fixture
def pipeline(tmp_path):
    """A tiny pipeline with 10 sad layouts, 2 happy ones and a checker passing every picture."""
    folder = make_tiny_pipeline(tmp_path / "pipe")
    rng = np.random.default_rng(0)
    emotions = np.concatenate([rng.uniform((1.5, 1.5), (4.5, 8.5), (10, 2)), [[8.8, 8.0], [8.8, 2.0]]])
    save_component(folder, "layouts", SceneLayouts.from_photos(_sky_or_wall(12), emotions, neighbours=3))
    checker = SceneChecker()
    checker.intercept.fill_(20.0)
    save_component(folder, "scene_checker", checker)
    return folder


def test_first_draws_are_painted_over_a_nearest_layout_and_resume(pipeline, tmp_path):
    pipe = load_pipeline(pipeline)
    pipe.set_progress_bar_config(disable=True)
    draws = tmp_path / "draws.csv"
    first = paint(pipe, draws, 3, first_seed=10, batch=2)
    assert first["seed"].tolist() == [10, 11, 12] and (first["probability"] > 0.99).all()
    for row in first.itertuples():
        assert row.layout in pipe.layouts.nearest(row.valence, row.arousal).tolist()
        assert 1.5 <= row.valence <= 4.5
    more = paint(pipe, draws, 5, first_seed=10, batch=2)  # goes on after the 3 already painted
    assert len(more) == 5 and more.iloc[:3].equals(first) and pd.read_csv(draws).equals(more)


def test_layouts_whose_pictures_pass_are_weighted_up_and_happy_ones_left_alone(pipeline, tmp_path):
    rng = np.random.default_rng(1)
    layout = np.repeat(np.arange(10), 12)
    sky = layout % 2 == 0
    passes = rng.random(len(layout)) < np.where(sky, 0.8, 0.2)
    draws = pd.DataFrame({"seed": np.arange(len(layout)), "valence": 3.0, "arousal": 3.0, "layout": layout,
                          "probability": np.where(passes, 0.9, 0.1)})  # fmt: skip
    draws.to_csv(tmp_path / "draws.csv", index=False)
    assert main([str(pipeline), "--draws", str(tmp_path / "draws.csv")]) == 0
    weights = load_pipeline(pipeline).layouts.weights.numpy()
    assert weights[:10][::2].min() > weights[:10][1::2].max()  # every sky above every wall
    assert weights[10:].tolist() == [1.0, 1.0]  # no sad request draws the happy layouts
    assert np.isclose(weights[:10].mean(), 1.0)
    assert "_name_or_path" not in (pipeline / "layouts" / "config.json").read_text()  # no local path shipped


def test_draws_that_all_fail_or_name_unknown_layouts_are_refused(pipeline, tmp_path):
    draws = pd.DataFrame({"seed": range(10), "valence": 3.0, "arousal": 3.0, "layout": range(10), "probability": 0.1})
    draws.to_csv(tmp_path / "fail.csv", index=False)
    with pytest.raises(SystemExit, match="all fail"):
        main([str(pipeline), "--draws", str(tmp_path / "fail.csv")])
    draws.assign(layout=range(5, 15)).to_csv(tmp_path / "unknown.csv", index=False)
    with pytest.raises(SystemExit, match="does not have"):
        main([str(pipeline), "--draws", str(tmp_path / "unknown.csv")])
    draws.drop(columns="probability").to_csv(tmp_path / "broken.csv", index=False)
    with pytest.raises(SystemExit, match="lacks the columns"):
        main([str(pipeline), "--draws", str(tmp_path / "broken.csv")])
