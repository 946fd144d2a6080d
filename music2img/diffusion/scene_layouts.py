"""``SceneLayouts``: the colour layouts of scene photos, with their emotions, that pictures start from.

A colour layout is a photo reduced to ``side × side`` block means (as the MPEG-7 colour layout descriptor
does before its transform): where the sky, the horizon and the ground lie and their colours, no detail.
:class:`~music2img.diffusion.pipeline.EmotionLandscapePipeline` draws, for a request (v, a), one of the
``neighbours`` photos whose labels lie nearest to it, enlarges its layout smoothly to the picture's size,
noises it to an early step and paints from there (SDEdit, Meng et al. 2022, as diffusers' image-to-image
pipelines do with ``strength``). The model then paints the detail and the emotion over a real scene's
composition and colour, where from pure noise it paints close-ups (tree bark, rock) and over-coloured
smears in the low-valence half (the diffusion model card, "Scene layouts"). ``train/scene_layouts.py``
builds one from a labels CSV of scene photos; ``train/layout_prior.py`` gives its layouts ``weights``, how
often a layout is drawn among a request's nearest in proportion to how often the scene check passes its pictures,
and ``train/layout_labels.py`` their ``label_factors``, how much less often a layout is drawn because people called
the pictures painted over it no scene (:meth:`SceneLayouts.painted_over` finds a picture's layout). Each layout
also keeps its photo's ``black_shares``, the share of pixels with a channel at 0, which sets the toe under a
picture's shadows (:func:`~music2img.diffusion.colour.toe`); ``train/layout_black_shares.py`` gives them to layouts
built before they were kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from .colour import colourfulness_of


def resize_layouts(layouts: torch.Tensor, size: int) -> torch.Tensor:
    """Layouts ``(n, 3, h, w)`` in [-1, 1] resized smoothly (bicubic) to ``size × size``, kept in [-1, 1]."""
    return F.interpolate(layouts.float(), size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)


def framed(layouts: torch.Tensor) -> torch.Tensor:
    """Which of ``layouts`` (``(n, 3, side, side)`` uint8) are photos in a frame, a scanned print's white margin:
    each edge bright (mean above 0.75 of white), the border even (standard deviation below 0.08) and 0.15 brighter
    than the middle half. Painted over, such a layout becomes a picture in a frame (one of the 8,589 shipped)."""
    x = layouts.float() / 255
    edges = torch.stack([x[..., :, 0], x[..., :, -1], x[..., 0, :], x[..., -1, :]], 1).flatten(2)
    q = x.shape[-1] // 4
    middle = x[..., q : x.shape[-1] - q, q : x.shape[-1] - q].flatten(1).mean(1)
    border = edges.flatten(1)
    return (edges.mean(2).amin(1) > 0.75) & (border.std(1) < 0.08) & (border.mean(1) - middle > 0.15)


class SceneLayouts(ModelMixin, ConfigMixin):
    r"""Colour layouts of ``num_layouts`` scene photos, their (valence, arousal) labels, their ``weights``, their
    ``label_factors`` (1 for layouts saved before they were kept) and their photos' ``black_shares`` (0 for layouts
    saved before they were kept).

    A request draws among its nearest layouts in proportion to their weights times their label factors; where those
    are all equal (as built, all 1), uniformly, as before weights existed.

    Parameters:
        num_layouts: Photos held.
        side: Blocks per side of a layout.
        neighbours: A request draws among this many photos whose labels lie nearest to it.
    """

    @register_to_config
    def __init__(self, num_layouts: int = 1, side: int = 16, neighbours: int = 16):
        super().__init__()
        if num_layouts < 1 or side < 1 or neighbours < 1:
            raise ValueError("num_layouts, side and neighbours must be positive")
        self.register_buffer("layouts", torch.zeros(num_layouts, 3, side, side, dtype=torch.uint8))
        self.register_buffer("emotions", torch.zeros(num_layouts, 2))
        self.register_buffer("weights", torch.ones(num_layouts))
        self.register_buffer("label_factors", torch.ones(num_layouts))
        self.register_buffer("black_shares", torch.zeros(num_layouts))

    @classmethod
    def from_photos(
        cls, photos: torch.Tensor, emotions: np.ndarray, side: int = 16, neighbours: int = 16
    ) -> SceneLayouts:
        """Layouts of ``photos`` (``(n, 3, h, w)`` uint8, as :func:`~music2img.image.labelled_folder.load_images`
        decodes them; ``h`` and ``w`` multiples of ``side``) labelled ``emotions`` (``(n, 2)``, valence and
        arousal on 1–9), with each photo's black share (:func:`black_shares_of`)."""
        emotions = np.asarray(emotions, dtype=np.float32)
        if photos.ndim != 4 or photos.shape[1] != 3 or photos.dtype != torch.uint8:
            raise ValueError(f"photos must be (n, 3, h, w) uint8, got {tuple(photos.shape)} {photos.dtype}")
        n, _, h, w = photos.shape
        if h % side or w % side:
            raise ValueError(f"the photos' sides ({h}×{w}) must be multiples of the layout side {side}")
        if emotions.shape != (n, 2) or not np.isfinite(emotions).all():
            raise ValueError(f"emotions must be {n} finite (valence, arousal) pairs, got shape {emotions.shape}")
        layouts = cls(num_layouts=n, side=side, neighbours=min(neighbours, n))
        layouts.layouts.copy_(F.avg_pool2d(photos.float(), (h // side, w // side)).round().to(torch.uint8))
        layouts.emotions.copy_(torch.from_numpy(emotions))
        layouts.black_shares.copy_(black_shares_of(photos))
        return layouts

    def nearest(self, valence: float, arousal: float) -> torch.Tensor:
        """Indices of the ``neighbours`` layouts whose labels lie nearest to (valence, arousal), nearest first."""
        d = (self.emotions - torch.tensor([valence, arousal], device=self.emotions.device)).square().sum(1)
        return torch.topk(d, self.config.neighbours, largest=False).indices

    def choose(
        self,
        valence: Sequence[float],
        arousal: Sequence[float],
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> list[int]:
        """For each (valence, arousal) pair, the index of one of its ``neighbours`` nearest layouts, drawn in
        proportion to their ``weights`` times their ``label_factors`` with ``generator`` (one per pair, or one for
        all); a :func:`framed` layout is never drawn."""
        picks = []
        for i, (v, a) in enumerate(zip(valence, arousal)):
            g = generator[i] if isinstance(generator, list) else generator
            device = g.device if g is not None else "cpu"
            near = self.nearest(v, a)
            w = self._weights_of(near).to(device)
            if torch.all(w == w[0]):
                j = int(torch.randint(self.config.neighbours, (1,), generator=g, device=device))
            else:
                j = int(torch.multinomial(w, 1, generator=g))
            picks.append(int(near[j]))
        return picks

    def _weights_of(self, near: torch.Tensor) -> torch.Tensor:
        """The weights of the layouts ``near`` as they are drawn: times their label factors, 0 for a framed one."""
        return self.weights[near].float() * self.label_factors[near].float() * ~framed(self.layouts[near])

    def set_weights(self, weights: np.ndarray | torch.Tensor) -> None:
        """Give the layouts ``weights`` (one per layout, finite, ≥ 0): the relative chance of each being drawn
        among a request's nearest."""
        self._set("weights", weights, math.inf)

    def set_label_factors(self, factors: np.ndarray | torch.Tensor) -> None:
        """Give the layouts ``factors`` on their weights from people's labels (one per layout, in [0, 1]; 1: drawn
        as their weights say)."""
        self._set("label_factors", factors, 1.0)

    def set_black_shares(self, shares: np.ndarray | torch.Tensor) -> None:
        """Give the layouts their photos' black ``shares`` (one per layout, in [0, 1]; :func:`black_shares_of`)."""
        self._set("black_shares", shares, 1.0)

    def _set(self, name: str, values: np.ndarray | torch.Tensor, high: float) -> None:
        """Copy ``values`` into the buffer ``name``: one per layout, in [0, ``high``]."""
        buffer = getattr(self, name)
        values = torch.as_tensor(np.asarray(values, dtype=np.float32))
        if values.shape != buffer.shape or not (torch.isfinite(values) & (values >= 0) & (values <= high)).all():
            raise ValueError(
                f"{name} must be {buffer.numel()} finite values in [0, {high:g}], got shape {tuple(values.shape)}"
            )
        buffer.copy_(values)

    def track(
        self,
        valence: Sequence[float],
        arousal: Sequence[float],
        seed: int,
        radius: float = 1.0,
        segments: Sequence[int] | None = None,
    ) -> list[int]:
        """The layouts along an emotion path (a film's keyframes), changing only when the emotion moves on:
        the first is chosen as :meth:`choose` does with a generator seeded ``seed``; each is kept while the
        path's emotion stays within ``radius`` (on the 1–9 scale) of where it was chosen, and the next is
        chosen where it leaves (the same generator, so a film's scenes are reproducible). With ``segments``
        (a number per point, e.g. a drifting film's noise anchor), a new segment starts a new layout too."""
        if not radius > 0:
            raise ValueError(f"radius must be positive, got {radius}")
        segments = [0] * len(valence) if segments is None else list(segments)
        generator, picks, chosen_at = torch.Generator().manual_seed(int(seed)), [], (0.0, 0.0)
        for k, (v, a) in enumerate(zip(valence, arousal)):
            if not picks or math.dist((v, a), chosen_at) > radius or segments[k] != segments[k - 1]:
                picks.append(self.choose([v], [a], generator)[0])
                chosen_at = (v, a)
            else:
                picks.append(picks[-1])
        return picks

    def painted_over(self, images: torch.Tensor, valence: Sequence[float], arousal: Sequence[float]) -> list[int]:
        """For each of ``images`` (``(n, 3, h, w)`` in [0, 1], as painted, ``h`` a multiple of ``side``) requested at
        (valence, arousal) (as the pipeline maps them), the layout among those the request can draw whose block means
        lie nearest to the picture's own: the one it was most likely painted over."""
        blocks = F.avg_pool2d(images.float() * 255, images.shape[-1] // self.config.side)
        out = []
        for picture, v, a in zip(blocks, valence, arousal):
            near = self.nearest(float(v), float(a))
            near = near[(self.weights[near] > 0) & ~framed(self.layouts[near])]
            out.append(int(near[(self.layouts[near].float() - picture).square().mean((1, 2, 3)).argmin()]))
        return out

    def enlarge(self, indices: Sequence[int], size: int) -> torch.Tensor:
        """The layouts ``indices`` enlarged to ``size × size`` (bicubic): ``(n, 3, size, size)`` in [-1, 1]."""
        return resize_layouts(self.layouts[torch.tensor(list(indices), device=self.layouts.device)] / 127.5 - 1, size)

    def draw_chances(self, valence: float, arousal: float) -> tuple[np.ndarray, np.ndarray]:
        """The ``neighbours`` layouts nearest to (valence, arousal) and the chance :meth:`choose` draws each (all 0
        where none can be drawn)."""
        near = self.nearest(valence, arousal)
        w = self._weights_of(near).double().cpu().numpy()
        return near.cpu().numpy(), w / w.sum() if w.sum() > 0 else w

    def expected_colourfulness(self, valence: Sequence[float], arousal: Sequence[float], size: int) -> np.ndarray:
        """For each (valence, arousal) pair, the Hasler–Süsstrunk colourfulness of the layout :meth:`choose` draws
        for it, enlarged to ``size``, expected over its :meth:`draw_chances` (the colour ceiling's reference,
        :mod:`~music2img.diffusion.colour`); 0 where none can be drawn."""
        out = []
        for v, a in zip(valence, arousal):
            near, chances = self.draw_chances(v, a)
            out.append(float(np.dot(chances, colourfulness_of(self.enlarge(near.tolist(), size) / 2 + 0.5))))
        return np.array(out)


def black_shares_of(photos: torch.Tensor) -> torch.Tensor:
    """The share of each photo's pixels (``(n, 3, h, w)`` uint8) with a channel at 0: ``(n,)``."""
    return (photos == 0).any(1).flatten(1).float().mean(1)
