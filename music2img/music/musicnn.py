"""musicnn in torch: music audio taggers pretrained on a million songs (Pons & Serra 2019).

The architecture of ``musicnn`` 0.1.0 (PyPI, ISC licence; ``musicnn/models.py:build_musicnn``),
written once as :class:`Musicnn`, with the weights of its two shipped taggers converted from the
package's TensorFlow 1 checkpoints by ``train/convert_musicnn.py`` into :data:`MUSICNN_DIR`:

- ``MSD_musicnn``: 50 Million Song Dataset last.fm tags (:data:`MSD_TAGS`: "sad", "happy",
  "Mellow", "chill", "party", "beautiful", genres, decades, …);
- ``MTT_musicnn``: 50 MagnaTagATune tags (:data:`MTT_TAGS`: "slow", "fast", "loud", "quiet",
  "soft", "strings", "choir", "ambient", …).

The network reads 3 s patches of a 96-band log-mel spectrogram of 16 kHz audio
(:func:`log_mel_patches`, the package's ``extractor.batch_data``): a musically motivated front end
(timbral filters 7 frames × 38 or 67 mel bands, temporal filters 128, 64 or 32 frames × 1 band,
each max-pooled over frequency), a densely connected 1-D CNN with residual connections, max- and
mean-pooling over time, a 200-unit dense layer (the *penultimate* embedding) and the tag logits.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..assets import MUSIC_MODEL_DIR
from ..files import verify_sha256

#: Preprocessing of musicnn 0.1.0 (``musicnn/configuration.py``).
SR = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
#: Frames of one patch: ``librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1``.
PATCH_FRAMES = 187
#: Width of the penultimate embedding.
EMBEDDING_SIZE = 200

MSD_TAGS: tuple[str, ...] = (
    "rock",
    "pop",
    "alternative",
    "indie",
    "electronic",
    "female vocalists",
    "dance",
    "00s",
    "alternative rock",
    "jazz",
    "beautiful",
    "metal",
    "chillout",
    "male vocalists",
    "classic rock",
    "soul",
    "indie rock",
    "Mellow",
    "electronica",
    "80s",
    "folk",
    "90s",
    "chill",
    "instrumental",
    "punk",
    "oldies",
    "blues",
    "hard rock",
    "ambient",
    "acoustic",
    "experimental",
    "female vocalist",
    "guitar",
    "Hip-Hop",
    "70s",
    "party",
    "country",
    "easy listening",
    "sexy",
    "catchy",
    "funk",
    "electro",
    "heavy metal",
    "Progressive rock",
    "60s",
    "rnb",
    "indie pop",
    "sad",
    "House",
    "happy",
)
MTT_TAGS: tuple[str, ...] = (
    "guitar",
    "classical",
    "slow",
    "techno",
    "strings",
    "drums",
    "electronic",
    "rock",
    "fast",
    "piano",
    "ambient",
    "beat",
    "violin",
    "vocal",
    "synth",
    "female",
    "indian",
    "opera",
    "male",
    "singing",
    "vocals",
    "no vocals",
    "harpsichord",
    "loud",
    "quiet",
    "flute",
    "woman",
    "male vocal",
    "no vocal",
    "pop",
    "soft",
    "sitar",
    "solo",
    "man",
    "classic",
    "choir",
    "voice",
    "new age",
    "dance",
    "male voice",
    "female vocal",
    "beats",
    "harp",
    "cello",
    "no voice",
    "weird",
    "country",
    "metal",
    "female voice",
    "choral",
)
#: The shipped taggers and their tags.
TAGS = {"MSD_musicnn": MSD_TAGS, "MTT_musicnn": MTT_TAGS}

MUSICNN_DIR = MUSIC_MODEL_DIR / "musicnn"
#: SHA-256 of the converted weights (``train/convert_musicnn.py``), checked on every load.
WEIGHTS_SHA256 = {
    "MSD_musicnn": "4e6a1be40256f36611b261537e7fc14cbe3d55b92b1bcfe0ad04f7a3f8fe702a",
    "MTT_musicnn": "d08a8a433d64751d2f6f2f42e2d8361b0df0ecaa227dbe91b88590098fcb818a",
}


def log_mel(y: np.ndarray) -> np.ndarray:
    """musicnn's input representation of 16 kHz mono audio, ``(frames, 96)`` float32:
    ``log10(10000 · mel + 1)`` of librosa's power mel spectrogram (512-point FFT, hop 256), the
    mel energies rounded to float16 first, as the package does (under NumPy 1, whose value-based casting
    made ``10000 · float16`` a float32)."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=np.asarray(y, dtype=np.float32), sr=SR, hop_length=HOP_LENGTH, n_fft=N_FFT, n_mels=N_MELS
    ).T
    return np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)


def log_mel_patches(y: np.ndarray) -> np.ndarray:
    """Non-overlapping 3 s patches of :func:`log_mel`, ``(n, 187, 96)``; a trailing part shorter
    than a patch is dropped, and audio shorter than one patch gives one patch padded with silence."""
    spec = log_mel(y)
    if len(spec) < PATCH_FRAMES:
        spec = np.pad(spec, ((0, PATCH_FRAMES - len(spec)), (0, 0)))
    n = (len(spec) - PATCH_FRAMES) // PATCH_FRAMES + 1
    return np.ascontiguousarray(spec[: n * PATCH_FRAMES].reshape(n, PATCH_FRAMES, N_MELS))


def _bn(n: int, dims: int = 1) -> nn.Module:
    return (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(n, eps=1e-3)  # TensorFlow's epsilon


class Musicnn(nn.Module):
    """musicnn (``build_musicnn``: front end ``7774timbraltemporal`` with 1.6× filters, 64-filter
    mid end, 200-unit back end); ``forward`` takes log-mel patches ``(n, 187, 96)`` and returns
    ``(tag_probabilities (n, n_tags), penultimate (n, 200))``."""

    def __init__(self, n_tags: int = 50, n_mels: int = N_MELS, midend: int = 64, backend: int = EMBEDDING_SIZE):
        super().__init__()
        self.input_bn = _bn(1, dims=2)
        timbral = int(1.6 * 128)
        self.timbral = nn.ModuleList([nn.Conv2d(1, timbral, (7, int(f * n_mels))) for f in (0.4, 0.7)])
        self.timbral_bn = nn.ModuleList([_bn(timbral, dims=2) for _ in range(2)])
        temporal = int(1.6 * 32)
        self.temporal_lengths = (128, 64, 32)
        self.temporal = nn.ModuleList([nn.Conv2d(1, temporal, (k, 1)) for k in self.temporal_lengths])
        self.temporal_bn = nn.ModuleList([_bn(temporal, dims=2) for _ in self.temporal_lengths])
        front = 2 * timbral + 3 * temporal
        self.midend = nn.ModuleList([nn.Conv1d(c, midend, 7, padding=3) for c in (front, midend, midend)])
        self.midend_bn = nn.ModuleList([_bn(midend) for _ in range(3)])
        pooled = 2 * (front + 3 * midend)
        self.pool_bn = _bn(pooled)
        self.dense = nn.Linear(pooled, backend)
        self.dense_bn = _bn(backend)
        self.logits = nn.Linear(backend, n_tags)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.input_bn(x[:, None])  # (n, 1, time, mel)
        front = []
        padded = F.pad(x, (0, 0, 3, 3))
        for conv, norm in zip(self.timbral, self.timbral_bn):
            front.append(norm(F.relu(conv(padded))).amax(dim=-1))  # normalised, then pooled over mel bands
        for k, conv, norm in zip(self.temporal_lengths, self.temporal, self.temporal_bn):
            same = F.pad(x, (0, 0, (k - 1) // 2, k // 2))  # TensorFlow "same": the extra row goes last
            front.append(norm(F.relu(conv(same))).amax(dim=-1))
        h = torch.cat(front, dim=1)  # (n, channels, time)
        layers = [h]
        for i, (conv, norm) in enumerate(zip(self.midend, self.midend_bn)):
            out = norm(F.relu(conv(layers[-1])))
            layers.append(out if i == 0 else out + layers[-1])
        h = torch.cat(layers, dim=1)
        pooled = torch.stack([h.amax(dim=-1), h.mean(dim=-1)], dim=-1).flatten(1)  # TF order: max, mean per unit
        penultimate = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        return torch.sigmoid(self.logits(penultimate)), penultimate


@lru_cache(maxsize=4)
def load_musicnn(name: str, folder: str | os.PathLike = MUSICNN_DIR):
    """A shipped tagger (``"MSD_musicnn"`` or ``"MTT_musicnn"``) in eval mode, float32, its
    weights' SHA-256 verified first (:class:`~music2img.errors.ModelFileError` if missing or altered)."""
    from safetensors.torch import load_file

    if name not in TAGS:
        raise ValueError(f"unknown musicnn model {name!r}; expected one of {', '.join(TAGS)}")
    path = Path(folder) / f"{name}.safetensors"
    verify_sha256(path, WEIGHTS_SHA256[name])
    net = Musicnn(len(TAGS[name]))
    net.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    return net.eval()


def musicnn_patches(
    patches: np.ndarray, name: str, folder: str | os.PathLike = MUSICNN_DIR, batch: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """``(tag_probabilities (n, 50), penultimate (n, 200))`` of log-mel patches ``(n, 187, 96)``
    (:func:`log_mel_patches`) by the shipped tagger ``name``, float32, ``batch`` patches at a time (one
    is the fastest on a CPU: the front end's feature maps of a patch, 10 MB, stay in cache)."""
    net = load_musicnn(name, folder)
    tags, emb = [], []
    with torch.inference_mode():
        for i in range(0, len(patches), batch):
            p, e = net(torch.from_numpy(np.ascontiguousarray(patches[i : i + batch], dtype=np.float32)))
            tags.append(p.numpy())
            emb.append(e.numpy())
    return np.concatenate(tags), np.concatenate(emb)
