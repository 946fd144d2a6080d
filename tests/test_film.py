"""Films: MP4 with the song's audio, frames that follow the emotion timeline, atomic output (stand-in models)."""

from __future__ import annotations

import errno
import json

import av
import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import SR, synth_music
from factories_diffusion import make_tiny_pipeline
from factories_film import make_loudness_to_brightness
from factories_music import make_tiny_music_model

from music2img import film as film_lib
from music2img import video
from music2img.errors import AudioError, EmotionRangeError, OptionError, OutputError
from music2img.film import camera_box, film_frames, film_span, interpolate, keyframe_noise, keyframe_times, slerp

QUIET, LOUD = 12.0, 12.0
FAST = dict(fps=4, size=16, keyframe_interval=2.0, steps=2, scheduler="ddim", guidance_scale=1.0, zoom=0.0, drift=0.0)


@pytest.fixture(scope="module")
def m2i():
    return make_loudness_to_brightness()


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """Stereo music, quiet for 12 s and then loud for 12 s."""
    quiet, loud = synth_music(QUIET, seed=1) * 0.04, synth_music(LOUD, seed=2)
    y = np.concatenate([quiet, loud])
    path = tmp_path_factory.mktemp("songs") / "quiet_then_loud.flac"
    sf.write(path, np.stack([y, 0.5 * y], axis=1), SR)
    return path


@pytest.fixture(scope="module")
def short_song(tmp_path_factory):
    path = tmp_path_factory.mktemp("songs") / "short.wav"
    sf.write(path, synth_music(6.0, seed=3), SR)
    return path


@pytest.fixture(scope="module")
def made(m2i, song, tmp_path_factory):
    out = tmp_path_factory.mktemp("films") / "film.mp4"
    calls = []
    film = m2i.film(song, out, progress=lambda done, total: calls.append((done, total)), **FAST)
    return film, calls


def _streams(path):
    with av.open(str(path)) as c:
        return [(s.type, s.codec_context.name, float(s.duration * s.time_base)) for s in c.streams], c.duration / 1e6


def _brightness(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.array([f.to_ndarray(format="rgb24").mean() for f in c.decode(video=0)])


def _audio_rms(path, rate: int = video.AUDIO_RATE) -> np.ndarray:
    """RMS of each second of the first audio channel."""
    with av.open(str(path)) as c:
        y = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
    return np.sqrt(np.mean(y[: len(y) // rate * rate].reshape(-1, rate) ** 2, axis=1))


def test_film_is_an_h264_mp4_with_one_video_and_the_songs_audio(made):
    film, _ = made
    duration = QUIET + LOUD
    assert film.duration == pytest.approx(duration) and film.frames == duration * FAST["fps"]
    streams, container_duration = _streams(film.path)
    assert [s[:2] for s in streams] == [("video", "h264"), ("audio", "aac")]
    assert streams[0][2] == pytest.approx(duration, abs=1 / FAST["fps"])
    assert streams[1][2] == pytest.approx(duration, abs=0.05)
    assert container_duration == pytest.approx(duration, abs=0.05)
    with av.open(str(film.path)) as c:
        stream = c.streams.video[0]
        assert (stream.width, stream.height, stream.codec_context.pix_fmt) == (16, 16, "yuv420p")
        assert stream.average_rate == FAST["fps"]
        assert sum(1 for _ in c.decode(video=0)) == film.frames
    assert film.keyframes == len(keyframe_times(duration, FAST["keyframe_interval"]))


def test_film_gets_brighter_when_the_music_gets_louder(made):
    film, _ = made
    brightness = _brightness(film.path)
    t = np.arange(film.frames) / film.fps
    valence, _ = film.timeline(t)
    expected = 255 * (valence - 1) / 8  # the stand-in painter's brightness
    assert valence[t < 4].max() < 3 and valence[t > 20].min() > 6  # the timeline hears the change
    assert np.corrcoef(brightness, expected)[0, 1] > 0.99
    assert np.abs(brightness - expected).mean() < 6
    assert brightness[t < 4].mean() < 60 and brightness[t > 20].mean() > 150


def test_the_soundtrack_is_the_song(made):
    film, _ = made
    rms = _audio_rms(film.path)
    assert len(rms) == QUIET + LOUD
    assert rms[int(QUIET) :].mean() > 10 * rms[: int(QUIET)].mean() > 0


def test_progress_counts_seconds_of_film(made):
    film, calls = made
    assert calls[0] == (0.0, film.duration) and calls[-1] == pytest.approx((film.duration, film.duration))
    assert len(calls) == film.frames + 1 and all(b[0] > a[0] for a, b in zip(calls, calls[1:]))


def test_start_and_duration_film_a_stretch(m2i, song, tmp_path):
    film = m2i.film(song, tmp_path / "part.mp4", start=QUIET + 3, duration=6.0, **FAST)
    assert (film.start, film.duration, film.frames) == (QUIET + 3, 6.0, 24)
    streams, _ = _streams(film.path)
    assert [round(s[2], 1) for s in streams] == [6.0, 6.0]
    assert _brightness(film.path).mean() > 150  # the loud part only
    assert _audio_rms(film.path).min() > 0.05


@pytest.mark.parametrize(
    ("make", "kwargs", "match"),
    [
        (lambda p: p.write_bytes(b"not audio"), {}, "cannot decode"),
        (lambda p: sf.write(p, np.zeros(10 * SR, dtype=np.float32), SR), {}, "silent"),
        (None, dict(max_duration=5.0), "longer than the film limit"),
        (None, dict(start=7.0), "cannot start"),
        (None, dict(start=4.0), "too short"),
    ],
)
def test_bad_input_gives_a_clear_error(m2i, short_song, tmp_path, make, kwargs, match):
    path = short_song
    if make is not None:
        path = tmp_path / "bad.wav"
        make(path)
    with pytest.raises(AudioError, match=match):
        m2i.film(path, tmp_path / "out" / "film.mp4", **{**FAST, **kwargs})


def test_with_scene_layouts_a_film_changes_scene_when_the_music_moves_on(song, tmp_path, monkeypatch):
    """Layouts of photos labelled quiet (1–2) and loud (8–9): the quiet half of the song is painted over one
    quiet scene, the loud half over one loud scene."""
    from music2img.diffusion.scene_layouts import SceneLayouts

    m2i = make_loudness_to_brightness()
    emotions = np.concatenate([np.linspace(1, 2, 20), np.linspace(8, 9, 20)])
    photos = torch.full((40, 3, 16, 16), 128, dtype=torch.uint8)
    m2i.pipeline.register_modules(layouts=SceneLayouts.from_photos(photos, np.stack([emotions] * 2, 1), neighbours=2))
    painted, real_paint = [], m2i.paint

    def paint(v, a, z, scene, **kwargs):
        painted.append((v, scene))
        return real_paint(v, a, z, scene, **kwargs)

    monkeypatch.setattr(m2i, "paint", paint)
    film = m2i.film(song, tmp_path / "film.mp4", **FAST)
    scenes = [s for _, s in painted]
    assert all(emotions[s] < 3 for v, s in painted if v < 3) and all(emotions[s] > 7 for v, s in painted if v > 7)
    assert min(v for v, _ in painted) < 3 and max(v for v, _ in painted) > 7
    runs = 1 + sum(a != b for a, b in zip(scenes, scenes[1:]))
    assert film.scenes == runs <= len(scenes) // 2  # scenes are held over keyframes
    drifting = m2i.film(song, tmp_path / "drift.mp4", **{**FAST, "drift": 6.0})
    assert drifting.scenes > film.scenes  # a new scene with each noise anchor too
    painted.clear()
    assert m2i.film(song, tmp_path / "noise.mp4", **FAST, layout_strength=1.0).scenes == 0
    with pytest.raises(OptionError, match="layout_strength must be a number above 0"):
        m2i.film(song, tmp_path / "none.mp4", **FAST, layout_strength=0.0)
    assert {s for _, s in painted} == {None}  # from noise alone


def test_an_error_after_the_film_was_opened_leaves_no_file(m2i, short_song, tmp_path, monkeypatch):
    """The fourth keyframe fails while the frames before it are in the (temporary) file."""
    written, painted = [], []
    real_write, real_paint = video.FilmWriter.write, m2i.paint
    monkeypatch.setattr(video.FilmWriter, "write", lambda self, frame: (written.append(1), real_write(self, frame)))

    def paint(*args, **kwargs):
        painted.append(len(written))
        if len(painted) == 4:
            raise EmotionRangeError("valence must be within 1–9 (a stand-in failure)")
        return real_paint(*args, **kwargs)

    monkeypatch.setattr(m2i, "paint", paint)
    out = tmp_path / "out" / "film.mp4"
    with pytest.raises(EmotionRangeError, match="stand-in failure"):
        m2i.film(short_song, out, **FAST)
    assert painted[-1] > 0  # frames had gone to the encoder when it failed
    assert list((tmp_path / "out").iterdir()) == []  # neither the film nor its temporary file


def _previous_film(tmp_path):
    out = tmp_path / "film.mp4"
    out.write_bytes(b"the previous film")
    return out


def test_a_cancelled_film_leaves_the_previous_file_untouched(m2i, short_song, tmp_path):
    out = _previous_film(tmp_path)
    steps = m2i.film_steps(short_song, out, **FAST)
    for _ in range(10):
        next(steps)
    steps.close()  # what the page does when the request is cancelled
    assert out.read_bytes() == b"the previous film" and list(tmp_path.iterdir()) == [out]

    def interrupt(done, total):
        if done > 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        m2i.film(short_song, out, progress=interrupt, **FAST)
    assert out.read_bytes() == b"the previous film" and list(tmp_path.iterdir()) == [out]


class _FullDisk:
    """An output container whose disk fills up after a few packets."""

    def __init__(self, container, packets: int = 5):
        self._container, self._left = container, packets

    def mux(self, packets):
        self._left -= 1
        if self._left < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._container.mux(packets)

    def __getattr__(self, name):
        return getattr(self._container, name)


def test_a_full_disk_gives_a_clear_error_and_no_file(m2i, short_song, tmp_path, monkeypatch):
    real_open = av.open
    monkeypatch.setattr(
        video.av, "open", lambda *a, **k: _FullDisk(real_open(*a, **k)) if "w" in a else real_open(*a, **k)
    )
    out = _previous_film(tmp_path)
    with pytest.raises(OutputError, match="disk is full"):
        m2i.film(short_song, out, **FAST)
    assert out.read_bytes() == b"the previous film" and list(tmp_path.iterdir()) == [out]


def test_film_span():
    assert film_span(100.0) == (0.0, 100.0)
    assert film_span(100.0, start=30, duration=20) == (30.0, 20.0)
    assert film_span(100.0, start=90, duration=20) == (90.0, 10.0)
    with pytest.raises(AudioError, match="positive"):
        film_span(100.0, duration=0)
    with pytest.raises(AudioError, match="10 minutes"):
        film_span(601.0)


def test_keyframe_times_cover_the_film():
    np.testing.assert_allclose(keyframe_times(10.0, 4.0), [0, 4, 8, 12])
    np.testing.assert_allclose(keyframe_times(8.0, 4.0), [0, 4, 8])
    np.testing.assert_allclose(keyframe_times(1.0, 4.0), [0, 4])
    with pytest.raises(ValueError):
        keyframe_times(10.0, 0.0)


def test_slerp_keeps_the_noise_on_the_sphere():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 16, 16, generator=g), torch.randn(3, 16, 16, generator=g)
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b)
    mid = slerp(a, b, 0.5)
    assert mid.norm() == pytest.approx(float((a.norm() + b.norm()) / 2), rel=0.02)
    assert (a + b).div(2).norm() < 0.8 * mid.norm()  # a straight line would lose a third of it


def test_keyframe_noise_is_fixed_or_drifts_between_seeded_anchors():
    times = np.array([0.0, 5.0, 10.0, 15.0])
    fixed = list(keyframe_noise(times, (3, 4, 4), seed=1, drift=0))
    assert all(torch.equal(z, fixed[0]) for z in fixed)
    torch.testing.assert_close(fixed[0], torch.randn((3, 4, 4), generator=torch.Generator().manual_seed(1)))
    drifting = list(keyframe_noise(times, (3, 4, 4), seed=1, drift=10.0))
    torch.testing.assert_close(drifting[0], fixed[0])
    assert not torch.allclose(drifting[1], fixed[0])
    again = list(keyframe_noise(times, (3, 4, 4), seed=1, drift=10.0))
    assert all(torch.equal(x, y) for x, y in zip(drifting, again))


@pytest.mark.parametrize("method", film_lib.INBETWEENS)
def test_inbetweens_start_at_one_keyframe_and_end_at_the_next(method):
    keys = tuple(np.full((2, 2, 3), v) for v in (0.1, 0.2, 0.6, 0.7))
    np.testing.assert_allclose(interpolate(keys, 0.0, method), keys[1])
    if method == "hold":
        np.testing.assert_allclose(interpolate(keys, 0.99, method), keys[1])
    else:
        np.testing.assert_allclose(interpolate(keys, 1.0, method), keys[2], atol=1e-12)
        assert 0.2 < interpolate(keys, 0.5, method).mean() < 0.6
    with pytest.raises(ValueError, match="unknown"):
        interpolate(keys, 0.5, "morph")


def test_the_camera_stays_inside_the_picture():
    for t in np.linspace(0, 100, 401):
        left, top, right, bottom = camera_box(t, 128, zoom=0.2)
        assert 0 <= left < right <= 128 and 0 <= top < bottom <= 128
        assert right - left == pytest.approx(bottom - top)
        assert 128 / 1.2 - 1e-9 <= right - left <= 128
    assert camera_box(0.0, 128, zoom=0.2) == (0.0, 0.0, 128.0, 128.0)


def test_frames_draw_keyframes_only_when_needed():
    drawn = []

    def keyframes():
        for k in range(100):
            drawn.append(k)
            yield np.full((8, 8, 3), k / 100)

    times = keyframe_times(40.0, 4.0)
    frames = film_frames(keyframes(), times, fps=2, n_frames=80, size=16, zoom=0.0)
    first = next(frames)
    assert first.shape == (16, 16, 3) and first.dtype == np.uint8
    assert drawn == [0, 1, 2]  # the frame, the next keyframe and the one after for the cubic curve
    rest = list(frames)
    assert len(rest) == 79 and drawn == list(range(len(times)))


class _Checks:
    """A stand-in landscape check that rejects the next ``n`` pictures."""

    def __init__(self, n: int):
        self.left, self.calls = n, 0

    def __call__(self, pictures: np.ndarray) -> np.ndarray:
        assert pictures.dtype == np.uint8 and pictures.shape == (1, 4, 4, 3)
        self.calls, self.left = self.calls + 1, self.left - 1
        return np.array([self.left < 0])


def _noise_painter(noises, scenes=None):
    def paint(valence, arousal, noise, scene):
        noises.append(noise.clone())
        if scenes is not None:
            scenes.append(scene)
        return np.full((4, 4, 3), 0.5)

    return paint


@pytest.mark.parametrize("rejections", [0, 1, 2, 5])
def test_rejected_keyframes_are_repainted_from_nearby_noise(rejections):
    noise = torch.randn(3, 16, 16, generator=torch.Generator().manual_seed(0))
    noises, scenes = [], []
    painter = film_lib.RepaintingPainter(
        _noise_painter(noises, scenes), _Checks(rejections), seed=7, repaints=3, step=0.3
    )
    painter(5.0, 5.0, noise, 4)
    assert scenes == [4] * len(noises)  # every try over the keyframe's scene
    assert len(noises) == 1 + min(rejections, 3) and torch.equal(noises[0], noise)
    assert (painter.repainted, painter.rejected) == (int(rejections > 0), int(rejections > 3))
    for k, tried in enumerate(noises[1:], 1):  # k · 0.3 of the way to a fresh draw: near, on the sphere
        cos = float(torch.dot(tried.flatten(), noise.flatten()) / (tried.norm() * noise.norm()))
        assert cos == pytest.approx(np.cos(k * 0.3 * np.pi / 2), abs=0.05) and float(
            tried.norm() / noise.norm()
        ) == pytest.approx(1, abs=0.05)
    again = []
    film_lib.RepaintingPainter(_noise_painter(again), _Checks(rejections), seed=7, repaints=3, step=0.3)(
        5.0, 5.0, noise
    )
    assert all(torch.equal(a, b) for a, b in zip(noises, again))  # reproducible
    other = []
    film_lib.RepaintingPainter(_noise_painter(other), _Checks(rejections), seed=8, repaints=3, step=0.3)(
        5.0, 5.0, noise
    )
    assert rejections == 0 or not torch.equal(noises[1], other[1])  # the fresh draws follow the seed


def test_a_film_repaints_the_keyframes_its_pipelines_check_rejects(song, tmp_path):
    """Stand-in pictures as bright as the music is loud; the check rejects bright ones, whatever the noise."""
    m2i = make_loudness_to_brightness()
    checked = []

    class DarkOnly:
        def is_landscape(self, pictures):
            checked.append(len(pictures))
            return pictures.reshape(len(pictures), -1).mean(1) < 128

    m2i.pipeline.landscape_checker = DarkOnly()
    film = m2i.film(song, tmp_path / "film.mp4", **FAST)
    assert film.keyframes == 13 and 0 < film.repainted == film.rejected < film.keyframes  # the loud part
    assert len(checked) == film.keyframes + film.repainted * film_lib.REPAINTS


def test_cli_makes_a_film_and_reports_it(tmp_path, make_audio, capsys):
    from music2img.cli import main

    song = make_audio("song.ogg", seconds=6.0)
    models = dict(music=make_tiny_music_model(tmp_path / "music"), diffusion=make_tiny_pipeline(tmp_path / "diffusion"))
    out = tmp_path / "film.mp4"
    args = [
        "film",
        str(song),
        "--out",
        str(out),
        "--music-model",
        str(models["music"]),
        "--model",
        str(models["diffusion"]),
        "--fps",
        "6",
        "--size",
        "32",
        "--steps",
        "2",
        "--keyframe-interval",
        "2",
        "--quiet",
    ]
    assert main(args) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["path"] == str(out) and record["frames"] == 36 and record["keyframes"] == 4
    assert record["scenes"] == 0  # the tiny pipeline has no scene layouts: from noise
    streams, _ = _streams(out)
    assert [s[0] for s in streams] == ["video", "audio"]

    assert main([*args[:1], str(tmp_path / "missing.wav"), *args[2:]]) == 2
    assert "not found" in capsys.readouterr().err


def test_scenes_shown_counts_each_return_to_a_scene_and_no_scene_from_noise():
    assert film_lib.scenes_shown([4, 4, 7, 7, 4]) == 3
    assert film_lib.scenes_shown([None, None]) == 0 and film_lib.scenes_shown([]) == 0
