"""Train the emotion-conditioned landscape diffusion model (:class:`music2img.diffusion.unet.EmotionUNet`).

Example (production config, one GPU)::

    python train/diffusion.py --data ../shared/data/images/landscapes --labels assets/landscape_labels.csv \
        --out work/diffusion_run --batch-size 256 --max-minutes 25 --auto-steps 400 --workers 16

(``--auto-steps 400``: after 400 steps the speed is measured and ``--steps`` set so that the cosine
learning-rate schedule ends inside the time budget.)

Fine-tuning (e.g. re-conditioning the shipped model on new labels, cheaply, on one CPU thread)::

    python train/diffusion.py --init-from assets/diffusion --train-only conditioning --crop 64 --threads 1 \
        --data ../shared/data/images/landscapes --labels NEW_LABELS.csv --out runs/recondition \
        --batch-size 16 --lr 3e-4 --warmup 100 --steps 6000 --checkpoint-every 200 --sample-every 0

``--init-from`` starts from a saved pipeline's weights (the EMA weights it was exported with) and its
UNet config, with a fresh optimiser and learning-rate schedule; ``--train-only conditioning`` trains
only :meth:`~music2img.diffusion.unet.EmotionUNet.emotion_parameters` (emotion MLP, AdaIN
projections, "no emotion" vector, 1.3 M of 13.7 M) and keeps the rest frozen.

A high-noise expert (the layout of a picture is decided in the noisiest steps)::

    python train/diffusion.py --init-from assets/diffusion --timesteps-from 550 … --out runs/high_noise
    python train/high_noise_unet.py assets/diffusion runs/high_noise/pipeline

``--timesteps-from T`` trains on timesteps T–999 only; the exported pipeline paints those steps with the
trained UNet (its ``high_noise_unet``) and the others with ``--init-from``'s, which training at high noise
alone would unlearn; ``train/high_noise_unet.py`` adds the expert to the pipeline it was trained from.

Data-parallel on several GPUs (Hugging Face Accelerate, ``pip install '.[train]'``)::

    accelerate launch --multi_gpu --num_processes 4 train/diffusion.py --batch-size 1024 …

``--batch-size`` is then the global batch: each process trains on its slice of every batch and the
gradients are averaged (DDP), so every process holds the same weights; only the first one writes
logs, checkpoints, grids and the exported pipeline. Every process draws the random numbers of the
whole batch, so batches and noise are those of a one-process run.

Images are decoded once into a uint8 tensor in memory (on the GPU when there is one). Every
``--checkpoint-every`` steps, and on SIGTERM/SIGINT, ``OUT/checkpoint.pt`` is written atomically
with everything needed to continue bit-exactly with ``--resume``; the process id is in ``OUT/train.pid``
while it runs (``kill -STOP``/``kill -CONT`` pause and continue it; paused time counts towards
``--max-minutes``). The run plumbing is shared with the GAN baseline (``train/loop.py``). At the end ``OUT/pipeline``
holds the EMA weights as an fp16 :class:`~music2img.diffusion.pipeline.EmotionLandscapePipeline` with
its model card.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.diffusion.pipeline import EmotionLandscapePipeline, load_pipeline
from music2img.diffusion.schedulers import make_scheduler, training_scheduler
from music2img.diffusion.unet import EmotionUNet
from train import loop

#: What ``--train-only`` can train.
TRAIN_ONLY = ("all", "conditioning")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    loop.add_run_arguments(p)
    g = p.add_argument_group("model (defaults: the production EmotionUNet config)")
    default = {k: v.default for k, v in inspect.signature(EmotionUNet.__init__).parameters.items()}
    g.add_argument("--resolution", type=int, default=default["sample_size"])
    g.add_argument("--channels", default=",".join(map(str, default["block_out_channels"])))
    g.add_argument("--layers-per-block", type=int, default=default["layers_per_block"])
    g.add_argument("--attention-resolutions", default=",".join(map(str, default["attention_resolutions"])))
    g.add_argument("--dropout", type=float, default=default["dropout"])
    g.add_argument("--config", type=Path, help="JSON of EmotionUNet arguments (overrides the flags above)")
    g.add_argument(
        "--init-from",
        metavar="PIPELINE_DIR_OR_REPO",
        help="start from this saved pipeline's (EMA) "
        "weights and UNet config (the model flags above are then ignored); fresh optimiser and schedule",
    )
    g.add_argument(
        "--train-only",
        choices=TRAIN_ONLY,
        default="all",
        help="train every parameter, or only the "
        "emotion conditioning (emotion MLP, AdaIN projections, 'no emotion' vector) with the rest frozen",
    )
    g = p.add_argument_group("optimisation")
    g.add_argument("--steps", type=int, default=30000, help="total optimiser steps (sets the cosine schedule)")
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--lr", type=float, default=2e-4)
    g.add_argument("--warmup", type=int, default=500, help="linear warm-up steps")
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--grad-clip", type=float, default=1.0)
    g.add_argument("--ema-decay", type=float, default=0.999)
    g.add_argument("--cond-drop", type=float, default=0.1, help="probability of the 'no emotion' embedding")
    g.add_argument("--no-compile", action="store_true", help="do not torch.compile (CUDA only anyway)")
    g.add_argument("--no-bf16", action="store_true", help="no bf16 autocast (CUDA only anyway)")
    g.add_argument("--crop", type=int, metavar="N", help="train on random N×N crops of the images (cheaper steps)")
    g.add_argument(
        "--timesteps-from",
        type=int,
        default=0,
        metavar="T",
        help="train on timesteps T–999 only (needs --init-from): a high-noise expert, exported as the pipeline's "
        "high_noise_unet beside --init-from's UNet",
    )
    g = p.add_argument_group("sample grids")
    g.add_argument("--sample-steps", type=int, default=25, help="DPM-Solver steps for sample grids")
    g.add_argument("--sample-guidance", type=float, default=3.0)
    return p.parse_args(argv)


def unet_config(args: argparse.Namespace) -> dict:
    """EmotionUNet arguments from the flags, or from ``--config``."""
    config = dict(
        sample_size=args.resolution,
        block_out_channels=[int(c) for c in args.channels.split(",")],
        layers_per_block=args.layers_per_block,
        attention_resolutions=[int(r) for r in args.attention_resolutions.split(",") if r],
        dropout=args.dropout,
    )
    if args.config:
        config.update(json.loads(args.config.read_text()))
    return config


@torch.no_grad()
def sample_grid(unets: dict, seed: int, steps: int, guidance: float) -> Image.Image:
    """The 5×5 valence/arousal grid (valence left→right, arousal up), same noise in every cell, painted by the
    pipeline built from ``unets`` (``unet``, and a ``high_noise_unet`` with its ``high_noise_from``)."""
    pipe = EmotionLandscapePipeline(**unets, scheduler=make_scheduler("dpm", training_scheduler().config))
    pipe.set_progress_bar_config(disable=True)
    vs, as_ = loop.grid_va()
    device = next(pipe.unet.parameters()).device
    gens = [torch.Generator(device).manual_seed(seed) for _ in vs]
    images = pipe(vs, as_, guidance_scale=guidance, num_inference_steps=steps, generator=gens, output_type="np").images
    return loop.grid_picture(images)


def unet_config_dict(unet: EmotionUNet) -> dict:
    """The model's full config without diffusers' private keys."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in unet.config.items() if not k.startswith("_")}


class UNetTrainer(loop.Trainer):
    """What every trainer of an :class:`EmotionUNet` checkpoints: the model, its EMA, the optimiser, the
    learning-rate schedule and the noise generator (``train/diffusion.py``, ``train/distill.py``)."""

    def state(self) -> dict:
        state = super().state()
        state["rng"]["noise"] = self.noise_gen.get_state()
        return {
            **state,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.opt.state_dict(),
            "lr_scheduler": self.lr_sched.state_dict(),
            "unet_config": dict(self.config),
        }

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["optimizer"])
        self.lr_sched.load_state_dict(state["lr_scheduler"])
        self.noise_gen.set_state(state["rng"]["noise"])

    def parameters_m(self) -> float:
        return sum(p.numel() for p in self.model.parameters()) / 1e6

    def card_tail(self, final_loss: float | None, images: list[str], script: str, loss_digits: int = 4) -> list[str]:
        """The model card's last lines: device and time, final loss, size, the UNet config, the sample grids."""
        return [
            f"- device: {self.device}{' (bf16 autocast)' if self.autocast else ''}; training time "
            f"{self.elapsed() / 60:.1f} min",
            f"- final loss (mean of the last logged window): {final_loss:.{loss_digits}f}"
            if final_loss is not None
            else "- final loss: n/a",
            f"- parameters: {self.parameters_m():.2f} M",
            "",
            "## UNet config",
            "",
            "```json",
            json.dumps(unet_config_dict(self.model), indent=2),
            "```",
            "",
            *loop.card_end(script, images, "same noise", "For research and demonstration use."),
        ]


class DiffusionTrainer(UNetTrainer):
    """The EmotionUNet, its AdamW, EMA, noise schedule and noise generator; driven by :func:`loop.run`."""

    resume_flags = {**loop.Trainer.resume_flags, "train_only": TRAIN_ONLY[0], "crop": None, "timesteps_from": 0}
    data_parallel = True

    def __init__(self, args: argparse.Namespace):
        super().__init__(args)
        resume, init = self.resume, None
        if resume:
            self.config = resume["unet_config"]
        elif args.init_from:
            init = load_pipeline(args.init_from).unet
            self.config = unet_config_dict(init)
        else:
            self.config = unet_config(args)
        steps = training_scheduler().config.num_train_timesteps
        if not 0 <= args.timesteps_from < steps:
            raise SystemExit(f"error: --timesteps-from must lie in 0–{steps - 1}, got {args.timesteps_from}")
        if args.timesteps_from and not args.init_from:
            raise SystemExit("error: --timesteps-from trains a high-noise expert for a model: give it --init-from")
        # the UNet of the steps below --timesteps-from, exported beside the expert
        if args.timesteps_from:
            self.low_noise_unet = (init if init is not None else load_pipeline(args.init_from).unet).eval()
        else:
            self.low_noise_unet = None
        resolution = self.config["sample_size"]
        if args.crop is not None and not 8 <= args.crop <= resolution:
            raise SystemExit(f"error: --crop must lie between 8 and the model's {resolution} pixels, got {args.crop}")
        cuda = self.device.type == "cuda"
        self.load_data(resolution)

        torch.manual_seed(args.seed)
        self.model = EmotionUNet(**self.config)
        if init is not None:
            self.model.load_state_dict(init.state_dict())
        self.model.to(self.device)
        if args.train_only == "conditioning":
            self.model.requires_grad_(False)
            for param in self.model.emotion_parameters().values():
                param.requires_grad_(True)
        self.trained = [param for param in self.model.parameters() if param.requires_grad]
        self.autocast = cuda and not args.no_bf16
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
            self.model.to(memory_format=torch.channels_last)
        self.ema = loop.EMA(self.model, args.ema_decay)
        self.scheduler = training_scheduler()
        self.opt = torch.optim.AdamW(self.trained, lr=args.lr, weight_decay=args.weight_decay)
        # reads args.steps at every step, so that --auto-steps can set the length once measured
        self.lr_sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: loop.lr_factor(s, args.warmup, args.steps)
        )
        self.noise_gen = torch.Generator(self.device).manual_seed(args.seed + 1)
        self.forward = self.accelerator.prepare_model(self.model) if self.accelerator else self.model  # DDP
        self.forward = torch.compile(self.forward) if cuda and not args.no_compile else self.forward
        if resume:
            self.load_state(resume)
        self.t0 = time.monotonic()

    def train_step(self) -> dict[str, torch.Tensor]:
        args, b, mine = self.args, self.args.batch_size, self.shard
        x, va = self.batch(args.crop)
        first, end = args.timesteps_from, self.scheduler.config.num_train_timesteps
        t = torch.randint(first, end, (b,), generator=self.gen)[mine].to(self.device)
        drop = (torch.rand(b, generator=self.gen) < args.cond_drop)[mine].to(self.device)
        noise = torch.randn((b, *x.shape[1:]), generator=self.noise_gen, device=self.device)[mine]
        noisy = self.scheduler.add_noise(x, noise, t)
        if self.device.type == "cuda":
            noisy = noisy.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            pred = self.forward(noisy, t, va[:, 0], va[:, 1], drop_emotion=drop).sample
        loss = F.mse_loss(pred.float(), noise)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.trained, args.grad_clip)
        self.opt.step()
        self.lr_sched.step()
        self.ema.update(self.model)
        self.step += 1
        self.images_seen += b
        return {"loss": loss.detach()}

    def log_fields(self) -> dict:
        return {"lr": self.lr_sched.get_last_lr()[0]}

    def experts(self, unet: EmotionUNet) -> dict:
        """Pipeline arguments painting with ``unet`` (the trained weights), beside the low-noise UNet for an expert."""
        if self.low_noise_unet is None:
            return {"unet": unet}
        like = next(unet.parameters())
        low = copy.deepcopy(self.low_noise_unet).to(device=like.device, dtype=like.dtype)  # kept as loaded
        return {"unet": low, "high_noise_unet": unet, "high_noise_from": self.args.timesteps_from}

    def sample_grid(self) -> Image.Image:
        args = self.args
        return sample_grid(self.experts(self.ema.model), args.seed, args.sample_steps, args.sample_guidance)

    def export(self, final: dict | None, grid: Path | None) -> Path:
        """Save the EMA weights as an fp16 pipeline with its model card in ``OUT/pipeline``."""
        unet = EmotionUNet(**self.config)
        unet.load_state_dict(self.ema.model.state_dict())
        pipe = EmotionLandscapePipeline(**self.experts(unet.half()), scheduler=training_scheduler())

        def write(tmp: Path) -> None:
            pipe.save_pretrained(tmp, safe_serialization=True)
            extras = self.copy_extras(tmp, grid)
            (tmp / "MODEL_CARD.md").write_text(self.model_card(final["loss"] if final else None, extras))

        return loop.export_folder(self.out, "pipeline", write)

    def model_card(self, final_loss: float | None, images: list[str]) -> str:
        a = self.args
        n_trained = sum(p.numel() for p in self.trained)
        lines = [
            "# music2img emotion-conditioned landscape diffusion model",
            "",
            "Pixel-space DDPM (ε-prediction, 1000-step cosine schedule) whose UNet is conditioned on "
            "valence and arousal (1–9) through AdaIN, with a learned 'no emotion' embedding for "
            "classifier-free guidance. Weights: EMA, fp16 safetensors.",
            "",
            "## Training",
            "",
            f"- data: `{a.data}` with labels `{a.labels or 'CGnA10766 layout'}`, {self.n_images} images at "
            f"{self.config['sample_size']}×{self.config['sample_size']}, random horizontal flips"
            + (f", random {a.crop}×{a.crop} crops" if a.crop else "")
            + (
                f"; drawn in proportion to count(cell)^-{a.balance_emotion:g} over an 8×8 valence/arousal grid"
                if a.balance_emotion
                else ""
            )
            + ("; each row drawn in proportion to the labels' `weight` column" if self.row_weighted else ""),
            *([f"- fine-tuned from `{a.init_from}` (its EMA weights)"] if a.init_from else []),
            *(
                [
                    f"- timesteps {a.timesteps_from}–999 only: a high-noise expert (`high_noise_unet`); the steps "
                    f"below are painted by `{a.init_from}`'s UNet (`unet`)"
                ]
                if a.timesteps_from
                else []
            ),
            *(
                [
                    f"- trained only the emotion conditioning ({n_trained / 1e6:.2f} M parameters: emotion MLP, AdaIN "
                    "projections, 'no emotion' vector); the rest frozen"
                ]
                if a.train_only == "conditioning"
                else []
            ),
            f"- steps: {self.step} of {a.steps}; batch {a.batch_size}; images seen: {self.images_seen:,} "
            f"({self.images_seen / self.n_images:.1f} epochs)",
            f"- optimiser: AdamW lr {a.lr:g}, weight decay {a.weight_decay:g}, {a.warmup} warm-up steps + cosine "
            f"decay, gradient clip {a.grad_clip:g}; EMA decay {a.ema_decay:g}; condition dropout {a.cond_drop:g}",
            *self.card_tail(final_loss, images, "train/diffusion.py"),
        ]
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return loop.main(argv, parse_args, DiffusionTrainer)


if __name__ == "__main__":
    sys.exit(main())
