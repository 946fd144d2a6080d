"""Image → emotion: photo features (hand-crafted and a pretrained detector's), rated photo datasets, the image
emotion model and labelled folders.

Names are loaded on first use (``lazy_loader``), so that importing one module of the package does not
load pandas and scikit-learn for the others.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "datasets": ["load_datasets"],
        "emotion_model": ["ImageEmotionModel"],
        "features": ["FEATURE_NAMES", "image_features"],
        "labelled_folder": ["load_images", "read_labels", "read_sample_weights"],
    },
)
