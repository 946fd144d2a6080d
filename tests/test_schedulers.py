"""Every sampler, built from the one training schedule, recovers a known image from a
near-perfect noise predictor."""

import pytest
import torch

from music2img.diffusion.schedulers import (
    SCHEDULERS,
    consistency_scheduler,
    is_student,
    make_scheduler,
    scheduler_choices,
    scheduler_name,
    training_scheduler,
)

TEACHER_SAMPLERS = scheduler_choices(training_scheduler().config)


def sample_with_oracle(name: str, x0: torch.Tensor, steps: int, error: float) -> torch.Tensor:
    """Run sampler ``name`` with a noise predictor that knows ``x0`` up to a small error and, like a
    trained network, only predicts noise of a plausible size (|ε̂| ≤ 3)."""
    sched = make_scheduler(name, training_scheduler().config)
    sched.set_timesteps(steps)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(x0.shape, generator=gen) * sched.init_noise_sigma
    for t in sched.timesteps:
        ab = sched.alphas_cumprod[t]
        eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
        eps = (eps + error * torch.randn(x0.shape, generator=gen)).clamp(-3, 3)
        x = sched.step(eps, t, x).prev_sample
    return x


@pytest.mark.parametrize("name,steps", [("ddpm", 100), ("ddim", 25), ("dpm", 25)])
def test_sampler_recovers_image_from_slightly_wrong_predictor(name, steps):
    x0 = torch.linspace(-0.8, 0.8, 16).view(1, 1, 16, 1).expand(2, 3, 16, 16).contiguous()
    out = sample_with_oracle(name, x0, steps, error=0.02)
    assert torch.isfinite(out).all()
    assert (out - x0).abs().mean() < 0.1, f"{name} drifted from the known image"


def test_unknown_scheduler_name():
    with pytest.raises(ValueError, match="unknown scheduler"):
        make_scheduler("euler", training_scheduler().config)


@pytest.mark.parametrize("name", TEACHER_SAMPLERS)
def test_scheduler_name_roundtrip(name):
    assert scheduler_name(make_scheduler(name, training_scheduler().config)) == name


def test_a_student_samples_with_lcm_only_and_a_teacher_with_everything_else():
    student = consistency_scheduler(training_scheduler().config)
    assert is_student(student.config) and not is_student(training_scheduler().config)
    assert scheduler_choices(student.config) == ["lcm"]
    assert set(TEACHER_SAMPLERS) == set(SCHEDULERS) - {"lcm"}
    assert scheduler_name(make_scheduler("lcm", student.config)) == "lcm"
    assert list(student.alphas_cumprod) == list(training_scheduler().alphas_cumprod)  # the same schedule
    with pytest.raises(ValueError, match="consistency-distilled student"):
        make_scheduler("unipc", student.config)
    with pytest.raises(ValueError, match="not a distilled student"):
        make_scheduler("lcm", training_scheduler().config)


def test_lcm_recovers_image_from_a_consistency_oracle():
    """With a model whose v-prediction knows x0, LCM returns x0 at 1, 2 and 4 steps."""
    x0 = torch.linspace(-0.8, 0.8, 16).view(1, 1, 16, 1).expand(2, 3, 16, 16).contiguous()
    for steps in (1, 2, 4):
        sched = consistency_scheduler(training_scheduler().config)
        sched.set_timesteps(steps)
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(x0.shape, generator=gen)
        for t in sched.timesteps:
            ab = sched.alphas_cumprod[t]
            eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
            v = ab.sqrt() * eps - (1 - ab).sqrt() * x0
            x = sched.step(v, t, x, generator=gen).prev_sample
        assert (x - x0).abs().max() < 1e-3, steps


@pytest.mark.parametrize("name,steps", [("dpm3", 25), ("unipc", 25)])
def test_higher_order_samplers_recover_image(name, steps):
    x0 = torch.linspace(-0.8, 0.8, 16).view(1, 1, 16, 1).expand(2, 3, 16, 16).contiguous()
    assert (sample_with_oracle(name, x0, steps, error=0.02) - x0).abs().mean() < 0.1


def test_variants_of_one_class_rebuild_from_each_others_config():
    dpm3 = make_scheduler("dpm3", training_scheduler().config)
    assert dpm3.config.solver_order == 3 and dpm3.config.thresholding
    assert scheduler_name(make_scheduler("dpm", dpm3.config)) == "dpm"


def test_app_defaults_name_a_sampler_and_its_default_steps():
    from music2img.diffusion import defaults
    from music2img.diffusion.schedulers import DEFAULT_STEPS

    assert defaults.SCHEDULER in SCHEDULERS and DEFAULT_STEPS[defaults.SCHEDULER] == defaults.STEPS
    assert 0 <= defaults.GUIDANCE_INTERVAL[0] <= defaults.GUIDANCE_INTERVAL[1] <= 1


def test_solvers_clip_x0_unless_told_to_threshold_dynamically():
    from music2img.diffusion.schedulers import DYNAMIC_THRESHOLD, THRESHOLD

    config = training_scheduler().config
    for name in ("dpm", "dpm3", "unipc"):
        clipped, dynamic = make_scheduler(name, config), make_scheduler(name, config, **DYNAMIC_THRESHOLD)
        assert clipped.config.sample_max_value == THRESHOLD["sample_max_value"] == 1.0 and clipped.config.thresholding
        assert dynamic.config.sample_max_value == 1.5 and dynamic.config.dynamic_thresholding_ratio == 0.98
        assert scheduler_name(dynamic) == scheduler_name(clipped) == name
    assert not make_scheduler("ddim", config).config.thresholding  # DDIM clips x0 with clip_sample instead
