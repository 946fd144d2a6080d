"""Consistency distillation (train/distill.py) on a tiny teacher: the loss falls, the student is a
normal LCM pipeline, and its one-step pictures are closer to the teacher's many-step ones than the
teacher's own one- and two-step pictures."""

import json

import numpy as np
import pytest
import torch
from conftest import load_script
from factories_diffusion import make_tiny_unet
from PIL import Image

from music2img.diffusion.pipeline import EmotionLandscapePipeline, load_pipeline
from music2img.diffusion.schedulers import make_scheduler, scheduler_choices, training_scheduler

distill = load_script("train/distill.py")

SIZE = 8
VALENCE, AROUSAL = [2.0, 5.0, 8.0] * 4, [8.0, 5.0, 2.0] * 4


def make_gradients(folder, n: int = 16) -> str:
    """``n`` vertical two-colour gradients (a sky over a ground, in miniature) with labels spread over 1–9."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = ["file,valence,arousal"]
    for i in range(n):
        top, bottom = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        mix = np.linspace(0, 1, SIZE)[:, None, None]
        Image.fromarray((top * (1 - mix) + bottom * mix).repeat(SIZE, 1).astype(np.uint8)).save(folder / f"{i}.png")
        v = 1 + 8 * i / (n - 1)
        rows.append(f"{i}.png,{v:.2f},{10 - v:.2f}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return str(folder / "labels.csv")


def train_teacher(folder, labels: str, steps: int = 150) -> str:
    """A tiny ε-prediction teacher fitted briefly to the gradients (with condition dropout for guidance)."""
    from music2img.image.labelled_folder import load_images, read_labels

    files, va = read_labels(folder, labels)
    x0 = load_images(files, SIZE, 1, False).float() / 127.5 - 1
    va = torch.from_numpy(va).float()
    unet = make_tiny_unet(0, sample_size=SIZE, attention_resolutions=(4,)).train()
    sched = training_scheduler()
    opt = torch.optim.Adam(unet.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        t = torch.randint(0, 1000, (len(x0),), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        drop = torch.rand(len(x0), generator=gen) < 0.2
        loss = torch.nn.functional.mse_loss(
            unet(sched.add_noise(x0, noise, t), t, va[:, 0], va[:, 1], drop).sample, noise
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = folder.parent / "teacher"
    EmotionLandscapePipeline(unet=unet.eval(), scheduler=sched).save_pretrained(out)
    return str(out)


def distill_args(data, labels: str, teacher: str, out, *more: str) -> list[str]:
    return [
        "--data",
        str(data),
        "--labels",
        labels,
        "--teacher",
        teacher,
        "--out",
        str(out),
        "--threads",
        "1",
        "--workers",
        "1",
        "--batch-size",
        "16",
        "--lr",
        "1e-3",
        "--warmup",
        "10",
        "--grid-steps",
        "10",
        "--target-decay",
        "0.5",
        "--checkpoint-every",
        "0",
        "--sample-every",
        "0",
        "--quiet",
        *more,
    ]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny teacher and a student distilled from it for 200 steps."""
    root = tmp_path_factory.mktemp("distill")
    labels = make_gradients(root / "data")
    teacher = train_teacher(root / "data", labels)
    assert (
        distill.main(
            distill_args(
                root / "data", labels, teacher, root / "run", "--steps", "200", "--log-every", "25", "--no-final-grid"
            )
        )
        == 0
    )
    return root, labels, teacher


def test_student_is_an_lcm_pipeline_with_a_card(tiny):
    root, _, _ = tiny
    student = load_pipeline(root / "run" / "pipeline")
    assert type(student.scheduler).__name__ == "LCMScheduler"
    assert scheduler_choices(student.scheduler.config) == ["lcm"]
    assert student.scheduler.config.original_inference_steps == 10
    assert "consistency distillation" in (root / "run" / "pipeline" / "MODEL_CARD.md").read_text()


def test_one_step_student_is_closer_to_the_many_step_teacher_than_the_teacher_in_one_or_two(tiny):
    root, _, teacher_dir = tiny
    teacher, student = load_pipeline(teacher_dir), load_pipeline(root / "run" / "pipeline")
    noise = torch.randn(len(VALENCE), 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))

    def teacher_pictures(name: str, steps: int) -> torch.Tensor:
        teacher.scheduler = make_scheduler(name, teacher.scheduler.config)
        return teacher(
            VALENCE,
            AROUSAL,
            latents=noise,
            num_inference_steps=steps,
            guidance_scale=9.0,
            guidance_interval=(0.0, 0.5),
            output_type="pt",
        ).images

    reference = teacher_pictures("ddim", 100)  # the guided ODE the student learns, solved finely
    one = student(VALENCE, AROUSAL, latents=noise, num_inference_steps=1, output_type="pt").images
    distance = (one - reference).abs().mean()
    for name in ("unipc", "ddim"):
        for steps in (1, 2):
            assert distance < 0.8 * (teacher_pictures(name, steps) - reference).abs().mean(), (name, steps)


def test_loss_falls_on_a_fixed_batch(tiny, tmp_path):
    """Optimising the student on one batch lowers that batch's distillation loss (target network moving too)."""
    root, labels, teacher = tiny
    args = distill.parse_args(distill_args(root / "data", labels, teacher, tmp_path, "--steps", "30", "--warmup", "1"))
    trainer = distill.DistillTrainer(args)
    batch = trainer.draw()
    with torch.no_grad():
        before = trainer.loss(*batch).item()
    for _ in range(30):
        trainer.optimise(trainer.loss(*batch))
    with torch.no_grad():
        after = trainer.loss(*batch).item()
    assert after < 0.9 * before


def test_resume_continues_bit_exactly(tiny, tmp_path):
    root, labels, teacher = tiny
    common = ["--steps", "6", "--log-every", "1", "--no-final-grid", "--guidance-range", "2", "9"]
    assert distill.main(distill_args(root / "data", labels, teacher, tmp_path / "a", *common)) == 0
    assert distill.main(distill_args(root / "data", labels, teacher, tmp_path / "b", *common, "--pause-at", "3")) == 0
    assert distill.main(distill_args(root / "data", labels, teacher, tmp_path / "b", *common, "--resume")) == 0
    losses = [
        [json.loads(line)["loss"] for line in (tmp_path / d / "log.jsonl").read_text().splitlines()] for d in "ab"
    ]
    assert losses[0] == losses[1]
    student = load_pipeline(tmp_path / "b" / "pipeline")
    assert student.unet.config.guidance_embedding
    student.set_progress_bar_config(disable=True)
    noise = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    low, high = (
        student([5.0, 5.0], [5.0, 5.0], guidance_scale=w, num_inference_steps=1, latents=noise, output_type="pt").images
        for w in (2.0, 9.0)
    )
    assert not torch.equal(low, high)  # the scale is an input of the student


def test_bad_flags_are_refused(tiny, tmp_path):
    root, labels, teacher = tiny
    with pytest.raises(SystemExit, match="grid-steps"):
        distill.main(distill_args(root / "data", labels, teacher, tmp_path, "--grid-steps", "7"))
    with pytest.raises(SystemExit, match="guidance-range"):
        distill.main(distill_args(root / "data", labels, teacher, tmp_path, "--guidance-range", "9", "2"))


def test_a_teacher_with_a_high_noise_expert_steps_with_it_from_its_timestep(tiny, tmp_path):
    """Rows at timesteps ≥ high_noise_from take the expert's step, the others the teacher UNet's."""
    from factories_diffusion import perturb_emotion

    root, labels, teacher = tiny
    base = load_pipeline(teacher)
    expert = perturb_emotion(make_tiny_unet(3, sample_size=SIZE, attention_resolutions=(4,)), seed=4)
    pipes = {
        "both": EmotionLandscapePipeline(
            unet=base.unet, scheduler=base.scheduler, high_noise_unet=expert, high_noise_from=500
        ),
        "expert": EmotionLandscapePipeline(unet=expert, scheduler=base.scheduler),
    }
    steps = {}
    x, va = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)), torch.tensor([[2.0, 8.0]] * 2)
    t, w = torch.tensor([899, 99]), torch.tensor([3.0, 3.0])
    for name, folder in [("base", teacher), *((n, tmp_path / n) for n in pipes)]:
        if name in pipes:
            pipes[name].save_pretrained(folder)
        trainer = distill.DistillTrainer(
            distill.parse_args(
                distill_args(root / "data", labels, str(folder), tmp_path / f"run_{name}", "--steps", "1")
            )
        )
        steps[name] = trainer.teacher_step(x, t, t - 100, va, w)
    assert torch.allclose(steps["both"][0], steps["expert"][0]) and torch.allclose(steps["both"][1], steps["base"][1])
    assert not torch.allclose(steps["expert"][1], steps["base"][1])
