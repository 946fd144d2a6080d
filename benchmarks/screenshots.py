"""Screenshots of the app for the README, and how long the page takes to load and to paint.

Starts ``app.py``'s page in-process with the shipped models, drives it in headless Chromium
(Playwright, Debian's ``/usr/bin/chromium``) and writes ``assets/screenshots/page.png`` (fresh page)
and ``assets/screenshots/generated.png`` (after "Music → image" and a storyboard for a medley of the
four example songs that moves through the quadrants),
palette-quantised to stay small. Prints the timings it measured::

    python benchmarks/screenshots.py [--music-model DIR] [--diffusion-model DIR] [--out assets/screenshots]
    python benchmarks/screenshots.py --tiny             # tiny random models (no trained ones)
    python benchmarks/screenshots.py --tiny-diffusion   # shipped music model, tiny diffusion model
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import app  # noqa: E402  (sets GRADIO_ANALYTICS_ENABLED before gradio is imported)
from music2img.assets import ASSETS_DIR, DIFFUSION_MODEL_DIR, MUSIC_MODEL_DIR  # noqa: E402
from music2img.diffusion import defaults  # noqa: E402
from music2img.files import atomic_path  # noqa: E402
from music2img.music_to_image import MusicToImage  # noqa: E402

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _save_small(png: bytes, path: Path, colours: int = 192) -> int:
    """Palette-quantise a screenshot and write it atomically; return its size in bytes."""
    import io

    from PIL import Image

    image = (
        Image.open(io.BytesIO(png))
        .convert("RGB")
        .quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    )
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", optimize=True)
    return path.stat().st_size


def _write_medley(path: Path) -> Path:
    """The example songs one after another (almost two minutes), moving through the quadrants: calm, happy, tense,
    sad."""
    import numpy as np
    import soundfile as sf

    from music2img.music.examples import SR, load_examples

    clips = load_examples(sr=SR)
    sf.write(
        path,
        np.concatenate([clips[name] for name in ("morning_tea", "sunny_ride", "storm_front", "letters_never_sent")]),
        SR,
    )
    return path


def _load(args: argparse.Namespace) -> MusicToImage:
    music, diffusion = args.music_model, args.diffusion_model
    if args.tiny or args.tiny_diffusion:
        sys.path.insert(0, str(REPO / "tests"))
        from factories_diffusion import make_tiny_pipeline
        from factories_music import make_tiny_music_model

        tmp = Path(tempfile.mkdtemp(prefix="m2i_tiny_"))
        diffusion = make_tiny_pipeline(tmp / "diffusion")
        if args.tiny:
            music = make_tiny_music_model(tmp / "music")
    return MusicToImage.load(music, diffusion, num_threads=args.threads)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--music-model", default=str(MUSIC_MODEL_DIR))
    p.add_argument("--diffusion-model", default=str(DIFFUSION_MODEL_DIR))
    p.add_argument("--tiny", action="store_true", help="use tiny random models instead of the shipped ones")
    p.add_argument("--tiny-diffusion", action="store_true", help="shipped music model, tiny random diffusion model")
    p.add_argument("--out", type=Path, default=ASSETS_DIR / "screenshots")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)

    from playwright.sync_api import expect, sync_playwright

    t0 = time.perf_counter()
    m2i = _load(args)
    t_models = time.perf_counter() - t0
    demo = app.build_demo(m2i)
    _, url, _ = app.launch(demo, host="127.0.0.1", port=_free_port(), prevent_thread_lock=True, quiet=True)
    timings = {"load models (s)": t_models}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(300_000)
            expect.set_options(timeout=300_000)

            t0 = time.perf_counter()
            page.goto(url)
            expect(page.locator("#plane img")).to_be_visible()
            timings["page load until interactive (s)"] = time.perf_counter() - t0
            size = _save_small(page.screenshot(full_page=True), args.out / "page.png")
            print(f"wrote {args.out / 'page.png'} ({size / 1024:.0f} KB)")

            medley = _write_medley(Path(tempfile.mkdtemp(prefix="m2i_medley_")) / "medley.flac")
            song = m2i.analyse(medley)
            t0 = time.perf_counter()
            page.locator("#audio input[type=file]").set_input_files(str(medley))
            page.get_by_role("button", name="Music → image", exact=True).click()
            expect(page.locator("#gallery img").first).to_be_visible()
            expect(page.locator("#timeline img")).to_be_visible()
            timings["upload + Music → image clicked → image shown (s)"] = time.perf_counter() - t0

            page.get_by_text("Storyboard: one picture per section").click()
            t0 = time.perf_counter()
            page.get_by_role("button", name="Paint storyboard").click()
            expect(page.locator("#storyboard img")).to_have_count(len(song.windows))
            timings[f"storyboard, {len(song.windows)} sections (s)"] = time.perf_counter() - t0
            page.wait_for_timeout(500)  # let the progress overlay fade
            size = _save_small(page.screenshot(full_page=True), args.out / "generated.png")
            print(f"wrote {args.out / 'generated.png'} ({size / 1024:.0f} KB)")
            browser.close()
    finally:
        demo.close()

    t0 = time.perf_counter()
    m2i.generate(song.valence, song.arousal, seed=0)
    timings[f"library generate, 1 image, {defaults.STEPS} {defaults.SCHEDULER} steps (s)"] = time.perf_counter() - t0
    print(
        f"models: music {'tiny' if args.tiny else args.music_model}, "
        f"diffusion {'tiny' if args.tiny or args.tiny_diffusion else args.diffusion_model}; "
        f"image {m2i.image_size} px; medley: valence {song.valence:.2f}, arousal {song.arousal:.2f}, "
        f"windows {[(round(w.valence, 1), round(w.arousal, 1)) for w in song.windows]}"
    )
    for name, seconds in timings.items():
        print(f"{name:48s} {seconds:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
