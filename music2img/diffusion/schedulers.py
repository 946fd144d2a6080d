"""Noise schedules: the one training schedule, and the samplers that can replace it at inference.

:func:`training_scheduler` is the single definition of the forward process (T = 1000, cosine
betas, ε-prediction); the training script uses it and saves it with the pipeline, and every
sampler below is built from that saved config with ``from_config`` so it shares the schedule.

A consistency-distilled student (``train/distill.py``) is saved with :func:`consistency_scheduler`,
diffusers' ``LCMScheduler`` on the same schedule; it samples with that one only (``"lcm"``), and a
teacher with every sampler but that one (:func:`scheduler_choices`).
"""

from __future__ import annotations

import inspect
from typing import Any

from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    LCMScheduler,
    SchedulerMixin,
    UniPCMultistepScheduler,
)

from . import defaults

#: Sampler name → scheduler class: DDPM (ancestral), DDIM, DPM-Solver++ 2M and 3M, UniPC (bh2, order 2),
#: and the multistep consistency sampler of a distilled student (LCM).
SCHEDULERS: dict[str, type[SchedulerMixin]] = {
    "ddpm": DDPMScheduler,
    "ddim": DDIMScheduler,
    "dpm": DPMSolverMultistepScheduler,
    "dpm3": DPMSolverMultistepScheduler,
    "unipc": UniPCMultistepScheduler,
    "lcm": LCMScheduler,
}
#: The sampler of a consistency-distilled student.
STUDENT_SCHEDULER = "lcm"

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
#: The solvers clip x₀ at 1 (:data:`STATIC_CLIP`). From 2026-12-04 to 2026-12-05 they thresholded it dynamically
#: (:data:`DYNAMIC_THRESHOLD`, Saharia et al., 2022: clipped at the 98th percentile of |x₀|, between 1 and 1.5,
#: and scaled back into [−1, 1]), which at guidance 9 from noise cut the photos' share of clipped pixels from
#: 2.3× to 1.0× and of saturated ones from 1.6× to 1.5×. Since pictures start from a scene photo's layout
#: (:mod:`music2img.diffusion.scene_layouts`), plain clipping is the one that keeps all three colour statistics
#: within 25 % of the photos' (saturated 1.15×, colourful 1.22×, clipped 0.79×; dynamic: 0.80×, 1.20×,
#: 0.43×) with the same emotion control (``benchmarks/picture_quality.py``; the diffusion model card).
#: ``make_scheduler(name, config, **DYNAMIC_THRESHOLD)`` gives the other.
STATIC_CLIP: dict[str, Any] = {"thresholding": True, "sample_max_value": 1.0, "dynamic_thresholding_ratio": 0.995}
DYNAMIC_THRESHOLD: dict[str, Any] = {"thresholding": True, "sample_max_value": 1.5, "dynamic_thresholding_ratio": 0.98}
THRESHOLD = STATIC_CLIP
_THRESHOLDED = ("dpm", "dpm3", "unipc")

#: Default number of inference steps per sampler.
DEFAULT_STEPS = {"ddpm": 1000, "ddim": 50, "dpm": 25, "dpm3": 25, "unipc": 12, "lcm": 4}

NUM_TRAIN_TIMESTEPS = 1000
#: The student's default skipping-step grid: ODE-solver steps of the teacher during distillation, and
#: the timesteps LCM sampling picks from (t = 19, 39, …, 999); saved as ``original_inference_steps``.
CONSISTENCY_GRID_STEPS = 50


def training_scheduler() -> DDPMScheduler:
    """The forward (noising) process used in training: 1000 steps, cosine betas, ε-prediction."""
    return DDPMScheduler(
        num_train_timesteps=NUM_TRAIN_TIMESTEPS,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="epsilon",
        clip_sample=True,
        timestep_spacing="trailing",  # few-step samplers then start from t = T - 1
    )


def consistency_scheduler(config: Any, grid_steps: int = CONSISTENCY_GRID_STEPS) -> LCMScheduler:
    """The sampler a consistency-distilled student is saved with, on the schedule of ``config``: LCM
    over a grid of ``grid_steps`` timesteps (the distillation's), boundary conditions ``c_skip``/``c_out`` with
    timestep scaling 10, v-prediction (the student's output; x̂₀ = √ᾱ·x_t − √(1−ᾱ)·v stays finite at
    t = T, where the teacher's ε-prediction divides by √ᾱ_T ≈ 5·10⁻⁵) and x̂₀ clipped to the image range."""
    config = {k: v for k, v in config.items() if k in inspect.signature(LCMScheduler.__init__).parameters}
    return LCMScheduler.from_config(
        config,
        prediction_type="v_prediction",
        clip_sample=True,
        clip_sample_range=1.0,
        thresholding=False,
        original_inference_steps=grid_steps,
        timestep_scaling=10.0,
        set_alpha_to_one=True,
    )


def is_student(config: Any) -> bool:
    """Whether a scheduler ``config`` is a consistency-distilled student's (an ``LCMScheduler``'s: it has
    the consistency grid and boundary-condition scaling, which no diffusion sampler has)."""
    return "original_inference_steps" in config and "timestep_scaling" in config


def scheduler_choices(config: Any) -> list[str]:
    """The samplers a pipeline whose scheduler has ``config`` can use: ``["lcm"]`` for a student, every
    other key of :data:`SCHEDULERS` for a teacher."""
    if is_student(config):
        return [STUDENT_SCHEDULER]
    return [name for name in SCHEDULERS if name != STUDENT_SCHEDULER]


def default_scheduler(config: Any) -> str:
    """The sampler a pipeline whose scheduler has ``config`` paints with unless told otherwise: the app's
    (:data:`music2img.diffusion.defaults.SCHEDULER`) for a teacher, ``"lcm"`` for a student."""
    return STUDENT_SCHEDULER if is_student(config) else defaults.SCHEDULER


def make_scheduler(name: str, config: Any, **options: Any) -> SchedulerMixin:
    """Build sampler ``name`` (a key of :data:`SCHEDULERS`) from a scheduler's ``config``, with
    :data:`THRESHOLD` for the multistep solvers; ``options`` override both (e.g. ``**DYNAMIC_THRESHOLD``). A student
    (:func:`is_student`) only takes ``"lcm"``, a teacher anything else."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}")
    if name not in scheduler_choices(config):
        kind = "a consistency-distilled student" if is_student(config) else "not a distilled student"
        raise ValueError(
            f"scheduler {name!r} does not fit this model ({kind}); choose one of {', '.join(scheduler_choices(config))}"
        )
    if name == STUDENT_SCHEDULER:
        return SCHEDULERS[name].from_config(config, **options)
    threshold = THRESHOLD if name in _THRESHOLDED else {}
    return SCHEDULERS[name].from_config(config, **{**threshold, **SAMPLER_OPTIONS.get(name, {}), **options})


def scheduler_name(scheduler: SchedulerMixin) -> str:
    """The key of :data:`SCHEDULERS` for a scheduler instance: its class with every option of
    :data:`SAMPLER_OPTIONS` matching (``"ddpm"`` for anything else)."""
    for name, cls in SCHEDULERS.items():
        options = SAMPLER_OPTIONS.get(name, {})
        if type(scheduler) is cls and all(scheduler.config.get(k) == v for k, v in options.items()):
            return name
    return "ddpm"
