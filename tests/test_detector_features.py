import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from music2img.errors import ModelFileError
from music2img.image import detector_features as detector
from music2img.image.detector_features import TFJSGraph, detector_features, load_detector


def _b64(text):
    return {"s": base64.b64encode(text.encode()).decode()}


def _conv_node(name, op, inputs, stride, fused=None):
    attr = {"strides": {"list": {"i": ["1", str(stride), str(stride), "1"]}}, "padding": _b64("SAME")}
    if fused:
        attr["fused_ops"] = {"list": {"s": [base64.b64encode(f.encode()).decode() for f in fused]}}
    return {"name": name, "op": op, "input": inputs, "attr": attr}


def _same_conv_reference(x, w, stride, depthwise=False):
    """Direct NHWC convolution with TensorFlow's SAME padding (the extra pixel bottom/right)."""
    n, h, wd, c = x.shape
    kh, kw = w.shape[:2]
    oh, ow = -(-h // stride), -(-wd // stride)
    ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - wd, 0)
    xp = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    out = np.zeros((n, oh, ow, c if depthwise else w.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j] = (
                np.einsum("nhwc,hwc->nc", patch, w[..., 0]) if depthwise else np.einsum("nhwc,hwco->no", patch, w)
            )
    return out


def _tiny_graph(tmp_path, rng):
    """A five-op graph model on disk: fused conv (stride 2, bias, ReLU6), depthwise conv, scale, mean,
    upsampling and concatenation; weights float32 except one float16-quantised tensor."""
    weights = {
        "conv_w": rng.normal(size=(3, 3, 2, 4)).astype(np.float32),
        "conv_b": rng.normal(size=4).astype(np.float32),
        "dw_w": rng.normal(size=(3, 3, 4, 1)).astype(np.float32),
        "scale": np.array([0.5, 1.0, 2.0, -1.0], np.float32),
        "axes": np.array([1, 2], np.int32),
        "axis": np.array(3, np.int32),
        "size": np.array([0, 0], np.int32),
    }
    nodes = [
        {"name": "x", "op": "Placeholder", "attr": {}},
        _conv_node("conv", "_FusedConv2D", ["x", "conv_w", "conv_b"], 2, ["BiasAdd", "Relu6"]),
        _conv_node("dw", "DepthwiseConv2dNative", ["conv", "dw_w"], 1),
        {"name": "scaled", "op": "Mul", "input": ["dw", "scale"], "attr": {}},
        {"name": "pooled", "op": "Mean", "input": ["scaled", "axes"], "attr": {"keep_dims": {"b": True}}},
        {"name": "up", "op": "ResizeBilinear", "input": ["scaled", "size"], "attr": {}},
        {"name": "both", "op": "ConcatV2", "input": ["up", "up", "axis"], "attr": {}},
    ]
    manifest, blobs = [], []
    for name, value in weights.items():
        spec = {"name": name, "shape": list(value.shape), "dtype": "int32" if value.dtype == np.int32 else "float32"}
        if name == "scale":
            spec["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
            value = value.astype(np.float16)
        manifest.append(spec)
        blobs.append(value.tobytes())
    (tmp_path / "g.bin").write_bytes(b"".join(blobs))
    (tmp_path / "model.json").write_text(
        json.dumps({"modelTopology": {"node": nodes}, "weightsManifest": [{"paths": ["g.bin"], "weights": manifest}]})
    )
    return weights


@pytest.mark.parametrize("side", [7, 8])  # odd and even: SAME padding differs
def test_tfjs_graph_matches_tensorflow_semantics(tmp_path, side):
    rng = np.random.default_rng(side)
    w = _tiny_graph(tmp_path, rng)
    graph = TFJSGraph.load(tmp_path / "model.json")
    x = rng.normal(size=(2, side, side, 2)).astype(np.float32)
    out = graph({"x": torch.from_numpy(x)}, ["conv", "scaled", "pooled", "up", "both"])
    conv = np.clip(_same_conv_reference(x, w["conv_w"], 2) + w["conv_b"], 0, 6)
    scaled = _same_conv_reference(conv, w["dw_w"], 1, depthwise=True) * w["scale"]
    assert out["conv"].shape == (2, (side + 1) // 2, (side + 1) // 2, 4)
    assert np.allclose(out["conv"].numpy(), conv, atol=1e-4)
    assert np.allclose(out["scaled"].numpy(), scaled, atol=1e-4)
    assert np.allclose(out["pooled"].numpy(), scaled.mean((1, 2), keepdims=True), atol=1e-4)
    up = out["up"].numpy()  # legacy resize: even output pixels copy the input, odd ones average neighbours
    assert up.shape == (2, 2 * scaled.shape[1], 2 * scaled.shape[2], 4)
    assert np.allclose(up[:, ::2, ::2], scaled, atol=1e-5)
    assert np.allclose(up[:, 1:-1:2, ::2], (scaled[:, :-1] + scaled[:, 1:]) / 2, atol=1e-5)
    assert np.allclose(up[:, -1, ::2], scaled[:, -1], atol=1e-5)  # the edge repeats
    assert out["both"].shape[-1] == 8


def test_tfjs_graph_errors(tmp_path):
    _tiny_graph(tmp_path, np.random.default_rng(0))
    graph = json.loads((tmp_path / "model.json").read_text())
    graph["modelTopology"]["node"].append({"name": "odd", "op": "Erf", "input": ["x"], "attr": {}})
    (tmp_path / "model.json").write_text(json.dumps(graph))
    with pytest.raises(NotImplementedError, match="Erf"):
        TFJSGraph.load(tmp_path / "model.json")({"x": torch.zeros(1, 4, 4, 2)}, ["odd"])
    (tmp_path / "g.bin").write_bytes((tmp_path / "g.bin").read_bytes() + b"\0\0\0\0")
    with pytest.raises(ModelFileError, match="manifest"):
        TFJSGraph.load(tmp_path / "model.json")


def test_shipped_detector_checksums(tmp_path):
    with pytest.raises(ModelFileError):
        load_detector(tmp_path / "missing")
    shutil.copytree(detector.DETECTOR_DIR, tmp_path / "d")
    data = bytearray((tmp_path / "d" / detector.WEIGHTS_FILE).read_bytes())
    data[1000] ^= 0xFF
    (tmp_path / "d" / detector.WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        load_detector(tmp_path / "d")


def test_detector_features_of_any_image():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
    dark = np.zeros((64, 64, 3), np.uint8)
    a, b = detector_features(small), detector_features(dark)
    assert a.shape == b.shape == (len(detector.FEATURE_NAMES),) and np.isfinite(a).all() and np.isfinite(b).all()
    assert len(set(detector.FEATURE_NAMES)) == len(detector.FEATURE_NAMES) == 2 * sum(detector.TAP_CHANNELS.values())
    assert not np.allclose(a, b) and np.array_equal(a, detector_features(small))


def _pattern(size=512):
    """A deterministic picture: sky-like gradient, a bright disc, stripes and a dark ground."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    r, g, b = 255 * (0.3 + 0.5 * yy), 255 * (0.4 + 0.3 * np.sin(12 * xx) ** 2), 255 * (0.9 - 0.6 * yy)
    img = np.stack([r, g, b], -1)
    img[(xx - 0.7) ** 2 + (yy - 0.25) ** 2 < 0.01] = 250
    img[yy > 0.7] *= 0.35
    return np.round(img).astype(np.float32)


def test_shipped_graph_matches_tensorflow_js():
    """The interpreter reproduces TensorFlow.js's own execution of the shipped graph (reference saved once)."""
    reference = json.loads((Path(__file__).parent / "data" / "centernet_tfjs_reference.json").read_text())
    layers = [name for name in reference if name.startswith("tower_0/") and name != "tower_0/keypoints"]
    heads = "tower_0/CenternetHead/centernet_cls_output/BiasAdd"
    out = load_detector()({"tower_0/images": torch.from_numpy(_pattern())[None]}, layers + [heads])
    for name in layers:
        assert np.allclose(out[name][0].mean((0, 1)).numpy(), reference[name], atol=1e-3), name
    heat = torch.sigmoid(out[heads][0]).amax((0, 1)).numpy()
    assert np.allclose(heat, reference["tower_0/keypoints"], atol=1e-4)
