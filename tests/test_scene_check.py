"""SceneChecker: a logistic regression on the detector's features; the pipeline redraws what it calls no scene."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import load_script
from factories_diffusion import make_checked_pipeline, make_tiny_pipeline, paint_pair
from factories_scenes import scene_picture, texture_picture
from PIL import Image
from sklearn.metrics import roc_auc_score

from music2img.diffusion.defaults import MAX_REDRAWS
from music2img.diffusion.landscape_check import LandscapeChecker
from music2img.diffusion.pipeline import load_pipeline, save_component
from music2img.diffusion.scene_check import SceneChecker
from music2img.image.detector_features import FEATURE_NAMES, detector_features


def _pictures(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return [scene_picture(rng) if s else texture_picture(rng) for s in y], y


@pytest.fixture(scope="module")
def fitted():
    pictures, y = _pictures(24, seed=0)
    return SceneChecker.fit(np.stack([detector_features(p) for p in pictures]), y, early_threshold=0.2)


def test_fitted_checker_tells_scenes_it_never_saw_from_close_ups(fitted):
    pictures, y = _pictures(8, seed=1)
    p = fitted.probability(pictures)
    assert p.shape == (8,) and ((p >= 0) & (p <= 1)).all()
    assert np.array_equal(fitted.is_scene(pictures), y.astype(bool))


def test_fit_refuses_bad_input():
    features = np.random.default_rng(0).normal(size=(6, len(FEATURE_NAMES)))
    with pytest.raises(ValueError, match="features"):
        SceneChecker.fit(features[:, :5], np.array([0, 1] * 3))
    with pytest.raises(ValueError, match="both present"):
        SceneChecker.fit(features, np.ones(6))
    with pytest.raises(ValueError, match="threshold"):
        SceneChecker.fit(features, np.array([0, 1] * 3), threshold=1.0)
    with pytest.raises(ValueError, match="early_threshold"):
        SceneChecker.fit(features, np.array([0, 1] * 3), threshold=0.6, early_threshold=0.6)
    with pytest.raises(ValueError, match="refit"):
        SceneChecker(schema_version="centernet-0")


def _checker(passes: bool) -> SceneChecker:
    """Calls every picture a scene, or none: zero weights and a large intercept."""
    checker = SceneChecker()
    checker.intercept.fill_(20.0 if passes else -20.0)
    return checker


def test_pictures_called_no_scene_are_redrawn_up_to_max_redraws():
    plain, _ = paint_pair(make_checked_pipeline())
    kept, steps = paint_pair(make_checked_pipeline(scene_checker=_checker(passes=True)))
    assert np.allclose(kept, plain, atol=1e-6) and steps[-1] == (2, 2)
    pipe = make_checked_pipeline(scene_checker=_checker(passes=False))
    out = pipe([3.0, 7.0], [5.0, 5.0], num_inference_steps=2, output_type="np", max_redraws=3)
    assert out.redraws == [3, 3]
    redrawn, steps = paint_pair(pipe, max_redraws=2)
    assert steps[-1] == (6, 6) and not np.allclose(redrawn, plain, atol=1e-3)
    assert np.array_equal(redrawn, paint_pair(pipe, max_redraws=2)[0])  # reproducible from the generators
    off, steps = paint_pair(pipe, max_redraws=0)
    assert np.allclose(off, plain, atol=1e-6) and steps[-1] == (2, 2)


def test_a_hopeless_estimate_is_abandoned_early_and_painted_again():
    """With an ``early_threshold``, a batch whose estimates after 2 of 12 steps all rate below it is painted again at
    once; the sampler being deterministic, the pictures are those painting every draw to the end gives. Without one,
    or with estimates above it, every draw is painted to the end."""
    hopeless = _checker(passes=False)
    hopeless.register_to_config(early_threshold=0.1)
    pipe = make_checked_pipeline(scene_checker=hopeless)
    early, steps = paint_pair(pipe, steps=12, max_redraws=1)
    assert steps[:3] == [(1, 12), (2, 12), (3, 14)] and steps[-1] == (14, 14)
    late, steps = paint_pair(pipe, steps=12, max_redraws=1, early_check=None)
    assert steps[11] == (12, 12) and steps[-1] == (24, 24) and np.allclose(early, late, atol=1e-5)
    no_early, above = _checker(passes=False), _checker(passes=True)
    above.register_to_config(early_threshold=0.5)
    for checker in (no_early, above):
        _, steps = paint_pair(make_checked_pipeline(scene_checker=checker), steps=12, max_redraws=1)
        assert steps[11] == (12, 12)


def test_when_every_draw_is_rejected_the_best_rated_is_kept(monkeypatch):
    """Every draw is rejected; the first draws rate 0.4, the redraws 0.1: the first draws come back (the last would
    before 2026-12-05)."""
    plain, _ = paint_pair(make_checked_pipeline())
    first = []

    def probability(self, images):
        images = np.asarray(images)
        first.extend([] if first else list(images))
        return np.array([0.4 if any(np.array_equal(im, f) for f in first) else 0.1 for im in images])

    monkeypatch.setattr(SceneChecker, "probability", probability)
    pipe = make_checked_pipeline(scene_checker=SceneChecker())
    out = pipe([3.0, 7.0], [5.0, 5.0], num_inference_steps=2, output_type="np", max_redraws=2,
               generator=[torch.Generator().manual_seed(0) for _ in range(2)])  # fmt: skip
    assert out.redraws == [2, 2] and np.allclose(out.images, plain, atol=1e-6)


def test_only_landscapes_are_judged_for_scenes(monkeypatch):
    """The scene check (a detector pass per picture) runs once per draw, on the pictures the landscape check passed:
    of each pair (the first draws, the redraws, the last redraws) only the first; a redraw returned with its
    rating is not judged again."""
    landscape, scene = LandscapeChecker(), _checker(passes=True)
    monkeypatch.setattr(LandscapeChecker, "is_landscape", lambda self, images: np.arange(len(images)) == 0)
    seen = []
    monkeypatch.setattr(SceneChecker, "probability", lambda self, images: (seen.append(len(images)), np.zeros(1))[1])
    out = make_checked_pipeline(landscape_checker=landscape, scene_checker=scene)(
        [3.0, 7.0], [5.0, 5.0], num_inference_steps=2, output_type="np", max_redraws=2, early_check=None
    )
    assert seen == [1, 1, 1] and out.redraws == [2, 2]
    assert out.ratings == [0.0, -1.0]  # a landscape no scene; not a landscape


def test_checker_saved_and_loaded_with_the_pipeline(fitted, tmp_path):
    make_checked_pipeline(scene_checker=fitted).save_pretrained(tmp_path / "p")
    loaded = load_pipeline(tmp_path / "p").scene_checker
    assert isinstance(loaded, SceneChecker) and loaded.config.threshold == fitted.config.threshold
    assert loaded.config.early_threshold == fitted.config.early_threshold
    pictures, _ = _pictures(4, seed=2)
    assert np.allclose(loaded.probability(pictures), fitted.probability(pictures))
    assert load_pipeline(make_tiny_pipeline(tmp_path / "none")).scene_checker is None


def test_training_script_scores_and_adds_the_checker(tmp_path, capsys):
    script = load_script("train/scene_checker.py")
    pictures, y = _pictures(20, seed=3)
    rows = []
    (tmp_path / "p").mkdir()
    for i, (picture, scene) in enumerate(zip(pictures, y)):
        Image.fromarray(picture).save(tmp_path / "p" / f"{i}.png")
        rows.append({"path": f"p/{i}.png", "scene": scene, "seed": i // 2, "valence": 2.0, "arousal": 2.0})
    pd.DataFrame(rows[:12]).to_csv(tmp_path / "labels.csv", index=False)
    pd.DataFrame(rows[12:]).to_csv(tmp_path / "more.csv", index=False)
    model = make_tiny_pipeline(tmp_path / "pipe")
    args = ["--images", str(tmp_path), "--labels", str(tmp_path / "labels.csv"), str(tmp_path / "more.csv")]
    assert script.main([str(model), *args, "--threshold", "0.6", "--early-threshold", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "requested Q3" in out and "ROC AUC 1.000" in out and "20 pictures (" in out and "2 label table(s)" in out
    checker = load_pipeline(model).scene_checker
    assert checker.config.threshold == 0.6 and checker.config.early_threshold == 0.2
    assert np.array_equal(checker.is_scene(pictures[-4:]), y[-4:].astype(bool))  # the second table's rows: fitted too
    pd.DataFrame(rows).drop(columns="seed").to_csv(tmp_path / "noseed.csv", index=False)
    with pytest.raises(Exception, match="seed column"):
        script.main([str(model), "--images", str(tmp_path), "--labels", str(tmp_path / "noseed.csv")])
    with pytest.raises(SystemExit):
        script.main([str(tmp_path / "nothing"), *args])


def test_benchmark_times_pictures_with_and_without_the_check(tmp_path, capsys):
    bench = load_script("benchmarks/scene_check.py")
    model = make_tiny_pipeline(tmp_path / "pipe")
    with pytest.raises(SystemExit):  # no scene checker yet
        bench.main(["--model", str(model), "--seeds", "0"])
    save_component(model, "scene_checker", _checker(passes=False))
    args = ["--model", str(model), "--seeds", "0", "1", "--threads", "1", "--json", str(tmp_path / "r.json")]
    assert bench.main(args) == 0
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["without"]["Q3"]["redraws"] == 0 and results["with"]["Q3"]["redraws"] == MAX_REDRAWS
    assert set(results["with"]) == {"Q1", "Q2", "Q3", "Q4", "centre", "all"}
    assert "ratio" in capsys.readouterr().out


def test_the_shipped_checker_is_fitted_on_the_shipped_labelled_pictures():
    """A wiring check, no measurement (these pictures are its training data): the shipped pipeline's checker
    ranks 40 of the labelled pictures the defaults returned by their labels, as a checker fitted on them must
    (an unfitted one, or one reading the features in another order, would not); by ROC AUC, whatever the
    threshold."""
    from music2img.assets import DIFFUSION_MODEL_DIR
    from music2img.image.scene_model import PICTURE_SCENE_MODEL_DIR

    checker = load_pipeline(DIFFUSION_MODEL_DIR).scene_checker
    table = pd.read_csv(PICTURE_SCENE_MODEL_DIR / "checker_labels.csv")
    rows = table[table["sample"] == "defaults-checked"].sample(40, random_state=0)
    pictures = [np.asarray(Image.open(PICTURE_SCENE_MODEL_DIR / p).convert("RGB")) for p in rows["path"]]
    assert roc_auc_score(rows["scene"], checker.probability(pictures)) >= 0.9


def test_early_check_benchmark_judges_estimates_by_the_early_threshold(tmp_path):
    """``benchmarks/early_check.py --check scene``: a picture is rejected when finished below the checker's threshold,
    and early below its ``early_threshold``. A checker rating everything ≈ 0 rejects every estimate; one rating
    everything 0.5 rejects every finished picture (threshold 0.8) but no estimate (early threshold 0.1)."""
    bench = load_script("benchmarks/early_check.py")
    model = make_tiny_pipeline(tmp_path / "pipe")
    args = ["--model", str(model), "--check", "scene", "--grid", "3", "--seeds", "2", "--steps", "4"]
    with pytest.raises(SystemExit):  # no scene checker
        bench.main(args)
    for intercept, early in ((-20.0, 1.0), (0.0, 0.0)):
        checker = SceneChecker(threshold=0.8, early_threshold=0.1)
        checker.intercept.fill_(intercept)
        save_component(model, "scene_checker", checker)
        assert bench.main([*args, "--json", str(tmp_path / "r.json")]) == 0
        result = json.loads((tmp_path / "r.json").read_text())
        assert result["check"] == "scene" and result["pictures"] == 2 and result["rejected"] == 1.0
        assert [r["rejected early"] for r in result["steps"]] == [early] * len(result["steps"])
    save_component(model, "scene_checker", SceneChecker())  # no early threshold
    with pytest.raises(SystemExit):
        bench.main(args)
