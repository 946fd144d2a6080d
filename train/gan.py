"""Train the emotional-landscape GAN baseline (:mod:`music2img.diffusion.gan`): a progressive WGAN-GP
with Emotional Residual Units and the Affective Feature Matching loss (Park & Lee, ACCV 2020).

Same data, labels, flips, EMA, checkpoints, ``--resume`` and ``--max-minutes`` as
``train/diffusion.py`` (the run plumbing is ``train/loop.py``). Example (CPU, 64×64, two hours)::

    python train/gan.py --data ../shared/data/images/landscapes --labels assets/landscape_labels.csv \\
        --out runs/gan64 --resolution 64 --threads 1 --max-minutes 120 --auto-steps 4

Growth: 4×4 for ``--phase-steps`` steps, then every next resolution is faded in over
``--phase-steps`` steps (generator output, critic input and the real pictures alike) and trained
``--phase-steps`` more; the last resolution trains until ``--steps``. With ``--max-minutes`` and
``--auto-steps N`` the speed of every stage is measured first (N steps each, on copies of the
models) and ``--phase-steps`` and ``--steps`` are set so that growing takes ``--grow-share`` of
the budget and the last resolution the rest.

Per step (batch of real pictures with their labels, fakes generated with the same labels):
critic ``D(fake) − D(real) + GP + drift·D(real)² + w_e·MSE(va(real), labels)``;
generator ``−D(fake) + w_e·MSE(va(fake), labels) + w_afm·AFM(features(real), features(fake))``.
At the end ``OUT/pipeline`` holds the generator's EMA weights as an fp16
:class:`~music2img.diffusion.gan.EmotionGANPipeline` with its model card.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.diffusion.gan import (
    EmotionGANPipeline,
    ProgressiveCritic,
    ProgressiveGenerator,
    affective_feature_matching,
    gradient_penalty,
)
from music2img.diffusion.unet import normalize_va
from train import loop


def default_channels(resolution: int) -> list[int]:
    """Feature widths from 4×4 up to ``resolution``: 1024/r, between 16 and 128 (CPU-sized)."""
    sizes = [4 * 2**i for i in range(max(1, resolution.bit_length() - 2))]
    return [max(16, min(128, 1024 // r)) for r in sizes]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    loop.add_run_arguments(p)
    g = p.add_argument_group("model")
    g.add_argument("--resolution", type=int, default=64, help="final resolution (64 on the CPU, 128 on a GPU)")
    g.add_argument("--channels", help="feature widths 4×4 … final, comma-separated (default: 1024/r within 16–128)")
    g.add_argument("--latent-dim", type=int, default=128)
    g.add_argument("--emotion-dim", type=int, default=64, help="size of the critic's emotion features (AFM)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--steps", type=int, default=20000, help="total steps (critic + generator update each)")
    g.add_argument("--phase-steps", type=int, default=1500, help="steps per fade-in and per stabilisation phase")
    g.add_argument("--grow-share", type=float, default=0.5, help="with --auto-steps: share of the budget for growing")
    g.add_argument("--batch-size", type=int, default=16)
    g.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of both networks (β = 0, 0.99)")
    g.add_argument("--gp-weight", type=float, default=10.0, help="WGAN-GP gradient penalty weight")
    g.add_argument("--drift", type=float, default=1e-3, help="weight of D(real)² keeping the critic near 0")
    g.add_argument("--emotion-weight", type=float, default=1.0, help="weight of the critic's valence/arousal MSE")
    g.add_argument("--afm-weight", type=float, default=1.0, help="weight of the Affective Feature Matching loss")
    g.add_argument("--ema-decay", type=float, default=0.999)
    args = p.parse_args(argv)
    if args.channels is None:
        args.channels = ",".join(map(str, default_channels(args.resolution)))
    return args


def stage(step: int, phase_steps: int, levels: int) -> tuple[int, float]:
    """Growth stage ``(level, alpha)`` at ``step``: 4×4 for one phase, then per level a fade-in phase
    (α rising from 0) and a stable one; the last level stays."""
    k, s = divmod(step, phase_steps)
    level = min((k + 1) // 2, levels - 1)
    if k % 2 == 1 and (k + 1) // 2 < levels:
        return level, s / phase_steps
    return level, 1.0


def growth_steps(phase_steps: int, levels: int) -> int:
    """Steps until the last level is fully faded in."""
    return phase_steps * max(0, 2 * levels - 2)


class GANTrainer(loop.Trainer):
    """Generator, critic, their Adams and the generator's EMA; driven by :func:`loop.run`."""

    loss_keys = ("wasserstein", "gp", "emotion_real", "emotion_fake", "afm")
    resume_flags = {**loop.Trainer.resume_flags, "phase_steps": None, "resolution": None}

    def __init__(self, args: argparse.Namespace):
        super().__init__(args)
        if self.resume:
            self.g_config, self.d_config = self.resume["generator_config"], self.resume["critic_config"]
        else:
            channels = [int(c) for c in args.channels.split(",")]
            self.g_config = {"resolution": args.resolution, "latent_dim": args.latent_dim, "channels": channels}
            self.d_config = {"resolution": args.resolution, "channels": channels, "emotion_dim": args.emotion_dim}
        self.load_data(self.g_config["resolution"])
        torch.manual_seed(args.seed)
        self.G = ProgressiveGenerator(**self.g_config).to(self.device)
        self.D = ProgressiveCritic(**self.d_config).to(self.device)
        self.levels = self.G.levels
        self.ema = loop.EMA(self.G, args.ema_decay)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=args.lr, betas=(0.0, 0.99))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=args.lr, betas=(0.0, 0.99))
        self.noise_gen = torch.Generator().manual_seed(args.seed + 1)
        if self.resume:
            self.load_state(self.resume)
        if args.auto_steps and not args.auto_steps_done:
            self.fit_schedule()
        if self.step == 0 and args.steps <= growth_steps(args.phase_steps, self.levels):
            raise SystemExit(
                f"error: --steps {args.steps} ends before {self.g_config['resolution']}×"
                f"{self.g_config['resolution']} is faded in (step "
                f"{growth_steps(args.phase_steps, self.levels)}); "
                "raise --steps or lower --phase-steps"
            )
        self.t0 = time.monotonic()

    # --- state -----------------------------------------------------------------------------
    def state(self) -> dict:
        state = super().state()
        state["rng"]["noise"] = self.noise_gen.get_state()
        return {
            **state,
            "generator": self.G.state_dict(),
            "critic": self.D.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer_g": self.opt_g.state_dict(),
            "optimizer_d": self.opt_d.state_dict(),
            "generator_config": dict(self.g_config),
            "critic_config": dict(self.d_config),
        }

    def load_state(self, state: dict) -> None:
        if self.args.auto_steps and state["args"].get("auto_steps_done"):
            self.args.phase_steps = state["args"]["phase_steps"]
        super().load_state(state)
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["critic"])
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["optimizer_g"])
        self.opt_d.load_state_dict(state["optimizer_d"])
        self.noise_gen.set_state(state["rng"]["noise"])

    def parameters_m(self) -> float:
        return sum(p.numel() for m in (self.G, self.D) for p in m.parameters()) / 1e6

    # --- schedule --------------------------------------------------------------------------
    def stage(self, step: int | None = None) -> tuple[int, float]:
        return stage(self.step if step is None else step, self.args.phase_steps, self.levels)

    def fit_schedule(self) -> None:
        """Time ``--auto-steps`` steps of every stage on copies of the models, then set ``--phase-steps``
        and ``--steps`` so that growing takes ``--grow-share`` of what is left of the budget."""
        args = self.args
        seconds = []
        for level in range(self.levels):
            trial = copy.copy(self)
            trial.G, trial.D = copy.deepcopy(self.G), copy.deepcopy(self.D)
            trial.opt_g = torch.optim.Adam(trial.G.parameters(), lr=args.lr, betas=(0.0, 0.99))
            trial.opt_d = torch.optim.Adam(trial.D.parameters(), lr=args.lr, betas=(0.0, 0.99))
            trial.ema = loop.EMA(trial.G, args.ema_decay)
            trial.gen, trial.noise_gen = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
            times = []
            for _ in range(max(2, args.auto_steps)):
                t = time.monotonic()
                trial.update(level, 0.5 if level else 1.0)
                times.append(time.monotonic() - t)
            seconds.append(sum(times[1:]) / len(times[1:]))  # the first step warms up
        per_phase = seconds[0] + 2 * sum(seconds[1:-1]) + (seconds[-1] if self.levels > 1 else 0.0)
        # t0: start of this process's run
        left = 60 * (args.max_minutes - args.reserve_minutes) - (time.monotonic() - self.t0)
        grow = args.grow_share * left
        args.phase_steps = max(1, int(grow / per_phase)) if self.levels > 1 else 1
        args.steps = growth_steps(args.phase_steps, self.levels) + max(1, int((left - grow) / seconds[-1]))
        args.auto_steps_done = True
        sizes = ", ".join(f"{4 * 2**i}: {s * 1000:.0f}" for i, s in enumerate(seconds))
        print(
            f"ms/step by resolution ({sizes}): {args.phase_steps} steps per phase, {args.steps} in total",
            file=sys.stderr,
        )

    # --- training --------------------------------------------------------------------------
    def real_batch(self, level: int, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Real pictures at the stage's resolution (area-downsampled; blended like the generator's fade-in)."""
        x, va = self.batch()
        x = F.avg_pool2d(x, x.shape[-1] // (4 * 2**level)) if x.shape[-1] > 4 * 2**level else x
        if level > 0 and alpha < 1.0:
            x = torch.lerp(F.interpolate(F.avg_pool2d(x, 2), scale_factor=2.0, mode="nearest"), x, alpha)
        return x, va

    def update(self, level: int, alpha: float) -> dict[str, torch.Tensor]:
        """One critic and one generator update at stage ``(level, alpha)``."""
        a = self.args
        real, va = self.real_batch(level, alpha)
        target = normalize_va(va)
        z = torch.randn(real.shape[0], self.G.config.latent_dim, generator=self.noise_gen).to(self.device)
        fake = self.G(z, va[:, 0], va[:, 1], level, alpha)

        self.D.requires_grad_(True)
        d_real, d_fake = self.D(real, alpha), self.D(fake.detach(), alpha)
        gp = gradient_penalty(lambda x: self.D(x, alpha).score, real, fake, a.gp_weight, self.noise_gen)
        emotion_real = F.mse_loss(d_real.va, target)
        wasserstein = d_real.score.mean() - d_fake.score.mean()
        loss_d = -wasserstein + gp + a.drift * d_real.score.pow(2).mean() + a.emotion_weight * emotion_real
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        self.D.requires_grad_(False)
        with torch.no_grad():
            real_features = self.D(real, alpha).features
        judged = self.D(fake, alpha)
        emotion_fake = F.mse_loss(judged.va, target)
        afm = affective_feature_matching(real_features, judged.features)
        loss_g = -judged.score.mean() + a.emotion_weight * emotion_fake + a.afm_weight * afm
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.ema.update(self.G)
        return {
            "wasserstein": wasserstein.detach(),
            "gp": gp.detach(),
            "emotion_real": emotion_real.detach(),
            "emotion_fake": emotion_fake.detach(),
            "afm": afm.detach(),
            "critic": loss_d.detach(),
            "generator": loss_g.detach(),
        }

    def train_step(self) -> dict[str, torch.Tensor]:
        losses = self.update(*self.stage())
        self.step += 1
        self.images_seen += self.args.batch_size
        return losses

    def log_fields(self) -> dict:
        level, alpha = self.stage(self.step - 1)
        return {"resolution": 4 * 2**level, "alpha": round(alpha, 4), "lr": self.args.lr}

    def plot(self) -> None:
        loop.plot_loss(
            self.log_path,
            self.out / "loss_curve.png",
            self.loss_keys,
            ylabel="loss term",
            title="GAN training (Wasserstein estimate, GP, emotion MSE, AFM)",
            yscale="linear",
        )

    @torch.no_grad()
    def sample_grid(self) -> Image.Image:
        """The EMA generator's 5×5 grid at the current stage, one latent for every cell, shown at full size."""
        level, alpha = self.stage(max(0, self.step - 1))
        vs, as_ = loop.grid_va()
        z = torch.randn(1, self.G.config.latent_dim, generator=torch.Generator().manual_seed(self.args.seed))
        x = self.ema.model(
            z.repeat(len(vs), 1).to(self.device),
            torch.tensor(vs, device=self.device),
            torch.tensor(as_, device=self.device),
            level,
            alpha,
        )
        x = F.interpolate(x, size=self.G.config.resolution, mode="nearest")
        return loop.grid_picture((x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy())

    def export(self, final: dict | None, grid: Path | None) -> Path:
        """Save the generator's EMA weights as an fp16 pipeline with its model card in ``OUT/pipeline``."""
        gan = ProgressiveGenerator(**self.g_config)
        gan.load_state_dict(self.ema.model.state_dict())
        pipe = EmotionGANPipeline(gan=gan.half())

        def write(tmp: Path) -> None:
            pipe.save_pretrained(tmp, safe_serialization=True)
            extras = self.copy_extras(tmp, grid)
            (tmp / "MODEL_CARD.md").write_text(self.model_card(final, extras))

        return loop.export_folder(self.out, "pipeline", write)

    def model_card(self, final: dict | None, images: list[str]) -> str:
        a, r = self.args, self.g_config["resolution"]
        level, alpha = self.stage(max(0, self.step - 1))
        reached = 4 * 2**level
        n_g = sum(p.numel() for p in self.G.parameters()) / 1e6
        n_d = sum(p.numel() for p in self.D.parameters()) / 1e6
        lines = [
            "# music2img emotional-landscape GAN (baseline)",
            "",
            "Progressive WGAN-GP generator with Emotional Residual Units and the Affective Feature Matching "
            "loss (Park & Lee, ACCV 2020), trained as a baseline for the diffusion model. Weights: the "
            "generator's EMA, fp16 safetensors.",
            "",
            "## Training",
            "",
            f"- data: `{a.data}` with labels `{a.labels or 'CGnA10766 layout'}`, {self.n_images} images at "
            f"{r}×{r}, random horizontal flips",
            f"- steps: {self.step} of {a.steps}; {a.phase_steps} per fade-in / stabilisation phase; batch "
            f"{a.batch_size}; images seen: {self.images_seen:,} ({self.images_seen / self.n_images:.1f} epochs)",
            f"- reached: {reached}×{reached}"
            + (f", fade-in α = {alpha:.2f}" if alpha < 1 else "")
            + (
                ""
                if reached == r and alpha == 1
                else f" — **not the full {r}×{r}: the pipeline's output is untrained**"
            ),
            f"- losses: WGAN-GP (gradient penalty {a.gp_weight:g}, drift {a.drift:g}), critic valence/arousal "
            f"MSE ×{a.emotion_weight:g}, AFM ×{a.afm_weight:g}; Adam lr {a.lr:g}, β = (0, 0.99); EMA decay "
            f"{a.ema_decay:g}",
            f"- device: {self.device}; training time {self.elapsed() / 60:.1f} min",
            "- last logged window: " + (", ".join(f"{k} {v:.4f}" for k, v in final.items()) if final else "n/a"),
            f"- parameters: generator {n_g:.2f} M, critic {n_d:.2f} M",
            "",
            "## Config",
            "",
            "```json",
            json.dumps({"generator": self.g_config, "critic": self.d_config}, indent=2),
            "```",
            "",
        ]
        lines += loop.card_end("train/gan.py", images, "one latent", "A research baseline, not part of the product.")
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return loop.main(argv, parse_args, GANTrainer)


if __name__ == "__main__":
    sys.exit(main())
