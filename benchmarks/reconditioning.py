"""How much CPU time re-conditioning a trained diffusion model on new labels takes, on a synthetic relabelling.

The training photos get a new arousal that the pictures can be checked against without a rater:
**arousal := the rank of the photo's mean HSV saturation**, spread over 1–9 (valence keeps its
labels). The model is then fine-tuned with ``train/diffusion.py``'s own ``DiffusionTrainer``
(``--init-from``, ``--train-only``, ``--crop``, one thread), and at the steps of ``--eval-at`` its EMA
weights paint a fixed set of pictures: valence 3.5 and 6.5 × arousal 2, 3.5, 5, 6.5, 8 × ``--seeds``
seeds, the same noise at every arousal. Spearman ρ between the requested arousal and the mean
saturation of the pictures says how far they follow the new labels; step 0 (the model as it was) is
the baseline. Detail (variance of the Laplacian of the luminance) relative to step 0 watches that the
pictures stay pictures. The CPU time counts the training steps only (not the image decoding, not the
evaluations). The run stops after ``--cpu-minutes`` of training, ``--minutes`` of wall time or on
SIGTERM, evaluating and checkpointing first.

Run (resumable: the same command continues from the last evaluation)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/reconditioning.py run --model assets/diffusion \\
        --data ../shared/data/images/landscapes --labels assets/landscape_labels.csv --out work/recond_conditioning \\
        --train-only conditioning --cpu-minutes 45

    python benchmarks/reconditioning.py report work/recond_conditioning work/recond_all --plot docs/reconditioning.png
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from scipy.ndimage import laplace
from scipy.stats import spearmanr
from tqdm.auto import tqdm

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from music2img.diffusion.pipeline import EmotionLandscapePipeline  # noqa: E402
from music2img.diffusion.schedulers import make_scheduler, training_scheduler  # noqa: E402
from music2img.files import atomic_path  # noqa: E402
from music2img.image.features import rgb_to_hsv  # noqa: E402
from music2img.image.labelled_folder import load_images, read_labels  # noqa: E402
from train import diffusion  # noqa: E402

AROUSAL = (2.0, 3.5, 5.0, 6.5, 8.0)
VALENCE = (3.5, 6.5)


def mean_saturation(images: np.ndarray) -> np.ndarray:
    """Mean HSV saturation of each float RGB image ``(n, h, w, 3)`` in [0, 1]."""
    return np.array([rgb_to_hsv(im)[1].mean() for im in images])


def detail(images: np.ndarray) -> float:
    """Mean variance of the Laplacian of the luminance (0–255 scale) over ``images``."""
    return float(np.mean([laplace(im.mean(-1) * 255).var() for im in images]))


def saturation_labels(data: Path, labels: Path, out_csv: Path, workers: int) -> None:
    """Write ``out_csv``: the same photos and valence, arousal := 1 + 8 · (rank of mean saturation)."""
    files, va = read_labels(data, labels)
    sat = np.concatenate(
        [
            mean_saturation(load_images(files[i : i + 1000], 128, workers, False).numpy().transpose(0, 2, 3, 1) / 255.0)
            for i in tqdm(range(0, len(files), 1000), desc="saturation of the photos")
        ]
    )
    rank = sat.argsort().argsort()
    table = pd.DataFrame(
        {
            "file": [str(f.relative_to(data)) for f in files],
            "valence": va[:, 0],
            "arousal": np.round(1 + 8 * (rank + 0.5) / len(files), 4),
            "saturation": sat.round(5),
        }
    )
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)


@torch.no_grad()
def evaluate(unet: torch.nn.Module, seeds: int, steps: int) -> tuple[dict, np.ndarray]:
    """Paint the evaluation set with ``unet``; return the measures and the pictures."""
    pipe = EmotionLandscapePipeline(unet=unet, scheduler=make_scheduler("dpm", training_scheduler().config))
    pipe.set_progress_bar_config(disable=True)
    cells = [(v, a, s) for s in range(seeds) for v in VALENCE for a in AROUSAL]
    gens = [torch.Generator().manual_seed(s) for _, _, s in cells]
    images = pipe(
        [c[0] for c in cells],
        [c[1] for c in cells],
        guidance_scale=3.0,
        num_inference_steps=steps,
        generator=gens,
        output_type="np",
    ).images
    sat = mean_saturation(images)
    requested = np.array([c[1] for c in cells])
    by_level = [float(sat[requested == a].mean()) for a in AROUSAL]
    return {
        "spearman": float(spearmanr(requested, sat)[0]),
        "saturation_by_arousal": by_level,
        "saturation_range": by_level[-1] - by_level[0],
        "detail": detail(images),
    }, images


def strip(images: np.ndarray, path: Path) -> None:
    """Save the first seed's pictures as one row per valence, arousal rising to the right."""
    k = len(VALENCE) * len(AROUSAL)
    rows = [np.concatenate(list(images[i : i + len(AROUSAL)]), axis=1) for i in range(0, k, len(AROUSAL))]
    with atomic_path(path) as tmp:
        Image.fromarray((np.concatenate(rows, axis=0) * 255).round().astype(np.uint8)).save(tmp, format="PNG")


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    labels = args.out / "labels_saturation.csv"
    if not labels.is_file():
        saturation_labels(args.data, args.labels, labels, args.workers)
    curve_path, run_dir = args.out / "curve.jsonl", args.out / "run"
    rows = [json.loads(line) for line in curve_path.read_text().splitlines()] if curve_path.is_file() else []
    resume = (run_dir / "checkpoint.pt").is_file()
    targs = diffusion.parse_args(
        [
            "--init-from",
            str(args.model),
            "--train-only",
            args.train_only,
            "--crop",
            str(args.crop),
            "--threads",
            "1",
            "--data",
            str(args.data),
            "--labels",
            str(labels),
            "--out",
            str(run_dir),
            "--batch-size",
            str(args.batch_size),
            "--lr",
            str(args.lr),
            "--warmup",
            str(args.warmup),
            "--steps",
            str(args.steps),
            "--workers",
            str(args.workers),
            "--quiet",
            *(["--limit", str(args.limit)] if args.limit else []),
            *(["--resume"] if resume else []),
        ]
    )
    targs.auto_steps_done = False
    tr = diffusion.DiffusionTrainer(targs)
    cpu = rows[-1]["train_cpu_s"] if rows else 0.0
    t_end = time.monotonic() + 60 * args.minutes
    baseline = rows[0] if rows else None
    stop = {}
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.setdefault("signal", signum))
    while True:
        done = bool(stop) or time.monotonic() >= t_end or tr.step >= args.steps or cpu >= 60 * args.cpu_minutes
        if (tr.step in args.eval_at or done) and (not rows or rows[-1]["step"] < tr.step):
            tr.save_checkpoint()
            measures, images = evaluate(tr.ema.model, args.seeds, args.sample_steps)
            baseline = baseline or {**measures}
            row = {
                "step": tr.step,
                "images_seen": tr.images_seen,
                "train_cpu_s": round(cpu, 1),
                **measures,
                "detail_vs_start": measures["detail"] / baseline["detail"],
            }
            rows.append(row)
            with open(curve_path, "a") as f:
                f.write(json.dumps(row) + "\n")
            strip(images, args.out / f"pictures_step{tr.step:06d}.png")
            print(
                f"step {tr.step:5d}  cpu {cpu / 3600:5.2f} h  ρ {row['spearman']:+.2f}  "
                f"saturation {row['saturation_range']:+.3f}  detail ×{row['detail_vs_start']:.2f}",
                flush=True,
            )
        if done or stop:  # a signal during the evaluation
            break
        c0 = time.process_time()
        tr.train_step()
        cpu += time.process_time() - c0
    return 0


def report(args: argparse.Namespace) -> int:
    curves = {d.name: [json.loads(line) for line in (d / "curve.jsonl").read_text().splitlines()] for d in args.runs}
    print(
        f"{'run':<28}{'step':>6}{'CPU h':>7}{'s/step':>8}{'ρ arousal~saturation':>22}"
        f"{'saturation 8 − 2':>18}{'× step 0':>10}{'detail ×':>10}"
    )
    for name, rows in curves.items():
        base = rows[0]["saturation_range"]
        for r in rows:
            per_step = r["train_cpu_s"] / r["step"] if r["step"] else float("nan")
            ratio = r["saturation_range"] / base if base else float("nan")
            print(
                f"{name:<28}{r['step']:>6}{r['train_cpu_s'] / 3600:>7.2f}{per_step:>8.2f}{r['spearman']:>+22.2f}"
                f"{r['saturation_range']:>+18.3f}{ratio:>10.2f}{r['detail_vs_start']:>10.2f}"
            )
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for name, rows in curves.items():
            hours = [r["train_cpu_s"] / 3600 for r in rows]
            axes[0].plot(hours, [r["spearman"] for r in rows], "o-", label=name)
            axes[1].plot(hours, [r["saturation_range"] for r in rows], "o-", label=name)
        axes[0].set(
            xlabel="CPU hours of training (one thread)",
            ylabel="Spearman ρ",
            title="requested arousal vs picture saturation",
        )
        axes[1].set(
            xlabel="CPU hours of training (one thread)",
            ylabel="mean saturation, arousal 8 − 2",
            title="how far the pictures move",
        )
        for ax in axes:
            ax.axhline(0, color="grey", lw=0.6)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        with atomic_path(args.plot) as tmp:
            fig.savefig(tmp, format="png", dpi=90)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="fine-tune on the saturation labels, evaluating as it goes")
    r.add_argument("--model", required=True, help="pipeline folder or repo id to start from")
    r.add_argument("--data", type=Path, required=True)
    r.add_argument("--labels", type=Path, help="labels CSV whose valence is kept")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--train-only", choices=diffusion.TRAIN_ONLY, default="conditioning")
    r.add_argument("--minutes", type=float, default=180, help="wall-clock budget of this call")
    r.add_argument("--cpu-minutes", type=float, default=45, help="stop once training has used this much CPU time")
    r.add_argument(
        "--eval-at",
        type=lambda text: {int(x) for x in text.split(",")},
        default="0,40,100,200,300,500,750,1000,1500,2000,3000,4000,6000",
        help="steps after which the pictures are evaluated (one evaluation costs ~80 training steps)",
    )
    r.add_argument("--seeds", type=int, default=2)
    r.add_argument("--sample-steps", type=int, default=10, help="DPM-Solver steps of the evaluation pictures")
    r.add_argument("--crop", type=int, default=64)
    r.add_argument("--batch-size", type=int, default=16)
    r.add_argument("--lr", type=float, default=3e-4)
    r.add_argument("--warmup", type=int, default=100)
    r.add_argument("--steps", type=int, default=6000, help="length of the cosine schedule")
    r.add_argument("--limit", type=int, help="use only the first N photos")
    r.add_argument("--workers", type=int, default=1)
    q = sub.add_parser("report", help="print the curves as a table (and plot them)")
    q.add_argument("runs", type=Path, nargs="+")
    q.add_argument("--plot", type=Path)
    args = p.parse_args(argv)
    return run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    sys.exit(main())
