"""The upscaler: conversion against TensorFlow.js's own output, sizes and range, tiles, the pipeline
component (save/load, fallback) and checked weight files.

``tests/data/upscaler_tiny/{rdn,rrdn}`` are tiny random networks with the UpscalerJS layer names and
TensorFlow.js's output for a random input, saved once by ``node train/upscaler_tfjs.js tiny``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from factories_diffusion import make_tiny_unet
from PIL import Image

from music2img.assets import DIFFUSION_MODEL_DIR
from music2img.diffusion.pipeline import EmotionLandscapePipeline, load_pipeline
from music2img.diffusion.schedulers import make_scheduler, training_scheduler
from music2img.diffusion.upscaler import CHECKSUMS_NAME, LICENSE_NAME, WEIGHTS_NAME, Upscaler, lanczos_resize
from music2img.errors import ModelFileError
from train.convert_upscaler import convert, keras_config, torch_output

DATA = Path(__file__).parent / "data"
TINY = DATA / "upscaler_tiny"


def _tiny(arch: str = "rdn") -> Upscaler:
    net = convert(TINY / arch / "model.json", name=f"tiny-{arch}", license="MIT")
    net.license_text = "MIT License (test)"
    return net


@pytest.mark.parametrize("arch", ["rdn", "rrdn"])
def test_conversion_reproduces_tensorflow_js(arch):
    reference = json.loads((TINY / arch / "reference.json").read_text())
    x = np.asarray(reference["input"]["data"], np.float32).reshape(reference["input"]["shape"])
    expected = np.asarray(reference["output"]["data"], np.float32).reshape(reference["output"]["shape"])
    net = _tiny(arch)
    assert net.config.architecture == arch and net.config.scale == 4
    got = torch_output(net, x)
    assert got.shape == expected.shape == (24, 20, 3)
    assert np.abs(got - expected).max() < 1e-5 * np.ptp(expected)


def test_shipped_upscaler_reproduces_tensorflow_js():
    """The shipped fp16 weights against TensorFlow.js running the original package (reference saved once)."""
    reference = json.loads((DATA / "upscaler_tfjs_reference.json").read_text())
    net = Upscaler.from_pretrained(DIFFUSION_MODEL_DIR / "upscaler")
    assert reference["source"] == net.config.source
    got = torch_output(net, np.asarray(reference["input"], np.float32))
    expected = np.asarray(reference["output"], np.float32)
    assert np.abs(got - expected).max() < 2e-3 * net.config.pixel_range  # fp16 weights: within half a grey level


def test_conversion_rejects_other_models():
    model = json.loads((TINY / "rdn" / "model.json").read_text())
    layers = model["modelTopology"]["config"]["layers"]
    with pytest.raises(ValueError, match="not an idealo"):
        keras_config({"modelTopology": {"config": {"layers": [layer for layer in layers if layer["name"] != "F_m1"]}}})


@pytest.mark.parametrize("arch", ["rdn", "rrdn"])
def test_output_size_range_and_tiles(arch):
    net = _tiny(arch)
    x = torch.rand(2, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    whole = net.upscale(x)
    assert whole.shape == (2, 3, 36, 28) and whole.min() >= 0 and whole.max() <= 1
    assert (net(x) > 1).any() or (net(x) < 0).any()  # the random network overshoots: upscale clips
    tiled = net.upscale(x, tile=4)  # tiles padded by the receptive field: the same result, no seams
    assert torch.allclose(tiled, whole, atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        net.upscale(x[:, :1])


def _pipeline(upscaler: Upscaler | None) -> EmotionLandscapePipeline:
    pipe = EmotionLandscapePipeline(
        unet=make_tiny_unet(), scheduler=make_scheduler("ddim", training_scheduler().config), upscaler=upscaler
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _paint(pipe, **kwargs):
    return pipe(
        3.0, 7.0, num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt", **kwargs
    ).images


def test_pipeline_saves_and_loads_the_upscaler(tmp_path):
    pipe = _pipeline(_tiny())
    pipe.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "model_index.json").read_text())["upscaler"] == [
        "music2img.diffusion.upscaler",
        "Upscaler",
    ]
    assert (tmp_path / "upscaler" / LICENSE_NAME).read_text() == "MIT License (test)"
    loaded = load_pipeline(tmp_path)
    assert isinstance(loaded.upscaler, Upscaler) and loaded.upscaler.config.name == "tiny-rdn"
    for (name, a), b in zip(pipe.upscaler.state_dict().items(), loaded.upscaler.state_dict().values()):
        assert torch.equal(a, b), name
    loaded.set_progress_bar_config(disable=True)
    small, big = _paint(loaded), _paint(loaded, size=64)
    assert small.shape == (1, 3, 16, 16) and big.shape == (1, 3, 64, 64) and 0 <= big.min() and big.max() <= 1
    assert torch.allclose(big, loaded.upscaler.upscale(small), atol=1e-5)
    assert _paint(loaded, size=48).shape == (1, 3, 48, 48)  # the network's 64, then Lanczos
    loaded.save_pretrained(tmp_path / "again")  # the licence travels with it
    assert (tmp_path / "again" / "upscaler" / LICENSE_NAME).read_text() == "MIT License (test)"


def test_lanczos_fallback():
    plain, with_net = _pipeline(None), _pipeline(_tiny())
    small = _paint(plain)
    lanczos = lanczos_resize(small, 64)
    assert torch.allclose(_paint(plain, size=64), lanczos, atol=1e-5)
    assert torch.allclose(_paint(with_net, size=64, use_upscaler=False), lanczos, atol=1e-5)
    assert not torch.allclose(_paint(with_net, size=64), lanczos, atol=1e-2)
    assert _paint(with_net, size=8).shape == (1, 3, 8, 8)  # smaller: Lanczos
    images = plain(3.0, 7.0, num_inference_steps=2, size=40).images
    assert images[0].size == (40, 40)
    with pytest.raises(ValueError, match="size"):
        _paint(plain, size=0)


def test_upscaler_saved_without_licence_is_refused(tmp_path):
    net = convert(TINY / "rdn" / "model.json")
    with pytest.raises(ValueError, match="licen"):
        net.save_pretrained(tmp_path)


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "licence", "checksums"])
def test_corrupt_or_missing_weights_give_a_clear_error(tmp_path, damage):
    _pipeline(_tiny()).save_pretrained(tmp_path)
    folder = tmp_path / "upscaler"
    weights = folder / WEIGHTS_NAME
    if damage == "flip":
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "delete":
        weights.unlink()
    elif damage == "licence":
        (folder / LICENSE_NAME).unlink()
    else:
        (folder / CHECKSUMS_NAME).unlink()
    expected = {
        "flip": "checksum mismatch",
        "truncate": "checksum mismatch",
        "delete": "not found",
        "licence": "not found.*LICENSE",
        "checksums": "checksums",
    }[damage]
    with pytest.raises(ModelFileError, match=expected) as err:
        load_pipeline(tmp_path)
    assert "upscaler" in str(err.value)


def test_shipped_pipeline_has_the_upscaler(tmp_path):
    shutil.copytree(DIFFUSION_MODEL_DIR / "upscaler", tmp_path / "upscaler")
    net = Upscaler.from_pretrained(tmp_path / "upscaler")
    assert net.config.scale == 4 and net.config.license == "MIT" and "MIT" in net.license_text
    assert json.loads((DIFFUSION_MODEL_DIR / "model_index.json").read_text())["upscaler"][1] == "Upscaler"


def test_generate_cli_size_and_upscaler(tmp_path, capsys):
    from music2img.cli import main

    _pipeline(_tiny()).save_pretrained(tmp_path / "model")
    common = ["generate", "--valence", "7", "--arousal", "3", "--model", str(tmp_path / "model"), "--steps", "1"]
    outputs = {}
    for name, extra in {
        "default": [],
        "lanczos": ["--upscaler", "lanczos", "--size", "256"],
        "small": ["--size", "128", "--upscaler", "tiny-rdn"],
    }.items():
        out = tmp_path / f"{name}.png"
        assert main([*common, "--out", str(out), *extra]) == 0
        record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        outputs[name] = (record["size"], record["upscaler"], Image.open(out).size)
    assert outputs == {
        "default": (512, "tiny-rdn", (512, 512)),
        "lanczos": (256, "lanczos", (256, 256)),
        "small": (128, "tiny-rdn", (128, 128)),
    }
    assert main([*common, "--out", str(tmp_path / "x.png"), "--upscaler", "esrgan-huge"]) == 2
    assert "--upscaler esrgan-huge: this model offers lanczos or tiny-rdn" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_music_to_image_enlarges_with_the_network(tmp_path):
    from factories_music import make_tiny_music_model

    from music2img.music_to_image import MusicToImage

    _pipeline(_tiny()).save_pretrained(tmp_path / "diffusion")
    m2i = MusicToImage.load(make_tiny_music_model(tmp_path / "music"), tmp_path / "diffusion", device="cpu")
    fast = dict(steps=2, scheduler="ddim", seed=3)
    (small,), (big,), (lanczos,) = (
        m2i.generate(5.0, 5.0, **fast),
        m2i.generate(5.0, 5.0, size=64, **fast),
        m2i.generate(5.0, 5.0, size=64, use_upscaler=False, **fast),
    )
    x = torch.from_numpy(np.asarray(small, np.float32) / 255).permute(2, 0, 1)[None]
    assert big.size == lanczos.size == (64, 64)
    assert np.abs(np.asarray(big, np.float32) - np.asarray(lanczos, np.float32)).mean() > 1
    network = m2i.pipeline.upscaler.upscale(x)[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(np.asarray(big, np.float32) - network).mean() < 1  # the 8-bit picture vs the float one
