"""music2img: turn music into a landscape picture through emotion (valence and arousal, 1–9)."""

from .threads import set_wait_policy

set_wait_policy()  # before torch is loaded (see music2img.threads)

__version__ = "0.1.0"
