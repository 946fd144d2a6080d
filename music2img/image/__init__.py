"""Image → emotion: photo features, rated photo datasets, the image emotion model and labelled folders."""

from .datasets import load_datasets
from .emotion_model import ImageEmotionModel
from .features import FEATURE_NAMES, image_features
from .labelled_folder import load_images, read_labels

__all__ = ["FEATURE_NAMES", "ImageEmotionModel", "image_features", "load_datasets", "load_images", "read_labels"]
