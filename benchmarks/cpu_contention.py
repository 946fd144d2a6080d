"""Sampling on a busy 2-core CPU: torch threads, OpenMP wait policy, threads vs processes.

Every row samples 128×128 pictures in fresh worker processes (the OpenMP settings are read when
torch loads) and reports seconds per picture (median over ``--repeats`` pictures after a warm-up),
with, beside the workers, one of these loads:

* ``idle``: nothing else;
* ``spin``: one process that keeps a core busy (a pure-Python loop);
* ``audio``: one process analysing a song again and again (decoding, librosa features, the
  forest; its own default threads), as the page does while it paints.

Rows with two workers run two processes of one thread each side by side, each painting its own
pictures (the throughput of "processes" against "intra-op threads"); their seconds per picture are
the wall time divided by the pictures of both.

Usage: ``python benchmarks/cpu_contention.py [--setting dpm-10] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: (torch threads per worker, workers, OMP_WAIT_POLICY or None for the default).
CONFIGS = ((2, 1, None), (2, 1, "PASSIVE"), (1, 1, None), (1, 2, None))
LOADS = ("idle", "spin", "audio")


def spin() -> None:
    while True:
        pass


def analyse_forever(clip: str) -> None:
    from music2img.music.emotion_model import MusicEmotionModel

    model = MusicEmotionModel.load()
    while True:
        model.predict_file(clip)


def worker(setting: str, threads: int, repeats: int) -> None:
    """Print the JSON list of seconds for ``repeats`` pictures after one warm-up picture."""
    import torch  # before music2img, whose wait-policy default must not apply: the parent chose it
    from sampling_settings import POINTS, Setting

    from music2img.assets import DIFFUSION_MODEL_DIR
    from music2img.diffusion.pipeline import load_pipeline

    torch.set_num_threads(threads)
    pipe = load_pipeline(DIFFUSION_MODEL_DIR)
    pipe.set_progress_bar_config(disable=True)
    s, config = Setting.parse(setting), pipe.scheduler.config
    s.sample(pipe, config, POINTS[:1], [0], 3.0)
    print("ready", flush=True)
    sys.stdin.readline()  # start together with the other workers
    times = []
    for k in range(repeats):
        start = time.perf_counter()
        s.sample(pipe, config, [POINTS[k % len(POINTS)]], [k], 3.0)
        times.append(time.perf_counter() - start)
    print(json.dumps(times), flush=True)


def _python(args: list[str], env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], env=env, cwd=REPO, text=True, **kw)


def run_config(
    setting: str, threads: int, workers: int, policy: str | None, load: str, repeats: int, clip: str
) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    env.pop("OMP_WAIT_POLICY", None)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    procs = [
        _python(["--worker", setting, str(threads), str(repeats)], env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for _ in range(workers)
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", "worker failed to start"
    background = None if load == "idle" else _python(["--load", load, clip], stdout=subprocess.DEVNULL)
    try:
        time.sleep(2.0 if load == "audio" else 0.5)  # let the load get going
        start = time.perf_counter()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        times = [json.loads(p.stdout.readline()) for p in procs]
        wall = time.perf_counter() - start
    finally:
        if background is not None:
            background.kill()
            background.wait()
        for p in procs:
            p.wait()
    per_picture = sorted(t for ts in times for t in ts)
    return {
        "threads": threads,
        "workers": workers,
        "omp_wait_policy": policy or "default",
        "load": load,
        "s_median": per_picture[len(per_picture) // 2],
        "s_max": per_picture[-1],
        "s_per_picture_throughput": wall / (workers * repeats),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--setting", default="dpm-10", help="sampler setting (see sampling_settings.py)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--loads", nargs="+", choices=LOADS, default=list(LOADS))
    p.add_argument(
        "--clip", default=str(REPO / "assets" / "examples" / "storm_front.ogg"), help="the song the audio load analyses"
    )
    p.add_argument("--json", type=Path)
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--load", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))
        return 0
    if args.load:
        spin() if args.load[0] == "spin" else analyse_forever(args.load[1])
        return 0

    rows = []
    for load in args.loads:
        for threads, workers, policy in CONFIGS:
            rows.append(run_config(args.setting, threads, workers, policy, load, args.repeats, args.clip))
            r = rows[-1]
            print(
                f"  {load:5s} {workers}×{threads} threads {r['omp_wait_policy']:8s} {r['s_median']:.2f} s",
                file=sys.stderr,
                flush=True,
            )
    base = {
        r["load"]: r["s_per_picture_throughput"]
        for r in rows
        if (r["threads"], r["workers"], r["omp_wait_policy"]) == (2, 1, "default")
    }
    print(
        f"\nSeconds per 128×128 picture ({args.setting}, guidance 3), {os.cpu_count()} CPUs, "
        f"median of {args.repeats} per worker; baseline: one worker with 2 threads, default wait policy, same load\n"
    )
    print(
        "| load | workers × torch threads | OMP_WAIT_POLICY | s / picture (median) | slowest | wall s / picture | "
        "throughput × baseline |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['load']} | {r['workers']} × {r['threads']} | {r['omp_wait_policy']} | {r['s_median']:.2f} | "
            f"{r['s_max']:.2f} | {r['s_per_picture_throughput']:.2f} | "
            f"{base[r['load']] / r['s_per_picture_throughput']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
