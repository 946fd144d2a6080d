"""The training-run plumbing shared by ``train/diffusion.py`` and ``train/gan.py``.

A trainer (a :class:`Trainer` subclass) owns its models, optimisers and random state and does one
optimiser step in :meth:`Trainer.train_step`; :func:`run` drives it: step log (``log.jsonl``),
atomic checkpoints (``checkpoint.pt``, bit-exact ``--resume``), SIGTERM/SIGINT, ``--pause-at``,
``--max-minutes``, ``--auto-steps``, sample grids and the final export. Also here: the seeded
epoch-wise data order (or draws balanced over the valence/arousal plane), the learning-rate shape,
EMA, the 5×5 valence/arousal grid and loss plots.

Data-parallel runs: started by ``accelerate launch`` (``WORLD_SIZE`` > 1), a trainer whose class
allows it (:attr:`Trainer.data_parallel`) takes its slice of every batch (:attr:`Trainer.shard`),
drawing the random numbers of the whole batch so that batches and noise do not depend on the number
of processes; all processes stop at the same step, and only the first one writes the log,
checkpoints, grids and the export.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.diffusion.evaluation import GRID, grid_points, tile
from music2img.files import atomic_path
from music2img.image.labelled_folder import load_images, read_labels, read_sample_weights


def grid_va() -> tuple[list[float], list[float]]:
    """Valence and arousal of the 5×5 sample grid's cells (:func:`~music2img.diffusion.evaluation.grid_points`)."""
    points = grid_points()
    return [v for v, _ in points], [a for _, a in points]


def grid_picture(images: np.ndarray) -> Image.Image:
    """The grid's 25 pictures ``(25, r, r, 3)`` in [0, 1] as one picture: valence left→right, arousal up."""
    return tile(images, len(GRID), flip_rows=True)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Data, device and run-control flags common to the trainers."""
    p.add_argument("--data", type=Path, required=True, help="image folder")
    p.add_argument("--labels", type=Path, help="CSV with file, valence, arousal (default: CGnA10766 layout)")
    p.add_argument("--out", type=Path, required=True, help="run folder: checkpoint, logs, samples, exported model")
    p.add_argument("--limit", type=int, help="use only the first N labelled images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--workers", type=int, default=4, help="threads decoding images")
    g = p.add_argument_group("run control and outputs")
    g.add_argument("--resume", nargs="?", const="auto", help="continue from OUT/checkpoint.pt or the given file")
    g.add_argument("--max-minutes", type=float, help="stop training inside this budget (then checkpoint + export)")
    g.add_argument(
        "--auto-steps",
        type=int,
        metavar="N",
        help="with --max-minutes: after N steps, set --steps "
        "from the measured speed so that the schedule ends inside the budget",
    )
    g.add_argument(
        "--reserve-minutes",
        type=float,
        default=1.0,
        help="part of --max-minutes kept for the final grid and export (with --auto-steps)",
    )
    g.add_argument("--pause-at", type=int, help="checkpoint and exit (no export) once this step is reached")
    g.add_argument("--checkpoint-every", type=int, default=1000)
    g.add_argument("--log-every", type=int, default=50)
    g.add_argument("--sample-every", type=int, default=2500, help="sample grid + loss plot every N steps (0: never)")
    g.add_argument("--no-final-grid", action="store_true", help="skip the sample grid at the end")
    g.add_argument(
        "--balance-emotion",
        type=float,
        default=0.0,
        metavar="ALPHA",
        help="draw images in proportion to count(cell)^-ALPHA over an 8×8 valence/arousal grid, so that "
        "rare emotions are seen more often (0: plain epochs; 0.5: square-root balance; 1: every cell alike)",
    )
    g.add_argument(
        "--pid-file", type=Path, help="where to write the process id while training (default: OUT/train.pid)"
    )
    g.add_argument("--quiet", action="store_true", help="no progress bars")


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def batch_indices(step: int, n: int, batch_size: int, seed: int, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Indices of batch ``step``: a fresh seeded permutation per epoch, or with ``weights`` a seeded draw
    (with replacement) in proportion to them; either way the data position is the step."""
    if weights is not None:
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        return torch.multinomial(weights, batch_size, replacement=True, generator=gen)
    per_epoch = max(1, n // batch_size)
    epoch, i = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    perm = perm.repeat(math.ceil(batch_size / n)) if n < batch_size else perm
    return perm[i * batch_size : (i + 1) * batch_size]


def va_cells(va: np.ndarray, bins: int = 8) -> np.ndarray:
    """Each label's cell, ``0 … bins² − 1``, of ``bins × bins`` equal cells spanning the labels' range."""
    va = np.asarray(va, dtype=np.float64)
    lo, span = va.min(0), np.ptp(va, axis=0)
    cells = np.clip(((va - lo) / np.where(span > 0, span, 1) * bins).astype(int), 0, bins - 1)
    return cells[:, 0] * bins + cells[:, 1]


def balance_weights(va: np.ndarray, alpha: float, bins: int = 8) -> np.ndarray:
    """Sampling weights that flatten the labels over the valence/arousal plane: each image weighs
    ``count(cell) ** -alpha`` (:func:`va_cells`; ``0``: every image alike; ``1``: every occupied cell alike).
    Normalised to sum to 1."""
    key = va_cells(va, bins)
    weights = np.bincount(key, minlength=bins * bins)[key].astype(np.float64) ** -alpha
    return weights / weights.sum()


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


def plot_loss(
    log_path: Path,
    out_png: Path,
    keys: Sequence[str] = ("loss",),
    ylabel: str = "MSE (ε)",
    title: str = "diffusion training loss",
    yscale: str = "log",
) -> None:
    """Plot the logged ``keys`` against images seen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in keys:
        ax.plot([r["images_seen"] for r in rows], [r[key] for r in rows], lw=0.8, label=key)
    ax.set(xlabel="images seen", ylabel=ylabel, yscale=yscale, title=title)
    if len(keys) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def save_image(image: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def card_end(script: str, images: list[str], same_in_every_cell: str, use: str) -> list[str]:
    """The model card's command, samples and terms sections (lines)."""
    lines = ["## Command", "", "```", f"python {script} " + " ".join(sys.argv[1:]), "```", ""]
    if images:
        lines += [
            "## Samples and loss",
            "",
            "Grid: valence 2, 3.5, 5, 6.5, 8 left to right; arousal 8 … 2 top to bottom; "
            f"{same_in_every_cell} in every cell.",
            "",
        ]
        lines += [f"![{name}]({name})" for name in images] + [""]
    return lines + ["## Terms", "", f"Trained on research-use data; the images keep their owners' copyright. {use}", ""]


def export_folder(out: Path, name: str, write: Callable[[Path], None]) -> Path:
    """Let ``write`` fill a temporary folder, then swap it in as ``out/name`` (the old one goes last)."""
    final, tmp, old = out / name, out / f".{name}.tmp", out / f".{name}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    write(tmp)
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


class Trainer:
    """One run's models, optimisers and random state; subclasses fill in the methods that raise.

    The base class reads the labelled images at ``resolution``, restores a checkpoint for
    ``--resume`` (:attr:`resume`), keeps the step count, images seen, training time and the torch
    and batch random states, and writes checkpoints atomically.
    """

    #: Logged keys plotted by :meth:`plot` (the first one is shown on the progress bar).
    loss_keys: tuple[str, ...] = ("loss",)
    #: Flags a run must be resumed with unchanged, with the value assumed when a checkpoint lacks them.
    resume_flags: dict[str, object] = {"batch_size": None, "balance_emotion": 0.0}
    #: Whether the subclass averages its gradients over processes (may run under ``accelerate launch``).
    data_parallel: bool = False

    def __init__(self, args: argparse.Namespace):
        self.args, self.device = args, torch.device(args.device)
        self.accelerator = None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            if not self.data_parallel:
                raise SystemExit(f"error: {type(self).__name__} trains in one process only")
            from accelerate import Accelerator

            self.accelerator = Accelerator(cpu=self.device.type == "cpu")
            self.device = self.accelerator.device
        self.rank = self.accelerator.process_index if self.accelerator else 0
        self.world = self.accelerator.num_processes if self.accelerator else 1
        self.is_main = self.rank == 0
        if args.batch_size % self.world:
            raise SystemExit(f"error: --batch-size {args.batch_size} does not divide among {self.world} processes")
        #: This process's slice of every batch.
        self.shard = slice(self.rank * args.batch_size // self.world, (self.rank + 1) * args.batch_size // self.world)
        self.out = args.out
        self.ckpt_path = self.out / "checkpoint.pt"
        self.log_path = self.out / "log.jsonl"
        self.resume = None
        if args.resume:
            path = self.ckpt_path if args.resume == "auto" else Path(args.resume)
            if not path.is_file():
                raise SystemExit(f"error: no checkpoint to resume at {path}")
            self.resume = torch.load(path, map_location="cpu", weights_only=True)
        self.gen = torch.Generator().manual_seed(args.seed)
        self.step, self.images_seen, self.elapsed_before = 0, 0, 0.0
        self.t0 = time.monotonic()

    def load_data(self, resolution: int) -> None:
        """Decode the labelled images at ``resolution`` into :attr:`images` (uint8) and :attr:`va`, and set
        :attr:`weights` for the draws: the emotion balance times the labels' ``weight`` column, either
        optional (``None``: plain epochs)."""
        alpha = self.args.balance_emotion
        if alpha < 0:
            raise SystemExit(f"error: --balance-emotion must be at least 0, got {alpha}")
        files, va = read_labels(self.args.data, self.args.labels)
        rows = read_sample_weights(self.args.labels)
        if self.args.limit:
            files, va = files[: self.args.limit], va[: self.args.limit]
            rows = None if rows is None else rows[: self.args.limit]
        self.images = load_images(files, resolution, self.args.workers, not self.args.quiet).to(self.device)
        self.va = torch.from_numpy(va).to(self.device)
        self.n_images = len(files)
        self.row_weighted = rows is not None
        weights = balance_weights(va, alpha) if alpha else None
        if rows is not None:
            weights = rows if weights is None else weights * rows
            if not weights.sum() > 0:
                raise SystemExit("error: every image left to draw has weight 0")
            weights = weights / weights.sum()
        self.weights = None if weights is None else torch.from_numpy(weights)

    def batch(self, crop: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's slice of the next batch as floats in [-1, 1], randomly cropped to ``crop``
        pixels when given and randomly flipped left-right, and its (valence, arousal)."""
        b, mine = self.args.batch_size, self.shard
        idx = batch_indices(self.step, self.n_images, b, self.args.seed, self.weights)[mine].to(self.device)
        x = self.images[idx]
        if crop is not None:
            r = x.shape[-1]
            offsets = torch.randint(0, r - crop + 1, (b, 2), generator=self.gen)[mine].tolist()
            x = torch.stack([im[:, y : y + crop, z : z + crop] for im, (y, z) in zip(x, offsets)])
        x = x.float() / 127.5 - 1
        flip = (torch.rand(b, generator=self.gen) < 0.5)[mine].to(self.device)
        return torch.where(flip[:, None, None, None], x.flip(3), x), self.va[idx]

    def reduce(self, tensor: torch.Tensor, op: str) -> torch.Tensor:
        """``tensor`` reduced over all processes by ``op`` (``"mean"``, ``"max"``); itself in one process."""
        return tensor if self.accelerator is None else self.accelerator.reduce(tensor, op)

    # --- state -----------------------------------------------------------------------------
    def state(self) -> dict:
        """Everything needed to continue bit-exactly; subclasses add their models and optimisers."""
        per_epoch = max(1, self.n_images // self.args.batch_size)
        return {
            "step": self.step,
            "images_seen": self.images_seen,
            "data_position": {"epoch": self.step // per_epoch, "batch": self.step % per_epoch},
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
                "batch": self.gen.get_state(),
            },
            "elapsed_s": self.elapsed(),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(self.args).items()},
        }

    def load_state(self, state: dict) -> None:
        for flag, default in self.resume_flags.items():
            was, now = state["args"].get(flag, default), getattr(self.args, flag)
            if was != now:
                raise SystemExit(
                    f"error: the checkpoint was made with --{flag.replace('_', '-')} {was}; "
                    f"resume with the same value (got {now})"
                )
        self.step, self.images_seen, self.elapsed_before = state["step"], state["images_seen"], state["elapsed_s"]
        if self.args.auto_steps and state["args"].get("auto_steps_done"):
            self.args.steps, self.args.auto_steps_done = state["args"]["steps"], True
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"])
        self.gen.set_state(state["rng"]["batch"])

    def save_checkpoint(self) -> None:
        if not self.is_main:
            return
        with atomic_path(self.ckpt_path) as tmp:
            torch.save(self.state(), tmp)

    def elapsed(self) -> float:
        """Seconds of training so far, over all resumed parts (frozen by :meth:`stop_clock`)."""
        return self.elapsed_before + (time.monotonic() - self.t0 if self.t0 is not None else 0.0)

    def stop_clock(self) -> None:
        """Stop counting training time (the final grid and export are not training)."""
        self.elapsed_before, self.t0 = self.elapsed(), None

    # --- to fill in ------------------------------------------------------------------------
    def train_step(self) -> dict[str, torch.Tensor]:
        """One optimiser step; returns the losses to log (scalar tensors, averaged over the log window)."""
        raise NotImplementedError

    def log_fields(self) -> dict:
        """Extra values for the step log (learning rate, schedule position…)."""
        raise NotImplementedError

    def sample_grid(self) -> Image.Image:
        """The 5×5 valence/arousal grid of the EMA model, same noise in every cell."""
        raise NotImplementedError

    def export(self, final: dict | None, grid: Path | None) -> Path:
        """Write the EMA model, fp16, with its model card; return its folder."""
        raise NotImplementedError

    def plot(self) -> None:
        """Plot :attr:`loss_keys` of the step log into ``OUT/loss_curve.png``."""
        plot_loss(self.log_path, self.out / "loss_curve.png")

    def parameters_m(self) -> float:
        """Millions of trained parameters (for the start-up line)."""
        raise NotImplementedError

    # --- shared ----------------------------------------------------------------------------
    def samples(self) -> Path:
        """Write the EMA sample grid and the loss plot for the current step; return the grid's path."""
        path = self.out / "samples" / f"grid_step{self.step:07d}.png"
        save_image(self.sample_grid(), path)
        if self.log_path.is_file():
            self.plot()
        return path

    def copy_extras(self, folder: Path, grid: Path | None) -> list[str]:
        """Copy the last grid and the loss plot into an export folder; return the names copied."""
        names = []
        for src in (grid, self.out / "loss_curve.png"):
            if src is not None and src.is_file():
                shutil.copy(src, folder / src.name)
                names.append(src.name)
        return names


def main(
    argv: list[str] | None,
    parse: Callable[[list[str] | None], argparse.Namespace],
    make: Callable[[argparse.Namespace], Trainer],
) -> int:
    """Parse, then :func:`run` with SIGTERM/SIGINT turned into a checkpoint and a clean exit; the
    process id (of the first process) is in ``OUT/train.pid`` (or ``--pid-file``) while it runs."""
    args = parse(argv)
    stop = {"signal": None}

    def handler(signum, frame):
        stop["signal"] = signum

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    args.out.mkdir(parents=True, exist_ok=True)
    pid_file = (args.pid_file or args.out / "train.pid") if os.environ.get("RANK", "0") == "0" else None
    if pid_file:
        with atomic_path(pid_file) as tmp:
            Path(tmp).write_text(f"{os.getpid()}\n")
    try:
        return run(args, stop, make)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if pid_file:
            pid_file.unlink(missing_ok=True)


def fit_steps(args: argparse.Namespace, step: int, t_start: float, t_calib: list, say: Callable[[str], None]) -> None:
    """Set ``args.steps`` so that the remaining steps, at the speed measured since ``t_calib``, fit the budget."""
    per_step = (time.monotonic() - t_calib[1]) / (step - (args.auto_steps // 2 + t_calib[0]))
    left = 60 * (args.max_minutes - args.reserve_minutes) - (time.monotonic() - t_start)
    args.steps, args.auto_steps_done = step + max(0, int(left / per_step)), True
    say(f"{per_step * 1000:.1f} ms/step: training for {args.steps} steps in total")


def run(args: argparse.Namespace, stop: dict, make: Callable[[argparse.Namespace], Trainer]) -> int:
    """Train until ``args.steps``, the time budget, ``--pause-at`` or a signal; checkpoint, grid, export."""
    t_start = time.monotonic()
    if args.auto_steps and args.max_minutes is None:
        raise SystemExit("error: --auto-steps needs --max-minutes")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.auto_steps_done = False  # set by --auto-steps, or restored from the checkpoint
    tr = make(args)
    say = functools.partial(print, file=sys.stderr) if tr.is_main else lambda *a: None
    say(
        f"{tr.n_images} images, {tr.parameters_m():.2f} M parameters, device {tr.device}"
        f"{f', {tr.world} processes' if tr.world > 1 else ''}, starting at step {tr.step}"
    )
    t_calib = [tr.step, None]  # (first step of this process, time at the start of the measured window)
    sums, window, last, grid = {}, 0, None, None
    t_window, seen_window, step_time = time.monotonic(), 0, 0.0
    bar = tqdm(total=args.steps, initial=tr.step, desc="training", disable=args.quiet or not tr.is_main)
    with open(tr.log_path if tr.is_main else os.devnull, "a") as log:
        while tr.step < args.steps:
            t_step = time.monotonic()
            for key, value in tr.train_step().items():
                sums[key] = sums[key] + value if key in sums else value.clone()
            window += 1
            seen_window += args.batch_size
            step_time = time.monotonic() - t_step
            bar.update(1)
            if tr.step % args.log_every == 0 or tr.step == args.steps:
                now = time.monotonic()
                last = {k: tr.reduce(v, "mean").item() / window for k, v in sums.items()}
                row = {
                    "step": tr.step,
                    **last,
                    **tr.log_fields(),
                    "images_per_s": seen_window / (now - t_window),
                    "images_seen": tr.images_seen,
                    "elapsed_s": round(tr.elapsed(), 3),
                }
                log.write(json.dumps(row) + "\n")
                log.flush()
                key = tr.loss_keys[0]
                bar.set_postfix({key: f"{last[key]:.4f}", "img_s": f"{row['images_per_s']:.1f}"})
                sums, window, seen_window, t_window = {}, 0, 0, now
            t_extra = time.monotonic()
            if args.checkpoint_every and tr.step % args.checkpoint_every == 0:
                tr.save_checkpoint()
            if args.sample_every and tr.step % args.sample_every == 0 and tr.is_main:
                grid = tr.samples()
            t_window += time.monotonic() - t_extra  # keep checkpoints and samples out of images/s
            if args.auto_steps and not args.auto_steps_done:
                if tr.step == args.auto_steps // 2 + t_calib[0]:  # measure speed after warm-up / compilation
                    t_calib[1] = time.monotonic()
                elif tr.step >= args.auto_steps + t_calib[0]:
                    fit_steps(args, tr.step, t_start, t_calib, say)
                    bar.total = args.steps
            time_up = args.max_minutes is not None and time.monotonic() - t_start + step_time >= 60 * args.max_minutes
            if tr.world > 1:  # all processes stop at the same step: on anyone's signal, by the first one's clock
                agreed = tr.reduce(
                    torch.tensor(
                        [stop["signal"] or 0, time_up * tr.is_main, args.steps * tr.is_main],
                        dtype=torch.float64,
                        device=tr.device,
                    ),
                    "max",
                ).tolist()
                stop["signal"], time_up, args.steps = int(agreed[0]) or None, bool(agreed[1]), int(agreed[2])
            if stop["signal"] is not None:
                bar.close()
                tr.save_checkpoint()
                say(f"stopped by signal {stop['signal']} at step {tr.step}; checkpoint {tr.ckpt_path}")
                return 128 + stop["signal"]
            if args.pause_at is not None and tr.step >= args.pause_at:
                bar.close()
                tr.save_checkpoint()
                say(f"paused at step {tr.step}; resume with --resume")
                return 0
            if time_up:
                say(f"time budget of {args.max_minutes:g} min reached at step {tr.step}")
                break
    bar.close()
    tr.stop_clock()
    if not tr.is_main:
        return 0
    tr.save_checkpoint()
    if not args.no_final_grid:
        grid = tr.samples()
    elif tr.log_path.stat().st_size:
        tr.plot()
    path = tr.export(last, grid)
    say(f"step {tr.step}, {tr.images_seen:,} images seen; model written to {path}")
    return 0
