"""MusicToImage: the library object the app is wired to (tiny models)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from factories_diffusion import make_tiny_pipeline, make_tiny_student_pipeline
from factories_music import make_tiny_music_model

from music2img.diffusion.pipeline import load_pipeline
from music2img.errors import AudioError, EmotionRangeError, ModelFileError, OptionError
from music2img.music_to_image import MusicToImage

FAST = dict(steps=3, scheduler="ddim")


@pytest.fixture(scope="module")
def m2i(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("models")
    return MusicToImage.load(make_tiny_music_model(tmp / "music"), make_tiny_pipeline(tmp / "diffusion"), device="cpu")


def _arrays(images) -> list[np.ndarray]:
    return [np.asarray(im) for im in images]


def test_generate_is_deterministic_per_seed(m2i):
    a = _arrays(m2i.generate(7.0, 3.0, num_images=2, seed=1, **FAST))
    b = _arrays(m2i.generate(7.0, 3.0, num_images=2, seed=1, **FAST))
    c = _arrays(m2i.generate(7.0, 3.0, num_images=2, seed=2, **FAST))
    assert len(a) == 2 and a[0].shape == (m2i.image_size, m2i.image_size, 3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0], a[1])


def test_generate_redraws_what_the_scene_check_rejects_as_often_as_asked(tmp_path, monkeypatch):
    """A scene check that rejects every picture: ``max_redraws`` draws past the first, the last kept; none at 0."""
    from music2img.diffusion.pipeline import save_component
    from music2img.diffusion.scene_check import SceneChecker

    model = make_tiny_pipeline(tmp_path / "pipe")
    rejecting = SceneChecker()
    rejecting.intercept.fill_(-20.0)
    save_component(model, "scene_checker", rejecting)
    m2i = MusicToImage(None, load_pipeline(model))
    calls, depth = [], []
    pipe_call = type(m2i.pipeline).__call__

    def spy(self, *args, **kwargs):  # the outer call only: a redraw calls the pipeline again
        depth.append(1)
        out = pipe_call(self, *args, **kwargs)
        depth.pop()
        if not depth:
            calls.append((kwargs["max_redraws"], out.redraws))
        return out

    monkeypatch.setattr(type(m2i.pipeline), "__call__", spy)
    first = _arrays(m2i.generate(2.0, 2.0, seed=3, max_redraws=0, **FAST))
    again = _arrays(m2i.generate(2.0, 2.0, seed=3, max_redraws=2, **FAST))
    assert calls == [(0, [0]), (2, [2])]
    assert not np.array_equal(first[0], again[0])


def test_generate_upscales_only_smaller_images(m2i):
    (big,) = m2i.generate(5.0, 5.0, seed=0, size=64, **FAST)
    (small,) = m2i.generate(5.0, 5.0, seed=0, size=m2i.image_size // 2, **FAST)
    assert big.size == (64, 64) and small.size == (m2i.image_size, m2i.image_size)


def test_generate_matches_the_pipeline_with_the_chosen_scheduler(m2i):
    import torch

    from music2img.diffusion.schedulers import make_scheduler

    (ours,) = m2i.generate(2.0, 8.0, guidance_scale=4.0, steps=4, scheduler="dpm", seed=5)
    assert type(m2i.pipeline.scheduler).__name__ == "DPMSolverMultistepScheduler"
    reference = MusicToImage(m2i.music_model, m2i.pipeline)  # same weights, fresh scheduler cache
    reference.pipeline.scheduler = make_scheduler("dpm", m2i._scheduler_config)
    (theirs,) = reference.pipeline(
        2.0, 8.0, guidance_scale=4.0, num_inference_steps=4, generator=torch.Generator().manual_seed(5)
    ).images
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_schedulers_are_built_once_per_name(m2i):
    m2i.generate(5.0, 5.0, steps=2, scheduler="ddpm")
    first = m2i.pipeline.scheduler
    m2i.generate(5.0, 5.0, steps=2, scheduler="ddim")
    assert m2i.pipeline.scheduler is not first
    m2i.generate(5.0, 5.0, steps=2, scheduler="ddpm")
    assert m2i.pipeline.scheduler is first


def test_a_teacher_offers_every_sampler_but_lcm_and_a_student_lcm_only(m2i, tmp_path):
    assert "lcm" not in m2i.schedulers and "unipc" in m2i.schedulers and m2i.default_scheduler == "unipc"
    student = MusicToImage(m2i.music_model, load_pipeline(make_tiny_student_pipeline(tmp_path / "student")))
    assert student.schedulers == ["lcm"] and student.default_scheduler == "lcm"
    assert student.generate(5.0, 5.0, steps=2, scheduler="lcm", seed=0)[0].size == (16, 16)
    with pytest.raises(ValueError, match="consistency-distilled student"):
        student.generate(5.0, 5.0, steps=2, scheduler="unipc")


def test_progress_reports_every_step(m2i):
    calls = []
    m2i.generate(5.0, 5.0, steps=4, scheduler="ddim", progress=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(valence=0.0, arousal=5.0), EmotionRangeError, "valence"),
        (dict(valence=5.0, arousal=float("nan")), EmotionRangeError, "arousal"),
        (dict(valence=5.0, arousal=5.0, scheduler="euler"), ValueError, "unknown scheduler"),
        (dict(valence=5.0, arousal=5.0, steps=0), OptionError, "steps must be a whole number from 1 to 100, got 0"),
        (dict(valence=5.0, arousal=5.0, steps=101), OptionError, "steps must be a whole number from 1 to 100, got 101"),
        (dict(valence=5.0, arousal=5.0, steps=1001, scheduler="ddpm"), OptionError, "from 1 to 1000, got 1001"),
        (dict(valence=5.0, arousal=5.0, num_images=0), OptionError, "num_images must be a whole number from 1 to 64"),
        (dict(valence=5.0, arousal=5.0, max_redraws=-1), OptionError, "max_redraws must be a whole number from 0 to"),
    ],
)
def test_bad_arguments_raise_clear_errors(m2i, kwargs, error, match):
    with pytest.raises(error, match=match):
        m2i.generate(**{"steps": 2, **kwargs})


def test_concurrent_calls_give_the_same_images_as_serial_calls(m2i):
    jobs = [("ddim", 1), ("dpm", 2), ("ddpm", 3), ("ddim", 4)]
    serial = {job: np.asarray(m2i.generate(6.0, 4.0, steps=3, scheduler=job[0], seed=job[1])[0]) for job in jobs}
    results, errors = {}, []

    def run(job):
        try:
            results[job] = np.asarray(m2i.generate(6.0, 4.0, steps=3, scheduler=job[0], seed=job[1])[0])
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for job in jobs:
        np.testing.assert_array_equal(results[job], serial[job])


def test_music_to_image_paints_the_analysed_emotion(m2i, make_audio):
    path = make_audio("song.wav", seconds=6.0)
    song, images = m2i.music_to_image(path, seed=3, **FAST)
    assert song == m2i.analyse(path)
    np.testing.assert_array_equal(
        np.asarray(images[0]), np.asarray(m2i.generate(song.valence, song.arousal, seed=3, **FAST)[0])
    )


def test_analyse_rejects_bad_audio(m2i, tmp_path):
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(AudioError):
        m2i.analyse(bad)


def test_storyboard_paints_each_section_at_its_mean_emotion(m2i):
    from music2img.music.emotion_model import SongEmotion, WindowEmotion

    windows = [WindowEmotion(30.0 * i, 30.0 * (i + 1), 2.0 + i, 8.0 - i) for i in range(5)]
    song = SongEmotion(4.0, 6.0, "Q2", 150.0, windows)
    calls = []
    board = m2i.storyboard(song, sections=2, seed=9, progress=lambda i, n: calls.append((i, n)), **FAST)
    assert [caption.split(" ·")[0] for _, caption in board] == ["0–90 s", "90–150 s"]
    expected = [m2i.generate(3.0, 7.0, seed=9, **FAST)[0], m2i.generate(5.5, 4.5, seed=9, **FAST)[0]]
    for (image, _), want in zip(board, expected):  # one batch: equal up to rounding of the batched arithmetic
        assert np.abs(np.asarray(image, dtype=int) - np.asarray(want, dtype=int)).max() <= 1
    assert calls == [(1, 3), (2, 3), (3, 3)]  # the sections are painted together


def test_analysis_and_painting_take_turns(m2i, monkeypatch):
    """Song analysis and painting never run at once (each uses all the cores)."""
    import time

    events = []
    started = threading.Event()

    def slow_predict(path):
        events.append(("analysis", "start", time.perf_counter()))
        started.set()
        time.sleep(0.3)
        events.append(("analysis", "end", time.perf_counter()))
        return "song"

    monkeypatch.setattr(m2i.music_model, "predict_file", slow_predict)
    worker = threading.Thread(target=m2i.analyse, args=("x.wav",))
    worker.start()
    started.wait()
    m2i.generate(5.0, 5.0, progress=lambda i, n: events.append(("paint", i, time.perf_counter())), **FAST)
    worker.join()
    end = next(t for kind, what, t in events if (kind, what) == ("analysis", "end"))
    assert all(t > end for kind, _, t in events if kind == "paint")


def test_guidance_interval_reaches_the_pipeline(m2i, monkeypatch):
    batches = []
    forward = m2i.pipeline.unet.forward
    monkeypatch.setattr(
        m2i.pipeline.unet, "forward", lambda x, *a, **k: (batches.append(len(x)), forward(x, *a, **k))[1]
    )
    m2i.generate(2.0, 8.0, guidance_scale=5.0, guidance_interval=(0.0, 0.5), seed=4, **FAST)
    assert batches == [2, 2, 1]  # steps 0 and 1 of 3 guided (cond + uncond), step 2 conditional only


def test_load_reports_missing_models(tmp_path):
    with pytest.raises(ModelFileError):
        MusicToImage.load(tmp_path / "no_music", tmp_path / "no_diffusion")


def test_paint_from_the_seeds_noise_is_the_generated_picture(m2i):
    import torch

    (image,) = m2i.generate(3.0, 7.0, seed=4, **FAST)
    shape = (3, m2i.image_size, m2i.image_size)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(4))
    picture = m2i.paint(3.0, 7.0, noise, **FAST)
    assert picture.shape == (m2i.image_size, m2i.image_size, 3) and picture.dtype == np.float32
    np.testing.assert_array_equal(np.round(picture * 255).astype(np.uint8), np.asarray(image))
    with pytest.raises(EmotionRangeError):
        m2i.paint(0.0, 5.0, noise, **FAST)


def test_keyframes_keep_plain_guidance_and_their_tone_and_pictures_low_pass_the_sad_half(m2i, monkeypatch):
    import torch

    from music2img import film
    from music2img.diffusion import defaults

    seen = []
    cls = type(m2i.pipeline)
    call = cls.__call__
    monkeypatch.setattr(cls, "__call__", lambda self, *a, **kw: (seen.append(kw), call(self, *a, **kw))[1])
    m2i.paint(3.0, 7.0, torch.randn((3, m2i.image_size, m2i.image_size)), **FAST)
    m2i.generate(3.0, 7.0, **FAST)
    assert seen[0]["guidance_lowpass"] == film.GUIDANCE_LOWPASS == 0.0
    assert seen[1].get("guidance_lowpass", defaults.GUIDANCE_LOWPASS) == defaults.GUIDANCE_LOWPASS > 0
    assert seen[0]["black_point_drop"] is None  # keyframes keep the tone they are painted with
    assert seen[1].get("black_point_drop", defaults.BLACK_POINT_DROP) == defaults.BLACK_POINT_DROP > 0
    assert seen[0]["shadow_toe"] is None
    assert seen[1].get("shadow_toe", defaults.SHADOW_TOE) == defaults.SHADOW_TOE > 0


def test_keyframes_paint_over_the_scene_they_are_given_and_pictures_over_a_drawn_one(m2i, tmp_path):
    import torch

    from music2img.diffusion.scene_layouts import SceneLayouts

    same = MusicToImage(m2i.music_model, load_pipeline(make_tiny_pipeline(tmp_path / "diffusion")))
    noise = torch.randn((3, same.image_size, same.image_size), generator=torch.Generator().manual_seed(4))
    keyframe = same.paint(3.0, 7.0, noise, **FAST)
    bright = torch.full((2, 3, same.image_size, same.image_size), 250, dtype=torch.uint8)
    same.pipeline.register_modules(layouts=SceneLayouts.from_photos(bright, [[3.0, 7.0], [4.0, 6.0]]))
    np.testing.assert_array_equal(same.paint(3.0, 7.0, noise, **FAST), keyframe)  # no scene: from noise
    ten = dict(steps=10, scheduler="ddim")  # 9 of 10 steps over the scene's layout
    over_scene = same.paint(3.0, 7.0, noise, 1, **ten)
    assert not np.array_equal(over_scene, same.paint(3.0, 7.0, noise, **ten))
    np.testing.assert_array_equal(same.paint(3.0, 7.0, noise, 1, **ten), over_scene)
    with pytest.raises(ValueError, match="no scene layouts"):
        m2i.paint(3.0, 7.0, noise, 1, **ten)
    twelve = dict(steps=12, scheduler="ddim")  # 11 of 12 steps over the layout (3 steps round to all 3)
    (over_layout,) = same.generate(3.0, 7.0, seed=4, **twelve)
    (from_noise,) = m2i.generate(3.0, 7.0, seed=4, **twelve)
    assert not np.array_equal(np.asarray(over_layout), np.asarray(from_noise))
