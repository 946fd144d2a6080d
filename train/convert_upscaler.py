"""Convert an UpscalerJS ×4 model (npm, TensorFlow.js Keras layers format) into the pipeline's
:class:`~music2img.diffusion.upscaler.Upscaler`, checked against TensorFlow.js's own output.

    mkdir -p /work/scratch/upscaler && cd /work/scratch/upscaler
    npm pack @upscalerjs/esrgan-medium && npm install @tensorflow/tfjs@4.11.0
    python train/convert_upscaler.py /work/scratch/upscaler/upscalerjs-esrgan-medium-1.0.0.tgz \\
        --node-modules /work/scratch/upscaler/node_modules --out assets/diffusion/upscaler \\
        --reference tests/data/upscaler_tfjs_reference.json

The weights are written as fp16 safetensors with the package's LICENSE and their checksums; the
converted network (fp32 and as saved, fp16) is run beside TensorFlow.js (``train/upscaler_tfjs.js``,
CPU backend in node) on :func:`check_pattern` and the largest differences are printed; with
``--reference`` that input and TensorFlow.js's output are saved for ``tests/test_upscaler.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from music2img.diffusion.upscaler import Upscaler
from music2img.files import atomic_path, sha256sum
from music2img.image.detector_features import read_tfjs_model

NODE_SCRIPT = Path(__file__).resolve().parent / "upscaler_tfjs.js"


def keras_layers(model: dict) -> list[dict]:
    """The layers of a Keras layers model (``model.json`` as Python or as TensorFlow.js saves it)."""
    topology = model["modelTopology"]
    return topology.get("model_config", topology)["config"]["layers"]


def keras_config(model: dict) -> dict:
    """The :class:`Upscaler` configuration of an idealo RDN or RRDN Keras model (``model.json``)."""
    layers = {layer["name"]: layer for layer in keras_layers(model)}

    def count(pattern: str) -> int:
        return sum(bool(re.fullmatch(pattern, name)) for name in layers)

    def filters(name: str) -> int:
        return int(layers[name]["config"]["filters"])

    if "Pre_blocks_conv" in layers:
        return dict(
            architecture="rrdn",
            scale=int(round((filters("PreShuffle") / 3) ** 0.5)),
            blocks=count(r"RRDB_\d+_out"),
            dense_blocks=count(r"LFF_1_\d+"),
            layers=count(r"F_1_1_\d+"),
            growth=filters("F_1_1_1"),
            features=filters("Pre_blocks_conv"),
            pixel_range=1.0,
        )
    if "F_m1" in layers:
        return dict(
            architecture="rdn",
            scale=int(layers["UPsample"]["config"]["size"][0]),
            blocks=count(r"LFF_\d+"),
            layers=count(r"F_1_\d+"),
            growth=filters("F_1_1"),
            features=filters("F_0"),
            pixel_range=255.0,
        )
    raise ValueError("not an idealo RDN or RRDN model (no F_m1 or Pre_blocks_conv layer)")


def convert(model_json: str | os.PathLike, **config) -> Upscaler:
    """The network of ``model_json`` as an fp32 :class:`Upscaler` (``config``: name, license, source).

    UpscalerJS feeds RDN models 0–255 pixels and RRDN models 0–1 (its ``getESRGANModelDefinition``),
    recorded as ``pixel_range``. Raises ``ValueError`` when the model's convolutions are not exactly
    those of the architecture."""
    model, weights = read_tfjs_model(model_json)
    net = Upscaler(**keras_config(model), **config)
    keras_convs = {layer["name"] for layer in keras_layers(model) if layer["class_name"] == "Conv2D"}
    if keras_convs != set(net.conv):
        raise ValueError(
            f"convolutions differ from {net.config.architecture}: {sorted(keras_convs ^ set(net.conv))[:8]}"
        )
    state = {}
    for name in net.conv:
        kernel, bias = weights[f"{name}/kernel"].permute(3, 2, 0, 1), weights[f"{name}/bias"]
        if name == "PreShuffle":  # TF depth_to_space reads channel (i·r + j)·3 + c, torch pixel_shuffle c·r² + i·r + j
            r2 = net.config.scale**2
            order = [k * 3 + c for c in range(3) for k in range(r2)]
            kernel, bias = kernel[order], bias[order]
        state[f"conv.{name}.weight"], state[f"conv.{name}.bias"] = kernel.contiguous(), bias
    net.load_state_dict(state)
    return net.eval()


def check_pattern(height: int = 12, width: int = 10) -> np.ndarray:
    """A ``(height, width, 3)`` test picture in [0, 1]: gradients, a hard diagonal edge, fine noise."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    edge = (x + 0.6 * y > 0.55).astype(np.float64)
    noise = np.random.default_rng(0).uniform(-0.08, 0.08, (height, width, 3))
    picture = np.stack([0.2 + 0.6 * x, 0.3 + 0.5 * edge, 0.8 - 0.6 * y], -1) + noise
    return np.clip(picture, 0, 1).astype(np.float32)


def tfjs_output(model_json: str | os.PathLike, picture: np.ndarray, node_modules: str | os.PathLike) -> np.ndarray:
    """TensorFlow.js's output (``(s·h, s·w, 3)``, on the network's own scale) for ``picture`` ``(h, w, 3)``
    given on that scale."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(json.dumps({"shape": list(picture.shape), "data": picture.reshape(-1).tolist()}))
        subprocess.run(
            ["node", str(NODE_SCRIPT), "run", str(model_json), str(src), str(dst)],
            check=True,
            env={**os.environ, "NODE_PATH": str(node_modules)},
            stdout=subprocess.DEVNULL,
        )
        out = json.loads(dst.read_text())
    return np.asarray(out["data"], np.float32).reshape(out["shape"])


def torch_output(net: Upscaler, picture: np.ndarray) -> np.ndarray:
    """``net``'s unclipped output for ``picture`` ``(h, w, 3)`` on the network's own scale, likewise."""
    scale = net.config.pixel_range
    with torch.no_grad():
        y = net.float()(torch.from_numpy(picture / scale).permute(2, 0, 1)[None].float())
    return y[0].permute(1, 2, 0).numpy() * scale


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("package", type=Path, help="the .tgz of `npm pack @upscalerjs/esrgan-…`")
    p.add_argument("--model", default="models/x4/model.json", help="model inside the package (default: %(default)s)")
    p.add_argument("--name", help="the upscaler's name (default: the package's, e.g. esrgan-medium)")
    p.add_argument("--out", type=Path, required=True, help="folder to write the upscaler to")
    p.add_argument("--node-modules", type=Path, required=True, help="node_modules with @tensorflow/tfjs 4.11")
    p.add_argument("--reference", type=Path, help="save the check input and TensorFlow.js's output here (JSON)")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(args.package) as tar:
            tar.extractall(tmp, filter="data")
        package = json.loads((Path(tmp) / "package" / "package.json").read_text())
        model_json = Path(tmp) / "package" / args.model
        name = args.name or package["name"].split("/")[-1]
        source = (
            f"npm {package['name']} {package['version']} ({args.model}; "
            f"{args.package.name} sha256 {sha256sum(args.package)})"
        )
        net = convert(model_json, name=name, license=package["license"], source=source)
        picture = check_pattern() * net.config.pixel_range
        expected = tfjs_output(model_json, picture, args.node_modules)
        license_text = (Path(tmp) / "package" / "LICENSE").read_text(encoding="utf-8")
    got32 = torch_output(net, picture)
    net.half().save_pretrained(args.out, license_text=license_text)
    got16 = torch_output(Upscaler.from_pretrained(args.out), picture)
    span = float(np.ptp(expected))
    print(f"{name}: {sum(t.numel() for t in net.parameters()):,} parameters, config {dict(net.config)}")
    print(
        f"largest difference to TensorFlow.js on a {picture.shape[0]}×{picture.shape[1]} picture (output span "
        f"{span:.3g}): fp32 {np.abs(got32 - expected).max():.3g}, fp16 as saved {np.abs(got16 - expected).max():.3g}"
    )
    if args.reference:
        with atomic_path(args.reference) as tmp_file:
            tmp_file.write_text(
                json.dumps({"source": source, "input": picture.round(6).tolist(), "output": expected.round(4).tolist()})
                + "\n"
            )


if __name__ == "__main__":
    main()
