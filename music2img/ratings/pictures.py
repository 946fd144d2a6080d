"""Identities of what was rated: a picture's hash and the weights' versions that painted it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from ..music_to_image import MusicToImage

#: Hex digits kept of a weights hash (64 bits: enough to tell versions apart).
WEIGHTS_HASH_DIGITS = 16


def picture_hash(image: Image.Image | np.ndarray) -> str:
    """SHA-256 of a picture's size and 8-bit RGB pixels, as shown: the same pixels give the same hash
    whatever the file format they travelled in (PNG, a PIL image, an array)."""
    rgb = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit RGB picture, got an array of shape {rgb.shape} and type {rgb.dtype}")
    h = hashlib.sha256(f"{rgb.shape[1]}x{rgb.shape[0]}\n".encode())
    h.update(np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()


def pictures_hash(images: Iterable[Image.Image | np.ndarray]) -> str:
    """One hash for a batch of pictures answered about together: that of the single picture, or
    the SHA-256 of the pictures' hashes in order."""
    hashes = [picture_hash(image) for image in images]
    if not hashes:
        raise ValueError("no pictures to hash")
    return hashes[0] if len(hashes) == 1 else hashlib.sha256("\n".join(hashes).encode()).hexdigest()


def _tensors_hash(named: Iterable[tuple[str, object]], extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for name, tensor in sorted(named, key=lambda item: item[0]):
        h.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}\n".encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:WEIGHTS_HASH_DIGITS]


def weights_versions(m2i: MusicToImage) -> dict[str, str]:
    """``{"diffusion": …, "music": …}``: short hashes of the loaded weights (the diffusion UNet's and
    landscape and scene checkers' tensors and the pipeline's emotion map; the music model's fitted regressor, via
    :func:`joblib.hash`), so an
    answer can be tied to the weights that painted the picture or judged the song."""
    import joblib

    pipe = m2i.pipeline
    tensors = [(f"unet.{k}", v) for k, v in pipe.unet.state_dict().items()]
    for name in ("landscape_checker", "scene_checker"):
        if getattr(pipe, name, None) is not None:
            tensors += [(f"{name}.{k}", v) for k, v in getattr(pipe, name).state_dict().items()]
    return {
        "diffusion": _tensors_hash(tensors, extra=repr(pipe.config.get("emotion_quantiles"))),
        "music": joblib.hash(m2i.music_model.regressor, hash_name="sha1")[:WEIGHTS_HASH_DIGITS],
    }
