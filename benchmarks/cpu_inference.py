"""CPU inference at the app's default settings: fresh process, storyboard, memory format, torch.compile.

Measured in this run, on the shipped pipeline, with ``--threads`` torch threads:

* **fresh process**: wall time of ``music2img generate`` (a new interpreter: imports, weight
  load, sampling, landscape check and any redraw, PNG) at the default seed over a 3 × 3 grid of the
  plane (valence and arousal 2, 5, 8), median and slowest; beside it, in ``--fresh`` fresh
  interpreters each, the import time of the pipeline module and of torch alone and the load time of
  the pipeline (medians);
* **warm picture**: seconds per picture in this process, median of ``--repeats``, with the
  UNet in ``channels_last`` (what ``load_pipeline`` does) and in the default memory format, and
  with ``torch.compile`` (``--compile``; its compile time is reported apart);
* **storyboard**: six pictures painted in one batch (what ``MusicToImage.storyboard`` does) against
  six one by one.

Usage: ``python benchmarks/cpu_inference.py [--threads 2] [--fresh 5] [--compile]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from music2img.assets import DIFFUSION_MODEL_DIR  # noqa: E402  (music2img first: it sets the OpenMP wait policy)

# isort: split
import numpy as np  # noqa: E402
import torch  # noqa: E402

from music2img.diffusion import defaults  # noqa: E402
from music2img.diffusion.pipeline import load_pipeline  # noqa: E402
from music2img.diffusion.schedulers import make_scheduler  # noqa: E402
from music2img.threads import configure_threads  # noqa: E402

PICTURE = dict(
    guidance_scale=defaults.GUIDANCE_SCALE,
    guidance_interval=defaults.GUIDANCE_INTERVAL,
    num_inference_steps=defaults.STEPS,
    output_type="np",
)
FRESH_PLANE = tuple((v, a) for v in (2.0, 5.0, 8.0) for a in (2.0, 5.0, 8.0))
STORYBOARD = ((2.5, 3.0), (3.5, 5.0), (5.0, 6.5), (6.5, 7.5), (7.0, 5.0), (6.0, 3.0))


def _seconds(code: str, env: dict) -> float:
    """Run ``code`` in a fresh interpreter; it prints a number of seconds."""
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def fresh_process(runs: int, threads: int) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    timer = "import time; t = time.perf_counter(); {}; print(time.perf_counter() - t)"
    imports = [_seconds(timer.format("import music2img.diffusion.pipeline"), env) for _ in range(runs)]
    torch_only = [_seconds(timer.format("import torch"), env) for _ in range(runs)]
    load = [
        _seconds(
            "import time, music2img.diffusion.pipeline as p; t = time.perf_counter(); "
            f"p.load_pipeline({str(DIFFUSION_MODEL_DIR)!r}); print(time.perf_counter() - t)",
            env,
        )
        for _ in range(runs)
    ]
    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (v, a) in enumerate(FRESH_PLANE):
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "music2img",
                    "generate",
                    "--valence",
                    str(v),
                    "--arousal",
                    str(a),
                    "--threads",
                    str(threads),
                    "--out",
                    f"{tmp}/{k}.png",
                ],
                env=env,
                cwd=REPO,
                check=True,
                capture_output=True,
            )
            walls.append(time.perf_counter() - start)
    return {
        "generate_s": float(np.median(walls)),
        "generate_max_s": float(np.max(walls)),
        "generate_all": dict(zip(map(str, FRESH_PLANE), walls)),
        "import_pipeline_s": float(np.median(imports)),
        "import_torch_s": float(np.median(torch_only)),
        "load_s": float(np.median(load)),
    }


def warm(pipe, repeats: int, **kw) -> float:
    pipe(5.0, 5.0, generator=torch.Generator().manual_seed(0), **{**PICTURE, **kw})  # warm-up
    times = []
    for k in range(repeats):
        start = time.perf_counter()
        pipe(6.5, 4.0, generator=torch.Generator().manual_seed(k), **{**PICTURE, **kw})
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def storyboard(pipe, repeats: int) -> tuple[float, float]:
    vs, as_ = [p[0] for p in STORYBOARD], [p[1] for p in STORYBOARD]
    batch, single = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        pipe(vs, as_, generator=[torch.Generator().manual_seed(0) for _ in vs], **PICTURE)
        batch.append(time.perf_counter() - start)
        start = time.perf_counter()
        for v, a in STORYBOARD:
            pipe(v, a, generator=torch.Generator().manual_seed(0), **PICTURE)
        single.append(time.perf_counter() - start)
    return float(np.median(batch)), float(np.median(single))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5, help="warm pictures per variant")
    p.add_argument("--fresh", type=int, default=5, help="fresh processes per measure (0: skip)")
    p.add_argument("--storyboards", type=int, default=2, help="storyboards per variant (0: skip)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    configure_threads(args.threads)
    setting = (
        f"{defaults.SCHEDULER}, {defaults.STEPS} steps, guidance {defaults.GUIDANCE_SCALE:g} on steps "
        f"{defaults.GUIDANCE_INTERVAL[0]:g}–{defaults.GUIDANCE_INTERVAL[1]:g} of the way"
    )
    results: dict = {"setting": setting, "threads": args.threads, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
    pipe = load_pipeline(DIFFUSION_MODEL_DIR)
    pipe.scheduler = make_scheduler(defaults.SCHEDULER, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)

    rows = [("warm picture, channels_last (shipped)", warm(pipe, args.repeats))]
    pipe.unet.to(memory_format=torch.contiguous_format)
    rows.append(("warm picture, default memory format", warm(pipe, args.repeats)))
    pipe.unet.to(memory_format=torch.channels_last)
    if args.storyboards:
        batch, single = storyboard(pipe, args.storyboards)
        rows += [("storyboard of 6, one batch (shipped)", batch), ("storyboard of 6, one by one", single)]
    if args.compile:
        eager = pipe.unet
        start = time.perf_counter()
        pipe.unet = torch.compile(eager)
        pipe(5.0, 5.0, **PICTURE)
        results["compile_s"] = time.perf_counter() - start
        rows.append(("warm picture, torch.compile", warm(pipe, args.repeats)))
        pipe.unet = eager
    if args.fresh:
        fresh = fresh_process(args.fresh, args.threads)
        results["fresh"] = fresh
        rows += [
            ("fresh `music2img generate` (wall, median over the plane)", fresh["generate_s"]),
            ("  slowest point of the plane", fresh["generate_max_s"]),
            ("  import music2img.diffusion.pipeline", fresh["import_pipeline_s"]),
            ("  of which import torch", fresh["import_torch_s"]),
            ("  load_pipeline (weights)", fresh["load_s"]),
        ]
    results["rows"] = rows
    base = rows[0][1]
    print(
        f"\n{setting}; {args.threads} torch threads, OMP_WAIT_POLICY={results['omp_wait_policy']}; "
        f"medians ({args.repeats} warm pictures, {args.fresh} fresh processes)\n"
    )
    print("| measure | seconds | × warm picture |")
    print("|---|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {seconds / base:.2f} |")
    if "compile_s" in results:
        print(f"\ntorch.compile: {results['compile_s']:.1f} s to compile (first picture included)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
