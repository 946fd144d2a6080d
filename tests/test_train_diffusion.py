"""train/diffusion.py on a tiny generated dataset: learning, bit-exact resume, interruption, export."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from music2img.diffusion.pipeline import load_pipeline
from music2img.errors import DatasetError, ModelFileError
from music2img.image.labelled_folder import load_images, read_labels, read_sample_weights

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from train import diffusion, loop  # noqa: E402

TINY = {"block_out_channels": [8, 16], "attention_resolutions": [8], "norm_num_groups": 4, "emotion_embed_dim": 16}


def _image(i: int, size=(20, 24)) -> Image.Image:
    """A smooth two-colour gradient, different per index (easy to learn)."""
    rng = np.random.default_rng(i)
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    w = np.linspace(0, 1, size[0])[:, None, None]
    arr = (c0 * (1 - w) + c1 * w) * np.ones((size[0], size[1], 3))
    return Image.fromarray(arr.astype(np.uint8))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("data")
    rows = ["file,valence,arousal"]
    for i in range(8):
        _image(i).save(root / f"im{i}.webp")
        rows.append(f"im{i}.webp,{1 + i},{9 - i * 0.5}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    (root / "tiny.json").write_text(json.dumps(TINY))
    return root, root / "labels.csv", root / "tiny.json"


def _args(data, out, *extra) -> list[str]:
    root, labels, config = data
    return [
        "--data",
        str(root),
        "--labels",
        str(labels),
        "--out",
        str(out),
        "--config",
        str(config),
        "--resolution",
        "16",
        "--batch-size",
        "4",
        "--warmup",
        "2",
        "--lr",
        "2e-3",
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


def _losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "log.jsonl").read_text().splitlines()]


def _ckpt(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", weights_only=True)


def test_loss_decreases(data, tmp_path):
    assert diffusion.main(_args(data, tmp_path, "--steps", "60", "--batch-size", "8", "--no-final-grid")) == 0
    losses = _losses(tmp_path)
    assert len(losses) == 60
    assert np.mean(losses[-15:]) < 0.6 * np.mean(losses[:5])


def test_resume_is_bit_exact(data, tmp_path):
    common = ("--steps", "6", "--no-final-grid", "--dropout", "0.1")
    assert diffusion.main(_args(data, tmp_path / "a", *common)) == 0
    assert diffusion.main(_args(data, tmp_path / "b", *common, "--pause-at", "3")) == 0
    assert _ckpt(tmp_path / "b")["step"] == 3 and not (tmp_path / "b" / "pipeline").exists()
    assert diffusion.main(_args(data, tmp_path / "b", *common, "--resume")) == 0
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b") and len(_losses(tmp_path / "a")) == 6
    a, b = _ckpt(tmp_path / "a"), _ckpt(tmp_path / "b")
    assert a["step"] == b["step"] == 6 and a["images_seen"] == b["images_seen"] == 24
    for key in ("model",):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    assert all(torch.equal(a["ema"]["model"][k], b["ema"]["model"][k]) for k in a["ema"]["model"])


def test_sigterm_writes_a_checkpoint(data, tmp_path):
    log, seen = tmp_path / "log.jsonl", {}

    def kill_after_two_steps():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if log.is_file() and len(log.read_text().splitlines()) >= 2:
                seen["pid"] = (tmp_path / "train.pid").read_text().strip()
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=kill_after_two_steps, daemon=True)
    before = signal.getsignal(signal.SIGTERM)
    thread.start()
    rc = diffusion.main(_args(data, tmp_path, "--steps", "100000"))
    thread.join()
    assert rc == 128 + signal.SIGTERM
    state = _ckpt(tmp_path)
    assert 2 <= state["step"] < 100000 and state["data_position"]["epoch"] == state["step"] // 2
    assert not (tmp_path / "pipeline").exists()
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored
    assert seen["pid"] == str(os.getpid()) and not (tmp_path / "train.pid").exists()  # pid written while running


def test_max_minutes_stops_and_exports_a_loadable_pipeline(data, tmp_path):
    rc = diffusion.main(_args(data, tmp_path, "--steps", "100000", "--max-minutes", "0.0001", "--sample-steps", "2"))
    assert rc == 0
    assert _ckpt(tmp_path)["step"] < 100000
    folder = tmp_path / "pipeline"
    card = (folder / "MODEL_CARD.md").read_text()
    assert "images seen" in card and "grid_step" in card and (folder / "loss_curve.png").is_file()
    grid = next(folder.glob("grid_step*.png"))
    assert Image.open(grid).size == (5 * 18 + 2, 5 * 18 + 2)
    assert next((folder / "unet").glob("*.safetensors")).stat().st_size < 200_000  # fp16
    pipe = load_pipeline(folder)
    pipe.set_progress_bar_config(disable=True)
    images = pipe([2, 8], [8, 2], num_inference_steps=2, output_type="np").images
    assert images.shape == (2, 16, 16, 3) and np.isfinite(images).all()


def test_resume_without_checkpoint_fails(data, tmp_path):
    with pytest.raises(SystemExit, match="no checkpoint"):
        diffusion.main(_args(data, tmp_path, "--steps", "2", "--resume"))


def test_lr_schedule_and_batches():
    lrs = [loop.lr_factor(s, 10, 100) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == 1.0 and lrs[-1] < 0.01
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    epoch = torch.cat([loop.batch_indices(s, 10, 3, seed=0) for s in range(3)])
    assert len(set(epoch.tolist())) == 9  # no repeats inside an epoch
    assert torch.equal(loop.batch_indices(4, 10, 3, 0), loop.batch_indices(4, 10, 3, 0))


def test_balance_weights_flatten_the_plane_and_draws_follow_them():
    va = np.array([[5.0, 5.0]] * 9 + [[1.0, 9.0]])  # nine photos in the middle, one in a corner
    assert np.allclose(loop.balance_weights(va, 0.0), 0.1)
    flat = loop.balance_weights(va, 1.0)
    assert flat.sum() == pytest.approx(1) and flat[-1] == pytest.approx(0.5) and np.allclose(flat[:9], 0.5 / 9)
    root = loop.balance_weights(va, 0.5)  # the corner weighs 3× a middle photo
    assert root[-1] / root[0] == pytest.approx(3.0)
    assert np.allclose(loop.balance_weights(np.full((4, 2), 5.0), 1.0), 0.25)  # one cell: no division by zero
    weights = torch.from_numpy(flat)
    draws = torch.cat([loop.batch_indices(s, 10, 50, 0, weights) for s in range(40)])
    assert 0.45 < (draws == 9).float().mean() < 0.55  # half the draws are the corner photo
    assert torch.equal(loop.batch_indices(7, 10, 50, 0, weights), loop.batch_indices(7, 10, 50, 0, weights))
    assert not torch.equal(loop.batch_indices(7, 10, 50, 0, weights), loop.batch_indices(8, 10, 50, 0, weights))


def test_balanced_run_resumes_bit_exactly_and_says_so(data, tmp_path):
    common = ("--steps", "6", "--no-final-grid", "--balance-emotion", "0.5")
    assert diffusion.main(_args(data, tmp_path / "a", *common)) == 0
    assert diffusion.main(_args(data, tmp_path / "b", *common, "--pause-at", "3")) == 0
    with pytest.raises(SystemExit, match="--balance-emotion 0.5"):
        diffusion.main(_args(data, tmp_path / "b", "--steps", "6", "--no-final-grid", "--resume"))
    assert diffusion.main(_args(data, tmp_path / "b", *common, "--resume")) == 0
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b")
    assert "count(cell)^-0.5" in (tmp_path / "a" / "pipeline" / "MODEL_CARD.md").read_text()
    with pytest.raises(SystemExit, match="at least 0"):
        diffusion.main(_args(data, tmp_path / "c", "--steps", "2", "--balance-emotion", "-1"))


def test_weight_column_scales_the_draws_and_bad_weights_are_refused(data, tmp_path, monkeypatch):
    root, labels, config = data
    weighted = tmp_path / "weighted.csv"
    table = pd.read_csv(labels).assign(weight=[0, 0, 0, 0, 0, 0, 1, 3])
    table.to_csv(weighted, index=False)
    assert read_sample_weights(labels) is None
    assert read_sample_weights(weighted).tolist() == [0, 0, 0, 0, 0, 0, 1, 3]
    seen = []
    real = loop.batch_indices
    monkeypatch.setattr(loop, "batch_indices", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    out = tmp_path / "run"
    assert diffusion.main(_args((root, weighted, config), out, "--steps", "20", "--no-final-grid")) == 0
    drawn = torch.cat(seen)
    assert set(drawn.tolist()) == {6, 7} and 0.6 < (drawn == 7).float().mean() < 0.9  # 3:1
    assert "`weight` column" in (out / "pipeline" / "MODEL_CARD.md").read_text()
    with pytest.raises(SystemExit, match="weight 0"):  # --limit leaves only rows of weight 0
        diffusion.main(_args((root, weighted, config), tmp_path / "zero", "--steps", "1", "--limit", "6"))
    for bad, match in (([-1] + [1] * 7, "≥ 0"), (["x"] + [1] * 7, "≥ 0"), ([0] * 8, "every weight is 0")):
        table.assign(weight=bad).to_csv(weighted, index=False)
        with pytest.raises(DatasetError, match=match):
            read_sample_weights(weighted)


def test_cgna_layout_and_bad_folders(tmp_path):
    for i in range(1, 4):
        _image(i, size=(30, 20)).convert("RGB").save(tmp_path / f"{i}.jpg")
    (tmp_path / "valence_avg_10766_v2.txt").write_text("2.5\n5\n7.5\n")
    (tmp_path / "arousal_avg_10766_v2.txt").write_text("3\n4\n8\n")
    files, va = read_labels(tmp_path)
    assert [f.name for f in files] == ["1.jpg", "2.jpg", "3.jpg"] and va.tolist() == [[2.5, 3], [5, 4], [7.5, 8]]
    images = load_images(files, 16, progress=False)
    assert images.shape == (3, 3, 16, 16) and images.dtype == torch.uint8
    (tmp_path / "arousal_avg_10766_v2.txt").write_text("3\n4\n")
    with pytest.raises(DatasetError, match="lines"):
        read_labels(tmp_path)
    with pytest.raises(DatasetError, match="no labels"):
        read_labels(tmp_path / "..")
    with pytest.raises(DatasetError, match="not found"):
        read_labels(tmp_path / "missing")
    (tmp_path / "bad.csv").write_text("file,valence,arousal\n1.jpg,0.5,5\n")
    with pytest.raises(DatasetError, match="1–9"):
        read_labels(tmp_path, tmp_path / "bad.csv")
    (tmp_path / "gone.csv").write_text("file,valence,arousal\nnope.jpg,5,5\n")
    with pytest.raises(DatasetError, match="missing"):
        read_labels(tmp_path, tmp_path / "gone.csv")


class TickingClock:
    """``time`` for the training loop with a ``monotonic`` clock that advances 10 ms per reading, so
    that a time budget means the same number of steps on a quiet and on a loaded machine."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 0.01
        return self.now

    def __getattr__(self, name):
        return getattr(time, name)


def test_auto_steps_fits_the_schedule_to_the_budget(data, tmp_path, monkeypatch):
    clock = TickingClock()
    monkeypatch.setattr(loop, "time", clock)
    monkeypatch.setattr(diffusion, "time", clock)
    rc = diffusion.main(
        _args(
            data,
            tmp_path,
            "--steps",
            "100000",
            "--max-minutes",
            "0.05",
            "--reserve-minutes",
            "0",
            "--auto-steps",
            "4",
            "--no-final-grid",
        )
    )
    assert rc == 0
    state = _ckpt(tmp_path)
    assert state["args"]["auto_steps_done"] and 4 <= state["args"]["steps"] < 100000
    assert state["step"] <= state["args"]["steps"]
    with pytest.raises(SystemExit, match="needs --max-minutes"):
        diffusion.main(_args(data, tmp_path / "x", "--steps", "10", "--auto-steps", "4"))


@pytest.fixture(scope="module")
def pretrained(data, tmp_path_factory) -> Path:
    """A tiny pipeline trained for a few dozen steps: what ``--init-from`` starts from."""
    out = tmp_path_factory.mktemp("pretrained")
    assert diffusion.main(_args(data, out, "--steps", "40", "--batch-size", "8", "--no-final-grid")) == 0
    return out / "pipeline"


def test_init_from_starts_from_the_saved_weights_with_a_fresh_schedule(data, pretrained, tmp_path):
    fresh, tuned = tmp_path / "fresh", tmp_path / "tuned"
    common = ("--steps", "4", "--no-final-grid", "--seed", "3")
    assert diffusion.main(_args(data, fresh, *common)) == 0
    assert diffusion.main(_args(data, tuned, *common, "--init-from", str(pretrained))) == 0
    first = json.loads((tuned / "log.jsonl").read_text().splitlines()[0])
    # step 1 of its own 2-step warm-up (the pretrained schedule had ended at 0)
    assert first["lr"] == pytest.approx(2e-3)
    assert np.mean(_losses(tuned)) < 0.7 * np.mean(_losses(fresh))  # same seed and batches; only the weights differ
    assert "fine-tuned from" in (tuned / "pipeline" / "MODEL_CARD.md").read_text()


def test_train_only_conditioning_freezes_the_rest_and_resumes_bit_exactly(data, pretrained, tmp_path):
    common = (
        "--steps",
        "6",
        "--no-final-grid",
        "--init-from",
        str(pretrained),
        "--train-only",
        "conditioning",
        "--crop",
        "8",
        "--lr",
        "1e-2",
    )
    assert diffusion.main(_args(data, tmp_path / "a", *common)) == 0
    assert diffusion.main(_args(data, tmp_path / "b", *common, "--pause-at", "3")) == 0
    assert diffusion.main(_args(data, tmp_path / "b", *common, "--resume")) == 0
    a, b = _ckpt(tmp_path / "a"), _ckpt(tmp_path / "b")
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b")
    for key in ("model",):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    assert all(torch.equal(a["ema"]["model"][k], b["ema"]["model"][k]) for k in a["ema"]["model"])

    start = load_pipeline(pretrained).unet.state_dict()
    emotion = set(load_pipeline(pretrained).unet.emotion_parameters())
    assert emotion and any(".adain." in k for k in emotion) and "null_emotion" in emotion
    for weights in (a["model"], a["ema"]["model"]):
        for name, value in weights.items():
            if name in emotion:
                assert not torch.equal(value, start[name]), name
            else:
                assert torch.equal(value, start[name]), name
    assert len(a["optimizer"]["state"]) == len(emotion)
    assert "trained only the emotion conditioning" in (tmp_path / "a" / "pipeline" / "MODEL_CARD.md").read_text()
    with pytest.raises(SystemExit, match="--train-only conditioning"):
        diffusion.main(
            _args(data, tmp_path / "b", "--steps", "8", "--init-from", str(pretrained), "--crop", "8", "--resume")
        )


def test_timesteps_from_trains_a_high_noise_expert_that_joins_the_pipeline_it_started_from(
    data, pretrained, tmp_path, monkeypatch
):
    from train import high_noise_unet

    noised = []
    add_noise = type(diffusion.training_scheduler()).add_noise
    monkeypatch.setattr(
        type(diffusion.training_scheduler()),
        "add_noise",
        lambda self, x, noise, t: (noised.append(t.clone()), add_noise(self, x, noise, t))[1],
    )
    trainers, init = [], diffusion.DiffusionTrainer.__init__
    monkeypatch.setattr(
        diffusion.DiffusionTrainer, "__init__", lambda self, args: (init(self, args), trainers.append(self))[0]
    )
    common = ("--steps", "4", "--init-from", str(pretrained), "--timesteps-from", "900", "--lr", "1e-2")
    assert diffusion.main(_args(data, tmp_path / "run", *common)) == 0  # with the final grid: painted by both
    assert torch.cat(noised).min() >= 900
    # the fp16 export paints with a copy: the low-noise UNet the trainer holds stays as loaded
    assert {p.dtype for p in trainers[0].low_noise_unet.parameters()} == {torch.float32}
    run = load_pipeline(tmp_path / "run" / "pipeline")
    start = load_pipeline(pretrained).unet.state_dict()
    assert run.config.high_noise_from == 900
    assert all(torch.equal(v, start[k]) for k, v in run.unet.state_dict().items())  # the steps below: as it was
    assert not all(torch.equal(v, start[k]) for k, v in run.high_noise_unet.state_dict().items())
    assert "high-noise expert" in (tmp_path / "run" / "pipeline" / "MODEL_CARD.md").read_text()

    target = tmp_path / "target"
    shutil.copytree(pretrained, target)
    assert high_noise_unet.main([str(target), str(tmp_path / "run" / "pipeline")]) == 0
    joined = load_pipeline(target)
    assert joined.config.high_noise_from == 900
    assert all(
        torch.equal(v, run.high_noise_unet.state_dict()[k]) for k, v in joined.high_noise_unet.state_dict().items()
    )
    other = load_pipeline(pretrained)
    with torch.no_grad():
        next(other.unet.parameters()).add_(1.0)
    other.save_pretrained(tmp_path / "other")
    with pytest.raises(SystemExit):  # trained beside another UNet
        high_noise_unet.main([str(tmp_path / "other"), str(tmp_path / "run" / "pipeline")])
    with pytest.raises(SystemExit):  # no expert in it
        high_noise_unet.main([str(tmp_path / "other"), str(pretrained)])

    with pytest.raises(SystemExit, match="give it --init-from"):
        diffusion.main(_args(data, tmp_path / "x", "--steps", "2", "--timesteps-from", "900"))
    with pytest.raises(SystemExit, match="--timesteps-from must lie in 0–999"):
        diffusion.main(_args(data, tmp_path / "x", *common[:4], "--timesteps-from", "1000"))


def test_crop_and_init_from_errors(data, tmp_path):
    with pytest.raises(SystemExit, match="--crop"):
        diffusion.main(_args(data, tmp_path, "--steps", "2", "--crop", "32"))
    with pytest.raises(ModelFileError):
        diffusion.main(_args(data, tmp_path, "--steps", "2", "--init-from", str(tmp_path / "nothing")))


#: Runs train/diffusion.py's main in each process of `accelerate launch`, recording the valences each
#: process trains on (the tiny data set's valence is 1 + the image's index) and its final weights.
RECORDING_LAUNCH = """
import json, sys
sys.path.insert(0, {repo!r})
import torch
from train import diffusion
trainers, seen = [], []
init = diffusion.DiffusionTrainer.__init__

def recording_init(self, args):
    init(self, args)
    trainers.append(self)
    forward = self.forward

    def recording(noisy, t, valence, arousal, drop_emotion=None):
        seen.append(valence.tolist())
        return forward(noisy, t, valence, arousal, drop_emotion=drop_emotion)
    self.forward = recording

diffusion.DiffusionTrainer.__init__ = recording_init
rc = diffusion.main(sys.argv[1:])
tr = trainers[0]
torch.save(tr.model.state_dict(), tr.out / f"rank{{tr.rank}}_model.pt")
(tr.out / f"rank{{tr.rank}}.json").write_text(json.dumps({{"world": tr.world, "seen": seen}}))
sys.exit(rc)
"""


def test_accelerate_launch_trains_data_parallel_on_two_processes(data, tmp_path):
    script = tmp_path / "launch.py"
    script.write_text(RECORDING_LAUNCH.format(repo=str(REPO)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    common = ("--steps", "4", "--no-final-grid", "--device", "cpu", "--checkpoint-every", "2")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "--main_process_port",
            str(port),
            str(script),
            *_args(data, tmp_path / "dp", *common),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / "dp" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    for step in range(4):  # each process trains on its own half of the batch that one process would take
        batch = (1 + loop.batch_indices(step, 8, 4, seed=0).float()).tolist()
        assert ranks[0]["seen"][step] == batch[:2] and ranks[1]["seen"][step] == batch[2:]
    w0, w1 = (torch.load(tmp_path / "dp" / f"rank{r}_model.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(w0[k], w1[k]) for k in w0)  # gradients averaged: the same weights everywhere
    assert len(_losses(tmp_path / "dp")) == 4 and (tmp_path / "dp" / "pipeline").is_dir()  # one log, one export

    # the same run in one process: without dropout (whose masks follow each process's own generator) it
    # differs only by rounding, since every process draws the whole batch's noise and takes its slice
    assert diffusion.main(_args(data, tmp_path / "one", *common)) == 0
    single = _ckpt(tmp_path / "one")["model"]
    assert np.allclose(_losses(tmp_path / "dp"), _losses(tmp_path / "one"), rtol=1e-4)
    assert all(torch.allclose(w0[k], single[k], atol=1e-4) for k in w0)
