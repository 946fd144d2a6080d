#!/usr/bin/env python
"""Convert musicnn's TensorFlow 1 checkpoints to the safetensors of :mod:`music2img.music.musicnn`,
and record the original package's own tag probabilities as the port's test reference.

musicnn 0.1.0 (PyPI, ISC licence, Pons & Serra 2019) ships its taggers as TF1 checkpoints inside
the wheel. TensorFlow is needed here only, never at run time: run this script once in a throw-away
environment that has it (Python 3.11: ``tensorflow-cpu==2.15.1``, whose ``tf.compat.v1.layers``
still build the package's graph)::

    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.15.1 librosa safetensors
    /tmp/tfenv/bin/pip download --no-deps musicnn==0.1.0 -d /tmp/musicnn
    unzip /tmp/musicnn/musicnn-0.1.0-py3-none-any.whl -d /tmp/musicnn/whl
    PYTHONPATH=/tmp/musicnn/whl /tmp/tfenv/bin/python train/convert_musicnn.py --package /tmp/musicnn/whl/musicnn

It writes ``assets/music_emotion/musicnn/{MSD,MTT}_musicnn.safetensors`` (float16, torch layout,
the parameter names of :class:`~music2img.music.musicnn.Musicnn`) and ``LICENSE.md`` (the
package's ISC licence), prints their SHA-256 for ``WEIGHTS_SHA256``, and with ``--reference``
runs the package's ``extractor`` on the first seconds of the example songs into
``tests/data/musicnn_reference.npz`` (tag probabilities of every 3 s patch, penultimate embedding
of the first).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODELS = ("MSD_musicnn", "MTT_musicnn")
#: Seconds of each example song in the reference (4 patches of 3 s and a remainder).
REFERENCE_SECONDS = 13.0


def convert(checkpoint: Path) -> dict[str, np.ndarray]:
    """Torch state dict (numpy, float32) of one checkpoint folder. tf.compat.v1.layers name the
    variables by creation order: ``batch_normalization[_k]``, ``conv2d[_k]``, ``dense[_k]`` (the
    optimiser's ``…/Adam`` slots are left out)."""
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(str(checkpoint) + "/")  # the files are named ".index", ".data-…"
    names = [n for n in reader.get_variable_to_shape_map() if "/Adam" not in n and not n.endswith("_power")]

    def var(layer: str, k: int, what: str) -> np.ndarray:
        key = f"{layer}_{k}/{what}" if k else f"{layer}/{what}"
        return reader.get_tensor(key).astype(np.float32)

    out: dict[str, np.ndarray] = {}

    def bn(target: str, k: int) -> None:
        for src, dst in (
            ("gamma", "weight"),
            ("beta", "bias"),
            ("moving_mean", "running_mean"),
            ("moving_variance", "running_var"),
        ):
            out[f"{target}.{dst}"] = var("batch_normalization", k, src)
        out[f"{target}.num_batches_tracked"] = np.zeros((), dtype=np.int64)

    # creation order in models.build_musicnn: input BN; f74, f77, s128, s64, s32 (conv + BN each);
    # three mid-end layers (conv + BN each); back-end BN, dense, BN, dense.
    bn("input_bn", 0)
    front = [
        ("timbral.0", "timbral_bn.0"),
        ("timbral.1", "timbral_bn.1"),
        ("temporal.0", "temporal_bn.0"),
        ("temporal.1", "temporal_bn.1"),
        ("temporal.2", "temporal_bn.2"),
    ]
    for k, (conv, norm) in enumerate(front):
        # (kh, kw, in, out) → (out, in, kh, kw)
        out[f"{conv}.weight"] = var("conv2d", k, "kernel").transpose(3, 2, 0, 1)
        out[f"{conv}.bias"] = var("conv2d", k, "bias")
        bn(norm, k + 1)
    for i in range(3):
        kernel = var("conv2d", 5 + i, "kernel")  # (7, channels, 1, 64): a 1-D convolution over time
        out[f"midend.{i}.weight"] = kernel[:, :, 0, :].transpose(2, 1, 0)
        out[f"midend.{i}.bias"] = var("conv2d", 5 + i, "bias")
        bn(f"midend_bn.{i}", 6 + i)
    bn("pool_bn", 9)
    out["dense.weight"], out["dense.bias"] = var("dense", 0, "kernel").T, var("dense", 0, "bias")
    bn("dense_bn", 10)
    out["logits.weight"], out["logits.bias"] = var("dense", 1, "kernel").T, var("dense", 1, "bias")
    used = (
        {f"batch_normalization{'_' + str(k) if k else ''}" for k in range(11)}
        | {f"conv2d{'_' + str(k) if k else ''}" for k in range(8)}
        | {"dense", "dense_1"}
    )
    unused = sorted(n for n in names if n.split("/")[0] not in used)
    if unused:
        raise SystemExit(f"{checkpoint.name}: checkpoint variables not converted: {unused}")
    return out


def reference(package: Path, out_path: Path) -> None:
    """Run the original package on the first :data:`REFERENCE_SECONDS` of each example song."""
    import librosa
    import soundfile as sf
    from musicnn.extractor import extractor

    assert Path(extractor.__code__.co_filename).resolve().parent == package.resolve(), "PYTHONPATH ≠ --package"
    arrays: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for song in sorted((REPO / "assets" / "examples").glob("*.ogg")):
            y, _ = librosa.load(song, sr=16000, duration=REFERENCE_SECONDS)
            wav = Path(tmp) / f"{song.stem}.wav"
            sf.write(wav, y, 16000, subtype="FLOAT")  # read back unchanged by the extractor at 16 kHz
            for model in MODELS:
                taggram, _, features = extractor(str(wav), model=model, input_length=3, extract_features=True)
                arrays[f"{song.stem}/{model}/tags"] = np.asarray(taggram, dtype=np.float32)
                # the extractor repeats the first patch's penultimate for every later patch (it appends a
                # stale variable in its batch loop), so only the first one is the original's own
                arrays[f"{song.stem}/{model}/penultimate"] = np.asarray(features["penultimate"][:1], dtype=np.float32)
    np.savez_compressed(out_path, **arrays)
    print(f"wrote {out_path} ({len(arrays)} arrays)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--package", type=Path, required=True, help="the unpacked wheel's musicnn/ folder")
    p.add_argument("--out", type=Path, default=REPO / "assets" / "music_emotion" / "musicnn")
    p.add_argument(
        "--reference",
        type=Path,
        nargs="?",
        const=REPO / "tests" / "data" / "musicnn_reference.npz",
        help="also write the original's outputs on the example songs (default path: %(const)s)",
    )
    args = p.parse_args(argv)
    from safetensors.numpy import save_file

    args.out.mkdir(parents=True, exist_ok=True)
    for model in MODELS:
        state = {
            k: np.ascontiguousarray(v.astype(np.float16) if v.dtype == np.float32 else v)
            for k, v in convert(args.package / model).items()
        }  # save_file writes the buffer, not the view
        target = args.out / f"{model}.safetensors"
        with tempfile.NamedTemporaryFile(dir=args.out, delete=False) as tmp:
            # one metadata key: several are written in random order, and the SHA-256 must be reproducible
            save_file(state, tmp.name, metadata={"source": f"musicnn 0.1.0 (PyPI, ISC licence), {model}"})
        Path(tmp.name).chmod(0o644)
        Path(tmp.name).replace(target)
        print(f'    "{model}": "{hashlib.sha256(target.read_bytes()).hexdigest()}",  # {target.stat().st_size} bytes')
    licence = args.package.parent / "musicnn-0.1.0.dist-info" / "LICENSE.md"
    shutil.copyfile(licence, args.out / "LICENSE.md")
    if args.reference:
        reference(args.package, args.reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())
