"""benchmarks/diffusion_quality.py end to end on a tiny pipeline and a few synthetic photos."""

import json

from conftest import load_script
from factories_diffusion import make_labelled_folder, make_tiny_pipeline, make_tiny_unet, perturb_emotion
from PIL import Image

from music2img.diffusion.pipeline import EmotionLandscapePipeline
from music2img.diffusion.schedulers import training_scheduler


def test_quality_benchmark_reports_every_measure(tmp_path, capsys):
    bench = load_script("benchmarks/diffusion_quality.py")
    model = tmp_path / "pipe"
    EmotionLandscapePipeline(unet=perturb_emotion(make_tiny_unet()), scheduler=training_scheduler()).save_pretrained(
        model
    )
    old = make_tiny_pipeline(tmp_path / "old", seed=1)
    data = tmp_path / "data"
    make_labelled_folder(data, n=12, size=24)
    (data / "other.csv").write_text("file,category\n0.png,a\n1.png,b\n")
    out = tmp_path / "out"
    cmd = [
        "--model",
        str(model),
        "--baseline",
        str(old),
        "--data",
        str(data),
        "--labels",
        str(data / "labels.csv"),
        "--other",
        str(data / "other.csv"),
        "--seeds",
        "2",
        "--control-seeds",
        "1",
        "--steps",
        "2",
        "--variants",
        "plain",
        "map+redraw",
        "--cache",
        str(tmp_path / "cache"),
        "--out",
        str(out),
    ]
    assert bench.main(cmd) == 0
    stdout = capsys.readouterr().out
    report = json.loads((out / "quality.json").read_text())
    assert set(report["models"]) == {"pipe:plain", "pipe:map+redraw", "old:plain"}
    for name, row in report["models"].items():
        assert row["detail"] > 0 and row["frechet_features"] > 0 and row["frechet_pixels"] > 0
        assert len(row["rejected_per_cell"]) == 25 and 0 <= row["rejected"] <= 1
        assert -1 <= row["spearman_valence"] <= 1 or name == "old:plain"  # the old tiny UNet ignores the emotion
    plain, redraw = report["models"]["pipe:plain"], report["models"]["pipe:map+redraw"]
    assert plain["extra_pictures_per_picture"] == 0 and plain["rejected"] == plain["rejected_first_draw"]
    assert redraw["extra_pictures_per_picture"] == redraw["rejected_first_draw"]  # one redraw each
    assert set(report["check"]["other_photos_rejected"]) == {"a", "b"}
    assert "| pipe:map+redraw |" in stdout and "rejected per cell" in stdout
    assert (out / "pipe_plain_grid.png").is_file() and (out / "old_plain_nearest.png").is_file()
    assert Image.open(out / "pipe_plain_nearest.png").size == (10 * 130 + 2, 5 * 130 + 2)
    # a second run paints nothing new
    assert bench.main(cmd) == 0
    rerun = json.loads((out / "quality.json").read_text())["models"]["pipe:map+redraw"]
    assert rerun.pop("seconds_per_picture") is None and rerun == {
        k: v for k, v in redraw.items() if k != "seconds_per_picture"
    }
    # guiding part of the steps gives other pictures: painted anew, not read from the cache
    half = ["--guidance-interval", "0", "0.5", "--variants", "plain"]
    assert bench.main([*cmd[: cmd.index("--variants")], *cmd[cmd.index("--cache") :], *half]) == 0
    report = json.loads((out / "quality.json").read_text())
    assert report["settings"]["guidance_interval"] == [0.0, 0.5]
    assert report["models"]["pipe:plain"]["seconds_per_picture"] is not None
