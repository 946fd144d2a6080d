"""Does the rating pool slow visitors' painting? Seconds per visitor picture with and without a
:class:`~music2img.ratings.pool.PicturePool` painting ahead in the same process.

A simulated visitor asks for one picture at the app's defaults (shipped weights, display size),
waits ``--gap`` seconds (time for the pool to start a picture of its own, the worst case: the
visitor then arrives while the pool is painting), and asks again. Blocks of ``--block`` pictures
alternate between "no pool" and "pool" ``--repeats`` times, so both see the same machine load;
the script prints the medians, their ratio and the pool's pictures painted and dropped.

Usage: ``python benchmarks/rating_pool.py [--repeats 3] [--block 3] [--gap 1.5] [--threads N]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--block", type=int, default=3)
    p.add_argument("--gap", type=float, default=1.5, help="seconds between a visitor's pictures")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)

    from app import DISPLAY_SIZE
    from music2img.music_to_image import MusicToImage
    from music2img.ratings.pool import PicturePool

    m2i = MusicToImage.load(num_threads=args.threads)
    m2i.generate(5, 5, seed=0, size=DISPLAY_SIZE)  # warm-up
    times = {"no pool": [], "pool": []}
    painted = dropped = 0
    seed = 1
    for _ in range(args.repeats):
        for mode in times:
            pool = PicturePool(m2i, size=1000, display_size=DISPLAY_SIZE).start() if mode == "pool" else None
            try:
                for _ in range(args.block):
                    time.sleep(args.gap)
                    start = time.perf_counter()
                    m2i.generate(3 + seed % 5, 7 - seed % 5, seed=seed, size=DISPLAY_SIZE)
                    times[mode].append(time.perf_counter() - start)
                    seed += 1
            finally:
                if pool is not None:
                    pool.stop()
                    painted, dropped = painted + pool.painted, dropped + pool.dropped
            print(f"{mode:8s} " + " ".join(f"{t:.2f}" for t in times[mode][-args.block :]), flush=True)
    base, with_pool = (statistics.median(times[m]) for m in ("no pool", "pool"))
    print(
        f"\nmedian seconds per visitor picture: no pool {base:.2f}, pool {with_pool:.2f}; "
        f"ratio {with_pool / base:.3f} ({len(times['pool'])} pictures each)"
    )
    print(f"worst visitor picture: no pool {max(times['no pool']):.2f}, pool {max(times['pool']):.2f}")
    print(f"pool: {painted} pictures painted, {dropped} dropped half-way for a visitor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
