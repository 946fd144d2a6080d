"""The Affect Grid (Russell, Weiss & Mendelsohn, 1989): one click on a 9 × 9 grid rates how a picture
feels — unpleasant → pleasant across, sleepy → aroused up — on the project's 1–9 valence/arousal scale."""

from __future__ import annotations

import dataclasses
import functools

from PIL import Image, ImageDraw, ImageFont

from .store import GRID_MAX, GRID_MIN

CELLS = GRID_MAX - GRID_MIN + 1
#: The words around the grid: edges (the dimensions) and corners (the quadrants), as on the original.
EDGE_WORDS = {"top": "aroused", "bottom": "sleepy", "left": "unpleasant", "right": "pleasant"}
CORNER_WORDS = {
    "top_left": "stress",
    "top_right": "excitement",
    "bottom_left": "depression",
    "bottom_right": "relaxation",
}


@dataclasses.dataclass(frozen=True)
class GridLayout:
    """Pixel geometry of the grid picture: ``cell`` pixels a cell, ``margin`` pixels around the grid
    for the words."""

    cell: int = 36
    margin: int = 64

    @property
    def side(self) -> int:
        """Width and height of the whole picture."""
        return CELLS * self.cell + 2 * self.margin

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """``(valence, arousal)`` (1–9 each) of the cell under pixel ``(x, y)`` of the picture, or
        ``None`` off the grid (on the words around it)."""
        col = (x - self.margin) // self.cell
        row = (y - self.margin) // self.cell
        if not (0 <= col < CELLS and 0 <= row < CELLS):
            return None
        return GRID_MIN + int(col), GRID_MAX - int(row)

    def centre(self, valence: int, arousal: int) -> tuple[float, float]:
        """Pixel centre of the cell ``(valence, arousal)``."""
        return (
            self.margin + (valence - GRID_MIN + 0.5) * self.cell,
            self.margin + (GRID_MAX - arousal + 0.5) * self.cell,
        )


def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font, anchor: str, fill="#374151") -> None:
    draw.text(xy, text, font=font, anchor=anchor, fill=fill)


@functools.lru_cache(maxsize=4)
def affect_grid_image(layout: GridLayout = GridLayout()) -> Image.Image:
    """The empty grid with its words, as an RGB picture of ``layout.side`` pixels a side (treat as read-only)."""
    side, m, c = layout.side, layout.margin, layout.cell
    image = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(image)
    mid = m + CELLS * c / 2  # the neutral row and column are shaded: the axes of the plane
    draw.rectangle([m + 4 * c, m, m + 5 * c, m + CELLS * c], fill="#eef2ff")
    draw.rectangle([m, m + 4 * c, m + CELLS * c, m + 5 * c], fill="#eef2ff")
    for i in range(CELLS + 1):
        width = 3 if i in (0, CELLS) else 1
        draw.line([(m + i * c, m), (m + i * c, m + CELLS * c)], fill="#6b7280", width=width)
        draw.line([(m, m + i * c), (m + CELLS * c, m + i * c)], fill="#6b7280", width=width)
    edge = ImageFont.load_default(size=max(10, m // 4))
    corner = ImageFont.load_default(size=max(9, m // 5))
    _text(draw, (mid, m / 2), EDGE_WORDS["top"], edge, "mm")
    _text(draw, (mid, side - m / 2), EDGE_WORDS["bottom"], edge, "mm")
    for word, x, angle in ((EDGE_WORDS["left"], m / 2, 90), (EDGE_WORDS["right"], side - m / 2, -90)):
        box = draw.textbbox((0, 0), word, font=edge)
        label = Image.new("RGBA", (box[2] + 4, box[3] + 4), (255, 255, 255, 0))
        _text(ImageDraw.Draw(label), (2, 2), word, edge, "la")
        label = label.rotate(angle, expand=True)
        image.paste(label, (round(x - label.width / 2), round(mid - label.height / 2)), label)
    pad = m / 6
    _text(draw, (pad, pad), CORNER_WORDS["top_left"], corner, "la", "#9ca3af")
    _text(draw, (side - pad, pad), CORNER_WORDS["top_right"], corner, "ra", "#9ca3af")
    _text(draw, (pad, side - pad), CORNER_WORDS["bottom_left"], corner, "ld", "#9ca3af")
    _text(draw, (side - pad, side - pad), CORNER_WORDS["bottom_right"], corner, "rd", "#9ca3af")
    return image
