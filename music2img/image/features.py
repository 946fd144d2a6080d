"""Hand-crafted features that carry emotion in photos: light, colour, contrast, layout, texture.

Every function takes RGB arrays (``H × W × 3``, ``uint8`` or float in ``[0, 1]``) and returns arrays.
:func:`image_features` first centre-crops the image to a square and resizes it to
``size × size`` (default :data:`WORK_SIZE`), so features are comparable across sources and sizes
(128 px landscapes, 160 px Emotion6 photos, 64 px generated images).

Feature groups (names are ``group.name``; see :data:`FEATURE_NAMES`):

``light``    luminance mean / spread / percentiles / histogram entropy, global and local RMS contrast
``color``    saturation, chroma, Hasler–Süsstrunk colourfulness, warmth (CIELAB b*, a*, R − B)
``hue``      saturation-weighted hue histogram and circular statistics
``name``     share of pixels in basic colour names (black, white, grey, red, …)
``layout``   top / middle / bottom thirds: luminance, saturation, b*; top − bottom differences
``edge``     gradient magnitude stats, edge density, horizontal/vertical balance, two scales
``texture``  uniform local-binary-pattern histogram
``freq``     spectral energy in radial bands and spectral slope
``haze``     dark-channel and bright-channel means; airlight, mean transmission, top − bottom haze
``vm``       Valdez & Mehrabian (1994) pleasure / arousal / dominance from mean brightness and saturation
``drama``    luminance range, Michelson and coarse contrast, highlight − shadow, vivid and fire-coloured shares
``sky``      horizon row (best two-level fit of the row profile) and the sky above it: light, cloud
             structure, saturation, colourfulness, edges; blue / grey / white / dark shares of the top third
``ground``   the part below the horizon: light, spread, saturation, colourfulness, edges
``orient``   gradient orientations: diagonal share, entropy, structure-tensor coherence
``gist``     log-Gabor energy (3 scales × 4 orientations) in the 4 quadrants (Oliva & Torralba's spatial envelope)
``grid``     CIELAB means of a 3 × 3 grid (colour layout)

The first :data:`SCHEMA1_NAMES` features are computed exactly as in schema 1 (the v1 model's features).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PIL import Image
from scipy import ndimage

#: Bump when a feature is added, removed, reordered or computed differently.
SCHEMA_VERSION = "image-features-2"
#: Side of the square every image is resized to before the features are computed.
WORK_SIZE = 64

_HUE_BINS = 12
_LBP_BINS = 10
_EPS = 1e-8
_ORIENT_BINS = 8
_GIST_FREQS = (0.25, 0.125, 0.0625)
_GIST_ORIENTS = 4


def prepare(rgb: np.ndarray, size: int = WORK_SIZE) -> np.ndarray:
    """Centre-crop ``rgb`` to a square, resize it to ``size × size``; float32 in ``[0, 1]``."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"expected an H×W×3 RGB array, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        rgb = (np.clip(rgb.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = rgb[top : top + side, left : left + side]
    if side != size:
        square = np.asarray(
            Image.fromarray(square).resize(
                (size, size), Image.Resampling.BICUBIC if side < size else Image.Resampling.BOX
            )
        )
    return square.astype(np.float32) / 255.0


def rgb_to_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in ``[0, 1)``, saturation and value in ``[0, 1]`` of a float RGB image."""
    mx = rgb.max(axis=-1)
    mn = rgb.min(axis=-1)
    delta = mx - mn
    sat = np.where(mx > _EPS, delta / (mx + _EPS), 0.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.where(delta > _EPS, delta, 1.0)
    hue = np.select([mx == r, mx == g], [((g - b) / safe) % 6.0, (b - r) / safe + 2.0], (r - g) / safe + 4.0)
    hue = np.where(delta > _EPS, hue / 6.0, 0.0) % 1.0
    return hue, sat, mx


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of a float sRGB image: L in ``[0, 100]``, a and b roughly ``[-100, 100]``."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
        dtype=np.float32,
    )
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness of a float RGB image (scaled to 0–255 units)."""
    r, g, b = (rgb[..., i] * 255.0 for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def _light(lum: np.ndarray) -> dict[str, float]:
    n = lum.shape[0] // 8
    blocks = lum[: n * 8, : n * 8].reshape(n, 8, n, 8).std(axis=(1, 3))
    hist = np.histogram(lum, bins=16, range=(0.0, 1.0))[0] / lum.size
    p10, p50, p90 = np.percentile(lum, [10, 50, 90])
    return {
        "light.mean": float(lum.mean()),
        "light.std": float(lum.std()),
        "light.p10": float(p10),
        "light.p50": float(p50),
        "light.p90": float(p90),
        "light.dark_share": float((lum < 0.2).mean()),
        "light.bright_share": float((lum > 0.8).mean()),
        "light.entropy": _entropy(hist),
        "light.local_rms": float(blocks.mean()),
        "light.local_rms_std": float(blocks.std()),
    }


def _color(rgb: np.ndarray, sat: np.ndarray, lab: np.ndarray) -> dict[str, float]:
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    return {
        "color.sat_mean": float(sat.mean()),
        "color.sat_std": float(sat.std()),
        "color.sat_p90": float(np.percentile(sat, 90)),
        "color.chroma_mean": float(chroma.mean()) / 100,
        "color.chroma_std": float(chroma.std()) / 100,
        "color.colourfulness": colourfulness(rgb) / 100,
        "color.a_mean": float(lab[..., 1].mean()) / 100,
        "color.b_mean": float(lab[..., 2].mean()) / 100,
        "color.warmth": float((rgb[..., 0] - rgb[..., 2]).mean()),
        "color.green_excess": float((rgb[..., 1] - 0.5 * (rgb[..., 0] + rgb[..., 2])).mean()),
    }


def _hue(hue: np.ndarray, sat: np.ndarray, val: np.ndarray) -> dict[str, float]:
    weight = (sat * val).ravel()
    total = weight.sum() + _EPS
    hist = np.bincount((hue.ravel() * _HUE_BINS).astype(int) % _HUE_BINS, weights=weight, minlength=_HUE_BINS) / total
    angle = 2 * np.pi * hue.ravel()
    cos, sin = float((weight * np.cos(angle)).sum() / total), float((weight * np.sin(angle)).sum() / total)
    out = {f"hue.hist{i:02d}": float(h) for i, h in enumerate(hist)}
    out.update(
        {"hue.cos": cos, "hue.sin": sin, "hue.concentration": float(np.hypot(cos, sin)), "hue.entropy": _entropy(hist)}
    )
    return out


def _names(hue: np.ndarray, sat: np.ndarray, val: np.ndarray) -> dict[str, float]:
    deg = hue * 360.0
    achromatic = (sat < 0.2) | (val < 0.2)
    chrom = ~achromatic
    shares = {
        "black": val < 0.2,
        "white": (sat < 0.2) & (val >= 0.8),
        "grey": (sat < 0.2) & (val >= 0.2) & (val < 0.8),
        "red": chrom & ((deg < 15) | (deg >= 340)),
        "orange": chrom & (deg >= 15) & (deg < 45) & (val >= 0.6),
        "brown": chrom & (deg >= 15) & (deg < 45) & (val < 0.6),
        "yellow": chrom & (deg >= 45) & (deg < 70),
        "green": chrom & (deg >= 70) & (deg < 165),
        "cyan": chrom & (deg >= 165) & (deg < 200),
        "blue": chrom & (deg >= 200) & (deg < 260),
        "purple": chrom & (deg >= 260) & (deg < 300),
        "pink": chrom & (deg >= 300) & (deg < 340),
    }
    return {f"name.{k}": float(v.mean()) for k, v in shares.items()}


def _layout(lum: np.ndarray, sat: np.ndarray, lab: np.ndarray) -> dict[str, float]:
    out = {}
    third = lum.shape[0] // 3
    parts = {
        "top": slice(0, third),
        "mid": slice(third, lum.shape[0] - third),
        "bottom": slice(lum.shape[0] - third, None),
    }
    for name, rows in parts.items():
        out[f"layout.{name}_light"] = float(lum[rows].mean())
        out[f"layout.{name}_sat"] = float(sat[rows].mean())
        out[f"layout.{name}_b"] = float(lab[rows, :, 2].mean()) / 100
    for key in ("light", "sat", "b"):
        out[f"layout.top_minus_bottom_{key}"] = out[f"layout.top_{key}"] - out[f"layout.bottom_{key}"]
    half = lum.shape[1] // 2
    out["layout.left_right_light"] = float(abs(lum[:, :half].mean() - lum[:, -half:].mean()))
    c = lum.shape[0] // 4
    out["layout.centre_minus_surround_light"] = float(lum[c:-c, c:-c].mean() - lum.mean())
    return out


def _gradients(lum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return ndimage.sobel(lum, axis=1, mode="nearest") / 8, ndimage.sobel(lum, axis=0, mode="nearest") / 8


def _edge(lum: np.ndarray) -> dict[str, float]:
    gx, gy = _gradients(lum)
    mag = np.hypot(gx, gy)
    half = lum.reshape(lum.shape[0] // 2, 2, lum.shape[1] // 2, 2).mean(axis=(1, 3))
    hx, hy = _gradients(half)
    mag_half = np.hypot(hx, hy)
    ax, ay = np.abs(gx).sum(), np.abs(gy).sum()
    return {
        "edge.mean": float(mag.mean()),
        "edge.std": float(mag.std()),
        "edge.p90": float(np.percentile(mag, 90)),
        "edge.density": float((mag > 0.05).mean()),
        "edge.strong_density": float((mag > 0.15).mean()),
        "edge.horizontal_share": float(ay / (ax + ay + _EPS)),
        "edge.half_mean": float(mag_half.mean()),
        "edge.fine_to_coarse": float(mag.mean() / (mag_half.mean() + 1e-3)),
    }


def _texture(lum: np.ndarray) -> dict[str, float]:
    centre = lum[1:-1, 1:-1]
    h, w = lum.shape
    offsets = ((0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0))  # clockwise ring
    bits = np.stack([lum[dy : dy + h - 2, dx : dx + w - 2] >= centre + 0.01 for dy, dx in offsets])
    transitions = (bits != np.roll(bits, 1, axis=0)).sum(axis=0)
    code = np.where(transitions <= 2, bits.sum(axis=0), _LBP_BINS - 1)
    hist = np.bincount(code.ravel(), minlength=_LBP_BINS) / code.size
    out = {f"texture.lbp{i}": float(p) for i, p in enumerate(hist)}
    out["texture.lbp_entropy"] = _entropy(hist)
    return out


def _freq(lum: np.ndarray) -> dict[str, float]:
    n = lum.shape[0]
    win = np.hanning(n)[:, None] * np.hanning(n)[None, :]
    power = np.abs(np.fft.fftshift(np.fft.fft2((lum - lum.mean()) * win))) ** 2
    yy, xx = np.indices(power.shape) - n // 2
    radius = np.hypot(yy, xx) / (n / 2)
    total = power[radius > 0].sum() + _EPS
    out = {}
    for name, lo, hi in (("low", 0, 0.125), ("mid", 0.125, 0.5), ("high", 0.5, 1.0)):
        out[f"freq.{name}"] = float(power[(radius > lo) & (radius <= hi)].sum() / total)
    ring = np.clip((radius * n / 2).astype(int), 0, n // 2)
    radial = np.bincount(ring.ravel(), weights=power.ravel(), minlength=n // 2 + 1)[1 : n // 2]
    counts = np.bincount(ring.ravel(), minlength=n // 2 + 1)[1 : n // 2]
    f = np.arange(1, n // 2)
    out["freq.slope"] = float(np.polyfit(np.log(f), np.log(radial / counts + 1e-10), 1)[0])
    return out


def _haze(rgb: np.ndarray) -> dict[str, float]:
    dark = ndimage.minimum_filter(rgb.min(axis=-1), size=5)
    bright = ndimage.maximum_filter(rgb.max(axis=-1), size=5)
    return {
        "haze.dark_channel": float(dark.mean()),
        "haze.bright_channel": float(bright.mean()),
        "haze.dark_p90": float(np.percentile(dark, 90)),
    }


def _mehrabian(sat: np.ndarray, val: np.ndarray) -> dict[str, float]:
    b, s = float(val.mean()), float(sat.mean())
    return {
        "vm.pleasure": 0.69 * b + 0.22 * s,
        "vm.arousal": -0.31 * b + 0.60 * s,
        "vm.dominance": -0.76 * b + 0.32 * s,
    }


def _drama(
    rgb: np.ndarray, lum: np.ndarray, hue: np.ndarray, sat: np.ndarray, val: np.ndarray, lab: np.ndarray
) -> dict[str, float]:
    p2, p10, p90, p98 = np.percentile(lum, [2, 10, 90, 98])
    deg = hue * 360.0
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    n = lum.shape[0] // 16
    coarse = lum[: n * 16, : n * 16].reshape(n, 16, n, 16).mean(axis=(1, 3))
    bright = lum >= p90
    return {
        "drama.range": float(p98 - p2),
        "drama.michelson": float((p98 - p2) / (p98 + p2 + 1e-3)),
        "drama.highlight_shadow": float(lum[bright].mean() - lum[lum <= p10].mean()),
        "drama.coarse_contrast": float(coarse.std()),
        "drama.vivid_share": float(((sat > 0.6) & (val > 0.6)).mean()),
        "drama.chroma_p95": float(np.percentile(chroma, 95)) / 100,
        "drama.fire_share": float((((deg < 50) | (deg >= 340)) & (sat > 0.5) & (val > 0.5)).mean()),
        "drama.highlight_colourfulness": colourfulness(rgb[bright][:, None, :]) / 100,
    }


def _horizon(
    rgb: np.ndarray,
    lum: np.ndarray,
    hue: np.ndarray,
    sat: np.ndarray,
    val: np.ndarray,
    lab: np.ndarray,
    mag: np.ndarray,
) -> dict[str, float]:
    rows = lum.mean(axis=1)
    n = len(rows)
    k = np.arange(n // 8, n - n // 8 + 1)
    cum = np.concatenate([[0.0], np.cumsum(rows)])
    above, below = cum[k] / k, (cum[n] - cum[k]) / (n - k)
    split = int(k[np.argmax(k * (n - k) * (above - below) ** 2)])
    sky, ground = slice(0, split), slice(split, None)
    top = slice(0, n // 3)
    deg = hue[top] * 360.0
    return {
        "sky.horizon": split / n,
        "sky.step": float(rows[sky].mean() - rows[ground].mean()),
        "sky.light": float(lum[sky].mean()),
        "sky.light_std": float(lum[sky].std()),
        "sky.sat": float(sat[sky].mean()),
        "sky.b": float(lab[sky, :, 2].mean()) / 100,
        "sky.colourfulness": colourfulness(rgb[sky]) / 100,
        "sky.edge": float(mag[sky].mean()),
        "ground.light": float(lum[ground].mean()),
        "ground.light_std": float(lum[ground].std()),
        "ground.sat": float(sat[ground].mean()),
        "ground.colourfulness": colourfulness(rgb[ground]) / 100,
        "ground.edge": float(mag[ground].mean()),
        "sky.blue_share": float(((deg >= 180) & (deg < 250) & (sat[top] > 0.15) & (val[top] > 0.4)).mean()),
        "sky.grey_share": float(((sat[top] < 0.15) & (lum[top] > 0.35) & (lum[top] < 0.8)).mean()),
        "sky.dark_share": float((lum[top] < 0.35).mean()),
        "sky.white_share": float(((sat[top] < 0.15) & (lum[top] >= 0.8)).mean()),
    }


def _orientation(gx: np.ndarray, gy: np.ndarray) -> dict[str, float]:
    mag = np.hypot(gx, gy)
    angle = np.arctan2(gy, gx) % np.pi
    hist = np.bincount(
        (angle / np.pi * _ORIENT_BINS).astype(int).ravel() % _ORIENT_BINS, weights=mag.ravel(), minlength=_ORIENT_BINS
    ) / (mag.sum() + _EPS)
    n = gx.shape[0] // 8
    tiles = [g[: n * 8, : n * 8].reshape(n, 8, n, 8) for g in (gx * gx, gy * gy, gx * gy)]
    jxx, jyy, jxy = (t.sum(axis=(1, 3)) for t in tiles)
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / (jxx + jyy + 1e-6)
    diagonal = (np.arange(_ORIENT_BINS) // (_ORIENT_BINS // 4)) % 2 == 1  # bins around 45° and 135°
    return {
        "orient.diagonal": float(hist[np.roll(diagonal, -(_ORIENT_BINS // 8))].sum()),
        "orient.entropy": _entropy(hist),
        "orient.coherence": float(coherence.mean()),
    }


def _gist(lum: np.ndarray) -> dict[str, float]:
    n = lum.shape[0]
    spectrum = np.fft.fft2(lum - lum.mean())
    fy, fx = np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij")
    radius = np.hypot(fx, fy)
    radius[0, 0] = 1.0
    theta = np.arctan2(fy, fx)
    half = n // 2
    out = {}
    for s, f0 in enumerate(_GIST_FREQS):
        radial = np.exp(-(np.log(radius / f0) ** 2) / (2 * np.log(0.55) ** 2))
        radial[0, 0] = 0.0
        for o in range(_GIST_ORIENTS):
            d = (theta - o * np.pi / _GIST_ORIENTS + np.pi / 2) % np.pi - np.pi / 2
            response = np.real(np.fft.ifft2(spectrum * radial * np.exp(-(d**2) / (2 * (np.pi / 8) ** 2)))) ** 2
            cells = response[: half * 2, : half * 2].reshape(2, half, 2, half).mean(axis=(1, 3))
            for c, e in enumerate(np.sqrt(cells).ravel()):
                out[f"gist.s{s}o{o}c{c}"] = float(e)
    return out


def _grid(lab: np.ndarray) -> dict[str, float]:
    n = lab.shape[0] // 3
    cells = lab[: n * 3, : n * 3].reshape(3, n, 3, n, 3).mean(axis=(1, 3)) / 100
    return {f"grid.{ch}{i}{j}": float(cells[i, j, c]) for c, ch in enumerate("Lab") for i in range(3) for j in range(3)}


def _haze2(rgb: np.ndarray) -> dict[str, float]:
    dark = ndimage.minimum_filter(rgb.min(axis=-1), size=5)
    airlight = float(np.percentile(rgb.max(axis=-1)[dark >= np.percentile(dark, 99)], 50))
    transmission = 1 - 0.95 * dark / max(airlight, 0.05)
    half = dark.shape[0] // 2
    return {
        "haze.airlight": airlight,
        "haze.transmission": float(np.clip(transmission, 0, 1).mean()),
        "haze.top_minus_bottom_dark": float(dark[:half].mean() - dark[half:].mean()),
    }


def _feature_dict(rgb: np.ndarray, schema1_only: bool = False) -> dict[str, float]:
    hue, sat, val = rgb_to_hsv(rgb)
    lab = rgb_to_lab(rgb)
    lum = lab[..., 0] / 100.0
    out = {}
    out.update(_light(lum))
    out.update(_color(rgb, sat, lab))
    out.update(_hue(hue, sat, val))
    out.update(_names(hue, sat, val))
    out.update(_layout(lum, sat, lab))
    out.update(_edge(lum))
    out.update(_texture(lum))
    out.update(_freq(lum))
    out.update(_haze(rgb))
    if schema1_only:
        return out
    out.update(_mehrabian(sat, val))
    out.update(_drama(rgb, lum, hue, sat, val, lab))
    gx, gy = _gradients(lum)
    out.update(_horizon(rgb, lum, hue, sat, val, lab, np.hypot(gx, gy)))
    out.update(_orientation(gx, gy))
    out.update(_gist(lum))
    out.update(_grid(lab))
    out.update(_haze2(rgb))
    return out


def image_features(rgb: np.ndarray, size: int = WORK_SIZE) -> np.ndarray:
    """Feature vector (``float64``, ordered as :data:`FEATURE_NAMES`) of one RGB image.

    Parameters
    ----------
    rgb : H × W × 3 array, ``uint8`` or float in ``[0, 1]``; any size (centre-cropped and resized).
    size : working side in pixels; keep the default for features comparable with a trained model.
    """
    return np.fromiter(_feature_dict(prepare(rgb, size)).values(), dtype=np.float64, count=len(FEATURE_NAMES))


def batch_features(images: Iterable[np.ndarray], size: int = WORK_SIZE) -> np.ndarray:
    """``(n, n_features)`` matrix of :func:`image_features` for several RGB arrays."""
    rows = [image_features(img, size) for img in images]
    return np.vstack(rows) if rows else np.empty((0, len(FEATURE_NAMES)))


#: Names of the features, in the order of :func:`image_features`.
FEATURE_NAMES: tuple[str, ...] = tuple(_feature_dict(np.full((WORK_SIZE, WORK_SIZE, 3), 0.5, np.float32)))
#: Names of the schema-1 features (the v1 image model's), which lead :data:`FEATURE_NAMES` unchanged.
SCHEMA1_NAMES: tuple[str, ...] = tuple(_feature_dict(np.full((WORK_SIZE, WORK_SIZE, 3), 0.5, np.float32), True))


def feature_group(name: str) -> str:
    """Group of a feature name (``"color.sat_mean"`` → ``"color"``)."""
    return name.split(".", 1)[0]
