"""Stage 1, music → emotion: audio loading, librosa features, datasets and the Random Forest model."""

from .audio import SAMPLE_RATE, load_audio
from .datasets import load_dataset
from .emotion_model import MusicEmotionModel, SongEmotion, WindowEmotion
from .features import FEATURE_NAMES, extract_features, extract_windows

__all__ = [
    "FEATURE_NAMES",
    "SAMPLE_RATE",
    "MusicEmotionModel",
    "SongEmotion",
    "WindowEmotion",
    "extract_features",
    "extract_windows",
    "load_audio",
    "load_dataset",
]
