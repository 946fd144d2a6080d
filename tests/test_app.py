"""The Gradio app, served in-process with tiny models and driven through ``gradio_client``."""

from __future__ import annotations

import base64
import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from factories_app import running_app
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import app
from music2img.music.audio import MAX_DURATION, WINDOW

GEN = dict(guidance_scale=3.0, steps=3, scheduler="ddim", seed=7, num_images=1)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app")) as running:
        yield running


@pytest.fixture(scope="module")
def client(served):
    return Client(served.url, verbose=False)


@pytest.fixture(scope="module")
def long_song(tmp_path_factory):
    """A song a little longer than one analysis window (so it has a timeline and a storyboard)."""
    from conftest import synth_music

    path = tmp_path_factory.mktemp("songs") / "long.wav"
    sf.write(path, synth_music(WINDOW + 5, bpm=140, seed=3), 22050)
    return path


def _pixels(item: dict) -> np.ndarray:
    return np.asarray(Image.open(item["image"]).convert("RGB"))


def _plot_png(plot: dict) -> Image.Image:
    assert plot["type"] == "matplotlib"
    header, data = plot["plot"].split(",", 1)
    assert header == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_api_exposes_exactly_the_named_endpoints(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/predict_emotion", "/generate", "/music_to_image", "/storyboard", "/film"}
    assert [p["parameter_name"] for p in endpoints["/generate"]["parameters"]] == [
        "valence",
        "arousal",
        "guidance_scale",
        "steps",
        "scheduler",
        "seed",
        "num_images",
    ]
    assert [p["parameter_name"] for p in endpoints["/film"]["parameters"]] == ["audio", "seed", "start", "duration"]


def test_predict_emotion_matches_the_library(client, served, long_song):
    data, valence, arousal, plane, timeline = client.predict(handle_file(long_song), api_name="/predict_emotion")
    song = served.m2i.analyse(long_song)
    assert data["valence"] == pytest.approx(song.valence) and data["arousal"] == pytest.approx(song.arousal)
    assert data["quadrant"] == song.quadrant and len(data["windows"]) == len(song.windows) == 2
    assert (valence, arousal) == (round(song.valence, 1), round(song.arousal, 1))
    assert _plot_png(plane).size == (460, 460)
    assert timeline["visible"] is True and _plot_png(timeline["value"]).size == (640, 260)


def test_short_song_has_no_timeline(client, make_audio):
    *_, timeline = client.predict(handle_file(make_audio("short.flac", seconds=6.0)), api_name="/predict_emotion")
    assert timeline["visible"] is False


def test_generate_is_seeded_png_at_display_size_and_matches_the_library(client, served):
    a = client.predict(6.0, 3.0, 2.0, 3, "dpm", 11, 2, api_name="/generate")
    b = client.predict(6.0, 3.0, 2.0, 3, "dpm", 11, 2, api_name="/generate")
    c = client.predict(6.0, 3.0, 2.0, 3, "dpm", 12, 2, api_name="/generate")
    assert len(a) == 2 and all(item["image"].endswith(".png") for item in a)
    assert _pixels(a[0]).shape == (app.DISPLAY_SIZE, app.DISPLAY_SIZE, 3)
    np.testing.assert_array_equal(_pixels(a[0]), _pixels(b[0]))
    assert not np.array_equal(_pixels(a[0]), _pixels(c[0]))
    expected = served.m2i.generate(
        6.0, 3.0, num_images=2, guidance_scale=2.0, steps=3, scheduler="dpm", seed=11, size=app.DISPLAY_SIZE
    )
    for item, image in zip(a, expected):
        np.testing.assert_array_equal(_pixels(item), np.asarray(image))


def test_music_to_image_paints_the_songs_emotion(client, make_audio):
    song = handle_file(make_audio("song.ogg", seconds=8.0))
    data, valence, arousal, plane, timeline, gallery = client.predict(song, *GEN.values(), api_name="/music_to_image")
    assert (valence, arousal) == (round(data["valence"], 1), round(data["arousal"], 1))
    direct = client.predict(valence, arousal, *GEN.values(), api_name="/generate")
    np.testing.assert_array_equal(_pixels(gallery[0]), _pixels(direct[0]))


def test_storyboard_paints_one_captioned_picture_per_section(client, served, long_song):
    strip = client.predict(handle_file(long_song), 4, 3.0, 2, "ddim", 0, api_name="/storyboard")
    windows = served.m2i.analyse(long_song).windows
    assert len(strip) == len(windows) == 2  # two windows, fewer than the four sections asked for
    assert [item["caption"].split(" s ·")[0] for item in strip] == [f"{w.start:.0f}–{w.end:.0f}" for w in windows]
    assert _pixels(strip[0]).shape == (app.STORYBOARD_SIZE, app.STORYBOARD_SIZE, 3)


def _film_streams(path) -> list[tuple[str, str, float]]:
    import av

    with av.open(path) as c:
        return [(s.type, s.codec_context.name, round(float(s.duration * s.time_base), 1)) for s in c.streams]


def test_film_returns_an_mp4_of_the_stretch_with_its_audio(client, long_song):
    video = client.predict(handle_file(long_song), 3, 10, 6, api_name="/film")
    assert video.endswith("long-film.mp4")
    assert _film_streams(video) == [("video", "h264", 6.0), ("audio", "aac", 6.0)]


def _films() -> set:
    from gradio.utils import get_upload_folder

    return set((Path(get_upload_folder()) / "films").glob("*/*"))


def _filming(job, seconds: float) -> bool:
    """Whether the page shows that at least ``seconds`` of the film are made."""
    progress = job.status().progress_data
    return bool(progress) and progress[0].desc == "Filming" and (progress[0].index or 0) >= seconds


def test_a_cancelled_film_stops_leaves_no_file_and_the_next_request_works(client, served, long_song, monkeypatch):
    painted, closed = [], threading.Event()
    sample, film_steps = served.m2i._sample, served.m2i.film_steps

    def watched_film_steps(*args, **kwargs):
        try:
            return (yield from film_steps(*args, **kwargs))
        finally:
            closed.set()  # the request's filming has ended, one way or another

    monkeypatch.setattr(served.m2i, "_sample", lambda *a, **k: painted.append(1) or sample(*a, **k))
    monkeypatch.setattr(served.m2i, "film_steps", watched_film_steps)
    before = _films()
    job = client.submit(handle_file(long_song), 0, 0, None, api_name="/film")
    deadline = time.monotonic() + 300
    while not _filming(job, seconds=2):  # polls the page's progress: no fixed wait
        assert time.monotonic() < deadline and not job.done()
        closed.wait(0.2)
    job.cancel()
    assert closed.wait(timeout=300)  # the film's generator was closed: nothing more is painted
    assert len(painted) < 10  # it stopped early: the whole song is 10 keyframes
    assert _films() == before  # neither the film nor its temporary file
    video = client.predict(handle_file(long_song), 0, 0, 4, api_name="/film")
    assert _film_streams(video)[0][2] == 4.0
    assert [p.name for p in _films() - before] == ["long-film.mp4"]  # this request's film only


def _corrupt(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4)
    return path


def _silent(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(22050 * 5, dtype=np.float32), 22050)
    return path


def _too_long(tmp_path):
    path = tmp_path / "long.wav"  # header says 21 minutes; 1 kHz keeps the file small
    sf.write(path, np.zeros(int(1000 * (MAX_DURATION + 60)), dtype=np.int16), 1000, subtype="PCM_16")
    return path


@pytest.mark.parametrize(
    ("endpoint", "make", "message"),
    [
        ("/predict_emotion", lambda tmp: None, "No song yet"),
        ("/predict_emotion", _corrupt, "cannot decode"),
        ("/predict_emotion", _silent, "silent"),
        ("/predict_emotion", _too_long, "too long"),
        ("/music_to_image", lambda tmp: None, "No song yet"),
        ("/music_to_image", _corrupt, "cannot decode"),
        ("/film", lambda tmp: None, "No song yet"),
        ("/film", _silent, "silent"),
    ],
)
def test_bad_audio_is_a_clear_error_and_the_next_request_works(client, tmp_path, make_audio, make, message, endpoint):
    bad = make(tmp_path)
    args = [None if bad is None else handle_file(bad)]
    if endpoint == "/music_to_image":
        args += list(GEN.values())
    if endpoint == "/film":
        args += [0, 0, None]
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=endpoint)
    data, *_ = client.predict(handle_file(make_audio("ok.wav", seconds=5.0)), api_name="/predict_emotion")
    assert 1.0 <= data["valence"] <= 9.0


@pytest.mark.parametrize(
    ("valence", "arousal", "message"),
    [
        (12.0, 5.0, "greater than maximum value 9"),
        (5.0, 0.5, "less than minimum value 1"),
    ],
)
def test_out_of_range_emotion_is_a_clear_error_and_the_next_request_works(client, valence, arousal, message):
    with pytest.raises(AppError, match=message):
        client.predict(valence, arousal, *GEN.values(), api_name="/generate")
    assert len(client.predict(5.0, 5.0, *GEN.values(), api_name="/generate")) == 1


def test_missing_seed_is_a_clear_error(client):
    with pytest.raises(AppError, match="Enter a seed"):
        client.predict(5.0, 5.0, 3.0, 3, "ddim", None, 1, api_name="/generate")


def test_user_errors_become_gradio_errors():
    import gradio as gr

    from music2img.errors import AudioError

    with pytest.raises(gr.Error, match="bad clip"):
        with app.user_errors():
            raise AudioError("bad clip")
    with pytest.raises(KeyError):  # programming errors are not dressed up as user errors
        with app.user_errors():
            raise KeyError("x")


def test_description_and_plane_follow_the_sliders():
    assert app._description(8.0, 8.0).startswith("**very positive, very energetic — happy / excited**")
    assert "between 1 and 9" in app._description(0.0, 5.0)
    song = {"valence": 3.0, "arousal": 2.0, "windows": [{"valence": 3.0, "arousal": 2.0}]}
    labels = {t.get_text() for t in app._plane(7.0, 7.0, song).axes[0].texts}
    assert {"song", "picture"} <= labels
    labels = {t.get_text() for t in app._plane(3.0, 2.0, song).axes[0].texts}
    assert "song" in labels and "picture" not in labels


def test_arguments_default_to_environment(monkeypatch):
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    monkeypatch.setenv("MUSIC2IMG_DIFFUSION_MODEL", "/models/diffusion")
    args = app.parse_args([])
    assert (args.host, args.port, args.diffusion_model, args.share) == ("0.0.0.0", 7999, "/models/diffusion", False)
    args = app.parse_args(["--host", "127.0.0.1", "--port", "8000", "--music-model", "m", "--share"])
    assert (args.host, args.port, args.music_model, args.share) == ("127.0.0.1", 8000, "m", True)


def test_main_reports_missing_models(tmp_path, capsys):
    assert app.main(["--music-model", str(tmp_path / "none"), "--diffusion-model", str(tmp_path / "none")]) == 2
    assert "app.py:" in capsys.readouterr().err


@pytest.mark.parametrize("student", [False, True])
def test_the_scheduler_choices_are_the_loaded_models(tmp_path, student):
    """A teacher offers every sampler but the student's; a distilled student offers "lcm" at its 4 steps."""
    import gradio as gr
    from factories_diffusion import make_tiny_pipeline, make_tiny_student_pipeline
    from factories_music import make_tiny_music_model

    from music2img.music_to_image import MusicToImage

    make = make_tiny_student_pipeline if student else make_tiny_pipeline
    m2i = MusicToImage.load(make_tiny_music_model(tmp_path / "music"), make(tmp_path / "diffusion"), device="cpu")
    demo = app.build_demo(m2i)
    dropdown = next(b for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.label == "Scheduler")
    steps = next(b for b in demo.blocks.values() if isinstance(b, gr.Slider) and b.label == "Steps")
    assert sorted(value for _, value in dropdown.choices) == sorted(m2i.schedulers)
    assert dropdown.value == ("lcm" if student else "unipc") and steps.value == (4 if student else 12)
    assert ("lcm" in m2i.schedulers) == student
