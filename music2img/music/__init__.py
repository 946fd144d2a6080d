"""Stage 1, music → emotion: audio loading, librosa features, datasets and the Random Forest model.

Names are loaded on first use (``lazy_loader``), so that importing one module of the package does not
load pandas and scikit-learn for the others.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "audio": ["SAMPLE_RATE", "load_audio"],
        "datasets": ["load_dataset"],
        "emotion_model": ["MusicEmotionModel", "SongEmotion", "WindowEmotion"],
        "features": ["FEATURE_NAMES", "extract_features", "extract_windows"],
    },
)
