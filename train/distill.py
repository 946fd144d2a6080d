"""Consistency distillation (LCM) of the shipped guided sampler into a few-step student.

The teacher is a saved pipeline (default: the shipped ``assets/diffusion``) sampled as the app does
(``music2img/diffusion/defaults.py``: guidance 9 on the first half of the UniPC-12 steps). The
student, an :class:`~music2img.diffusion.unet.EmotionUNet` started from the teacher's weights,
learns to map any point of a guided probability-flow trajectory to its end in one forward, so that
diffusers' ``LCMScheduler`` paints in 1–8 steps with one forward each (Luo et al. 2023, the logic of
diffusers' ``train_lcm_distill_sd_wds.py``). Each step, for a batch of training photos x₀:

* a timestep t_n of the skipping-step grid t = 19, 39, …, 999
  (:data:`~music2img.diffusion.schedulers.CONSISTENCY_GRID_STEPS`) and x_{t_n} = √ᾱ·x₀ + √(1−ᾱ)·ε;
* the teacher takes one DDIM step of the guided ODE to t_{n−1} = t_n − 20 (0 at the end),
  ε̂ = ε̂_u + w·(ε̂_c − ε̂_u) where the shipped sampler guides (the timesteps the first half of its
  steps cover), the conditional ε̂ elsewhere; x̂₀ is clipped to the image range as the shipped
  sampler's thresholding does;
* the target network (an EMA of the student, ``--target-decay``) gives
  f⁻ = c_skip(t_{n−1})·x_{t_{n−1}} + c_out(t_{n−1})·x̂₀⁻, the student f = c_skip(t_n)·x_{t_n} + c_out(t_n)·x̂₀,
  with the boundary scalings of LCM (σ_data 0.5, timestep scaling 10: f is the identity at t = 0);
* the loss is the pseudo-Huber ``√((f − f⁻)² + c²) − c`` (``--loss huber``, c = ``--huber-c``) or the MSE.

The student predicts v (x̂₀ = √ᾱ·x_t − √(1−ᾱ)·v), which stays finite at t = T where the teacher's
ε-prediction divides by √ᾱ_T ≈ 5·10⁻⁵. With ``--guidance-range LO HI`` every example draws its scale
w uniformly from that range and the student gets w as an input (``EmotionUNet(guidance_embedding=True)``,
as LCM's w-embedding); otherwise the student learns the fixed ``--guidance`` and ignores the app's scale.

Example (the lent GPU, one call: ``train/GPU.md``)::

    python train/distill.py --data gpu_pack --labels gpu_pack/labels.csv --out /root/distill_run \\
        --batch-size 128 --max-minutes 7 --auto-steps 200 --workers 16

CPU (resumable; a few hundred steps per hour at 64×64 crops on one busy thread)::

    nice -n 15 python train/distill.py --data ../shared/data/images/landscapes --labels assets/landscape_labels.csv \\
        --out runs/distill --threads 1 --crop 64 --batch-size 8 --max-minutes 60 --steps 2000 \\
        --checkpoint-every 25 --sample-every 0

The run plumbing (log, atomic checkpoints and bit-exact ``--resume``, ``--max-minutes``, ``--auto-steps``,
signals, Accelerate, bf16 and ``torch.compile`` on CUDA) is ``train/loop.py``'s. At the end ``OUT/pipeline``
holds the target network's weights as an fp16 pipeline whose scheduler is ``LCMScheduler``
(:func:`~music2img.diffusion.schedulers.consistency_scheduler`), with the teacher's landscape checker and
emotion mapping and a model card; :func:`~music2img.diffusion.pipeline.load_pipeline` loads it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.assets import DIFFUSION_MODEL_DIR
from music2img.diffusion import defaults
from music2img.diffusion.pipeline import EmotionLandscapePipeline, load_pipeline
from music2img.diffusion.schedulers import (
    CONSISTENCY_GRID_STEPS,
    consistency_scheduler,
    make_scheduler,
    training_scheduler,
)
from music2img.diffusion.unet import EmotionUNet
from train import loop
from train.diffusion import UNetTrainer, unet_config_dict

LOSSES = ("huber", "l2")
#: σ_data of LCM's boundary conditions (its ``timestep_scaling`` is the scheduler's, 10).
SIGMA_DATA = 0.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    loop.add_run_arguments(p)
    g = p.add_argument_group("teacher and student")
    g.add_argument(
        "--teacher",
        default=str(DIFFUSION_MODEL_DIR),
        metavar="PIPELINE_DIR_OR_REPO",
        help="the pipeline to distil; the student starts from its weights",
    )
    g.add_argument("--guidance", type=float, default=defaults.GUIDANCE_SCALE, help="the teacher's guidance scale")
    g.add_argument(
        "--guidance-range",
        type=float,
        nargs=2,
        metavar=("LO", "HI"),
        help="draw the scale uniformly from LO–HI per example and give it to the student as an input",
    )
    g.add_argument(
        "--guidance-interval",
        type=float,
        nargs=2,
        default=defaults.GUIDANCE_INTERVAL,
        metavar=("START", "END"),
        help="the part of the teacher sampler's steps that is guided",
    )
    g.add_argument(
        "--teacher-sampler", default=defaults.SCHEDULER, help="the teacher's sampler (which timesteps it guides)"
    )
    g.add_argument("--teacher-steps", type=int, default=defaults.STEPS)
    g.add_argument(
        "--grid-steps",
        type=int,
        default=CONSISTENCY_GRID_STEPS,
        help="skipping-step grid: the teacher's "
        "ODE solver takes steps of T / N timesteps (fewer: faster propagation, larger solver error)",
    )
    g = p.add_argument_group("optimisation")
    g.add_argument("--steps", type=int, default=4000, help="total optimiser steps (sets the cosine schedule)")
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--lr", type=float, default=1e-4)
    g.add_argument("--warmup", type=int, default=100, help="linear warm-up steps")
    g.add_argument("--weight-decay", type=float, default=0.0)
    g.add_argument("--grad-clip", type=float, default=1.0)
    g.add_argument("--target-decay", type=float, default=0.95, help="EMA decay of the target network (exported)")
    g.add_argument("--loss", choices=LOSSES, default="huber")
    g.add_argument("--huber-c", type=float, default=0.001)
    g.add_argument("--crop", type=int, metavar="N", help="train on random N×N crops of the images (cheaper steps)")
    g.add_argument("--no-compile", action="store_true", help="do not torch.compile (CUDA only anyway)")
    g.add_argument("--no-bf16", action="store_true", help="no bf16 autocast (CUDA only anyway)")
    g = p.add_argument_group("sample grids")
    g.add_argument("--sample-steps", type=int, default=4, help="LCM steps for sample grids")
    return p.parse_args(argv)


def guided_timesteps(sampler: str, steps: int, interval: tuple[float, float], num_train_timesteps: int) -> torch.Tensor:
    """Boolean ``(num_train_timesteps,)``: whether sampler ``sampler`` at ``steps`` steps guides at each
    training timestep, i.e. whether its nearest sampling step is one it guides (``guidance_interval``)."""
    sched = make_scheduler(sampler, training_scheduler().config)
    sched.set_timesteps(steps)
    ts = sched.timesteps.long()
    start, end = interval
    flags = torch.tensor([start <= i / len(ts) < end for i in range(len(ts))])
    nearest = (torch.arange(num_train_timesteps)[:, None] - ts[None]).abs().argmin(1)
    return flags[nearest]


def boundary_scalings(t: torch.Tensor, timestep_scaling: float) -> tuple[torch.Tensor, torch.Tensor]:
    """LCM's ``c_skip``, ``c_out`` at integer timesteps ``t`` (as ``LCMScheduler`` computes them)."""
    scaled = t.float() * timestep_scaling
    c_skip = SIGMA_DATA**2 / (scaled**2 + SIGMA_DATA**2)
    c_out = scaled / (scaled**2 + SIGMA_DATA**2) ** 0.5
    return c_skip, c_out


def column(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, 1, 1, 1)


@torch.no_grad()
def sample_grid(pipe: EmotionLandscapePipeline, seed: int, steps: int, guidance: float) -> Image.Image:
    """The 5×5 valence/arousal grid (valence left→right, arousal up), same noise in every cell."""
    pipe.set_progress_bar_config(disable=True)
    vs, as_ = loop.grid_va()
    device = next(pipe.unet.parameters()).device
    gens = [torch.Generator(device).manual_seed(seed) for _ in vs]
    images = pipe(
        vs,
        as_,
        guidance_scale=guidance,
        num_inference_steps=steps,
        generator=gens,
        output_type="np",
        map_emotion=False,
        max_redraws=0,
    ).images
    return loop.grid_picture(images)


class DistillTrainer(UNetTrainer):
    """Teacher (frozen), student, its target network (EMA), AdamW and random state; driven by :func:`loop.run`."""

    resume_flags = {
        **loop.Trainer.resume_flags,
        "crop": None,
        "guidance": defaults.GUIDANCE_SCALE,
        "guidance_range": None,
        "loss": "huber",
        "grid_steps": CONSISTENCY_GRID_STEPS,
    }
    data_parallel = True

    def __init__(self, args: argparse.Namespace):
        super().__init__(args)
        if args.guidance_range is not None and not 1.0 <= args.guidance_range[0] <= args.guidance_range[1]:
            raise SystemExit(f"error: --guidance-range needs 1 ≤ LO ≤ HI, got {args.guidance_range}")
        teacher = load_pipeline(args.teacher)
        self.teacher_pipe = teacher
        self.config = (
            self.resume["unet_config"]
            if self.resume
            else {**unet_config_dict(teacher.unet), "guidance_embedding": args.guidance_range is not None}
        )
        resolution = self.config["sample_size"]
        if args.crop is not None and not 8 <= args.crop <= resolution:
            raise SystemExit(f"error: --crop must lie between 8 and the model's {resolution} pixels, got {args.crop}")
        cuda = self.device.type == "cuda"
        self.load_data(resolution)

        self.teacher = teacher.unet.to(self.device).requires_grad_(False).eval()
        # a teacher with a high-noise expert paints the timesteps from high_noise_from with it, as its pipeline does
        high = teacher.high_noise_unet
        self.teacher_high = None if high is None else high.to(self.device).requires_grad_(False).eval()
        torch.manual_seed(args.seed)
        self.model = EmotionUNet(**self.config)
        missing, unexpected = self.model.load_state_dict(self.teacher.state_dict(), strict=False)
        if unexpected or any(not k.startswith("guidance_mlp.") for k in missing):
            raise SystemExit(f"error: the teacher's UNet does not fit the student: {missing or unexpected}")
        self.model.to(self.device).train()
        self.autocast = cuda and not args.no_bf16
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
            self.model.to(memory_format=torch.channels_last)
            for net in filter(None, (self.teacher, self.teacher_high)):
                net.to(memory_format=torch.channels_last)
        self.ema = loop.EMA(self.model, args.target_decay)  # the target network
        self.scheduler = consistency_scheduler(teacher.scheduler.config, args.grid_steps)
        self.alphas = self.scheduler.alphas_cumprod.to(self.device)
        total = self.scheduler.config.num_train_timesteps
        if not 1 <= args.grid_steps <= total or total % args.grid_steps:
            raise SystemExit(f"error: --grid-steps must divide {total}, got {args.grid_steps}")
        self.skip = total // args.grid_steps
        self.guided = guided_timesteps(
            args.teacher_sampler, args.teacher_steps, tuple(args.guidance_interval), total
        ).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
        self.lr_sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: loop.lr_factor(s, args.warmup, args.steps)
        )
        self.noise_gen = torch.Generator(self.device).manual_seed(args.seed + 1)
        self.forward = self.accelerator.prepare_model(self.model) if self.accelerator else self.model  # DDP
        compiled = cuda and not args.no_compile
        self.forward = torch.compile(self.forward) if compiled else self.forward
        self.teacher_forward = torch.compile(self.teacher) if compiled else self.teacher
        self.teacher_high_forward = torch.compile(self.teacher_high) if compiled and high is not None else high
        self.target_forward = torch.compile(self.ema.model) if compiled else self.ema.model
        if self.resume:
            self.load_state(self.resume)
        self.t0 = time.monotonic()

    def consistency(self, out: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The consistency function c_skip(t)·x_t + c_out(t)·x̂₀ of a v-prediction ``out`` at ``x`` = x_t."""
        abar = column(self.alphas[t])
        x0 = abar.sqrt() * x - (1 - abar).sqrt() * out.float()
        c_skip, c_out = boundary_scalings(t, self.scheduler.config.timestep_scaling)
        return column(c_skip) * x + column(c_out) * x0

    @torch.no_grad()
    def teacher_step(
        self, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor, va: torch.Tensor, w: torch.Tensor
    ) -> torch.Tensor:
        """One DDIM step of the teacher's guided ODE from x_t to x_s, x̂₀ clipped to [-1, 1] (both branches
        for every row, one batched forward of fixed shape, so that a compiled teacher is compiled once)."""
        n = len(x)
        drop = torch.arange(2 * n, device=x.device) >= n
        rows = (torch.cat([x, x]), t.repeat(2), va[:, 0].repeat(2), va[:, 1].repeat(2))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            out = self.teacher_forward(*rows, drop_emotion=drop).sample.float()
            if self.teacher_high is not None:
                high = self.teacher_high_forward(*rows, drop_emotion=drop).sample.float()
                out = torch.where(column(rows[1] >= self.teacher_pipe.config.high_noise_from), high, out)
        eps_c, eps_u = out.chunk(2)
        eps = torch.where(column(self.guided[t]), eps_u + column(w) * (eps_c - eps_u), eps_c)
        abar_t, abar_s = column(self.alphas[t]), column(self.alphas[s])
        x0 = ((x - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()).clamp(-1, 1)
        eps = (x - abar_t.sqrt() * x0) / (1 - abar_t).sqrt()
        return abar_s.sqrt() * x0 + (1 - abar_s).sqrt() * eps

    def draw(self) -> tuple[torch.Tensor, ...]:
        """The next batch: this process's photos x₀ and (valence, arousal), grid positions n (t = n·T/N − 1),
        noise and guidance scales."""
        args, b, mine = self.args, self.args.batch_size, self.shard
        x0, va = self.batch(args.crop)
        n = torch.randint(1, args.grid_steps + 1, (b,), generator=self.gen)[mine].to(self.device)
        if args.guidance_range is None:
            w = torch.full((b,), args.guidance)
        else:
            lo, hi = args.guidance_range
            w = lo + (hi - lo) * torch.rand(b, generator=self.gen)
        noise = torch.randn((b, *x0.shape[1:]), generator=self.noise_gen, device=self.device)[mine]
        return x0, va, n, noise, w[mine].to(self.device)

    def loss(
        self, x0: torch.Tensor, va: torch.Tensor, n: torch.Tensor, noise: torch.Tensor, w: torch.Tensor
    ) -> torch.Tensor:
        """The consistency distillation loss of the student on photos ``x0`` noised to grid position ``n``."""
        t = n * self.skip - 1
        s = (t - self.skip).clamp(min=0)
        student_w = {"guidance": w} if self.config["guidance_embedding"] else {}
        abar = column(self.alphas[t])
        x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
        x_s = self.teacher_step(x_t, t, s, va, w)
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            target = self.consistency(self.target_forward(x_s, s, va[:, 0], va[:, 1], **student_w).sample, x_s, s)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            out = self.forward(x_t, t, va[:, 0], va[:, 1], **student_w).sample
        pred = self.consistency(out, x_t, t)
        if self.args.loss == "huber":
            c = self.args.huber_c
            return (((pred - target) ** 2 + c**2).sqrt() - c).mean()
        return F.mse_loss(pred, target)

    def optimise(self, loss: torch.Tensor) -> None:
        """One AdamW step on ``loss``, then the learning-rate schedule and the target network."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.args.grad_clip)
        self.opt.step()
        self.lr_sched.step()
        self.ema.update(self.model)

    def train_step(self) -> dict[str, torch.Tensor]:
        loss = self.loss(*self.draw())
        self.optimise(loss)
        self.step += 1
        self.images_seen += self.args.batch_size
        return {"loss": loss.detach()}

    def log_fields(self) -> dict:
        return {"lr": self.lr_sched.get_last_lr()[0]}

    def student_pipeline(self, unet: EmotionUNet) -> EmotionLandscapePipeline:
        """``unet`` with the student's scheduler and the teacher's landscape checker and emotion mapping."""
        scheduler = consistency_scheduler(self.teacher_pipe.scheduler.config, self.args.grid_steps)
        return EmotionLandscapePipeline(
            unet=unet,
            scheduler=scheduler,
            landscape_checker=self.teacher_pipe.landscape_checker,
            emotion_quantiles=self.teacher_pipe.config.emotion_quantiles,
        )

    def sample_grid(self) -> Image.Image:
        return sample_grid(
            self.student_pipeline(self.ema.model), self.args.seed, self.args.sample_steps, self.args.guidance
        )

    def plot(self) -> None:
        loop.plot_loss(
            self.log_path,
            self.out / "loss_curve.png",
            ylabel=f"{self.args.loss} (consistency)",
            title="consistency distillation loss",
        )

    def export(self, final: dict | None, grid: Path | None) -> Path:
        """Save the target network's weights as an fp16 student pipeline with its model card in ``OUT/pipeline``."""
        unet = EmotionUNet(**self.config)
        unet.load_state_dict(self.ema.model.state_dict())
        pipe = self.student_pipeline(unet.half())

        def write(tmp: Path) -> None:
            pipe.save_pretrained(tmp, safe_serialization=True)
            extras = self.copy_extras(tmp, grid)
            (tmp / "MODEL_CARD.md").write_text(self.model_card(final["loss"] if final else None, extras))

        return loop.export_folder(self.out, "pipeline", write)

    def model_card(self, final_loss: float | None, images: list[str]) -> str:
        a = self.args
        w = (
            f"drawn uniformly from {a.guidance_range[0]:g}–{a.guidance_range[1]:g} per example and given to the "
            "student as an input (the app's guidance slider sets it)"
            if a.guidance_range
            else f"fixed at {a.guidance:g} (baked in: the student ignores the guidance scale it is given)"
        )
        guided = np.flatnonzero(self.guided.cpu().numpy())
        lines = [
            "# music2img few-step student (consistency distillation)",
            "",
            f"A consistency model distilled from `{a.teacher}` sampled as the app does: {a.teacher_sampler} "
            f"{a.teacher_steps} steps, guidance on the steps from {a.guidance_interval[0]:g} to "
            f"{a.guidance_interval[1]:g} of the way (timesteps {guided.min()}–{guided.max()}), scale {w}. "
            "It paints with diffusers' `LCMScheduler` (`--scheduler lcm`, 1–8 steps, 4 by default), one UNet "
            "forward per step. Same UNet as the teacher, predicting v; the target network's weights (EMA), "
            "fp16 safetensors. The landscape checker and emotion mapping are the teacher's.",
            "",
            "## Training",
            "",
            f"- data: `{a.data}` with labels `{a.labels or 'CGnA10766 layout'}`, {self.n_images} images at "
            f"{self.config['sample_size']}×{self.config['sample_size']}, random horizontal flips"
            + (f", random {a.crop}×{a.crop} crops" if a.crop else ""),
            f"- teacher ODE solver: DDIM over {a.grid_steps} skipping steps (t = {self.skip - 1}, "
            f"{2 * self.skip - 1}, …, {self.scheduler.config.num_train_timesteps - 1}), x̂₀ clipped to [-1, 1]",
            f"- loss: {'pseudo-Huber, c = ' + format(a.huber_c, 'g') if a.loss == 'huber' else 'MSE'} between the "
            f"student's and the target network's consistency functions; target EMA decay {a.target_decay:g}",
            f"- steps: {self.step} of {a.steps}; batch {a.batch_size}; images seen: {self.images_seen:,} "
            f"({self.images_seen / self.n_images:.2f} epochs)",
            f"- optimiser: AdamW lr {a.lr:g}, weight decay {a.weight_decay:g}, {a.warmup} warm-up steps "
            "+ cosine decay, "
            f"gradient clip {a.grad_clip:g}",
            *self.card_tail(final_loss, images, "train/distill.py", loss_digits=5),
        ]
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return loop.main(argv, parse_args, DistillTrainer)


if __name__ == "__main__":
    sys.exit(main())
