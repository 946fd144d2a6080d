"""music2img web app: upload a song, see its emotion, get a landscape that feels like it.

    python app.py [--music-model DIR] [--diffusion-model DIR_OR_REPO] [--host 127.0.0.1] [--port 7860] [--share]

A thin Gradio page over :class:`music2img.music_to_image.MusicToImage`; all model code lives in the
library. Named API endpoints (``gradio_client``): ``/predict_emotion``, ``/generate``,
``/music_to_image``, ``/storyboard``, ``/film`` (returns the MP4).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported

import gradio as gr

from music2img.assets import DIFFUSION_MODEL_DIR, EXAMPLES_DIR, MUSIC_MODEL_DIR
from music2img.cli._options import checked, ranged
from music2img.diffusion import defaults
from music2img.diffusion.schedulers import DEFAULT_STEPS
from music2img.errors import ModelFileError, Music2ImgError
from music2img.film import MAX_DURATION as MAX_FILM_DURATION
from music2img.limits import MAX_STEPS, PORT, check_threads
from music2img.music.examples import EXAMPLES
from music2img.music_to_image import MusicToImage
from music2img.plots import emotion_timeline, va_plane
from music2img.ratings.page import RatingsPage
from music2img.va import QUADRANT_NAMES, VA_MAX, VA_MIN, check_va, describe

#: Pixels on a side of the images shown and downloaded (painted at 128, enlarged by the pipeline's upscaler).
DISPLAY_SIZE = defaults.SIZE
STORYBOARD_SIZE = 256
MAX_SEED = 2**31 - 1
DEFAULT_VA = (6.5, 6.0)

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="amber")
CSS = """
#title { text-align: center; margin-bottom: 0; }
#tagline { text-align: center; color: var(--body-text-color-subdued); margin-top: 0; }
#describe { min-height: 2.2em; font-size: 1.05em; }
"""

HOW_IT_WORKS = (
    """
1. **Listening.** The song is cut into overlapping windows; for each, librosa features (tempo,
   loudness, timbre, harmony, rhythm) and what two pretrained music taggers (musicnn) hear in it
   feed a Random Forest, tuned with Optuna, that predicts
   **valence** (negative → positive) and **arousal** (calm → energetic) on the 1–9 scale.
   The song's emotion is the mean over its windows.
2. **Painting.** A small diffusion UNet, conditioned on (valence, arousal) through AdaIN layers,
   denoises random noise into a landscape. *Guidance* (classifier-free) pushes the picture
   harder towards the emotion; the *seed* fixes the starting noise, so the same settings give the
   same picture.
3. **Your turn.** Move the sliders to paint any point of the emotion plane, with or without a song.

The four regions of the plane: """
    + ", ".join(f"**{name}** ({q})" for q, name in QUADRANT_NAMES.items())
    + "."
)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can cause (bad audio, values out of range) into ``gr.Error`` pop-ups."""
    try:
        yield
    except (Music2ImgError, ValueError) as err:
        raise gr.Error(str(err)) from err


def _require_audio(audio: str | None) -> str:
    if not audio:
        raise gr.Error("No song yet: upload or record one, or pick an example below.")
    return audio


def _require_seed(seed: int | None) -> int:
    if seed is None:
        raise gr.Error("Enter a seed (any whole number), or press 🎲.")
    return int(seed)


def _description(valence: float, arousal: float) -> str:
    try:
        valence, arousal = check_va(valence, arousal)
    except Music2ImgError as err:
        return f"⚠️ {err}"
    return f"**{describe(valence, arousal)}** (valence {valence:.1f}, arousal {arousal:.1f})"


def _plane(valence: float, arousal: float, song: dict | None = None):
    """The emotion plane with the slider point and, when a song was analysed, the song."""
    points, labels = [(valence, arousal)], ["picture"]
    trajectory = None
    if song:
        points.insert(0, (song["valence"], song["arousal"]))
        labels.insert(0, "song")
        trajectory = [(w["valence"], w["arousal"]) for w in song.get("windows", [])]
        if abs(song["valence"] - valence) < 0.05 and abs(song["arousal"] - arousal) < 0.05:
            points, labels = points[:1], labels[:1]
    return va_plane(points, labels, trajectory)


def _progress_fn(progress: gr.Progress, desc: str):
    return lambda step, total: progress((step, total), desc=desc)


def build_demo(m2i: MusicToImage, ratings: RatingsPage | None = None) -> gr.Blocks:
    """The page, wired to one loaded :class:`MusicToImage`; with ``ratings``, its questions to visitors too."""

    def song_outputs(song) -> tuple:
        data = song.to_dict()
        v, a = round(song.valence, 1), round(song.arousal, 1)
        return (
            data,
            v,
            a,
            _plane(v, a, data),
            gr.Plot(emotion_timeline(song), visible=len(song.windows) > 1),
        )

    def predict_emotion(audio: str | None):
        with user_errors():
            return song_outputs(m2i.analyse(_require_audio(audio)))

    def generate(valence, arousal, guidance_scale, steps, scheduler, seed, num_images, progress=gr.Progress()):
        seed = _require_seed(seed)
        with user_errors():
            return m2i.generate(
                valence,
                arousal,
                num_images=num_images,
                guidance_scale=guidance_scale,
                steps=steps,
                scheduler=scheduler,
                seed=seed,
                size=DISPLAY_SIZE,
                progress=_progress_fn(progress, "Painting"),
            )

    def music_to_image(audio, guidance_scale, steps, scheduler, seed, num_images, progress=gr.Progress()):
        _require_seed(seed)
        progress(0, desc="Listening")
        outputs = predict_emotion(audio)
        return (
            *outputs,
            generate(outputs[1], outputs[2], guidance_scale, steps, scheduler, seed, num_images, progress),
        )

    def storyboard(audio, sections, guidance_scale, steps, scheduler, seed, progress=gr.Progress()):
        seed = _require_seed(seed)
        with user_errors():
            song = m2i.analyse(_require_audio(audio))
            return m2i.storyboard(
                song,
                sections=int(sections),
                seed=seed,
                guidance_scale=guidance_scale,
                steps=steps,
                scheduler=scheduler,
                size=STORYBOARD_SIZE,
                progress=_progress_fn(progress, "Painting the storyboard"),
            )

    def film(audio, seed, start, duration, progress=gr.Progress()):
        """A generator, so that a cancelled request stops filming (and leaves no file)."""
        seed = _require_seed(seed)
        song = Path(_require_audio(audio))
        out = Path(film_video.GRADIO_CACHE) / "films" / uuid.uuid4().hex / f"{song.stem}-film.mp4"
        progress(0, desc="Listening")
        with user_errors():
            second = 0
            for done, total in m2i.film_steps(song, out, seed=seed, start=float(start or 0), duration=duration or None):
                progress((done, total), desc="Filming", unit="s")
                if int(done) > second:  # give the queue a chance to cancel, about once per second of film
                    second = int(done)
                    yield gr.skip()
        yield str(out)

    with gr.Blocks(title="music2img", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# music2img", elem_id="title")
        gr.Markdown(
            "Turn a song into a landscape through its emotion: upload or record a song (or pick an example), "
            "then press **Music → image** — or paint any emotion with the sliders.",
            elem_id="tagline",
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Song", elem_id="audio")
                with gr.Row():
                    analyse_btn = gr.Button("Analyse", variant="secondary")
                    m2i_btn = gr.Button("Music → image", variant="primary")
                examples_slot = gr.Column()
                plane = gr.Plot(
                    _plane(*DEFAULT_VA), label="Emotion plane", show_label=False, format="png", elem_id="plane"
                )
                timeline = gr.Plot(
                    label="Emotion over time", show_label=False, visible=False, format="png", elem_id="timeline"
                )
                with gr.Accordion("Analysis (JSON)", open=False):
                    emotion = gr.JSON(label="Song emotion", value=None)
            with gr.Column(scale=1):
                valence = gr.Slider(
                    VA_MIN,
                    VA_MAX,
                    value=DEFAULT_VA[0],
                    step=0.1,
                    label="Valence (negative → positive)",
                    elem_id="valence",
                )
                arousal = gr.Slider(
                    VA_MIN, VA_MAX, value=DEFAULT_VA[1], step=0.1, label="Arousal (calm → energetic)", elem_id="arousal"
                )
                describe_md = gr.Markdown(_description(*DEFAULT_VA), elem_id="describe")
                with gr.Accordion("Settings", open=False):
                    with gr.Row():
                        guidance = gr.Slider(1.0, 10.0, value=defaults.GUIDANCE_SCALE, step=0.5, label="Guidance scale")
                        steps = gr.Slider(
                            1,
                            MAX_STEPS,
                            value=min(DEFAULT_STEPS[m2i.default_scheduler], MAX_STEPS),
                            step=1,
                            label="Steps",
                        )
                    with gr.Row():
                        scheduler = gr.Dropdown(sorted(m2i.schedulers), value=m2i.default_scheduler, label="Scheduler")
                        num_images = gr.Slider(1, 4, value=1, step=1, label="Images")
                    with gr.Row(equal_height=True):
                        seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed", scale=4)
                        dice = gr.Button("🎲", scale=1, min_width=40)
                generate_btn = gr.Button("Generate", variant="primary", elem_id="generate")
                gallery = gr.Gallery(
                    label="Landscapes",
                    elem_id="gallery",
                    format="png",
                    columns=2,
                    height="auto",
                    object_fit="contain",
                    buttons=["download", "download_all", "fullscreen"],
                )
                fit = ratings.fit_question() if ratings else None
        with gr.Accordion("Storyboard: one picture per section of the song", open=False):
            with gr.Row(equal_height=True):
                sections = gr.Slider(2, 6, value=4, step=1, label="Sections", scale=3)
                storyboard_btn = gr.Button("Paint storyboard", scale=1)
            strip = gr.Gallery(
                label="Storyboard", elem_id="storyboard", format="png", columns=6, height=340, object_fit="contain"
            )
        with gr.Accordion("Film: the landscape follows the song's emotion, with the song as soundtrack", open=False):
            with gr.Row(equal_height=True):
                film_start = gr.Number(value=0, minimum=0, label="Start (s)", scale=1)
                film_duration = gr.Number(value=None, minimum=0, label="Duration (s, empty: to the end)", scale=1)
                film_btn = gr.Button("Make the film", scale=1, elem_id="film")
                film_stop = gr.Button("Stop", scale=1, variant="stop", elem_id="film_stop")
            film_video = gr.Video(
                label=f"Film (at most {MAX_FILM_DURATION / 60:g} minutes)",
                format="mp4",
                elem_id="film_video",
                interactive=False,
            )
        if ratings:
            ratings.blind_section()
        with gr.Accordion("How it works", open=False):
            gr.Markdown(HOW_IT_WORKS)
        song_outputs_ = [emotion, valence, arousal, plane, timeline]
        settings = [guidance, steps, scheduler, seed, num_images]
        # song analysis and painting share the cores: one job at a time, with all of them (music2img.threads)
        cpu = dict(concurrency_id="cpu", concurrency_limit=1)
        analyse_btn.click(predict_emotion, [audio], song_outputs_, api_name="predict_emotion", **cpu)
        generate_btn.click(generate, [valence, arousal, *settings], [gallery], api_name="generate", **cpu)
        m2i_event = m2i_btn.click(
            music_to_image, [audio, *settings], [*song_outputs_, gallery], api_name="music_to_image", **cpu
        )
        if ratings:
            ratings.wire_fit(fit, m2i_event, emotion, [valence, arousal, *settings], gallery, hide_on=[generate_btn])
        storyboard_btn.click(storyboard, [audio, sections, *settings[:4]], [strip], api_name="storyboard", **cpu)
        film_event = film_btn.click(
            film, [audio, seed, film_start, film_duration], [film_video], api_name="film", **cpu
        )
        film_stop.click(None, cancels=[film_event], api_visibility="private")
        scheduler.change(
            lambda name: min(DEFAULT_STEPS[name], MAX_STEPS),
            [scheduler],
            [steps],
            api_visibility="private",
            queue=False,
        )
        dice.click(lambda: random.randint(0, MAX_SEED), None, [seed], api_visibility="private", queue=False)
        for slider in (valence, arousal):
            slider.change(
                _description,
                [valence, arousal],
                [describe_md],
                api_visibility="private",
                queue=False,
                show_progress="hidden",
            )
            slider.release(
                _plane, [valence, arousal, emotion], [plane], api_visibility="private", show_progress="hidden"
            )

        # after the named events, so that the examples' own events do not take their names
        examples = [(EXAMPLES_DIR / f"{piece.name}.ogg", piece.title) for piece in EXAMPLES]
        examples = [(path, title) for path, title in examples if path.is_file()]
        if examples:
            with examples_slot:
                gr.Examples(
                    [[str(path)] for path, _ in examples],
                    inputs=[audio],
                    outputs=song_outputs_,
                    fn=predict_emotion,
                    run_on_click=True,
                    cache_examples=False,
                    label="Example songs (one per quadrant, played from MIDI)",
                    example_labels=[title for _, title in examples],
                )
    demo.queue(default_concurrency_limit=2, max_size=32)
    return demo


def launch(demo: gr.Blocks, *, host: str, port: int, share: bool = False, **kwargs):
    """Start the server with the app's theme, stylesheet and upload limit."""
    return demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        theme=THEME,
        css=CSS,
        max_file_size="25mb",
        show_error=True,
        **kwargs,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description="music2img web app")
    p.add_argument(
        "--music-model",
        default=env("MUSIC2IMG_MUSIC_MODEL", str(MUSIC_MODEL_DIR)),
        help="music emotion model folder (env MUSIC2IMG_MUSIC_MODEL)",
    )
    p.add_argument(
        "--diffusion-model",
        default=env("MUSIC2IMG_DIFFUSION_MODEL", str(DIFFUSION_MODEL_DIR)),
        help="diffusion pipeline folder or Hub repo (env MUSIC2IMG_DIFFUSION_MODEL)",
    )
    p.add_argument(
        "--host", default=env("GRADIO_SERVER_NAME", "127.0.0.1"), help="address to serve on (env GRADIO_SERVER_NAME)"
    )
    p.add_argument(
        "--port",
        type=ranged(int, *PORT),
        default=env("GRADIO_SERVER_PORT", "7860"),
        help="port (env GRADIO_SERVER_PORT)",
    )
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    p.add_argument(
        "--threads", type=checked(int, check_threads), default=None, help="torch threads (default: one per core)"
    )
    p.add_argument(
        "--ratings-db",
        default=None,
        help="SQLite file for visitors' ratings, or 'off' (env MUSIC2IMG_RATINGS_DB; default: "
        "/data/music2img/ratings.sqlite on a Space, else ~/.local/share/music2img; docs/ratings.md)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        m2i = MusicToImage.load(args.music_model, args.diffusion_model, num_threads=args.threads)
    except ModelFileError as err:
        print(f"app.py: {err}", file=sys.stderr)
        return 2
    ratings = RatingsPage.create(m2i, args.ratings_db, display_size=DISPLAY_SIZE)
    launch(build_demo(m2i, ratings), host=args.host, port=args.port, share=args.share)
    return 0


if __name__ == "__main__":
    sys.exit(main())
