"""The page in headless Chromium (Debian's /usr/bin/chromium) through Playwright, tiny models."""

from __future__ import annotations

import os
import re

import pytest

from music2img.diffusion import defaults

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("MUSIC2IMG_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package 'chromium'; set MUSIC2IMG_CHROMIUM to another binary)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from factories_app import running_app

    with running_app(tmp_path_factory.mktemp("browser")) as served, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        sync_api.expect.set_options(timeout=30_000)
        page.goto(served.url)
        page.served = served
        yield page
        browser.close()


def test_page_has_the_inputs_controls_and_outputs(page):
    from playwright.sync_api import expect

    expect(page).to_have_title("music2img")
    expect(page.locator("#audio")).to_be_visible()
    for name in ("valence", "arousal"):
        expect(page.locator(f"#{name} input[type=range]")).to_have_count(1)
    for name in ("Analyse", "Music → image", "Generate"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
    expect(page.locator("#gallery")).to_be_visible()
    expect(page.locator("#plane img")).to_be_visible()
    expect(page.get_by_text("Q1 happy · Sunny ride", exact=False)).to_be_visible()


def test_typing_an_emotion_updates_the_description(page):
    from playwright.sync_api import expect

    box = page.locator("#valence input[type=number]")
    box.fill("2")
    box.press("Enter")
    expect(page.locator("#describe")).to_contain_text("very negative")


def test_generate_shows_an_image(page):
    from playwright.sync_api import expect

    page.locator("#generate").click()
    image = page.locator("#gallery img").first
    expect(image).to_be_visible()
    assert image.evaluate("img => img.naturalWidth") == defaults.SIZE  # the upscaler's 512 px


def test_clicking_an_example_analyses_it(page):
    from playwright.sync_api import expect

    from music2img.assets import EXAMPLES_DIR

    song = page.served.m2i.analyse(EXAMPLES_DIR / "morning_tea.ogg")
    page.get_by_text("Q4 calm · Morning tea", exact=False).click()
    expect(page.locator("#arousal input[type=number]")).to_have_value(re.compile(rf"^{round(song.arousal, 1):g}$"))
    expect(page.locator("#valence input[type=number]")).to_have_value(re.compile(rf"^{round(song.valence, 1):g}$"))


def test_film_plays_in_the_browser_after_a_progress_display(page):
    from playwright.sync_api import expect

    from music2img.assets import EXAMPLES_DIR
    from music2img.music.audio import load_audio

    seconds = len(load_audio(EXAMPLES_DIR / "morning_tea.ogg")) / 22050
    page.get_by_text("Q4 calm · Morning tea", exact=False).click()
    expect(page.locator("#audio audio, #audio [data-testid='waveform-audio']").first).to_be_attached()
    page.get_by_text("Film: the landscape follows").click()
    page.locator("#film").click()
    expect(page.locator("#film_video").get_by_text(re.compile("Filming|Listening"))).to_be_visible()
    video = page.locator("#film_video video")
    expect(video).to_be_attached(timeout=120_000)
    video.evaluate("v => new Promise(done => v.readyState >= 1 ? done() : v.addEventListener('loadedmetadata', done))")
    assert video.evaluate("v => [v.videoWidth, v.videoHeight]") == [512, 512]
    assert video.evaluate("v => v.duration") == pytest.approx(seconds, abs=0.1)
    video.evaluate("v => { v.muted = true; return v.play(); }")  # Chromium decodes the H.264 and AAC
    page.wait_for_function("v => v.currentTime > 0.5 && v.webkitDecodedFrameCount > 5", arg=video.element_handle())
    assert video.evaluate("v => v.webkitAudioDecodedByteCount") > 0
