"""Load test of the page: simultaneous ``gradio_client`` users against the same requests one by one.

Starts ``app.py`` on 127.0.0.1 (a free port) with the shipped models, or with a tiny random
diffusion model (``--tiny``, for a quick functional run), then sends one fixed, seeded list of
requests twice:

1. **one by one**, from a single client (the sequential latency of every request);
2. **by ``--users`` simultaneous users**, each with its own client, sending its share of the list
   with a pause of ``--think`` seconds (uniform between the two numbers) before each request.

The requests mix songs and sliders: ``/generate`` (random valence, arousal and seed),
``/music_to_image`` and ``/predict_emotion`` (the example clips in ``assets/examples``), every
other setting at the page's defaults. The report gives, per endpoint and overall, the latency
(p50, p95, max) one by one and under load, the ratio of each request's latency under load to its
own latency alone, errors, and the throughput of both runs. Bounded: at most ``--max-minutes``
for the whole test (requests not started by then are skipped and counted), and the server is
stopped at the end.

Usage: ``python benchmarks/load_test.py [--users 8] [--requests 24] [--think 5 25] [--tiny]``
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from music2img.assets import DIFFUSION_MODEL_DIR, EXAMPLES_DIR, MUSIC_MODEL_DIR  # noqa: E402

#: Share of each endpoint in the request list.
MIX = {"/generate": 0.5, "/music_to_image": 0.25, "/predict_emotion": 0.25}


def plan(n: int, seed: int) -> list[tuple[str, dict]]:
    """``n`` requests ``(endpoint, keyword arguments)``, the endpoints in the proportions of :data:`MIX`."""
    rng = random.Random(seed)
    clips = sorted(str(p) for p in EXAMPLES_DIR.glob("*.ogg"))
    endpoints = [e for e, share in MIX.items() for _ in range(round(share * n))][:n]
    endpoints += ["/generate"] * (n - len(endpoints))
    rng.shuffle(endpoints)
    requests = []
    for endpoint in endpoints:
        if endpoint == "/generate":
            kw = {
                "valence": round(rng.uniform(1, 9), 1),
                "arousal": round(rng.uniform(1, 9), 1),
                "seed": rng.randrange(10_000),
            }
        else:
            kw = {"audio": rng.choice(clips)}
            if endpoint == "/music_to_image":
                kw["seed"] = rng.randrange(10_000)
        requests.append((endpoint, kw))
    return requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tiny_pipeline(folder: Path) -> Path:
    """A random-initialised 32×32 pipeline (a functional check of the page, not of its speed)."""
    from music2img.diffusion import EmotionLandscapePipeline, EmotionUNet, training_scheduler

    unet = EmotionUNet(
        sample_size=32,
        block_out_channels=(16, 32),
        attention_resolutions=(16,),
        norm_num_groups=4,
        emotion_embed_dim=32,
    )
    EmotionLandscapePipeline(unet=unet, scheduler=training_scheduler()).save_pretrained(folder)
    return folder


class Server:
    """``app.py`` in a child process on a free localhost port; stopped on exit."""

    def __init__(self, music_model: str, diffusion_model: str, start_timeout: float, log: Path):
        self.url = f"http://127.0.0.1:{_free_port()}/"
        port = self.url.rsplit(":", 1)[1].strip("/")
        self.log = open(log, "w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "app.py"),
                "--host",
                "127.0.0.1",
                "--port",
                port,
                "--music-model",
                music_model,
                "--diffusion-model",
                diffusion_model,
            ],
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with code {self.proc.returncode}; see {log}")
            try:
                urllib.request.urlopen(self.url, timeout=2).close()
                return
            except OSError:
                time.sleep(0.5)
        self.close()
        raise RuntimeError(f"app.py did not answer within {start_timeout:.0f} s; see {log}")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def send(client, endpoint: str, kw: dict) -> tuple[float, str | None]:
    """Seconds taken by one request and its error (``None`` when it succeeded)."""
    from gradio_client import handle_file

    args = {k: handle_file(v) if k == "audio" else v for k, v in kw.items()}
    start = time.perf_counter()
    try:
        client.predict(api_name=endpoint, **args)
        error = None
    except Exception as err:  # every failure is reported, none stops the test
        error = f"{type(err).__name__}: {err}"
    return time.perf_counter() - start, error


def run_sequential(url: str, requests, deadline: float) -> list[dict]:
    client = _client(url)
    out = []
    for i, (endpoint, kw) in enumerate(requests):
        if time.monotonic() > deadline:
            break
        seconds, error = send(client, endpoint, kw)
        out.append({"i": i, "endpoint": endpoint, "seconds": seconds, "error": error})
    return out


def run_concurrent(
    url: str, requests, users: int, think: tuple[float, float], deadline: float, seed: int
) -> tuple[list[dict], float]:
    """Every user sends requests ``u, u + users, …`` of the list; returns the results and the wall time."""
    out: list[dict] = []
    lock = threading.Lock()
    clients = [_client(url) for _ in range(users)]
    barrier = threading.Barrier(users)

    def user(u: int) -> None:
        rng = random.Random(seed * 1000 + u)
        barrier.wait()
        for i in range(u, len(requests), users):
            time.sleep(rng.uniform(*think))
            if time.monotonic() > deadline:
                return
            seconds, error = send(clients[u], *requests[i])
            with lock:
                out.append({"i": i, "endpoint": requests[i][0], "seconds": seconds, "error": error, "user": u})

    threads = [threading.Thread(target=user, args=(u,)) for u in range(users)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(out, key=lambda r: r["i"]), time.perf_counter() - start


def _pct(xs, q) -> float:
    return float(np.percentile(xs, q)) if len(xs) else float("nan")


def report(seq: list[dict], conc: list[dict], wall_seq: float, wall_conc: float, args, n_planned: int) -> dict:
    alone = {r["i"]: r["seconds"] for r in seq if r["error"] is None}
    print(
        f"\n{args.users} simultaneous users, think time {args.think[0]:g}–{args.think[1]:g} s, "
        f"{n_planned} requests ({', '.join(f'{e} {s:.0%}' for e, s in MIX.items())}); "
        f"model: {'tiny random' if args.tiny else args.diffusion_model}\n"
    )
    print(
        "| endpoint | requests | alone p50 s | alone p95 s | under load p50 s | p95 s | max s | "
        "p95 ÷ alone p50 | p95 of per-request ratio | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary = {}
    for endpoint in [*MIX, "all"]:
        s = [r["seconds"] for r in seq if endpoint in ("all", r["endpoint"]) and r["error"] is None]
        c = [r for r in conc if endpoint in ("all", r["endpoint"])]
        ok = [r["seconds"] for r in c if r["error"] is None]
        ratios = [r["seconds"] / alone[r["i"]] for r in c if r["error"] is None and r["i"] in alone]
        errors = sum(r["error"] is not None for r in c) + sum(
            r["error"] is not None for r in seq if endpoint in ("all", r["endpoint"])
        )
        row = {
            "n": len(c),
            "alone_p50": _pct(s, 50),
            "alone_p95": _pct(s, 95),
            "p50": _pct(ok, 50),
            "p95": _pct(ok, 95),
            "max": max(ok, default=float("nan")),
            "ratio_p95": _pct(ratios, 95),
            "errors": errors,
        }
        summary[endpoint] = row
        print(
            f"| {endpoint} | {row['n']} | {row['alone_p50']:.2f} | {row['alone_p95']:.2f} | {row['p50']:.2f} | "
            f"{row['p95']:.2f} | {row['max']:.2f} | {row['p95'] / row['alone_p50']:.2f} | {row['ratio_p95']:.2f} | "
            f"{row['errors']} |"
        )
    busy = sum(r["seconds"] for r in seq)
    print(
        f"\nthroughput: one by one {len(seq) / busy * 60:.1f} requests/min (back to back, {wall_seq:.0f} s); "
        f"{args.users} users {len(conc) / wall_conc * 60:.1f} requests/min ({wall_conc:.0f} s, think time included)"
    )
    skipped = 2 * n_planned - len(seq) - len(conc)
    if skipped:
        print(f"{skipped} requests not sent: the {args.max_minutes:g}-minute limit was reached")
    for r in conc + seq:
        if r["error"]:
            print(f"error in request {r['i']} ({r['endpoint']}): {r['error'][:300]}")
    summary.update(
        throughput_alone_per_min=len(seq) / busy * 60,
        throughput_load_per_min=len(conc) / wall_conc * 60,
        skipped=skipped,
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=8)
    p.add_argument("--requests", type=int, default=24, help="requests in the list (each run sends them all)")
    p.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=(5.0, 25.0),
        metavar=("MIN", "MAX"),
        help="seconds a user pauses before each request (uniform; a person listening or looking)",
    )
    p.add_argument("--music-model", default=str(MUSIC_MODEL_DIR))
    p.add_argument("--diffusion-model", default=str(DIFFUSION_MODEL_DIR))
    p.add_argument("--tiny", action="store_true", help="serve a tiny random diffusion model instead")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=15.0, help="limit for the whole test")
    p.add_argument("--start-timeout", type=float, default=120.0, help="seconds to wait for the server")
    p.add_argument("--log", type=Path, help="server log (default: a temporary file)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    deadline = time.monotonic() + 60 * args.max_minutes
    requests = plan(args.requests, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        model = str(_tiny_pipeline(Path(tmp) / "tiny")) if args.tiny else args.diffusion_model
        server = Server(args.music_model, model, args.start_timeout, args.log or Path(tmp) / "server.log")
        try:
            send(_client(server.url), "/generate", {"valence": 5.0, "arousal": 5.0, "seed": 0})  # warm-up
            start = time.perf_counter()
            seq = run_sequential(server.url, requests, deadline)
            wall_seq = time.perf_counter() - start
            conc, wall_conc = run_concurrent(server.url, requests, args.users, tuple(args.think), deadline, args.seed)
        finally:
            server.close()
    summary = report(seq, conc, wall_seq, wall_conc, args, len(requests))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "alone": seq, "under_load": conc}, indent=1))
    failed = summary["all"]["errors"] or summary["skipped"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
