"""The rating questions in headless Chromium: clicks on the Affect Grid and the 1–5 question end up as rows."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from test_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from factories_app import running_app

    tmp = tmp_path_factory.mktemp("ratings_browser")
    with running_app(tmp, ratings_db=tmp / "ratings.sqlite") as served, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        sync_api.expect.set_options(timeout=60_000)
        yield served, browser
        browser.close()


def _visitor(served):
    page = served[1].new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    page.goto(served[0].url)
    return page


def _open(page):
    from playwright.sync_api import expect

    from music2img.ratings.page import BLIND_TITLE

    page.get_by_text(BLIND_TITLE).click()
    expect(page.locator("#rate_picture img")).to_be_visible()


def _shown_hash(page) -> str:
    from music2img.ratings.pictures import picture_hash

    src = page.locator("#rate_picture img").get_attribute("src")
    return picture_hash(Image.open(io.BytesIO(page.request.get(src).body())))


def _click_grid(page, x: float, y: float) -> None:
    """Click the grid picture at its own pixel ``(x, y)``, wherever and however large it is drawn."""
    img = page.locator("#affect_grid img")
    box = img.evaluate(
        "img => { const r = img.getBoundingClientRect(); "
        "return [r.width, r.height, img.naturalWidth, img.naturalHeight]; }"
    )
    w, h, nw, nh = box
    scale = min(w / nw, h / nh, 1)
    img.click(position={"x": (w - nw * scale) / 2 + x * scale, "y": (h - nh * scale) / 2 + y * scale})


def _rate(page, layout, cell, count: int) -> str:
    from playwright.sync_api import expect

    picture = _shown_hash(page)
    _click_grid(page, *layout.centre(*cell))
    expect(page.locator("#rate_status")).to_contain_text(f"You have rated {count} picture")
    return picture


def test_clicks_on_the_grid_are_stored_once_per_answer_with_the_picture_shown(served):
    from playwright.sync_api import expect

    from music2img.ratings.pictures import picture_hash
    from music2img.ratings.pool import design

    store, layout = served[0].ratings.store, served[0].ratings.layout
    alice = _visitor(served)
    _open(alice)
    first = _rate(alice, layout, (7, 3), 1)
    expect(alice.locator("#rate_status")).to_contain_text("Thank you!")
    expect(alice.locator("#rate_status")).to_contain_text("pleasant, a little sleepy")
    [row] = store.rows()
    assert (row["question"], row["answer_valence"], row["answer_arousal"], row["picture"]) == ("grid", 7, 3, first)
    assert (row["valence"], row["arousal"], row["seed"]) in design()
    expect(alice.locator("#rate_status")).to_contain_text(f"valence {row['valence']:.1f}, arousal {row['arousal']:.1f}")
    again = served[0].m2i.generate(
        row["valence"],
        row["arousal"],
        seed=row["seed"],
        size=row["size"],
        guidance_scale=row["guidance_scale"],
        steps=row["steps"],
        scheduler=row["scheduler"],
    )
    assert picture_hash(again[0]) == row["picture"]  # the row is enough to paint the picture again

    _click_grid(alice, 3, 3)  # on the words around the grid: not an answer
    expect(alice.get_by_text("Click inside the grid")).to_be_visible()
    second = _rate(alice, layout, (2, 9), 2)

    bob = _visitor(served)  # another browser: another anonymous visitor
    _open(bob)
    third = _rate(bob, layout, (5, 5), 1)
    alice.reload()  # the same browser keeps its visitor id
    _open(alice)
    fourth = _rate(alice, layout, (9, 1), 3)

    rows = list(store.rows())
    assert [(r["answer_valence"], r["answer_arousal"]) for r in rows] == [(7, 3), (2, 9), (5, 5), (9, 1)]
    assert [r["picture"] for r in rows] == [first, second, third, fourth]
    visitors = [r["visitor"] for r in rows]
    assert visitors[0] == visitors[1] == visitors[3] != visitors[2]
    assert len({first, second, fourth}) == 3  # a visitor is not shown a picture twice
    assert len({r["answer_id"] for r in rows}) == 4


def test_the_fit_question_after_music_to_image_is_stored_with_the_songs_emotion(served):
    from playwright.sync_api import expect

    from music2img.assets import EXAMPLES_DIR

    song = served[0].m2i.analyse(EXAMPLES_DIR / "morning_tea.ogg")
    page = _visitor(served)
    expect(page.locator("#fit")).to_be_hidden()
    page.get_by_text("Q4 calm · Morning tea", exact=False).click()
    expect(page.locator("#audio audio, #audio [data-testid='waveform-audio']").first).to_be_attached()
    page.get_by_role("button", name="Music → image", exact=True).click()
    expect(page.locator("#gallery img").first).to_be_visible()
    expect(page.locator("#fit")).to_be_visible()
    page.locator("#fit").get_by_text("4", exact=True).click()
    expect(page.locator("#fit_status")).to_contain_text("Thank you!")
    [row] = [r for r in served[0].ratings.store.rows() if r["question"] == "fit"]
    assert row["fit"] == 4 and row["song_valence"] == pytest.approx(song.valence)
    assert (row["valence"], row["arousal"]) == (round(song.valence, 1), round(song.arousal, 1))
    page.locator("#generate").click()  # painting something else takes the question away
    expect(page.locator("#fit")).to_be_hidden()
