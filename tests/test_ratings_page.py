"""The rating questions' logic (music2img.ratings.pool, .grid, .page) with tiny models, without a browser."""

from __future__ import annotations

import threading
import time

import gradio as gr
import numpy as np
import pytest
from factories_diffusion import make_tiny_pipeline
from factories_music import make_tiny_music_model
from PIL import Image

from music2img.diffusion.pipeline import load_pipeline
from music2img.music_to_image import MusicToImage
from music2img.ratings.grid import GridLayout, affect_grid_image
from music2img.ratings.page import RatingsPage, cell_words
from music2img.ratings.pictures import picture_hash, pictures_hash, weights_versions
from music2img.ratings.pool import PicturePool, design
from music2img.ratings.store import RatingStore
from music2img.va import quadrant

SETTINGS = dict(guidance_scale=3.0, steps=3, scheduler="ddim")


@pytest.fixture(scope="module")
def m2i(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("models")
    return MusicToImage.load(
        make_tiny_music_model(tmp / "music"), make_tiny_pipeline(tmp / "diffusion"), device="cpu", num_threads=1
    )


def test_the_design_spreads_requests_evenly_over_the_plane_and_the_seeds():
    points = design(64)
    assert points == design(64) and len(set(points)) == 64
    v, a, seeds = (np.array(x) for x in zip(*points))
    assert v.min() >= 1 and v.max() <= 9 and a.min() >= 1 and a.max() <= 9
    assert np.allclose(v * 10, np.round(v * 10)) and np.allclose(a * 10, np.round(a * 10))
    counts = {q: int(np.sum([quadrant(x, y) == q for x, y in zip(v, a)])) for q in ("Q1", "Q2", "Q3", "Q4")}
    assert all(13 <= c <= 19 for c in counts.values()), counts  # 16 each if perfectly even
    thirds = np.histogram2d(v, a, bins=3, range=[[1, 9], [1, 9]])[0]
    assert thirds.min() >= 5 and thirds.max() <= 9  # 64 / 9 = 7.1 per ninth of the plane
    assert len(set(seeds)) == 64 and np.histogram(seeds, bins=4, range=(0, 10_000))[0].min() >= 13


def test_the_grid_maps_clicks_to_cells_and_the_margin_to_nothing():
    layout = GridLayout(cell=10, margin=20)
    assert layout.side == 130 and affect_grid_image(layout).size == (130, 130)
    assert layout.cell_at(20, 20) == (1, 9) and layout.cell_at(109.9, 109.9) == (9, 1)
    assert layout.cell_at(65, 65) == (5, 5) and layout.cell_at(19, 50) is None and layout.cell_at(50, 110) is None
    for v in range(1, 10):
        for a in range(1, 10):
            assert layout.cell_at(*layout.centre(v, a)) == (v, a)
    assert cell_words(9, 1) == "pleasant, sleepy" and cell_words(5, 5) == "neither, neither"


def test_picture_hashes_follow_the_pixels_not_the_file(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (8, 12, 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    image.save(tmp_path / "p.png")
    assert picture_hash(Image.open(tmp_path / "p.png")) == picture_hash(image) == picture_hash(rgb)
    other = rgb.copy()
    other[0, 0, 0] ^= 1
    assert picture_hash(other) != picture_hash(rgb) and picture_hash(rgb.reshape(12, 8, 3)) != picture_hash(rgb)
    assert pictures_hash([rgb]) == picture_hash(rgb) and pictures_hash([rgb, other]) != pictures_hash([other, rgb])
    with pytest.raises(ValueError, match="8-bit RGB"):
        picture_hash(rgb.astype(float))


def test_weights_versions_tell_weights_apart(m2i, tmp_path):
    versions = weights_versions(m2i)
    assert versions == weights_versions(m2i) and all(len(h) == 16 for h in versions.values())
    other = MusicToImage(m2i.music_model, load_pipeline(make_tiny_pipeline(tmp_path / "d", seed=1)))
    assert weights_versions(other)["diffusion"] != versions["diffusion"]
    assert weights_versions(other)["music"] == versions["music"]


def test_the_pool_paints_the_design_in_order_and_each_visitor_sees_a_picture_once(m2i):
    pool = PicturePool(m2i, size=2, design_size=5, display_size=32, start=3, poll=0.01, **SETTINGS).start()
    try:
        first = pool.take(timeout=60)
        assert first.index == 3 and first.image.size == (32, 32) and first.picture == picture_hash(first.image)
        v, a, seed = design(5)[3]
        r = first.request
        assert (r.valence, r.arousal, r.seed, r.size) == (v, a, seed, 32)
        again = m2i.generate(v, a, seed=seed, size=32, **SETTINGS)[0]
        assert picture_hash(again) == first.picture  # the picture can be painted again from its row
        seen = {first.picture}
        for _ in range(4):
            item = pool.take(exclude=seen, timeout=60)
            seen.add(item.picture)
        assert len(seen) == 5
        # the design starts again: this visitor has seen all five, another visitor gets the next one
        assert pool.take(exclude=seen, timeout=0.5) is None
        assert pool.take(timeout=60).index == 3
    finally:
        pool.stop(timeout=60)
    assert not pool._thread.is_alive()


def test_the_pool_waits_for_a_busy_painter_and_gives_way_to_a_waiting_job(m2i):
    pool = PicturePool(m2i, size=1, design_size=4, display_size=None, start=0, poll=0.01, **SETTINGS)
    with m2i.jobs:  # a visitor's job runs: the pool paints nothing
        pool.start()
        assert pool.take(timeout=0.3) is None and pool.painted == 0
    pool.stop(timeout=60)

    # a visitor's job arrives while the pool paints: the pool drops its picture at the next step
    pool = PicturePool(m2i, size=1, design_size=4, display_size=None, start=0, poll=0.01, **SETTINGS)
    give_way, visitor, painted = pool._give_way, [], []

    def arrives_at_first_step(step, total):
        if not visitor:
            visitor.append(threading.Thread(target=lambda: painted.append(m2i.generate(5, 5, seed=1, **SETTINGS))))
            visitor[0].start()
            while not m2i.jobs.waiting:
                time.sleep(0.001)
        give_way(step, total)

    pool._give_way = arrives_at_first_step
    pool.start()
    try:
        item = pool.take(timeout=60)
        dropped = pool.dropped
        visitor[0].join(60)
    finally:
        pool.stop(timeout=60)
    assert len(painted) == 1 and dropped == 1 and item.index == 0  # then painted again, after the visitor


class Select:
    """What Gradio passes to a select handler: the click's pixel on the grid."""

    def __init__(self, x, y):
        self.index = None if x is None else [x, y]


@pytest.fixture
def page(m2i, tmp_path):
    store = RatingStore.open(tmp_path / "r.sqlite")
    pool = PicturePool(m2i, size=2, design_size=6, display_size=24, start=0, poll=0.01, **SETTINGS).start()
    page = RatingsPage(m2i, store, pool, take_timeout=60)
    yield page
    page.close()


def test_a_click_on_the_grid_is_stored_then_the_emotion_is_revealed_and_the_next_picture_shown(page, monkeypatch):
    warnings = []
    monkeypatch.setattr(gr, "Warning", lambda message, *a, **k: warnings.append(message))
    image, text, session, visitor = page.first_picture(None, {})
    assert isinstance(image, Image.Image) and len(visitor) == 32 and session["shown"]["picture"] == picture_hash(image)
    assert "You have rated 0 pictures; 0 answers" in text
    shown = session["shown"]
    x, y = page.layout.centre(7, 3)
    image2, text, session2, visitor2 = page.answer_grid(visitor, session, Select(x, y))
    assert visitor2 == visitor and warnings == []
    assert "Thank you!" in text and "pleasant, a little sleepy" in text and "You have rated 1 picture;" in text
    req = shown["request"]
    assert "painted for **" in text and f"valence {req['valence']:.1f}, arousal {req['arousal']:.1f}" in text
    assert session2["shown"]["picture"] != shown["picture"] == session2["seen"][0]
    [row] = page.store.rows()
    assert (row["question"], row["visitor"], row["answer_valence"], row["answer_arousal"]) == ("grid", visitor, 7, 3)
    assert (row["valence"], row["arousal"], row["seed"]) == (req["valence"], req["arousal"], req["seed"])
    assert row["picture"] == shown["picture"]
    assert (row["diffusion_weights"], row["music_weights"]) == (page.weights["diffusion"], page.weights["music"])
    assert row["song_valence"] is None and row["seconds"] >= 0

    # the same click replayed (a double click handled from the old state) is refused and counted once
    page.answer_grid(visitor, session, Select(x, y))
    assert len(warnings) == 1 and "replayed answer id" in warnings[0] and page.store.count() == 1
    # a click on the words around the grid is not an answer
    assert page.answer_grid(visitor, session2, Select(3, 3))[2] == session2
    assert "Click inside the grid" in warnings[1] and page.store.count() == 1
    # skipping moves on without an answer
    _, text, session3, _ = page.skip_picture(visitor, session2)
    assert text.startswith("Skipped.") and session3["seen"] == [shown["picture"], session2["shown"]["picture"]]
    assert page.store.count() == 1


def test_the_fit_question_records_the_song_and_the_pictures(page, monkeypatch, tmp_path):
    warnings = []
    monkeypatch.setattr(gr, "Warning", lambda message, *a, **k: warnings.append(message))
    images = page.m2i.generate(6.2, 3.4, seed=5, num_images=2, size=24, **SETTINGS)
    paths = []
    for i, im in enumerate(images):
        im.save(tmp_path / f"{i}.png")
        paths.append((str(tmp_path / f"{i}.png"), None))
    song = {"valence": 6.234, "arousal": 3.41}
    box, radio, status, session = page.ask_fit({}, song, 6.2, 3.4, 3.0, 3, "ddim", 5.0, 2, paths)
    assert box.visible is True and session["fit"]["picture"] == pictures_hash(images)
    choice, status, session2, visitor = page.answer_fit(None, session, "4")
    assert "Thank you!" in status and "fit" not in session2 and warnings == []
    [row] = page.store.rows()
    assert (row["question"], row["fit"], row["song_valence"], row["song_arousal"]) == ("fit", 4, 6.234, 3.41)
    assert (row["valence"], row["arousal"], row["seed"], row["num_images"], row["size"], row["scheduler"]) == (
        6.2,
        3.4,
        5,
        2,
        24,
        "ddim",
    )
    page.answer_fit(visitor, session, 5)  # the same answer replayed
    page.answer_fit(visitor, {"fit": {**session["fit"], "answer_id": "e" * 32}}, 5)  # a second answer
    page.answer_fit(visitor, {"fit": {**session["fit"], "answer_id": "f" * 32}}, 9)
    assert "replayed answer id" in warnings[0] and "already answered this question about this picture" in warnings[1]
    assert "fit must be a whole number from 1 to 5, got 9" in warnings[2]
    assert page.store.count() == 1
    assert page.ask_fit({}, None, 5, 5, 3, 3, "ddim", 0, 1, paths)[0].visible is False  # no song: no question


def test_ratings_are_off_or_on_as_configured(m2i, tmp_path, monkeypatch):
    assert RatingsPage.create(m2i, "off", env={}) is None
    monkeypatch.setenv("MUSIC2IMG_RATINGS_DB", "off")
    assert RatingsPage.create(m2i, env={}) is None
    (tmp_path / "file").write_text("")
    assert RatingsPage.create(m2i, tmp_path / "file" / "r.sqlite", env={}) is None  # cannot be created: logged, off
    page = RatingsPage.create(m2i, tmp_path / "r.sqlite", pool_size=1, env={})
    try:
        assert page.store.path == tmp_path / "r.sqlite" and page.pool._thread.is_alive()
    finally:
        page.close()


def test_the_job_lock_knows_when_a_job_runs_or_waits():
    from music2img.threads import JobLock

    lock, entered, release = JobLock(), threading.Event(), threading.Event()
    assert not lock.busy and lock.waiting == 0
    with lock:
        assert lock.busy and lock.waiting == 0
        waiter = threading.Thread(target=lambda: (lock.__enter__(), entered.set(), release.wait(), lock.__exit__()))
        waiter.start()
        while not lock.waiting:
            time.sleep(0.001)
        assert lock.waiting == 1 and not entered.is_set()
    entered.wait(10)
    assert lock.waiting == 0 and lock.busy
    release.set()
    waiter.join(10)
    assert not lock.busy
