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
    UniPCMultistepScheduler,
)

#: Sampler name → scheduler class: DDPM (ancestral), DDIM, DPM-Solver++ 2M and 3M, UniPC (bh2, order 2).
SCHEDULERS: dict[str, type[SchedulerMixin]] = {
    "ddpm": DDPMScheduler,
    "ddim": DDIMScheduler,
    "dpm": DPMSolverMultistepScheduler,
    "dpm3": DPMSolverMultistepScheduler,
    "unipc": UniPCMultistepScheduler,
}

#: Options that tell a sampler apart from the others of its class.
SAMPLER_OPTIONS: dict[str, dict[str, Any]] = {
    "dpm": {"solver_order": 2, "use_karras_sigmas": False},
    "dpm3": {"solver_order": 3, "use_karras_sigmas": False},
    "unipc": {"solver_order": 2, "use_karras_sigmas": False},
}

#: Thresholding of the predicted x₀ at every step of the multistep solvers. The cosine schedule ends at
#: ᾱ_T ≈ 0, where x₀ = (x_t − √(1−ᾱ)·ε̂)/√ᾱ amplifies any error in ε̂ enormously; DDPM and DDIM clip x₀ to
#: the image range (``clip_sample``), and the solvers' counterpart is ``thresholding``: without it,
#: DPM-Solver and UniPC turn a trained model's output into saturated noise. Karras sigmas are not offered:
#: with this schedule σ_max ≈ 2·10⁴, so they spend most steps at t ≈ T, and at 12 steps DPM-Solver fails on
#: the repeated timesteps (``benchmarks/sampling_settings.py``).
#:
#: The threshold is dynamic (Saharia et al., 2022): x₀ is clipped at the 98th percentile of |x₀| (between 1
#: and 1.5) and scaled back into [−1, 1], rather than clipped at 1. At guidance 9 plain clipping left 2.3×
#: the photos' share of clipped pixels and 1.6× their share of saturated ones; dynamic thresholding brings
#: both within 15 % of the photos' with the same emotion control (``benchmarks/picture_quality.py``; the
#: diffusion model card). :data:`STATIC_CLIP` is the former behaviour: ``make_scheduler(name, config,
#: **STATIC_CLIP)``.
THRESHOLD: dict[str, Any] = {"thresholding": True, "sample_max_value": 1.5, "dynamic_thresholding_ratio": 0.98}
STATIC_CLIP: dict[str, Any] = {"thresholding": True, "sample_max_value": 1.0, "dynamic_thresholding_ratio": 0.995}
_THRESHOLDED = ("dpm", "dpm3", "unipc")

#: Default number of inference steps per sampler.
DEFAULT_STEPS = {"ddpm": 1000, "ddim": 50, "dpm": 25, "dpm3": 25, "unipc": 12}

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


def make_scheduler(name: str, config: Any, **options: Any) -> SchedulerMixin:
    """Build sampler ``name`` (a key of :data:`SCHEDULERS`) from a scheduler's ``config``, with
    :data:`THRESHOLD` for the multistep solvers; ``options`` override both (e.g. ``**STATIC_CLIP``)."""
    try:
        cls = SCHEDULERS[name]
    except KeyError:
        raise ValueError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}") from None
    threshold = THRESHOLD if name in _THRESHOLDED else {}
    return cls.from_config(config, **{**threshold, **SAMPLER_OPTIONS.get(name, {}), **options})


def scheduler_name(scheduler: SchedulerMixin) -> str:
    """The key of :data:`SCHEDULERS` for a scheduler instance: its class with every option of
    :data:`SAMPLER_OPTIONS` matching (``"ddpm"`` for anything else)."""
    for name, cls in SCHEDULERS.items():
        options = SAMPLER_OPTIONS.get(name, {})
        if type(scheduler) is cls and all(scheduler.config.get(k) == v for k, v in options.items()):
            return name
    return "ddpm"
