"""Pack a labelled image folder small enough to travel to a GPU machine with the repository.

    nice -n 10 .venv/bin/python train/make_gpu_pack.py --images ../shared/data/images/landscapes \
        --labels assets/landscape_labels.csv --out gpu_pack --resolution 128 --max-mb 45

Every labelled image is resized and centre-cropped to ``--resolution`` exactly as training does
(:func:`music2img.image.labelled_folder.load_image`) and re-encoded as WebP at one quality for the whole pack.
Without ``--quality`` that quality is the highest one whose size, measured on a random sample of
``--sample`` images and extrapolated, keeps the pack within ``--max-mb`` MiB; if the full pack still
comes out too big, the quality is lowered in proportion and the pack encoded again. The pack holds
``images/*.webp`` and ``labels.csv`` (``file, valence, arousal``, ``file`` relative to the pack, and the
labels' ``weight`` column when they have one — :func:`~music2img.image.labelled_folder.read_sample_weights`), so
``train/diffusion.py --data PACK --labels PACK/labels.csv`` reads it. Unreadable images are skipped
and reported. The pack is written beside ``--out`` and renamed into place only when complete.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.errors import DatasetError, ImageError
from music2img.image.labelled_folder import load_image, read_labels, read_sample_weights

MIB = 1 << 20
#: Share of the size budget kept free to absorb the error of the sample's extrapolation.
SAFETY = 0.02


def encode_webp(image: np.ndarray, quality: int) -> bytes:
    """Encode a ``(3, h, w)`` uint8 image as lossy WebP at ``quality`` (1–100)."""
    buf = io.BytesIO()
    Image.fromarray(image.transpose(1, 2, 0)).save(buf, format="WEBP", quality=int(quality), method=6)
    return buf.getvalue()


def pick_quality(sample: list[np.ndarray], n_images: int, budget: int) -> int:
    """Highest quality whose mean encoded size on ``sample``, times ``n_images``, fits ``budget`` bytes.

    Raises :class:`~music2img.errors.DatasetError` when not even quality 1 fits.
    """

    def estimate(q: int) -> float:
        return n_images * float(np.mean([len(encode_webp(im, q)) for im in sample]))

    if estimate(1) > budget:
        raise DatasetError(
            f"{n_images} images do not fit in {budget / MIB:.2f} MiB even at WebP quality 1: "
            "raise --max-mb or lower --resolution"
        )
    lo, hi = 1, 100  # estimate(lo) fits; find the largest such quality (size grows with quality)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if estimate(mid) <= budget else (lo, mid - 1)
    return lo


def encode_all(
    files: list[Path], resolution: int, quality: int, progress: bool = True
) -> tuple[list[int], list[bytes], list[tuple[Path, str]]]:
    """Decode and re-encode ``files``: indices kept, their WebP bytes, and (file, reason) of those skipped."""
    kept, blobs, skipped = [], [], []
    for i, f in enumerate(tqdm(files, desc=f"encoding (quality {quality})", disable=not progress)):
        try:
            image = load_image(f, resolution)
        except ImageError as err:
            skipped.append((f, str(err)))
            continue
        kept.append(i)
        blobs.append(encode_webp(image, quality))
    return kept, blobs, skipped


def pack_names(files: list[Path]) -> list[str]:
    """Unique ``images/<stem>.webp`` names for ``files`` (``-2``, ``-3`` … appended to repeated stems)."""
    names, seen = [], {}
    for f in files:
        k = seen[f.stem] = seen.get(f.stem, 0) + 1
        names.append(f"images/{f.stem}{'' if k == 1 else f'-{k}'}.webp")
    return names


def labels_csv(names: list[str], va: np.ndarray, weight: np.ndarray | None = None) -> bytes:
    """The pack's ``file, valence, arousal`` (and ``weight``, if given) table as CSV bytes."""
    table = pd.DataFrame({"file": names, "valence": va[:, 0], "arousal": va[:, 1]})
    if weight is not None:
        table["weight"] = weight
    return table.to_csv(index=False, float_format="%.6g").encode()


def write_pack(out: Path, names: list[str], blobs: list[bytes], labels: bytes) -> None:
    """Write the pack into a temporary folder beside ``out``, then swap it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (tmp / "images").mkdir()
        for name, blob in zip(names, blobs):
            (tmp / name).write_bytes(blob)
        (tmp / "labels.csv").write_bytes(labels)
        os.chmod(tmp, 0o755)
        old = out.with_name(f".{out.name}.old")
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def make_pack(
    images: Path,
    labels: Path | None,
    out: Path,
    resolution: int = 128,
    max_mb: float = 45.0,
    quality: int | None = None,
    sample: int = 256,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Build the pack (see the module docstring); return ``count``, ``skipped``, ``quality`` and ``bytes``.

    Raises :class:`~music2img.errors.DatasetError` for a bad folder or labels file, or a pack that
    cannot fit ``max_mb`` (at the given ``quality``, or at any).
    """
    files, va = read_labels(images, labels)
    weight = read_sample_weights(labels)
    budget = int(max_mb * MIB)
    names = pack_names(files)
    fixed = quality is not None
    if not fixed:
        rng = np.random.default_rng(seed)
        readable = []
        for i in rng.permutation(len(files))[:sample]:
            try:
                readable.append(load_image(files[i], resolution))
            except ImageError:
                pass  # reported by the full pass
        if not readable:
            raise DatasetError(f"none of {min(sample, len(files))} sampled images of {images} can be read")
        labels_size = len(labels_csv(names, va, weight))
        quality = pick_quality(readable, len(files), int((budget - labels_size) * (1 - SAFETY)))
    while True:
        kept, blobs, skipped = encode_all(files, resolution, quality, progress)
        if not kept:
            raise DatasetError(f"none of the {len(files)} labelled images of {images} can be read")
        table = labels_csv([names[i] for i in kept], va[kept], None if weight is None else weight[kept])
        total = sum(map(len, blobs)) + len(table)
        if total <= budget:
            break
        if fixed or quality == 1:
            advice = "leave out --quality" if fixed else "raise --max-mb or lower --resolution"
            raise DatasetError(
                f"the pack takes {total / MIB:.2f} MiB at WebP quality {quality}, over --max-mb {max_mb:g}: {advice}"
            )
        quality = max(1, min(quality - 1, int(quality * budget / total)))
        print(f"{total / MIB:.2f} MiB is over the cap; encoding again at quality {quality}", file=sys.stderr)
    write_pack(out, [names[i] for i in kept], blobs, table)
    return {"count": len(kept), "skipped": skipped, "quality": quality, "bytes": total}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--images", type=Path, required=True, help="image folder (as train/diffusion.py --data)")
    p.add_argument("--labels", type=Path, help="CSV with file, valence, arousal (default: CGnA10766 layout)")
    p.add_argument("--out", type=Path, required=True, help="pack folder to write (replaced when complete)")
    p.add_argument("--resolution", type=int, default=128, help="side of the square images in the pack")
    p.add_argument("--max-mb", type=float, default=45.0, help="size cap of the whole pack in MiB")
    p.add_argument(
        "--quality",
        type=int,
        choices=range(1, 101),
        metavar="1..100",
        help="WebP quality (default: the highest that fits --max-mb)",
    )
    p.add_argument("--sample", type=int, default=256, help="images sampled to choose the quality")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        info = make_pack(
            args.images,
            args.labels,
            args.out,
            args.resolution,
            args.max_mb,
            args.quality,
            args.sample,
            args.seed,
            not args.quiet,
        )
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for f, reason in info["skipped"]:
        print(f"skipped {f}: {reason}", file=sys.stderr)
    print(
        f"{args.out}: {info['count']} images at {args.resolution}x{args.resolution}, WebP quality "
        f"{info['quality']}, {info['bytes'] / MIB:.2f} MiB ({info['bytes']:,} bytes; cap {args.max_mb:g} MiB); "
        f"{len(info['skipped'])} unreadable image(s) skipped"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
