"""Noise schedules: the one training schedule, and the samplers that can replace it at inference.

:func:`training_scheduler` is the single definition of the forward process (T = 1000, cosine
betas, ε-prediction); the training script uses it and saves it with the pipeline, and every
sampler below is built from that saved config with ``from_config`` so it shares the schedule.
"""

from __future__ import annotations

from typing import Any

from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    SchedulerMixin,
)

#: Sampler name → scheduler class.
SCHEDULERS: dict[str, type[SchedulerMixin]] = {
    "ddpm": DDPMScheduler,
    "ddim": DDIMScheduler,
    "dpm": DPMSolverMultistepScheduler,
}

#: Options a sampler needs on top of the shared schedule. The cosine schedule ends at ᾱ_T ≈ 0, where
#: a predicted x₀ = (x_t − √(1−ᾱ)·ε̂)/√ᾱ amplifies any error in ε̂ enormously; DDPM and DDIM clip
#: x₀ to the image range (``clip_sample``), and DPM-Solver's counterpart is ``thresholding``.
#: Without it, DPM-Solver turns a trained model's output into saturated noise.
SAMPLER_OPTIONS: dict[str, dict[str, Any]] = {
    "dpm": {"thresholding": True, "sample_max_value": 1.0},
}

#: Default number of inference steps per sampler.
DEFAULT_STEPS = {"ddpm": 1000, "ddim": 50, "dpm": 25}

NUM_TRAIN_TIMESTEPS = 1000


def training_scheduler() -> DDPMScheduler:
    """The forward (noising) process used in training: 1000 steps, cosine betas, ε-prediction."""
    return DDPMScheduler(
        num_train_timesteps=NUM_TRAIN_TIMESTEPS,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="epsilon",
        clip_sample=True,
        timestep_spacing="trailing",  # few-step samplers then start from t = T - 1
    )


def make_scheduler(name: str, config: Any) -> SchedulerMixin:
    """Build sampler ``name`` (``"ddpm"``, ``"ddim"`` or ``"dpm"``) from a scheduler's ``config``."""
    try:
        cls = SCHEDULERS[name]
    except KeyError:
        raise ValueError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}") from None
    return cls.from_config(config, **SAMPLER_OPTIONS.get(name, {}))


def scheduler_name(scheduler: SchedulerMixin) -> str:
    """The key of :data:`SCHEDULERS` for a scheduler instance (``"ddpm"`` for unknown subclasses)."""
    return next((k for k, cls in SCHEDULERS.items() if type(scheduler) is cls), "ddpm")
