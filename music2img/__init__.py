"""music2img: turn music into a landscape picture through emotion (valence and arousal, 1–9)."""

__version__ = "0.1.0"
