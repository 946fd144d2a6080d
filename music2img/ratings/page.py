"""The rating parts of the page (Gradio): the blind Affect-Grid test and "Does the picture fit the music?".

``app.py`` builds a :class:`RatingsPage` and places its parts; everything they do lives here. The
handlers never take the painter's lock: an answer is one short database write in its own event,
and the pictures to rate come from a :class:`~music2img.ratings.pool.PicturePool` painted ahead.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
from PIL import Image

from ..va import describe
from .grid import CELLS, GridLayout, affect_grid_image
from .pictures import pictures_hash, weights_versions
from .pool import PicturePool
from .store import (
    FIT_MAX,
    FIT_MIN,
    Answer,
    RatingRefused,
    RatingStore,
    RatingStoreUnavailable,
    Request,
    configured_path,
    new_id,
)
from .upload import uploader_from_env

if TYPE_CHECKING:
    from ..music_to_image import MusicToImage

log = logging.getLogger(__name__)

BLIND_TITLE = "Rate pictures: how do they feel to you?"
BLIND_INTRO = (
    "Each picture was painted for some emotion, which you see only after answering. **How does this "
    "picture feel to you?** Click one square of the grid: further right is more *pleasant*, further left more "
    "*unpleasant*; higher up more *aroused* (alert, energetic), lower down more *sleepy* (calm, still); the "
    "middle is neutral. Answers are anonymous (a random id kept in this browser) and help measure whether "
    "people see the emotion the model paints."
)
FIT_LABEL = "Does the picture fit the music?"
FIT_CHOICES = [("1 · not at all", 1), ("2", 2), ("3", 3), ("4", 4), ("5 · perfectly", 5)]
#: Seconds an answer waits for the next picture before the page says the painter is busy.
TAKE_TIMEOUT = 20.0
_ROWS = (
    "sleepy",
    "sleepy",
    "a little sleepy",
    "a little sleepy",
    "neither",
    "a little aroused",
    "a little aroused",
    "aroused",
    "aroused",
)
_COLS = (
    "unpleasant",
    "unpleasant",
    "a little unpleasant",
    "a little unpleasant",
    "neither",
    "a little pleasant",
    "a little pleasant",
    "pleasant",
    "pleasant",
)
assert len(_ROWS) == len(_COLS) == CELLS and FIT_CHOICES[-1][1] == FIT_MAX and FIT_CHOICES[0][1] == FIT_MIN

#: The Affect Grid as the page draws it.
DEFAULT_LAYOUT = GridLayout()


def cell_words(valence: int, arousal: int) -> str:
    """A grid cell in words, e.g. ``"pleasant, a little sleepy"``."""
    return f"{_COLS[valence - 1]}, {_ROWS[arousal - 1]}"


@dataclasses.dataclass
class FitQuestion:
    """The components of "Does the picture fit the music?" (hidden until a song is painted)."""

    box: gr.Group
    choice: gr.Radio
    status: gr.Markdown


class RatingsPage:
    """The rating questions of the page over one :class:`~music2img.music_to_image.MusicToImage`.

    Parameters
    ----------
    m2i : MusicToImage
        The loaded models (their weights' versions go into every answer).
    store : RatingStore
        Where answers go.
    pool : PicturePool
        Pictures for the blind test (started by :meth:`create`, stopped by :meth:`close`).
    """

    def __init__(
        self,
        m2i: MusicToImage,
        store: RatingStore,
        pool: PicturePool,
        *,
        layout: GridLayout = DEFAULT_LAYOUT,
        take_timeout: float = TAKE_TIMEOUT,
    ):
        self.m2i, self.store, self.pool, self.layout = m2i, store, pool, layout
        self.take_timeout = float(take_timeout)
        self.weights = weights_versions(m2i)
        self._visitor: gr.BrowserState | None = None

    @classmethod
    def create(
        cls,
        m2i: MusicToImage,
        db: str | os.PathLike | None = None,
        *,
        display_size: int | None = None,
        pool_size: int = 4,
        env=os.environ,
        **kwargs,
    ) -> RatingsPage | None:
        """Open the database (``db``, else :func:`~music2img.ratings.store.configured_path`), set up the
        upload when ``env`` configures one, start a pool painting at ``display_size``. ``None`` when
        ratings are off or the database cannot be opened (logged: the page works without them)."""
        path = configured_path(None if db is None else str(db))
        if path is None:
            return None
        try:
            uploader = uploader_from_env(Path(path).parent / "upload", env)
            store = RatingStore.open(path, on_row=uploader)
        except Exception as err:
            log.error("ratings are off: %s", err)
            return None
        log.info("ratings are stored in %s", path)
        return cls(m2i, store, PicturePool(m2i, size=pool_size, display_size=display_size).start(), **kwargs)

    def close(self) -> None:
        """Stop painting pictures ahead."""
        self.pool.stop()

    def _visitor_state(self) -> gr.BrowserState:
        """The browser's anonymous visitor id (one component shared by both questions)."""
        if self._visitor is None:
            self._visitor = gr.BrowserState(None, storage_key="music2img_visitor")
        return self._visitor

    # ---- the blind test ------------------------------------------------------------------------

    def blind_section(self) -> None:
        """The "Rate pictures" part (an accordion that fetches a picture when opened), in the current Blocks."""
        visitor, session = self._visitor_state(), gr.State({})
        with gr.Accordion(BLIND_TITLE, open=False, elem_id="rate") as accordion:
            gr.Markdown(BLIND_INTRO)
            with gr.Row(equal_height=False):
                picture = gr.Image(
                    label="Picture",
                    show_label=False,
                    interactive=False,
                    elem_id="rate_picture",
                    type="pil",
                    format="png",
                    height=self.layout.side,
                    buttons=[],
                )
                grid = gr.Image(
                    affect_grid_image(self.layout),
                    label="Affect Grid: click one square",
                    show_label=False,
                    type="pil",
                    interactive=False,
                    elem_id="affect_grid",
                    format="png",
                    height=self.layout.side,
                    buttons=[],
                )
            with gr.Row(equal_height=True):
                status = gr.Markdown(elem_id="rate_status")
                skip = gr.Button("Skip: I can't say", scale=0, size="sm", elem_id="rate_skip")
        outputs = [picture, status, session, visitor]
        events = dict(concurrency_id="ratings", concurrency_limit=8, api_visibility="private", show_progress="minimal")
        accordion.expand(self.first_picture, [visitor, session], outputs, **events)
        grid.select(self.answer_grid, [visitor, session], outputs, **events)
        skip.click(self.skip_picture, [visitor, session], outputs, **events)

    def first_picture(self, visitor: str | None, session: dict):
        """A picture to rate when the section opens (the one shown before, if not answered yet)."""
        visitor = _visitor(visitor)
        if session.get("shown"):
            return gr.skip(), gr.skip(), session, visitor
        return self._next(visitor, session, self._count_text(visitor))

    def skip_picture(self, visitor: str | None, session: dict):
        """The next picture without answering (the skipped one is not shown to this visitor again)."""
        visitor, session = _visitor(visitor), dict(session)
        shown = session.pop("shown", None)
        if shown:
            session["seen"] = [*session.get("seen", []), shown["picture"]]
        return self._next(visitor, session, "Skipped. " + self._count_text(visitor))

    def answer_grid(self, visitor: str | None, session: dict, evt: gr.SelectData):
        """A click on the grid: store the cell, reveal what the picture was painted for, show the next."""
        visitor, session = _visitor(visitor), dict(session)
        shown = session.get("shown")
        cell = None if evt.index is None else self.layout.cell_at(*evt.index)
        if cell is None:
            gr.Warning("Click inside the grid: one of its 9 × 9 squares.")
            return gr.skip(), gr.skip(), session, visitor
        if not shown:
            gr.Warning("There is no picture to rate yet: wait for one to appear, or press Skip.")
            return gr.skip(), gr.skip(), session, visitor
        answer = Answer(
            shown["answer_id"],
            visitor,
            "grid",
            Request(**shown["request"]),
            shown["picture"],
            self.weights,
            answer_valence=cell[0],
            answer_arousal=cell[1],
            seconds=round(time.time() - shown["shown_at"], 2),
        )
        stored = self._store(answer)
        session.pop("shown")
        session["seen"] = [*session.get("seen", []), shown["picture"]]
        v, a = shown["request"]["valence"], shown["request"]["arousal"]
        reveal = (
            f"You felt the last picture as **{cell_words(*cell)}** (square {cell[0]}, {cell[1]}); it was painted "
            f"for **{describe(v, a)}** (valence {v:.1f}, arousal {a:.1f}). "
        )
        return self._next(visitor, session, ("**Thank you!** " if stored else "") + reveal + self._count_text(visitor))

    def _next(self, visitor: str, session: dict, text: str):
        """Show the next picture this visitor has neither rated (in any earlier visit) nor skipped."""
        try:
            seen = self.store.pictures(visitor) | set(session.get("seen", []))
        except Exception:
            seen = set(session.get("seen", []))
        item = self.pool.take(exclude=seen, timeout=self.take_timeout)
        if item is None:
            text += (
                "\n\nNo new picture for you at the moment: the painter is busy with visitors' pictures (press "
                "Skip in a moment), or you have rated all of them — thank you!"
            )
            return None, text, session, visitor
        session = {
            **session,
            "shown": dict(
                answer_id=new_id(), request=dataclasses.asdict(item.request), picture=item.picture, shown_at=time.time()
            ),
        }
        return item.image, text, session, visitor

    def _count_text(self, visitor: str) -> str:
        try:
            mine, everyone = self.store.count(visitor=visitor, question="grid"), self.store.count()
        except Exception:
            return ""
        return (
            f"You have rated {mine} picture{'s' * (mine != 1)}; "
            f"{everyone} answer{'s' * (everyone != 1)} from everyone so far."
        )

    def _store(self, answer: Answer) -> bool:
        """Store an answer; refusals and an unavailable disk become warnings (the latter once per outage)."""
        try:
            return self.store.add(answer) > 0
        except RatingRefused as err:
            gr.Warning(f"Answer not counted: {err}.")
        except RatingStoreUnavailable as err:  # raised once; later failures return -1 quietly
            gr.Warning(f"Answers cannot be saved at the moment ({err}).")
        return False

    # ---- does the picture fit the music? -------------------------------------------------------

    def fit_question(self) -> FitQuestion:
        """The 1–5 question, hidden until :meth:`wire_fit`'s painting event shows it, in the current Blocks."""
        with gr.Group(visible=False, elem_id="fit_box") as box:
            choice = gr.Radio(FIT_CHOICES, value=None, label=FIT_LABEL, elem_id="fit")
            status = gr.Markdown(elem_id="fit_status")
        return FitQuestion(box, choice, status)

    def wire_fit(
        self,
        fit: FitQuestion,
        painted,
        song: gr.JSON,
        request: Sequence[gr.components.Component],
        gallery: gr.Gallery,
        hide_on: Sequence[gr.Button] = (),
    ) -> None:
        """Ask ``fit`` after the event ``painted`` (music → image) succeeds; ``request``: the valence,
        arousal, guidance scale, steps, sampler, seed and number of images it painted with. Pressing a
        button of ``hide_on`` (painting something else) takes the question away."""
        visitor, session = self._visitor_state(), gr.State({})
        private = dict(api_visibility="private", show_progress="hidden")
        painted.success(
            self.ask_fit,
            [session, song, *request, gallery],
            [fit.box, fit.choice, fit.status, session],
            queue=False,
            **private,
        )
        fit.choice.input(
            self.answer_fit,
            [visitor, session, fit.choice],
            [fit.choice, fit.status, session, visitor],
            concurrency_id="ratings",
            concurrency_limit=8,
            **private,
        )
        for button in hide_on:
            button.click(lambda: (gr.Group(visible=False), {}), None, [fit.box, session], queue=False, **private)

    def ask_fit(
        self,
        session: dict,
        song: dict | None,
        valence: float,
        arousal: float,
        guidance_scale: float,
        steps: int,
        scheduler: str,
        seed: int,
        num_images: int,
        gallery: list | None,
    ):
        """Show the question about the pictures just painted for a song, remembering what they were."""
        if not song or not gallery:
            return gr.Group(visible=False), gr.skip(), gr.skip(), {}
        images = [Image.open(item[0] if isinstance(item, (tuple, list)) else item) for item in gallery]
        request = Request(
            float(valence),
            float(arousal),
            int(seed),
            float(guidance_scale),
            int(steps),
            str(scheduler),
            num_images=len(images),
            size=images[0].width,
        )
        session = {
            "fit": dict(
                answer_id=new_id(),
                request=dataclasses.asdict(request),
                picture=pictures_hash(images),
                song=(float(song["valence"]), float(song["arousal"])),
                shown_at=time.time(),
            )
        }
        return gr.Group(visible=True), gr.Radio(value=None, interactive=True), "", session

    def answer_fit(self, visitor: str | None, session: dict, value: Any):
        """Store the 1–5 answer (once) and thank the visitor."""
        visitor, session = _visitor(visitor), dict(session)
        shown = session.get("fit")
        if not shown:
            gr.Warning("Paint a song's picture with Music → image first.")
            return gr.skip(), gr.skip(), session, visitor
        try:
            fit = int(value)
        except (TypeError, ValueError):
            fit = value
        answer = Answer(
            shown["answer_id"],
            visitor,
            "fit",
            Request(**shown["request"]),
            shown["picture"],
            self.weights,
            fit=fit,
            song_valence=shown["song"][0],
            song_arousal=shown["song"][1],
            seconds=round(time.time() - shown["shown_at"], 2),
        )
        if not self._store(answer):
            return gr.skip(), gr.skip(), session, visitor
        session.pop("fit")
        thanks = f"**Thank you!** {self.store.count(question='fit')} answers so far."
        return gr.Radio(interactive=False), thanks, session, visitor


def _visitor(value: Any) -> str:
    """The browser's anonymous id, or a new one when it has none (or a malformed one)."""
    if isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        return value
    return new_id()
