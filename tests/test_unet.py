"""EmotionUNet: shapes, AdaIN conditioning, the null embedding, save/load."""

from __future__ import annotations

import pytest
import torch
from factories_diffusion import TINY_UNET, make_tiny_unet

from music2img.diffusion.unet import EmotionUNet, UNet2DOutput, normalize_va


def _inputs(b=2, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, size, size, generator=g), torch.tensor([10, 900])[:b]


def _perturb_adain(unet, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if ".adain." in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def test_shapes_and_outputs():
    unet = make_tiny_unet()
    x, t = _inputs()
    out = unet(x, t, torch.tensor([2.0, 8.0]), torch.tensor([5.0, 1.0]))
    assert isinstance(out, UNet2DOutput) and out.sample.shape == x.shape
    (tup,) = unet(x, t, 3.0, 4.0, return_dict=False)
    assert tup.shape == x.shape
    # scalar timestep and emotion broadcast to the batch
    assert torch.allclose(
        unet(x, 10, 3.0, 4.0).sample[0], unet(x[:1], torch.tensor([10]), 3.0, 4.0).sample[0], atol=1e-5
    )


@pytest.mark.parametrize(
    "config",
    [
        dict(block_out_channels=(8, 16, 16), layers_per_block=2, attention_resolutions=(8, 4)),
        dict(sample_size=32, block_out_channels=(8, 16), attention_resolutions=()),
    ],
)
def test_other_configs(config):
    unet = make_tiny_unet(**config)
    size = unet.config.sample_size
    assert unet(torch.randn(1, 3, size, size), 5, 5.0, 5.0).sample.shape == (1, 3, size, size)


def test_attention_only_at_requested_resolutions():
    unet = EmotionUNet(sample_size=32, block_out_channels=(8, 16, 16), attention_resolutions=(8,), norm_num_groups=4)
    down = [any(not isinstance(a, torch.nn.Identity) for a in level.attentions) for level in unet.down]
    assert down == [False, False, True]  # resolutions 32, 16, 8


def test_normalize_va():
    assert normalize_va(torch.tensor([1.0, 5.0, 9.0])).tolist() == [-1.0, 0.0, 1.0]


def test_adain_is_identity_at_init_and_emotion_matters_after():
    unet = make_tiny_unet()
    x, t = _inputs()
    a = unet(x, t, torch.tensor([1.0, 1.0]), torch.tensor([1.0, 9.0])).sample
    b = unet(x, t, torch.tensor([9.0, 9.0]), torch.tensor([9.0, 1.0])).sample
    assert torch.equal(a, b)  # zero-initialised γ, β: emotion has no effect yet
    _perturb_adain(unet)
    a = unet(x, t, torch.tensor([1.0, 1.0]), torch.tensor([1.0, 9.0])).sample
    b = unet(x, t, torch.tensor([9.0, 9.0]), torch.tensor([9.0, 1.0])).sample
    assert (a - b).abs().max() > 1e-3


def test_drop_emotion_uses_null_embedding():
    unet = make_tiny_unet()
    _perturb_adain(unet)
    x, t = _inputs()
    drop = torch.tensor([True, False])
    out1 = unet(x, t, torch.tensor([2.0, 2.0]), torch.tensor([3.0, 3.0]), drop_emotion=drop).sample
    out2 = unet(x, t, torch.tensor([8.0, 2.0]), torch.tensor([7.0, 3.0]), drop_emotion=drop).sample
    assert torch.equal(out1[0], out2[0])  # dropped row ignores the emotion
    emb = unet.embed_emotion(torch.tensor([2.0, 2.0]), torch.tensor([3.0, 3.0]), drop)
    assert torch.equal(emb[0], unet.null_emotion) and not torch.equal(emb[1], unet.null_emotion)
    # changing the learned null vector changes the dropped row only
    with torch.no_grad():
        unet.null_emotion.add_(1.0)
    out3 = unet(x, t, torch.tensor([2.0, 2.0]), torch.tensor([3.0, 3.0]), drop_emotion=drop).sample
    assert not torch.allclose(out3[0], out1[0]) and torch.equal(out3[1], out1[1])


def test_save_load_roundtrip(tmp_path):
    unet = make_tiny_unet()
    _perturb_adain(unet)
    unet.save_pretrained(tmp_path / "unet")
    assert (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (tmp_path / "unet" / "config.json").is_file()
    loaded = EmotionUNet.from_pretrained(tmp_path / "unet", low_cpu_mem_usage=False).eval()
    assert tuple(loaded.config.block_out_channels) == TINY_UNET["block_out_channels"]
    x, t = _inputs()
    va = torch.tensor([2.0, 7.0])
    assert torch.equal(unet(x, t, va, va).sample, loaded(x, t, va, va).sample)


def test_production_default_is_small():
    unet = EmotionUNet()
    assert unet.config.sample_size == 128 and unet.config.emotion_embed_dim == 256
    assert sum(p.numel() for p in unet.parameters()) <= 20_000_000


def test_guidance_input_is_off_by_default_and_a_no_op_when_switched_on():
    teacher = make_tiny_unet(0)
    assert not teacher.config.guidance_embedding and not any("guidance" in n for n in teacher.state_dict())
    student = make_tiny_unet(0, guidance_embedding=True)
    missing, unexpected = student.load_state_dict(teacher.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("guidance_mlp.") for k in missing)
    x, t = _inputs()
    with torch.no_grad():
        base = teacher(x, t, 5.0, 5.0).sample
        assert torch.equal(student(x, t, 5.0, 5.0, guidance=9.0).sample, base)  # zero-initialised output layer
        student.guidance_mlp[2].weight.normal_(0, 0.1, generator=torch.Generator().manual_seed(0))
        assert not torch.allclose(
            student(x, t, 5.0, 5.0, guidance=2.0).sample, student(x, t, 5.0, 5.0, guidance=9.0).sample
        )
    with pytest.raises(ValueError, match="takes a guidance scale"):
        student(x, t, 5.0, 5.0)
    with pytest.raises(ValueError, match="no guidance input"):
        teacher(x, t, 5.0, 5.0, guidance=9.0)


def test_shipped_config_without_the_flag_loads_with_it_off(tmp_path):
    import json

    make_tiny_unet(0).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.pop("guidance_embedding")  # as the shipped weights' config, saved before the flag existed
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert not EmotionUNet.from_pretrained(tmp_path).config.guidance_embedding
