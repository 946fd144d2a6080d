"""SceneLayouts: colour layouts of scene photos, drawn near a request; the pipeline paints over them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from factories_diffusion import make_labelled_folder, make_tiny_pipeline, make_tiny_unet
from safetensors.torch import save_file

from music2img.diffusion.pipeline import EmotionLandscapePipeline, load_pipeline
from music2img.diffusion.scene_layouts import SceneLayouts, framed
from music2img.diffusion.schedulers import make_scheduler, training_scheduler
from music2img.errors import DatasetError


def _photos(levels: list[int], side: int = 16) -> torch.Tensor:
    """Grey photos whose top half has ``level`` and bottom half ``255 − level``."""
    out = torch.empty(len(levels), 3, side, side, dtype=torch.uint8)
    for i, level in enumerate(levels):
        out[i, :, : side // 2], out[i, :, side // 2 :] = level, 255 - level
    return out


def test_layouts_are_block_means_kept_with_their_emotions():
    photos = torch.zeros(1, 3, 16, 16, dtype=torch.uint8)
    photos[0, 0, :4, :4] = 200  # one red block in the top-left corner of a 4 × 4 layout
    photos[0, 1, :2] = 100  # half of the top row of blocks green
    layouts = SceneLayouts.from_photos(photos, [[2.0, 7.0]], side=4)
    assert layouts.layouts.shape == (1, 3, 4, 4) and layouts.layouts.dtype == torch.uint8
    assert layouts.layouts[0, 0, 0, 0] == 200 and layouts.layouts[0, 0].sum() == 200
    assert (layouts.layouts[0, 1, 0] == 50).all() and layouts.layouts[0, 1, 1:].sum() == 0
    assert layouts.emotions.tolist() == [[2.0, 7.0]]


@pytest.mark.parametrize(
    "photos, emotions, match",
    [
        (torch.zeros(2, 16, 16, 3, dtype=torch.uint8), [[5, 5], [5, 5]], "uint8"),
        (torch.zeros(2, 3, 16, 16), [[5, 5], [5, 5]], "uint8"),
        (torch.zeros(2, 3, 12, 12, dtype=torch.uint8), [[5, 5], [5, 5]], "multiples"),
        (torch.zeros(2, 3, 16, 16, dtype=torch.uint8), [[5, 5]], "pairs"),
        (torch.zeros(2, 3, 16, 16, dtype=torch.uint8), [[5, 5], [5, float("nan")]], "finite"),
    ],
)
def test_bad_photos_or_emotions_are_refused(photos, emotions, match):
    with pytest.raises(ValueError, match=match):
        SceneLayouts.from_photos(photos, emotions)


def test_a_request_draws_among_the_photos_nearest_to_it():
    emotions = [[1, 1], [2, 2], [8, 8], [9, 9], [5, 5]]
    layouts = SceneLayouts.from_photos(_photos([0, 50, 100, 150, 200]), emotions, neighbours=2)
    assert sorted(layouts.nearest(1.2, 1.4).tolist()) == [0, 1]
    assert sorted(layouts.nearest(8.9, 8.6).tolist()) == [2, 3]
    drawn = {layouts.choose([8.5], [8.5], torch.Generator().manual_seed(s))[0] for s in range(20)}
    assert drawn == {2, 3}  # photos 2 and 3 only, both drawn


def test_drawing_is_reproducible_by_generator_and_a_layout_enlarged_fills_the_size():
    layouts = SceneLayouts.from_photos(
        _photos(list(range(0, 250, 10))), np.random.default_rng(0).uniform(1, 9, (25, 2))
    )
    picks = layouts.choose([2, 8], [3, 6], [torch.Generator().manual_seed(s) for s in (0, 1)])
    assert picks == layouts.choose([2, 8], [3, 6], [torch.Generator().manual_seed(s) for s in (0, 1)])
    one = layouts.enlarge(picks, 32)
    assert one.shape == (2, 3, 32, 32)
    assert one.min() >= -1 and one.max() <= 1
    assert (one[:, :, :8].mean() - one[:, :, -8:].mean()).abs() > 0.1  # the top and bottom halves stay apart


def _pipe(layouts: SceneLayouts | None) -> EmotionLandscapePipeline:
    pipe = EmotionLandscapePipeline(
        unet=make_tiny_unet(), scheduler=make_scheduler("unipc", training_scheduler().config), layouts=layouts
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _paint(pipe, strength: float, steps: int = 6, **kwargs) -> np.ndarray:
    kwargs.setdefault("sad_layout_strength", None)  # every picture at ``strength`` unless a test says otherwise
    return pipe(
        [3.0, 7.0],
        [4.0, 6.0],
        num_inference_steps=steps,
        generator=[torch.Generator().manual_seed(s) for s in (0, 1)],
        output_type="np",
        layout_strength=strength,
        **kwargs,
    ).images


def test_pictures_start_from_the_layout_and_skip_the_steps_before_it():
    emotions = np.full((4, 2), 5.0)
    bright = SceneLayouts.from_photos(torch.full((4, 3, 16, 16), 240, dtype=torch.uint8), emotions)
    dark = SceneLayouts.from_photos(torch.full((4, 3, 16, 16), 15, dtype=torch.uint8), emotions)
    steps = []
    pipe = _pipe(bright)
    light = _paint(pipe, 0.5, callback=lambda i, n, t: steps.append((i, n)))
    assert steps == [(1, 3), (2, 3), (3, 3)]  # 3 of 6 steps painted, counted from the layout
    shade = _paint(_pipe(dark), 0.5)
    assert light.mean() > shade.mean() + 0.2
    # strength 1 paints from noise alone, exactly as a pipeline without layouts does
    assert np.array_equal(_paint(pipe, 1.0), _paint(_pipe(None), 0.5))


def test_every_picture_of_a_request_draws_its_own_layout():
    levels = list(range(0, 250, 25))
    layouts = SceneLayouts.from_photos(_photos(levels), np.full((len(levels), 2), 5.0), side=2)
    out = _pipe(layouts)(
        5.0, 5.0, num_images_per_prompt=4, num_inference_steps=4, generator=torch.Generator().manual_seed(0),
        output_type="np", layout_strength=0.5,
    )  # fmt: skip
    assert len(out.layouts) == 4 and len(set(out.layouts)) > 1


def test_the_early_check_and_the_redraw_count_the_steps_painted_over_the_layout():
    """Over a layout the early check comes after the first painted steps, and a rejected batch is painted
    again from a layout too (the callback counts painted steps only)."""
    from music2img.diffusion.landscape_check import LandscapeChecker

    pipe = _pipe(SceneLayouts.from_photos(_photos([30, 220]), [[3.0, 4.0], [7.0, 6.0]]))
    pipe.register_modules(landscape_checker=LandscapeChecker(threshold=-1.0))  # rejects every picture
    steps = []
    _paint(pipe, 0.5, steps=12, early_check=1 / 6, max_redraws=1, callback=lambda i, n, t: steps.append((i, n)))
    # 6 of 12 steps painted; abandoned after 2, then 6 more once the one redraw is spent
    assert steps[:2] == [(1, 6), (2, 6)] and steps[2] == (3, 8) and steps[-1] == (8, 8)


def track_at_5(layouts: SceneLayouts) -> int:
    return layouts.track([5.0], [5.0], seed=3)[0]


def test_a_track_keeps_its_layout_while_the_emotion_stays_near_and_changes_when_it_moves_on():
    grid = [(v, a) for v in range(1, 10) for a in range(1, 10)]  # 81 photos, one per point of the plane
    layouts = SceneLayouts.from_photos(_photos([3 * k for k in range(len(grid))]), grid, neighbours=2)
    path = [(2.0, 2.0), (2.2, 2.1), (2.4, 2.3), (2.0, 2.4), (2.8, 2.8), (8.0, 8.0), (8.1, 7.9), (2.1, 2.2)]
    track = layouts.track(*zip(*path), seed=3, radius=0.5)
    assert track[:4] == [track[0]] * 4 and track[5:7] == [track[5]] * 2  # held while within 0.5
    assert track[4] != track[0] and track[5] != track[4]  # (2.8, 2.8) lies 1.1 from (2, 2): a new scene
    assert np.abs(np.array(grid[track[0]]) - 2).max() <= 1 and np.abs(np.array(grid[track[5]]) - 8).max() <= 1
    assert np.abs(np.array(grid[track[7]]) - 2).max() <= 1  # back near the start: a layout of there again
    assert layouts.track(*zip(*path), seed=3, radius=0.5) == track  # reproducible by seed
    assert len({tuple(layouts.track(*zip(*path), seed=s, radius=0.5)) for s in range(8)}) > 1
    assert len(set(layouts.track(*zip(*path), seed=3, radius=10))) == 1  # the whole plane: one scene
    steady = [5.0] * 6
    split = layouts.track(steady, steady, seed=3, radius=10, segments=[0, 0, 0, 1, 1, 1])  # a new one per segment
    assert split[:3] == [split[0]] * 3 and split[3:] == [split[3]] * 3 and split[0] == track_at_5(layouts)
    with pytest.raises(ValueError, match="radius"):
        layouts.track([5.0], [5.0], seed=0, radius=0)


def test_given_layouts_are_painted_over_without_the_pipelines_own():
    dark = SceneLayouts.from_photos(torch.full((2, 3, 16, 16), 15, dtype=torch.uint8), np.full((2, 2), 5.0))
    bright = torch.full((2, 3, 4, 4), 0.9)  # enlarged to the UNet's size
    light = _paint(_pipe(None), 0.5, layout=bright)
    assert light.mean() > _paint(_pipe(dark), 0.5).mean() + 0.2
    # the given ones win (the colour ceiling would refer to the pipeline's own grey layouts)
    assert np.array_equal(
        _paint(_pipe(dark), 0.5, layout=bright, colour_ceiling=None),
        _paint(_pipe(None), 0.5, layout=bright, colour_ceiling=None),
    )
    assert np.array_equal(_paint(_pipe(None), 1.0, layout=bright), _paint(_pipe(None), 1.0))  # strength 1: noise
    with pytest.raises(ValueError, match=r"layout must have shape \(2, 3, h, w\)"):
        _paint(_pipe(None), 0.5, layout=bright[:1])


def test_a_redrawn_picture_keeps_its_given_layout():
    """The landscape check rejects the first picture once: it is painted again over its own (bright) layout."""
    from music2img.diffusion.landscape_check import LandscapeChecker

    pipe = _pipe(None)
    checker = LandscapeChecker()
    verdicts = iter([np.array([False, True])])
    checker.is_landscape = lambda pictures: next(verdicts, np.ones(len(pictures), bool))
    pipe.register_modules(landscape_checker=checker)
    given = torch.stack([torch.full((3, 4, 4), 0.9), torch.full((3, 4, 4), -0.9)])
    gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
    out = pipe([3.0, 7.0], [4.0, 6.0], num_inference_steps=6, generator=gens, output_type="np",
               layout_strength=0.5, sad_layout_strength=None, layout=given, early_check=None)  # fmt: skip
    assert out.redraws == [1, 0] and out.images[0].mean() > out.images[1].mean() + 0.2


def test_the_output_names_the_layout_each_kept_picture_was_painted_over():
    """Flat layouts of three levels; the landscape check rejects both first pictures once: each picture returned lies
    nearest in light to the layout the output names, which is not the one first drawn, and the toe takes that
    layout's photo's share. Given layouts, or none, name none."""
    from music2img.diffusion.colour import toe
    from music2img.diffusion.landscape_check import LandscapeChecker

    levels = [20, 120, 220]
    photos = torch.tensor(levels, dtype=torch.uint8).view(3, 1, 1, 1).expand(3, 3, 16, 16).contiguous()
    layouts = SceneLayouts.from_photos(photos, np.full((3, 2), 5.0), neighbours=3)
    layouts.set_black_shares([0.3, 0.1, 0.02])
    pipe, drawn = _pipe(layouts), []
    choose = layouts.choose
    layouts.choose = lambda *a, **kw: drawn.append(choose(*a, **kw)) or drawn[-1]

    def paint(shadow_toe: float | None):
        checker = LandscapeChecker()
        verdicts = iter([np.array([False, False])])
        checker.is_landscape = lambda pictures: next(verdicts, np.ones(len(pictures), bool))
        pipe.register_modules(landscape_checker=checker)
        gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
        return pipe([5.0, 5.0], [5.0, 5.0], num_inference_steps=8, generator=gens, output_type="pt",
                    layout_strength=0.25, early_check=None, shadow_toe=shadow_toe)  # fmt: skip

    out = paint(None)
    assert out.redraws == [1, 1] and drawn[1] == out.layouts and all(a != b for a, b in zip(drawn[0], drawn[1]))
    nearest = [int(np.argmin([abs(image.mean() * 255 - level) for level in levels])) for image in out.images]
    assert out.layouts == nearest
    toed = paint(2.0)
    assert toed.layouts == out.layouts
    shares = [2 * [0.3, 0.1, 0.02][i] for i in out.layouts]
    assert torch.allclose(toed.images, toe(out.images, shares), atol=1e-6) and not torch.equal(toed.images, out.images)
    for given, strength in ((layouts.enlarge([0, 2], 16), 0.5), (None, 1.0)):
        plain = pipe([5.0, 5.0], [5.0, 5.0], num_inference_steps=4, output_type="np", layout_strength=strength,
                     layout=given)  # fmt: skip
        assert plain.layouts is None


@pytest.mark.parametrize("strength", [0.0, -0.5, 1.5])
def test_a_layout_strength_off_its_range_is_refused(strength):
    with pytest.raises(ValueError, match="layout_strength"):
        _paint(_pipe(None), strength)


def test_layouts_are_saved_and_loaded_with_the_pipeline(tmp_path):
    layouts = SceneLayouts.from_photos(_photos([10, 200]), [[2, 2], [8, 8]], neighbours=1)
    _pipe(layouts).save_pretrained(tmp_path / "p")
    loaded = load_pipeline(tmp_path / "p")
    assert torch.equal(loaded.layouts.layouts, layouts.layouts) and loaded.layouts.config.neighbours == 1
    assert torch.equal(loaded.layouts.emotions, layouts.emotions)


def test_the_script_adds_layouts_of_the_kept_photos_to_a_pipeline(tmp_path):
    from train.scene_layouts import main

    folder = make_tiny_pipeline(tmp_path / "pipe")
    labels = make_labelled_folder(tmp_path / "photos", n=6, size=24)
    table = pd.read_csv(labels)
    table["weight"] = [1, 1, 0, 1, 1, 1]
    table["content_group"] = [0, 1, 0, 1, 0, 0]
    table.to_csv(labels, index=False)
    assert main([str(folder), "--images", str(labels.parent), "--labels", str(labels), "--exclude-group", "1",
                 "--side", "4", "--neighbours", "2"]) == 0  # fmt: skip
    index = json.loads((folder / "model_index.json").read_text())
    assert index["layouts"] == ["music2img.diffusion.scene_layouts", "SceneLayouts"]
    pipe = load_pipeline(folder)  # its weight hashes were recorded: it loads verified
    kept = table[(table.weight > 0) & (table.content_group != 1)]
    assert np.allclose(pipe.layouts.emotions.numpy(), kept[["valence", "arousal"]].to_numpy(), atol=1e-5)
    assert pipe.layouts.layouts.shape == (3, 3, 4, 4)


def test_the_script_refuses_labels_that_leave_no_photo(tmp_path):
    from train.scene_layouts import kept_rows

    labels = make_labelled_folder(tmp_path / "photos", n=3)
    table = pd.read_csv(labels)
    table["content_group"] = 2
    table.to_csv(labels, index=False)
    with pytest.raises(DatasetError, match="no photo left"):
        kept_rows(labels, [2])
    with pytest.raises(DatasetError, match="no content_group"):
        kept_rows(make_labelled_folder(tmp_path / "other", n=3), [2])


def _weighted(weights: list[float]) -> SceneLayouts:
    layouts = SceneLayouts.from_photos(_photos([0, 60, 120, 180]), [[3, 3]] * 4, neighbours=4)
    layouts.set_weights(weights)
    return layouts


def test_a_request_draws_its_nearest_layouts_in_proportion_to_their_weights():
    drawn = np.bincount(
        _weighted([0, 1, 3, 0]).choose([3.0] * 400, [3.0] * 400, torch.Generator().manual_seed(0)), minlength=4
    )
    assert drawn[0] == drawn[3] == 0  # weight 0: never drawn
    assert 2 < drawn[2] / drawn[1] < 4.5  # three times as often, give or take chance


def _framed_photo(margin: int = 200, middle: int = 90) -> torch.Tensor:
    """A 16 × 16 photo: a dark striped middle inside an even, bright margin two pixels wide."""
    photo = torch.full((3, 16, 16), margin, dtype=torch.uint8)
    photo[:, 2:14, 2:14] = middle
    photo[:, 6:8, 2:14] = middle + 60
    return photo


def test_photos_in_a_frame_are_found_and_bright_scenes_are_not():
    sky = _photos([230])[0]  # bright top half, dark bottom half: a sky over land
    snow = torch.full((3, 16, 16), 235, dtype=torch.uint8)  # bright everywhere: no darker middle
    uneven = _framed_photo()
    uneven[:, 0, :8] = 120  # half of one edge dark: no margin
    photos = torch.stack([_framed_photo(), sky, snow, uneven, _framed_photo(margin=150)])
    assert framed(photos).tolist() == [True, False, False, False, False]


def test_a_framed_layout_is_never_drawn_nor_counted_in_the_colour_reference():
    colourful = _photos([60, 90])
    colourful[:, 0, :8] = 220  # red over the top half: the framed grey photo would lower the expected colour
    photos = torch.cat([_framed_photo()[None], colourful])
    layouts = SceneLayouts.from_photos(photos, [[3.0, 3.0]] * 3, side=16, neighbours=3)
    drawn = np.bincount(layouts.choose([3.0] * 200, [3.0] * 200, torch.Generator().manual_seed(0)), minlength=3)
    assert drawn[0] == 0 and drawn[1] > 50 and drawn[2] > 50
    unframed = SceneLayouts.from_photos(photos[1:], [[3.0, 3.0]] * 2, side=16, neighbours=2)
    reference = unframed.expected_colourfulness([3], [3], 16)[0]
    assert reference > 10 and layouts.expected_colourfulness([3], [3], 16)[0] == pytest.approx(reference)


def test_equal_weights_draw_as_unweighted_layouts_do():
    def picks(layouts):
        return layouts.choose([3.0] * 20, [3.0] * 20, torch.Generator().manual_seed(1))

    assert picks(_weighted([2, 2, 2, 2])) == picks(_weighted([1, 1, 1, 1]))
    assert picks(_weighted([1, 1, 1, 1.5])) != picks(_weighted([1, 1, 1, 1]))


def test_weights_are_saved_and_bad_ones_refused(tmp_path):
    layouts = _weighted([0.5, 1, 2, 0])
    layouts.save_pretrained(tmp_path / "layouts")
    assert SceneLayouts.from_pretrained(tmp_path / "layouts").weights.tolist() == [0.5, 1, 2, 0]
    for bad in ([1, 1, 1], [1, 1, -1, 1], [1, float("nan"), 1, 1]):
        with pytest.raises(ValueError, match="weights"):
            layouts.set_weights(bad)


def test_layouts_keep_their_photos_black_shares_saved_with_them(tmp_path):
    """Photos half at level 0 (every channel black) and half at 255, and one with no black: shares 0.5 and 0. Layouts
    saved before the shares were kept load with 0, and bad shares are refused."""
    layouts = SceneLayouts.from_photos(_photos([0, 60]), [[3, 3], [3, 3]], neighbours=2)
    assert layouts.black_shares.tolist() == [0.5, 0.0]
    layouts.set_weights([1, 3])
    layouts.save_pretrained(tmp_path / "layouts")
    assert SceneLayouts.from_pretrained(tmp_path / "layouts").black_shares.tolist() == [0.5, 0.0]
    old = {k: v for k, v in layouts.state_dict().items() if k != "black_shares"}
    save_file(old, tmp_path / "layouts" / "diffusion_pytorch_model.safetensors")
    loaded = SceneLayouts.from_pretrained(tmp_path / "layouts", low_cpu_mem_usage=False)
    assert loaded.black_shares.tolist() == [0.0, 0.0] and loaded.weights.tolist() == [1.0, 3.0]
    for bad in ([0.1], [0.1, 1.5], [0.1, -0.1], [float("nan"), 0.1]):
        with pytest.raises(ValueError, match="black_shares"):
            layouts.set_black_shares(bad)


def test_label_factors_scale_the_weights_are_saved_and_old_layouts_load_with_1(tmp_path):
    """Label factors multiply the weights as layouts are drawn and in the colour reference; layouts saved before
    they were kept draw as their weights say; factors off [0, 1] are refused."""
    layouts = _weighted([1, 1, 3, 0])
    layouts.set_label_factors([1, 0.5, 1 / 3, 1])
    drawn = np.bincount(layouts.choose([3.0] * 400, [3.0] * 400, torch.Generator().manual_seed(0)), minlength=4)
    assert drawn[3] == 0 and 1.3 < drawn[0] / drawn[1] < 3 and 0.6 < drawn[2] / drawn[0] < 1.6
    photos = _photos([0, 60, 120, 180])
    photos[:, 0, :8] = torch.tensor([250, 200, 150, 100], dtype=torch.uint8).view(4, 1, 1)  # red skies, each its own
    colourful, folded = (SceneLayouts.from_photos(photos, [[3, 3]] * 4, neighbours=4) for _ in range(2))
    colourful.set_weights([1, 1, 3, 0])
    colourful.set_label_factors([1, 0.5, 1 / 3, 1])
    folded.set_weights([1, 0.5, 1, 0])  # the same chances as weights alone
    reference = colourful.expected_colourfulness([3], [3], 16)[0]
    assert reference > 10 and reference == pytest.approx(folded.expected_colourfulness([3], [3], 16)[0])
    folded.set_weights([1, 1, 3, 0])  # without the factors: another reference
    assert reference != pytest.approx(folded.expected_colourfulness([3], [3], 16)[0])
    layouts.save_pretrained(tmp_path / "layouts")
    assert SceneLayouts.from_pretrained(tmp_path / "layouts").label_factors.tolist() == pytest.approx(
        [1, 0.5, 1 / 3, 1]
    )
    old = {k: v for k, v in layouts.state_dict().items() if k != "label_factors"}
    save_file(old, tmp_path / "layouts" / "diffusion_pytorch_model.safetensors")
    assert (
        SceneLayouts.from_pretrained(tmp_path / "layouts", low_cpu_mem_usage=False).label_factors.tolist() == [1.0] * 4
    )
    for bad in ([1, 1, 1], [1, 1, 1.5, 1], [1, -0.1, 1, 1]):
        with pytest.raises(ValueError, match="label_factors"):
            layouts.set_label_factors(bad)


def test_the_script_gives_old_layouts_their_photos_black_shares_and_keeps_their_weights(tmp_path, capsys):
    """Three photos saved as PNG in nested folders, two made into layouts that lost their shares: the script
    matches each to its photo by block means, the third photo matches none; weights stay. A folder with no
    matching photo is refused with a message."""
    from PIL import Image

    from music2img.diffusion.pipeline import save_component
    from train.layout_black_shares import main

    rng = np.random.default_rng(0)
    photos = rng.integers(1, 256, (3, 128, 128, 3)).astype(np.uint8)
    photos[0, :16, :, 0] = 0  # 1/8 of its pixels have a red channel at 0
    photos[1, :32, :32] = 0  # 1/16 black
    for i, photo in enumerate(photos):
        (tmp_path / "photos" / str(i)).mkdir(parents=True)
        Image.fromarray(photo).save(tmp_path / "photos" / str(i) / f"{i}.png")
    layouts = SceneLayouts.from_photos(torch.from_numpy(photos[:2]).permute(0, 3, 1, 2).contiguous(), [[3, 3], [7, 7]])
    assert np.allclose(layouts.black_shares.numpy(), [1 / 8, 1 / 16])
    layouts.set_black_shares([0.0, 0.0])
    layouts.set_weights([2.0, 0.5])
    model = make_tiny_pipeline(tmp_path / "pipe")
    save_component(model, "layouts", layouts)
    assert main([str(model), "--images", str(tmp_path / "photos")]) == 0
    assert "2 of 2 layouts matched" in capsys.readouterr().out
    loaded = load_pipeline(model).layouts  # its weight hashes were recorded: it loads verified
    assert np.allclose(loaded.black_shares.numpy(), [1 / 8, 1 / 16]) and loaded.weights.tolist() == [2.0, 0.5]
    (tmp_path / "other").mkdir()
    Image.fromarray(photos[2]).save(tmp_path / "other" / "2.png")
    with pytest.raises(SystemExit, match="none of the 1 photos"):
        main([str(model), "--images", str(tmp_path / "other")])


def test_the_sad_half_starts_later_and_each_picture_as_if_painted_alone():
    layouts = SceneLayouts.from_photos(
        _photos(list(range(0, 250, 25))), np.random.default_rng(0).uniform(1, 9, (10, 2))
    )
    pipe = _pipe(layouts)

    def alone(i: int, strength: float):
        v, a = [3.0, 7.0][i], [4.0, 6.0][i]
        return pipe(v, a, num_inference_steps=6, generator=[torch.Generator().manual_seed(i)], output_type="np",
                    layout_strength=strength, sad_layout_strength=None)  # fmt: skip

    both = _paint(pipe, 5 / 6, sad_layout_strength=0.5)  # valence 3 (sad): 3 of 6 steps; valence 7: 5 of 6
    one, other = alone(0, 0.5), alone(1, 5 / 6)
    assert np.array_equal(both[0], one.images[0]) and np.array_equal(both[1], other.images[0])
    gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
    split = pipe([3.0, 7.0], [4.0, 6.0], num_inference_steps=6, generator=gens, output_type="np",
                 layout_strength=5 / 6, sad_layout_strength=0.5)  # fmt: skip
    assert split.layouts == one.layouts + other.layouts  # each batch's layouts back in request order
    unsplit = _paint(pipe, 5 / 6, sad_layout_strength=None)
    # a picture batched with another may differ from one painted alone in the last bit on some CPUs (AVX-512)
    assert np.allclose(unsplit[1], both[1], atol=1e-5) and not np.allclose(unsplit[0], both[0], atol=1e-5)
    assert np.array_equal(_paint(pipe, 1.0, sad_layout_strength=0.5), _paint(pipe, 1.0))  # from noise: no layouts
    with pytest.raises(ValueError, match="sad_layout_strength"):
        _paint(pipe, 5 / 6, sad_layout_strength=1.5)
