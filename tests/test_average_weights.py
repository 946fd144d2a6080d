"""train/average_weights.py on tiny pipelines: the weighted mean of the UNets, the rest of the first folder kept."""

import pytest
import torch
from factories_diffusion import make_tiny_pipeline

from music2img.diffusion.pipeline import load_pipeline
from train import average_weights


def test_average_is_the_weighted_mean_and_keeps_the_first_folder(tmp_path):
    a, b = make_tiny_pipeline(tmp_path / "a", seed=1), make_tiny_pipeline(tmp_path / "b", seed=2)
    (a / "MODEL_CARD.md").write_text("card of a")
    out = tmp_path / "soup"
    assert average_weights.main([str(a), str(b), "--weights", "3", "1", "--out", str(out)]) == 0
    sa, sb = (load_pipeline(p).unet.state_dict() for p in (a, b))
    soup = load_pipeline(out).unet.state_dict()
    assert not torch.equal(sa["conv_in.weight"], sb["conv_in.weight"])
    for k in sa:
        torch.testing.assert_close(soup[k], 0.75 * sa[k] + 0.25 * sb[k])
    card = (out / "MODEL_CARD.md").read_text()
    assert card.startswith("card of a") and f"`{a}` × 0.75, `{b}` × 0.25" in card
    assert average_weights.saved_dtype(out) == average_weights.saved_dtype(a)


def test_refuses_different_configs_and_overwriting_an_input(tmp_path, capsys):
    from factories_diffusion import make_tiny_unet

    from music2img.diffusion.pipeline import EmotionLandscapePipeline
    from music2img.diffusion.schedulers import training_scheduler

    a = make_tiny_pipeline(tmp_path / "a")
    wide = tmp_path / "wide"
    unet = make_tiny_unet(block_out_channels=(8, 24))
    EmotionLandscapePipeline(unet=unet, scheduler=training_scheduler()).save_pretrained(wide)
    with pytest.raises(SystemExit, match="block_out_channels"):
        average_weights.main([str(a), str(wide), "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit):
        average_weights.main([str(a), str(a), "--out", str(a)])
    assert "must be a new folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        average_weights.main([str(a), str(a), "--weights", "1", "--out", str(tmp_path / "y")])
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
