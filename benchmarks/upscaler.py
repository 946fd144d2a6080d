"""Which upscaler paints the 512-px pictures: converted super-resolution networks against bicubic and Lanczos.

Every number is measured in this run, on ``--threads`` torch threads:

* **Photos restored**: ``--photos`` landscape photos (the held-out part of
  :func:`~music2img.diffusion.landscape_check.photo_split` over ``images/landscapes/index.csv``; no
  upscaler was trained on any of them) are reduced 4× (128 → 32 px, PIL bicubic, antialiased, as
  DIV2K's low-resolution images were made) and restored to 128: PSNR (RGB) and SSIM (luma,
  Gaussian 11 × 11, σ 1.5) against the photo, both with a 4-px border shaved, and detail, the
  median Laplacian variance of the restored photos ÷ the photos' (1 = as detailed; a smear near 0).
* **Generated pictures**: ``--pictures`` pictures painted by the shipped pipeline at its defaults
  (the seconds per 128-px picture, median after a warm-up, are the baseline), each upscaled 128 → 512
  by every method: seconds per picture (median; after one warm-up run; wall clock and CPU time of all
  threads) and each ÷ the 128-px picture's, and detail ÷ Lanczos's. Crops side by side go to ``--out/crops.png``
  (rows: pictures;
  columns: methods, each a 128-px crop of the 512 shown at 2×).
* **Film frames**: CPU seconds per second of music of the film's frames (in-betweens, camera, Lanczos
  to 512) from 128-px keyframes and from 512-px ones.
* **Memory**: the peak resident memory one 128 → 512 upscale adds (``VmHWM`` after resetting it, in a
  fresh process per method and tile size), whole and in ``--tiles`` tiles, with the tiled result's
  largest difference to the whole one (tiles only where wider than the network's receptive field).

The machine may be shared: the seconds are noisy, the ratios to the 128-px picture less so. Under
contention, threads that wait on each other lose most: many small UNet steps more than a few large
convolutions; ``--threads 1`` CPU seconds are the most stable measure.

Usage: ``python benchmarks/upscaler.py --upscalers work/upscalers/esrgan-{slim,medium,thick} [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.assets import DIFFUSION_MODEL_DIR
from music2img.diffusion import defaults
from music2img.diffusion.evaluation import LUMA, laplacian_variance
from music2img.diffusion.landscape_check import photo_split
from music2img.diffusion.pipeline import load_pipeline
from music2img.diffusion.schedulers import make_scheduler
from music2img.diffusion.upscaler import Upscaler, lanczos_resize

RESAMPLERS = {"bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}
POINTS = [(2.0, 8.0), (8.0, 8.0), (2.0, 2.0), (8.0, 2.0), (5.0, 5.0), (7.0, 4.0)]


def pil_resize(images: torch.Tensor, size: int, method: str) -> torch.Tensor:
    """``(n, 3, h, w)`` in [0, 1] resampled by PIL in floats (Lanczos: the pipeline's fallback)."""
    if method == "lanczos":
        return lanczos_resize(images, size)
    out = [
        [np.asarray(Image.fromarray(c, mode="F").resize((size, size), RESAMPLERS[method])) for c in im]
        for im in images.numpy()
    ]
    return torch.from_numpy(np.stack(out)).clamp(0, 1)


def upscale(
    method: str, nets: dict[str, Upscaler], images: torch.Tensor, size: int, tile: int | None = None
) -> torch.Tensor:
    return nets[method].upscale(images, tile=tile) if method in nets else pil_resize(images, size, method)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((a - b) ** 2)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of the luma of two ``(h, w, 3)`` pictures in [0, 1] (Wang et al. 2004 constants)."""
    x, y = a @ LUMA, b @ LUMA
    blur = lambda t: ndimage.gaussian_filter(t, 1.5, truncate=3.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return float(np.mean((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))))


def load_photos(data: Path, n: int) -> np.ndarray:
    files = [line.split(",")[0] for line in (data / "index.csv").read_text().splitlines()[1:]]
    test = photo_split(len(files))[2][:n]
    return np.stack([np.asarray(Image.open(data / files[i]).convert("RGB"), np.float32) / 255 for i in test])


def restore_photos(photos: np.ndarray, methods: list[str], nets: dict[str, Upscaler], batch: int = 16) -> dict:
    high = torch.from_numpy(photos).permute(0, 3, 1, 2)
    low = pil_resize(high, photos.shape[1] // 4, "bicubic")
    shave = slice(4, -4)
    detail_photos = np.median(laplacian_variance(photos))
    rows = {}
    for method in methods:
        restored = torch.cat(
            [upscale(method, nets, low[i : i + batch], photos.shape[1]) for i in range(0, len(low), batch)]
        )
        restored = restored.permute(0, 2, 3, 1).numpy().astype(np.float64)
        pairs = [(r[shave, shave], p[shave, shave]) for r, p in zip(restored, photos.astype(np.float64))]
        rows[method] = {
            "psnr": round(float(np.mean([psnr(r, p) for r, p in pairs])), 2),
            "ssim": round(float(np.mean([ssim(r, p) for r, p in pairs])), 4),
            "detail": round(float(np.median(laplacian_variance(restored)) / detail_photos), 3),
        }
        print(f"photos  {method:14s} {rows[method]}", flush=True)
    return rows


def timed(fn, repeats: int, warm_up: bool = True) -> tuple[float, float, object]:
    """Median wall-clock and CPU seconds (all threads) of ``repeats`` calls (after a warm-up), and the output."""
    if warm_up:
        fn()
    wall, cpu, out = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(wall)), float(np.median(cpu)), out


def generated(args, methods: list[str], nets: dict[str, Upscaler]) -> tuple[dict, dict]:
    pipe = load_pipeline(args.model)
    pipe.scheduler = make_scheduler(defaults.SCHEDULER, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    kwargs = dict(
        guidance_scale=defaults.GUIDANCE_SCALE,
        guidance_interval=defaults.GUIDANCE_INTERVAL,
        num_inference_steps=defaults.STEPS,
        output_type="pt",
    )
    runs = [
        timed(
            lambda v=v, a=a, i=i: pipe(v, a, generator=torch.Generator().manual_seed(i), **kwargs).images,
            1,
            warm_up=i == 0,
        )
        for i, (v, a) in enumerate(POINTS[: args.pictures])
    ]
    gen, gen_cpu = float(np.median([r[0] for r in runs])), float(np.median([r[1] for r in runs]))
    print(f"generated: {gen:.2f} s ({gen_cpu:.2f} CPU s) per 128-px picture (median of {len(runs)})", flush=True)
    pictures = torch.cat([r[2] for r in runs])
    size = 4 * pictures.shape[-1]
    rows, outputs = {"generate_128": {"seconds": round(gen, 3), "cpu_seconds": round(gen_cpu, 3)}}, {}
    for method in methods:
        per = [
            timed(lambda method=method, p=p: upscale(method, nets, p[None], size), args.repeats, warm_up=i == 0)
            for i, p in enumerate(pictures)
        ]
        outputs[method] = torch.cat([out for *_, out in per]).permute(0, 2, 3, 1).numpy()
        t, cpu = float(np.median([r[0] for r in per])), float(np.median([r[1] for r in per]))
        rows[method] = {
            "seconds": round(t, 3),
            "vs_generate_128": round(t / gen, 2),
            "cpu_seconds": round(cpu, 3),
            "cpu_vs_generate_128": round(cpu / gen_cpu, 2),
        }
    lanczos = np.median(laplacian_variance(outputs["lanczos"]))
    for method in methods:
        rows[method]["detail_vs_lanczos"] = round(float(np.median(laplacian_variance(outputs[method])) / lanczos), 2)
        print(f"512 px  {method:14s} {rows[method]}", flush=True)
    return rows, outputs


def crops(outputs: dict[str, np.ndarray], path: Path, crop: int = 128, zoom: int = 2) -> None:
    """Side by side: per picture the ``crop`` px square of each method's 512 where Lanczos's has the most
    detail (on a grid of ``crop / 2`` steps), shown ``zoom``×."""
    methods = list(outputs)
    n, size = len(outputs[methods[0]]), outputs[methods[0]].shape[1]
    cell, label = crop * zoom, 14
    sheet = Image.new("RGB", (len(methods) * (cell + 4), label + n * (cell + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    corners = [(y, x) for y in range(0, size - crop + 1, crop // 2) for x in range(0, size - crop + 1, crop // 2)]
    for i in range(n):
        detail = laplacian_variance(np.stack([outputs["lanczos"][i, y : y + crop, x : x + crop] for y, x in corners]))
        top, left = corners[int(np.argmax(detail))]
        for j, method in enumerate(methods):
            tile = (np.clip(outputs[method][i, top : top + crop, left : left + crop], 0, 1) * 255 + 0.5).astype(
                np.uint8
            )
            sheet.paste(
                Image.fromarray(tile).resize((cell, cell), Image.NEAREST), (j * (cell + 4), label + i * (cell + 4))
            )
    for j, method in enumerate(methods):
        draw.text((j * (cell + 4) + 4, 1), method, fill="black")
    sheet.save(path)


def full_size(outputs: dict[str, np.ndarray], path: Path) -> None:
    """The first picture at 512 by each method, side by side."""
    pictures = [(np.clip(outputs[m][0], 0, 1) * 255 + 0.5).astype(np.uint8) for m in outputs]
    Image.fromarray(
        np.concatenate([np.pad(p, ((0, 0), (0, 4), (0, 0)), constant_values=255) for p in pictures], 1)
    ).save(path)


def film_frames_cost(seconds: int = 4) -> dict:
    """CPU seconds per second of music of :func:`~music2img.film.film_frames` (cubic in-betweens, camera,
    Lanczos to 512) from 128-px keyframes and from 512-px ones (random pictures; encoding excluded)."""
    from music2img.film import FPS, SIZE, film_frames

    rows, rng = {}, np.random.default_rng(0)
    for side in (128, 512):
        keys = [rng.random((side, side, 3), dtype=np.float32) for _ in range(3)]
        times = np.arange(3) * float(seconds)
        wall, cpu, _ = timed(
            lambda keys=keys, times=times: list(film_frames(iter(keys), times, FPS, FPS * seconds, SIZE)), 1
        )
        rows[f"keyframes_{side}"] = {
            "cpu_s_per_music_s": round(cpu / seconds, 3),
            "wall_s_per_music_s": round(wall / seconds, 3),
        }
    return rows


def memory_probe(method: str, tile: int | None, upscalers: list[Path], threads: int) -> dict:
    """In this (fresh) process: peak resident memory one 128 → 512 upscale adds, MB."""
    torch.set_num_threads(threads)
    nets = {
        p.name: Upscaler.from_pretrained(p).float().to(memory_format=torch.channels_last).eval()
        for p in upscalers
        if p.name == method
    }
    x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))

    def status(key: str) -> float:
        line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(key))
        return int(line.split()[1]) / 1024

    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
    before = status("VmRSS")
    out = upscale(method, nets, x, 512, tile)
    peak = status("VmHWM") - before
    whole = upscale(method, nets, x, 512) if tile else out
    return {"peak_MB": round(peak, 1), "max_diff_to_whole": float((out - whole).abs().max())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--upscalers", type=Path, nargs="+", required=True, help="converted upscaler folders")
    p.add_argument("--model", type=Path, default=DIFFUSION_MODEL_DIR, help="pipeline folder (default: the shipped one)")
    p.add_argument("--data", type=Path, default=Path("/work/shared/data/images/landscapes"))
    p.add_argument("--photos", type=int, default=100, help="photos to restore (0: skip)")
    p.add_argument("--pictures", type=int, default=3)
    p.add_argument("--repeats", type=int, default=1, help="timed runs per picture")
    p.add_argument("--tiles", type=int, nargs="*", default=[64, 32])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("work/upscaler_benchmark"))
    p.add_argument("--json", type=Path)
    p.add_argument("--memory-probe", nargs=2, metavar=("METHOD", "TILE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_probe:
        method, tile = args.memory_probe
        print(json.dumps(memory_probe(method, int(tile) or None, args.upscalers, args.threads)))
        return

    torch.set_num_threads(args.threads)
    nets = {
        path.name: Upscaler.from_pretrained(path).float().to(memory_format=torch.channels_last).eval()
        for path in args.upscalers
    }
    methods = [*RESAMPLERS, *nets]
    report = {"threads": args.threads}
    if args.photos:
        report["photos"] = restore_photos(load_photos(args.data, args.photos), methods, nets)
    report["generated"], outputs = generated(args, methods, nets)
    args.out.mkdir(parents=True, exist_ok=True)
    crops(outputs, args.out / "crops.png")
    full_size(outputs, args.out / "full.png")
    report["film_frames"] = film_frames_cost()
    print(f"film frames {report['film_frames']}", flush=True)
    report["memory"] = {}
    for method in nets:  # tiles narrower than the receptive field would mostly compute padding
        for tile in [0, *(t for t in args.tiles if t > nets[method].receptive_radius)]:
            cmd = [
                sys.executable,
                __file__,
                "--memory-probe",
                method,
                str(tile),
                "--threads",
                str(args.threads),
                "--upscalers",
                *map(str, args.upscalers),
            ]
            row = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            if tile:
                wall, cpu, _ = timed(
                    lambda method=method, tile=tile: nets[method].upscale(torch.rand(1, 3, 128, 128), tile=tile),
                    args.repeats,
                )
                row.update(seconds=round(wall, 3), cpu_seconds=round(cpu, 3))
            report["memory"][f"{method} tile {tile or 'whole'}"] = row
            print(f"memory  {method:14s} tile {tile or 'whole':5} {row}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
