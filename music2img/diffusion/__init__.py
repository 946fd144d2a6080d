"""Stage 2, emotion → image: the AdaIN ``EmotionUNet``, its ``DiffusionPipeline`` and the noise schedules.

Names are loaded on first use, so that ``music2img.diffusion.defaults`` is cheap to import.
"""

import importlib

_SOURCES = {
    "EmotionLandscapePipeline": "pipeline", "load_pipeline": "pipeline",
    "SCHEDULERS": "schedulers", "make_scheduler": "schedulers", "training_scheduler": "schedulers",
    "EmotionUNet": "unet",
}
__all__ = sorted(_SOURCES)


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_SOURCES[name]}", __name__), name)
