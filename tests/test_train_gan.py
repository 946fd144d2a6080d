"""train/gan.py on a tiny generated dataset: growth schedule, bit-exact resume, time budget, export."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import test_train_diffusion
import torch
from PIL import Image

from music2img.diffusion.gan import EmotionGANPipeline, ProgressiveGenerator, load_gan_pipeline

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from train import gan  # noqa: E402

data = test_train_diffusion.data  # the tiny labelled image folder (a module-scoped fixture)


def _args(data, out, *extra) -> list[str]:
    root, labels, _ = data
    return [
        "--data",
        str(root),
        "--labels",
        str(labels),
        "--out",
        str(out),
        "--resolution",
        "16",
        "--channels",
        "8,8,4",
        "--latent-dim",
        "8",
        "--emotion-dim",
        "4",
        "--batch-size",
        "4",
        "--phase-steps",
        "2",
        "--log-every",
        "1",
        "--sample-every",
        "0",
        "--checkpoint-every",
        "0",
        "--workers",
        "1",
        "--quiet",
        *extra,
    ]


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _ckpt(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", weights_only=True)


def test_stage_schedule():
    stages = [gan.stage(s, 4, 3) for s in range(24)]
    assert stages[:4] == [(0, 1.0)] * 4  # 4×4
    assert stages[4:8] == [(1, 0.0), (1, 0.25), (1, 0.5), (1, 0.75)]  # 8×8 fades in
    assert stages[8:12] == [(1, 1.0)] * 4
    assert [a for _, a in stages[12:16]] == [0.0, 0.25, 0.5, 0.75] and stages[12][0] == 2
    assert stages[16:] == [(2, 1.0)] * 8  # the last level stays
    assert gan.growth_steps(4, 3) == 16 and gan.growth_steps(4, 1) == 0
    assert gan.stage(10, 4, 1) == (0, 1.0)
    assert gan.default_channels(64) == [128, 128, 64, 32, 16] and len(gan.default_channels(128)) == 6


def test_training_grows_and_exports_a_loadable_pipeline(data, tmp_path):
    assert gan.main(_args(data, tmp_path, "--steps", "12")) == 0
    log = _log(tmp_path)
    assert [r["resolution"] for r in log] == [4, 4, 8, 8, 8, 8, 16, 16, 16, 16, 16, 16]
    assert [r["alpha"] for r in log[:6]] == [1.0, 1.0, 0.0, 0.5, 1.0, 1.0]
    for row in log:
        assert all(np.isfinite(row[k]) for k in gan.GANTrainer.loss_keys) and row["gp"] >= 0
    folder = tmp_path / "pipeline"
    card = (folder / "MODEL_CARD.md").read_text()
    assert "reached: 16×16" in card and "not the full" not in card and "grid_step" in card
    assert Image.open(next(folder.glob("grid_step*.png"))).size == (5 * 18 + 2, 5 * 18 + 2)
    assert (folder / "loss_curve.png").is_file()
    pipe = load_gan_pipeline(folder)
    images = pipe([2, 8], [8, 2], output_type="np").images
    assert images.shape == (2, 16, 16, 3) and np.isfinite(images).all()


SKY, GROUND = np.array([0.3, 0.5, 0.9]), np.array([0.3, 0.6, 0.2])


@pytest.fixture(scope="module")
def landscapes(tmp_path_factory) -> Path:
    """Sixteen 'landscapes' (blue sky over green ground), brighter with valence."""
    root = tmp_path_factory.mktemp("landscapes")
    rows = ["file,valence,arousal"]
    for i in range(16):
        v = 1 + i * 0.5
        arr = np.concatenate([np.tile(SKY, (4, 8, 1)), np.tile(GROUND, (4, 8, 1))]) * (0.3 + 0.04 * v)
        Image.fromarray((arr * 255).round().astype(np.uint8)).save(root / f"{i}.png")
        rows.append(f"{i}.png,{v},5")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def test_generator_learns_the_picture_layout(landscapes, tmp_path):
    def halves_error(images: np.ndarray) -> float:  # top/bottom mean colour against the data's
        top, bottom = images[:, :4].mean((0, 1, 2)), images[:, 4:].mean((0, 1, 2))
        return float(np.abs(top - SKY * 0.5).mean() + np.abs(bottom - GROUND * 0.5).mean())

    args = [
        "--data",
        str(landscapes),
        "--labels",
        str(landscapes / "labels.csv"),
        "--out",
        str(tmp_path),
        "--resolution",
        "8",
        "--channels",
        "16,16",
        "--latent-dim",
        "8",
        "--batch-size",
        "8",
        "--phase-steps",
        "20",
        "--steps",
        "120",
        "--log-every",
        "20",
        "--sample-every",
        "0",
        "--checkpoint-every",
        "0",
        "--workers",
        "1",
        "--quiet",
        "--no-final-grid",
    ]
    assert gan.main(args) == 0
    gens = [torch.Generator().manual_seed(s) for s in range(16)]
    trained = load_gan_pipeline(tmp_path / "pipeline")
    torch.manual_seed(0)  # the trainer's initialisation
    untrained = EmotionGANPipeline(gan=ProgressiveGenerator(resolution=8, latent_dim=8, channels=(16, 16)))
    before = halves_error(untrained([5] * 16, [5] * 16, generator=gens, output_type="np").images)
    gens = [torch.Generator().manual_seed(s) for s in range(16)]
    after = halves_error(trained([5] * 16, [5] * 16, generator=gens, output_type="np").images)
    assert after < 0.5 * before


def test_resume_is_bit_exact(data, tmp_path):
    common = ("--steps", "9", "--no-final-grid")  # the pause falls inside the 8×8 fade-in
    assert gan.main(_args(data, tmp_path / "a", *common)) == 0
    assert gan.main(_args(data, tmp_path / "b", *common, "--pause-at", "3")) == 0
    assert _ckpt(tmp_path / "b")["step"] == 3 and not (tmp_path / "b" / "pipeline").exists()
    assert gan.main(_args(data, tmp_path / "b", *common, "--resume")) == 0
    la, lb = _log(tmp_path / "a"), _log(tmp_path / "b")
    keys = ("step", "resolution", "alpha", *gan.GANTrainer.loss_keys, "critic", "generator")
    assert [[r[k] for k in keys] for r in la] == [[r[k] for k in keys] for r in lb] and len(la) == 9
    a, b = _ckpt(tmp_path / "a"), _ckpt(tmp_path / "b")
    for key in ("generator", "critic"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    assert all(torch.equal(a["ema"]["model"][k], b["ema"]["model"][k]) for k in a["ema"]["model"])
    assert a["rng"]["noise"].equal(b["rng"]["noise"]) and a["images_seen"] == b["images_seen"] == 36
    with pytest.raises(SystemExit, match="phase-steps"):
        gan.main(_args(data, tmp_path / "b", "--steps", "12", "--resume", "--phase-steps", "3"))


class _Clock:
    """A fake ``time`` module whose clock moves ``tick`` seconds each time it is read."""

    def __init__(self, tick: float):
        self.now, self.tick, self.reads = 1000.0, tick, 0

    def monotonic(self) -> float:
        self.now, self.reads = self.now + self.tick, self.reads + 1
        return self.now


def test_auto_steps_fits_growth_into_the_budget(data, tmp_path, monkeypatch):
    """On a fake clock every timed step lasts one tick (0.05 s), so each resolution's step costs a tick, a
    phase (4×4, fade and train 8×8, fade to 16×16) 4 ticks, and half of the 6 s budget goes to growing."""
    clock = _Clock(0.05)
    monkeypatch.setattr(gan, "time", clock)
    monkeypatch.setattr(gan.loop, "time", clock)
    rc = gan.main(
        _args(
            data,
            tmp_path,
            "--max-minutes",
            "0.1",
            "--reserve-minutes",
            "0",
            "--auto-steps",
            "2",
            "--no-final-grid",
            "--phase-steps",
            "1000",
        )
    )
    assert rc == 0
    state = _ckpt(tmp_path)
    phase, total = state["args"]["phase_steps"], state["args"]["steps"]
    assert state["args"]["auto_steps_done"] and clock.reads > 0
    # left of the budget when the schedule is set: 6 s less the few ticks read since the start
    assert 0.5 * (6.0 - 20 * 0.05) / (4 * 0.05) - 1 <= phase <= 0.5 * 6.0 / (4 * 0.05)
    assert total - gan.growth_steps(phase, 3) == pytest.approx(0.5 * 6.0 / 0.05, abs=20)  # the rest at 16×16
    assert state["step"] <= total


def test_errors(data, tmp_path):
    with pytest.raises(SystemExit, match="ends before 16×16"):
        gan.main(_args(data, tmp_path, "--steps", "8"))
    with pytest.raises(SystemExit, match="needs --max-minutes"):
        gan.main(_args(data, tmp_path, "--steps", "10", "--auto-steps", "4"))
    with pytest.raises(SystemExit, match="no checkpoint"):
        gan.main(_args(data, tmp_path / "none", "--steps", "10", "--resume"))
