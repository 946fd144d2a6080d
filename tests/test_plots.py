"""The emotion-plane and timeline figures."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from music2img.plots import emotion_timeline, va_plane
from music2img.va import QUADRANT_NAMES


def _song(n_windows: int = 5):
    windows = [
        SimpleNamespace(start=3.0 * i, end=3.0 * i + 6.0, valence=3.0 + i, arousal=8.0 - i) for i in range(n_windows)
    ]
    return SimpleNamespace(valence=5.0, arousal=6.0, duration=3.0 * n_windows + 3.0, windows=windows)


def _png(fig: Figure) -> Image.Image:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return Image.open(io.BytesIO(buf.getvalue()))


def test_va_plane_names_quadrants_and_marks_points():
    fig = va_plane([(7.5, 2.0), (2.0, 8.0)], ["song", "picture"], trajectory=[(6.0, 3.0), (7.0, 2.5), (8.0, 1.5)])
    ax = fig.axes[0]
    texts = {t.get_text() for t in ax.texts}
    assert set(QUADRANT_NAMES.values()) <= texts
    assert {"song", "picture"} <= texts
    offsets = np.concatenate([c.get_offsets() for c in ax.collections])
    np.testing.assert_allclose(offsets, [[7.5, 2.0], [2.0, 8.0]])
    (path,) = [line for line in ax.lines if line.get_label() == "sections"]
    np.testing.assert_allclose(path.get_xydata(), [[6.0, 3.0], [7.0, 2.5], [8.0, 1.5]])
    assert ax.get_xlim() == (1.0, 9.0) and ax.get_ylim() == (1.0, 9.0)
    assert _png(fig).size == (460, 460)


def test_va_plane_without_labels_or_trajectory():
    ax = va_plane([(5.0, 5.0)]).axes[0]
    assert not [line for line in ax.lines if line.get_label() == "sections"]
    assert len(ax.collections) == 1


def test_va_plane_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="2 labels for 1 points"):
        va_plane([(5.0, 5.0)], ["a", "b"])


def test_emotion_timeline_plots_each_window_at_its_centre():
    song = _song(4)
    ax = emotion_timeline(song).axes[0]
    valence, arousal = (line for line in ax.lines if line.get_label() in ("valence", "arousal"))
    np.testing.assert_allclose(valence.get_xdata(), [3.0, 6.0, 9.0, 12.0])
    np.testing.assert_allclose(valence.get_ydata(), [3.0, 4.0, 5.0, 6.0])
    np.testing.assert_allclose(arousal.get_ydata(), [8.0, 7.0, 6.0, 5.0])
    assert ax.get_xlim() == (0.0, song.duration)
    assert _png(emotion_timeline(song)).size == (640, 260)
