"""Stage 2, emotion → image: the AdaIN ``EmotionUNet``, its ``DiffusionPipeline`` and the noise schedules."""

from .pipeline import EmotionLandscapePipeline, load_pipeline
from .schedulers import SCHEDULERS, make_scheduler, training_scheduler
from .unet import EmotionUNet

__all__ = ["SCHEDULERS", "EmotionLandscapePipeline", "EmotionUNet", "load_pipeline", "make_scheduler", "training_scheduler"]
