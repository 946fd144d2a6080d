"""Stage 2, emotion → image: the AdaIN ``EmotionUNet``, its ``DiffusionPipeline`` and the noise schedules.

Names are loaded on first use (``lazy_loader``), so that ``music2img.diffusion.defaults`` is cheap to import.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "pipeline": ["EmotionLandscapePipeline", "load_pipeline"],
        "schedulers": ["SCHEDULERS", "make_scheduler", "training_scheduler"],
        "unet": ["EmotionUNet"],
    },
)
