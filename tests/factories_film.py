"""Stand-in models whose outputs are known, for testing that a film follows the music.

:class:`LoudnessRegressor` hears valence and arousal in a window's loudness, and
:class:`BrightnessUNet` paints a flat picture whose brightness is the valence, so a song that gets
louder must give a film that gets brighter.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from music2img.diffusion.pipeline import EmotionLandscapePipeline
from music2img.diffusion.schedulers import make_scheduler, training_scheduler
from music2img.music.emotion_model import MusicEmotionModel
from music2img.music.features import FEATURE_NAMES, SCHEMA_VERSION
from music2img.music_to_image import MusicToImage

#: Mean RMS at which the stand-in music model hears valence and arousal 9.
LOUD_RMS = 0.12


class LoudnessRegressor:
    """``predict``: valence = arousal = 1 + 8 · min(mean RMS / LOUD_RMS, 1)."""

    column = FEATURE_NAMES.index("rms_mean")

    def predict(self, X: np.ndarray) -> np.ndarray:
        va = 1 + 8 * np.clip(np.asarray(X)[:, self.column] / LOUD_RMS, 0, 1)
        return np.stack([va, va], axis=1)


class BrightnessUNet(ModelMixin, ConfigMixin):
    """Predicts the noise that leads to a flat grey picture of brightness (valence − 1) / 8, exactly."""

    @register_to_config
    def __init__(self, sample_size: int = 8, in_channels: int = 3):
        super().__init__()
        self.register_buffer("alphas_cumprod", training_scheduler().alphas_cumprod.clone())
        self.unused = torch.nn.Parameter(torch.zeros(1))  # gives the model a dtype

    def forward(self, x, t, valence, arousal, drop_emotion=None):
        x0 = ((valence.float() - 1) / 4 - 1).view(-1, 1, 1, 1).expand_as(x)
        alpha = self.alphas_cumprod[int(t)]
        return SimpleNamespace(sample=(x - alpha.sqrt() * x0) / (1 - alpha).sqrt())


def make_loudness_to_brightness() -> MusicToImage:
    """A :class:`MusicToImage` whose pictures are as bright as the music is loud."""
    music = MusicEmotionModel(LoudnessRegressor(), FEATURE_NAMES, SCHEMA_VERSION)
    pipe = EmotionLandscapePipeline(
        unet=BrightnessUNet(), scheduler=make_scheduler("ddim", training_scheduler().config)
    )
    return MusicToImage(music, pipe)
