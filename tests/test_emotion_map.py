"""Requests mapped onto the training labels' distribution by quantiles, in the pipeline too."""

import numpy as np
import pytest
import torch
from factories_diffusion import make_tiny_unet, perturb_emotion

from music2img.diffusion.emotion_map import label_quantiles, map_to_labels
from music2img.diffusion.pipeline import EmotionLandscapePipeline, load_pipeline
from music2img.diffusion.schedulers import make_scheduler, training_scheduler


def test_requests_become_ranks_of_the_labels():
    rng = np.random.default_rng(0)
    labels = np.column_stack([rng.uniform(1, 8.6, 500), rng.normal(5, 0.9, 500)])
    q = label_quantiles(labels)
    assert len(q) == 2 and all(len(x) == 33 and np.all(np.diff(x) >= 0) for x in q)
    v, a = map_to_labels([1, 5, 9], [1, 5, 9], q)
    assert v == pytest.approx([labels[:, 0].min(), np.median(labels[:, 0]), labels[:, 0].max()], abs=1e-3)
    assert a == pytest.approx([labels[:, 1].min(), np.median(labels[:, 1]), labels[:, 1].max()], abs=1e-3)
    # arousal 8 lands inside the labels (its 87.5 % quantile), far below 8
    assert map_to_labels([5], [8], q)[1][0] == pytest.approx(np.quantile(labels[:, 1], 0.875), abs=0.05)
    grid = np.linspace(1, 9, 41)
    assert np.all(np.diff(map_to_labels(grid, grid, q)[1]) >= 0)


def test_bad_labels_raise():
    with pytest.raises(ValueError, match="labels"):
        label_quantiles(np.ones((5, 3)))
    with pytest.raises(ValueError, match="labels"):
        label_quantiles(np.array([[1.0, np.nan], [2.0, 3.0]]))


def _pipe(quantiles=None):
    pipe = EmotionLandscapePipeline(
        unet=perturb_emotion(make_tiny_unet()),
        scheduler=make_scheduler("ddim", training_scheduler().config),
        emotion_quantiles=quantiles,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_pipeline_paints_the_mapped_emotion_and_keeps_it_when_saved(tmp_path):
    labels = np.column_stack([np.linspace(3, 7, 50), np.linspace(4, 6, 50)])
    pipe = _pipe(label_quantiles(labels))

    def paint(p, v, a, **kw):
        return p(v, a, num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0), **kw).images

    assert np.allclose(paint(pipe, 9.0, 1.0), paint(pipe, 7.0, 4.0, map_emotion=False), atol=1e-6)
    assert not np.allclose(paint(pipe, 9.0, 1.0), paint(pipe, 9.0, 1.0, map_emotion=False), atol=1e-3)
    pipe.save_pretrained(tmp_path / "p")
    loaded = load_pipeline(tmp_path / "p")
    assert loaded.config.emotion_quantiles == pipe.config.emotion_quantiles
    loaded.scheduler = make_scheduler("ddim", loaded.scheduler.config)
    loaded.set_progress_bar_config(disable=True)
    assert np.allclose(paint(loaded, 9.0, 1.0), paint(pipe, 9.0, 1.0), atol=1e-5)


def test_pipeline_without_quantiles_paints_requests_as_given():
    pipe = _pipe()
    out = [
        pipe(
            2.0, 8.0, num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0), map_emotion=m
        ).images
        for m in (True, False)
    ]
    assert np.array_equal(*out)
