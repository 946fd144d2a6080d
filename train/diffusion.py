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

Images are decoded once into a uint8 tensor in memory (on the GPU when there is one). Every
``--checkpoint-every`` steps, and on SIGTERM/SIGINT, ``OUT/checkpoint.pt`` is written atomically
with everything needed to continue bit-exactly with ``--resume``; the process id is in ``OUT/train.pid``
while it runs (``kill -STOP``/``kill -CONT`` pause and continue it; paused time counts towards
``--max-minutes``). At the end ``OUT/pipeline``
holds the EMA weights as an fp16 :class:`~music2img.diffusion.pipeline.EmotionLandscapePipeline` with
its model card.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import math
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.diffusion.pipeline import EmotionLandscapePipeline, load_pipeline  # noqa: E402
from music2img.diffusion.schedulers import make_scheduler, training_scheduler  # noqa: E402
from music2img.diffusion.unet import EmotionUNet  # noqa: E402
from music2img.files import atomic_path  # noqa: E402
from music2img.image.labelled_folder import load_images, read_labels  # noqa: E402

#: Valence/arousal values of the sample grid (columns: valence, rows: arousal from high to low).
GRID_VALUES = (2.0, 3.5, 5.0, 6.5, 8.0)
#: What ``--train-only`` can train.
TRAIN_ONLY = ("all", "conditioning")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="image folder")
    p.add_argument("--labels", type=Path, help="CSV with file, valence, arousal (default: CGnA10766 layout)")
    p.add_argument("--out", type=Path, required=True, help="run folder: checkpoint, logs, samples, pipeline")
    p.add_argument("--limit", type=int, help="use only the first N labelled images")
    g = p.add_argument_group("model (defaults: the production EmotionUNet config)")
    default = {k: v.default for k, v in inspect.signature(EmotionUNet.__init__).parameters.items()}
    g.add_argument("--resolution", type=int, default=default["sample_size"])
    g.add_argument("--channels", default=",".join(map(str, default["block_out_channels"])))
    g.add_argument("--layers-per-block", type=int, default=default["layers_per_block"])
    g.add_argument("--attention-resolutions", default=",".join(map(str, default["attention_resolutions"])))
    g.add_argument("--dropout", type=float, default=default["dropout"])
    g.add_argument("--config", type=Path, help="JSON of EmotionUNet arguments (overrides the flags above)")
    g.add_argument("--init-from", metavar="PIPELINE_DIR_OR_REPO", help="start from this saved pipeline's (EMA) "
                   "weights and UNet config (the model flags above are then ignored); fresh optimiser and schedule")
    g.add_argument("--train-only", choices=TRAIN_ONLY, default="all", help="train every parameter, or only the "
                   "emotion conditioning (emotion MLP, AdaIN projections, 'no emotion' vector) with the rest frozen")
    g = p.add_argument_group("optimisation")
    g.add_argument("--steps", type=int, default=30000, help="total optimiser steps (sets the cosine schedule)")
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--lr", type=float, default=2e-4)
    g.add_argument("--warmup", type=int, default=500, help="linear warm-up steps")
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--grad-clip", type=float, default=1.0)
    g.add_argument("--ema-decay", type=float, default=0.999)
    g.add_argument("--cond-drop", type=float, default=0.1, help="probability of the 'no emotion' embedding")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    g.add_argument("--no-compile", action="store_true", help="do not torch.compile (CUDA only anyway)")
    g.add_argument("--no-bf16", action="store_true", help="no bf16 autocast (CUDA only anyway)")
    g.add_argument("--crop", type=int, metavar="N", help="train on random N×N crops of the images (cheaper steps)")
    g.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    g.add_argument("--workers", type=int, default=4, help="threads decoding images")
    g = p.add_argument_group("run control and outputs")
    g.add_argument("--resume", nargs="?", const="auto", help="continue from OUT/checkpoint.pt or the given file")
    g.add_argument("--max-minutes", type=float, help="stop training inside this budget (then checkpoint + export)")
    g.add_argument("--auto-steps", type=int, metavar="N", help="with --max-minutes: after N steps, set --steps "
                   "from the measured speed so that the cosine schedule ends inside the budget")
    g.add_argument("--reserve-minutes", type=float, default=1.0,
                   help="part of --max-minutes kept for the final grid and export (with --auto-steps)")
    g.add_argument("--pause-at", type=int, help="checkpoint and exit (no export) once this step is reached")
    g.add_argument("--checkpoint-every", type=int, default=1000)
    g.add_argument("--log-every", type=int, default=50)
    g.add_argument("--sample-every", type=int, default=2500, help="sample grid + loss plot every N steps (0: never)")
    g.add_argument("--sample-steps", type=int, default=25, help="DPM-Solver steps for sample grids")
    g.add_argument("--sample-guidance", type=float, default=3.0)
    g.add_argument("--no-final-grid", action="store_true", help="skip the sample grid at the end")
    g.add_argument("--pid-file", type=Path, help="where to write the process id while training (default: OUT/train.pid)")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
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


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> torch.Tensor:
    """Indices of batch ``step``: a fresh seeded permutation per epoch, so the data position is the step."""
    per_epoch = max(1, n // batch_size)
    epoch, i = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    perm = perm.repeat(math.ceil(batch_size / n)) if n < batch_size else perm
    return perm[i * batch_size:(i + 1) * batch_size]


class EMA:
    """Exponential moving average of a model's trained parameters, kept in a frozen copy of the model
    (frozen parameters are the same in both and are left alone)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.model = copy.deepcopy(model).requires_grad_(False).eval()
        self.decay, self.updates = decay, 0

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        pairs = [(e, p) for e, p in zip(self.model.parameters(), model.parameters()) if p.requires_grad]
        torch._foreach_lerp_([e for e, _ in pairs], [p for _, p in pairs], 1 - d)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = state["updates"]


@torch.no_grad()
def sample_grid(unet: EmotionUNet, seed: int, steps: int, guidance: float) -> Image.Image:
    """A 5×5 grid over :data:`GRID_VALUES` (valence left→right, arousal top=high), same noise per cell."""
    pipe = EmotionLandscapePipeline(unet=unet, scheduler=make_scheduler("dpm", training_scheduler().config))
    pipe.set_progress_bar_config(disable=True)
    vs = [v for _ in GRID_VALUES for v in GRID_VALUES]
    as_ = [a for a in reversed(GRID_VALUES) for _ in GRID_VALUES]
    device = next(unet.parameters()).device
    gens = [torch.Generator(device).manual_seed(seed) for _ in vs]
    images = pipe(vs, as_, guidance_scale=guidance, num_inference_steps=steps, generator=gens, output_type="np").images
    k, r, pad = len(GRID_VALUES), images.shape[1], 2
    grid = np.full((k * (r + pad) + pad, k * (r + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        y, x = pad + (i // k) * (r + pad), pad + (i % k) * (r + pad)
        grid[y:y + r, x:x + r] = (im * 255).round().astype(np.uint8)
    return Image.fromarray(grid)


def plot_loss(log_path: Path, out_png: Path) -> None:
    """Plot the logged loss against images seen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["images_seen"] for r in rows], [r["loss"] for r in rows], lw=0.8)
    ax.set(xlabel="images seen", ylabel="MSE (ε)", yscale="log", title="diffusion training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def unet_config_dict(unet: EmotionUNet) -> dict:
    """The model's full config without diffusers' private keys."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in unet.config.items() if not k.startswith("_")}


def save_image(image: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


class Trainer:
    """Holds the model, optimiser, EMA and random state of one run; see :func:`main`."""

    def __init__(self, args: argparse.Namespace):
        self.args, self.device = args, torch.device(args.device)
        self.out = args.out
        self.ckpt_path = self.out / "checkpoint.pt"
        self.log_path = self.out / "log.jsonl"
        resume = None
        if args.resume:
            path = self.ckpt_path if args.resume == "auto" else Path(args.resume)
            if not path.is_file():
                raise SystemExit(f"error: no checkpoint to resume at {path}")
            resume = torch.load(path, map_location="cpu", weights_only=True)
        init = None
        if resume:
            self.config = resume["unet_config"]
        elif args.init_from:
            init = load_pipeline(args.init_from).unet
            self.config = unet_config_dict(init)
        else:
            self.config = unet_config(args)

        resolution = self.config["sample_size"]
        if args.crop is not None and not 8 <= args.crop <= resolution:
            raise SystemExit(f"error: --crop must lie between 8 and the model's {resolution} pixels, got {args.crop}")
        files, va = read_labels(args.data, args.labels)
        if args.limit:
            files, va = files[:args.limit], va[:args.limit]
        cuda = self.device.type == "cuda"
        self.images = load_images(files, resolution, args.workers, not args.quiet).to(self.device)
        self.va = torch.from_numpy(va).to(self.device)
        self.n_images = len(files)

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
        self.ema = EMA(self.model, args.ema_decay)
        self.scheduler = training_scheduler()
        self.opt = torch.optim.AdamW(self.trained, lr=args.lr, weight_decay=args.weight_decay)
        # reads args.steps at every step, so that --auto-steps can set the length once measured
        self.lr_sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: lr_factor(s, args.warmup, args.steps))
        self.gen = torch.Generator().manual_seed(args.seed)
        self.noise_gen = torch.Generator(self.device).manual_seed(args.seed + 1)
        self.step, self.images_seen, self.elapsed_before = 0, 0, 0.0
        self.forward = torch.compile(self.model) if cuda and not args.no_compile else self.model
        if resume:
            self.load_state(resume)
        self.t0 = time.monotonic()

    # --- state -----------------------------------------------------------------------------
    def state(self) -> dict:
        cuda = self.device.type == "cuda"
        return {
            "model": self.model.state_dict(), "ema": self.ema.state_dict(),
            "optimizer": self.opt.state_dict(), "lr_scheduler": self.lr_sched.state_dict(),
            "step": self.step, "images_seen": self.images_seen,
            "data_position": {"epoch": self.step // max(1, self.n_images // self.args.batch_size),
                              "batch": self.step % max(1, self.n_images // self.args.batch_size)},
            "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state() if cuda else None,
                    "batch": self.gen.get_state(), "noise": self.noise_gen.get_state()},
            "elapsed_s": self.elapsed(), "unet_config": dict(self.config),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(self.args).items()},
        }

    def load_state(self, state: dict) -> None:
        for flag in ("train_only", "crop", "batch_size"):
            was = state["args"].get(flag, TRAIN_ONLY[0] if flag == "train_only" else None)
            if was != getattr(self.args, flag):
                raise SystemExit(f"error: the checkpoint was made with --{flag.replace('_', '-')} {was}; "
                                 f"resume with the same value (got {getattr(self.args, flag)})")
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["optimizer"])
        self.lr_sched.load_state_dict(state["lr_scheduler"])
        self.step, self.images_seen, self.elapsed_before = state["step"], state["images_seen"], state["elapsed_s"]
        if self.args.auto_steps and state["args"].get("auto_steps_done"):
            self.args.steps, self.args.auto_steps_done = state["args"]["steps"], True
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"])
        self.gen.set_state(state["rng"]["batch"])
        self.noise_gen.set_state(state["rng"]["noise"])

    def save_checkpoint(self) -> None:
        with atomic_path(self.ckpt_path) as tmp:
            torch.save(self.state(), tmp)

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.t0

    # --- training --------------------------------------------------------------------------
    def train_step(self) -> torch.Tensor:
        args, b = self.args, self.args.batch_size
        idx = batch_indices(self.step, self.n_images, b, args.seed).to(self.device)
        x = self.images[idx]
        if args.crop is not None:
            c, r = args.crop, x.shape[-1]
            offsets = torch.randint(0, r - c + 1, (b, 2), generator=self.gen).tolist()
            x = torch.stack([im[:, y:y + c, z:z + c] for im, (y, z) in zip(x, offsets)])
        x = x.float() / 127.5 - 1
        flip = (torch.rand(b, generator=self.gen) < 0.5).to(self.device)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (b,), generator=self.gen).to(self.device)
        drop = (torch.rand(b, generator=self.gen) < args.cond_drop).to(self.device)
        noise = torch.randn(x.shape, generator=self.noise_gen, device=self.device)
        noisy = self.scheduler.add_noise(x, noise, t)
        va = self.va[idx]
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
        return loss.detach()

    def samples(self) -> Path:
        """Write the EMA sample grid and the loss plot for the current step; return the grid's path."""
        grid = sample_grid(self.ema.model, self.args.seed, self.args.sample_steps, self.args.sample_guidance)
        path = self.out / "samples" / f"grid_step{self.step:07d}.png"
        save_image(grid, path)
        if self.log_path.is_file():
            plot_loss(self.log_path, self.out / "loss_curve.png")
        return path

    def export(self, final_loss: float | None, grid: Path | None) -> Path:
        """Save the EMA weights as an fp16 pipeline with its model card in ``OUT/pipeline``."""
        unet = EmotionUNet(**self.config)
        unet.load_state_dict(self.ema.model.state_dict())
        pipe = EmotionLandscapePipeline(unet=unet.half(), scheduler=training_scheduler())
        final, tmp = self.out / "pipeline", self.out / ".pipeline.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        pipe.save_pretrained(tmp, safe_serialization=True)
        extras = []
        for src in (grid, self.out / "loss_curve.png"):
            if src is not None and src.is_file():
                shutil.copy(src, tmp / src.name)
                extras.append(src.name)
        (tmp / "MODEL_CARD.md").write_text(self.model_card(final_loss, extras))
        old = self.out / ".pipeline.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        return final

    def model_card(self, final_loss: float | None, images: list[str]) -> str:
        a = self.args
        n_params = sum(p.numel() for p in self.model.parameters())
        n_trained = sum(p.numel() for p in self.trained)
        lines = [
            "# music2img emotion-conditioned landscape diffusion model", "",
            "Pixel-space DDPM (ε-prediction, 1000-step cosine schedule) whose UNet is conditioned on "
            "valence and arousal (1–9) through AdaIN, with a learned 'no emotion' embedding for "
            "classifier-free guidance. Weights: EMA, fp16 safetensors.", "",
            "## Training", "",
            f"- data: `{a.data}` with labels `{a.labels or 'CGnA10766 layout'}`, {self.n_images} images at "
            f"{self.config['sample_size']}×{self.config['sample_size']}, random horizontal flips"
            + (f", random {a.crop}×{a.crop} crops" if a.crop else ""),
            *([f"- fine-tuned from `{a.init_from}` (its EMA weights)"] if a.init_from else []),
            *([f"- trained only the emotion conditioning ({n_trained / 1e6:.2f} M parameters: emotion MLP, AdaIN "
               "projections, 'no emotion' vector); the rest frozen"] if a.train_only == "conditioning" else []),
            f"- steps: {self.step} of {a.steps}; batch {a.batch_size}; images seen: {self.images_seen:,} "
            f"({self.images_seen / self.n_images:.1f} epochs)",
            f"- optimiser: AdamW lr {a.lr:g}, weight decay {a.weight_decay:g}, {a.warmup} warm-up steps + cosine decay, "
            f"gradient clip {a.grad_clip:g}; EMA decay {a.ema_decay:g}; condition dropout {a.cond_drop:g}",
            f"- device: {self.device}{' (bf16 autocast)' if self.autocast else ''}; training time {self.elapsed() / 60:.1f} min",
            f"- final loss (mean of the last logged window): {final_loss:.4f}" if final_loss is not None else "- final loss: n/a",
            f"- parameters: {n_params / 1e6:.2f} M", "",
            "## UNet config", "", "```json", json.dumps(unet_config_dict(self.model), indent=2), "```", "",
            "## Command", "", "```", "python train/diffusion.py " + " ".join(sys.argv[1:]), "```", "",
        ]
        if images:
            lines += ["## Samples and loss", "",
                      "Grid: valence 2, 3.5, 5, 6.5, 8 left to right; arousal 8 … 2 top to bottom; same noise in every cell.", ""]
            lines += [f"![{name}]({name})" for name in images] + [""]
        lines += ["## Terms", "", "Trained on research-use data; the images keep their owners' copyright. "
                  "For research and demonstration use.", ""]
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = {"signal": None}

    def handler(signum, frame):
        stop["signal"] = signum

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    args.out.mkdir(parents=True, exist_ok=True)
    pid_file = args.pid_file or args.out / "train.pid"
    with atomic_path(pid_file) as tmp:
        Path(tmp).write_text(f"{os.getpid()}\n")
    try:
        return run(args, stop)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        pid_file.unlink(missing_ok=True)


def fit_steps(args: argparse.Namespace, step: int, t_start: float, t_calib: list) -> None:
    """Set ``args.steps`` so that the remaining steps, at the speed measured since ``t_calib``, fit the budget."""
    per_step = (time.monotonic() - t_calib[1]) / (step - (args.auto_steps // 2 + t_calib[0]))
    left = 60 * (args.max_minutes - args.reserve_minutes) - (time.monotonic() - t_start)
    args.steps, args.auto_steps_done = step + max(0, int(left / per_step)), True
    print(f"{per_step * 1000:.1f} ms/step: training for {args.steps} steps in total", file=sys.stderr)


def run(args: argparse.Namespace, stop: dict) -> int:
    t_start = time.monotonic()
    if args.auto_steps and args.max_minutes is None:
        raise SystemExit("error: --auto-steps needs --max-minutes")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.auto_steps_done = False  # set by --auto-steps, or restored from the checkpoint
    tr = Trainer(args)
    print(f"{tr.n_images} images, {sum(p.numel() for p in tr.model.parameters()) / 1e6:.2f} M parameters, "
          f"device {tr.device}, starting at step {tr.step}", file=sys.stderr)
    t_calib = [tr.step, None]  # (first step of this process, time at the start of the measured window)
    loss_sum, window, last_loss, grid = torch.zeros((), device=tr.device), 0, None, None
    t_window, seen_window, step_time = time.monotonic(), 0, 0.0
    bar = tqdm(total=args.steps, initial=tr.step, desc="training", disable=args.quiet)
    with open(tr.log_path, "a") as log:
        while tr.step < args.steps:
            t_step = time.monotonic()
            loss_sum += tr.train_step()
            window += 1
            seen_window += args.batch_size
            step_time = time.monotonic() - t_step
            bar.update(1)
            if tr.step % args.log_every == 0 or tr.step == args.steps:
                now = time.monotonic()
                last_loss = loss_sum.item() / window
                row = {"step": tr.step, "loss": last_loss, "lr": tr.lr_sched.get_last_lr()[0],
                       "images_per_s": seen_window / (now - t_window), "images_seen": tr.images_seen,
                       "elapsed_s": round(tr.elapsed(), 3)}
                log.write(json.dumps(row) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{last_loss:.4f}", img_s=f"{row['images_per_s']:.1f}")
                loss_sum.zero_()
                window, seen_window, t_window = 0, 0, now
            t_extra = time.monotonic()
            if args.checkpoint_every and tr.step % args.checkpoint_every == 0:
                tr.save_checkpoint()
            if args.sample_every and tr.step % args.sample_every == 0:
                grid = tr.samples()
            t_window += time.monotonic() - t_extra  # keep checkpoints and samples out of images/s
            if stop["signal"] is not None:
                bar.close()
                tr.save_checkpoint()
                print(f"stopped by signal {stop['signal']} at step {tr.step}; checkpoint {tr.ckpt_path}", file=sys.stderr)
                return 128 + stop["signal"]
            if args.pause_at is not None and tr.step >= args.pause_at:
                bar.close()
                tr.save_checkpoint()
                print(f"paused at step {tr.step}; resume with --resume", file=sys.stderr)
                return 0
            if args.auto_steps and not args.auto_steps_done:
                if tr.step == args.auto_steps // 2 + t_calib[0]:  # measure speed after warm-up / compilation
                    t_calib[1] = time.monotonic()
                elif tr.step >= args.auto_steps + t_calib[0]:
                    fit_steps(args, tr.step, t_start, t_calib)
                    bar.total = args.steps
            if args.max_minutes is not None and time.monotonic() - t_start + step_time >= 60 * args.max_minutes:
                print(f"time budget of {args.max_minutes:g} min reached at step {tr.step}", file=sys.stderr)
                break
    bar.close()
    tr.save_checkpoint()
    if not args.no_final_grid:
        grid = tr.samples()
    elif tr.log_path.stat().st_size:
        plot_loss(tr.log_path, args.out / "loss_curve.png")
    path = tr.export(last_loss, grid)
    print(f"step {tr.step}, {tr.images_seen:,} images seen; pipeline written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
