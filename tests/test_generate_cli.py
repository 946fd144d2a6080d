"""``music2img generate``: PNGs and a JSON line; clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from factories_diffusion import make_tiny_pipeline, make_tiny_student_pipeline, make_tiny_unet, perturb_emotion
from PIL import Image

from music2img.cli import main
from music2img.diffusion import defaults
from music2img.diffusion.pipeline import EmotionLandscapePipeline
from music2img.diffusion.schedulers import training_scheduler

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_pipeline(tmp_path_factory.mktemp("model") / "pipe")


def _json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def _with_layouts(tmp_path: Path, value: int, emotion: float) -> Path:
    """A tiny pipeline whose two scene layouts are flat grey ``value`` (0–255), labelled (emotion, emotion)."""
    from music2img.diffusion.pipeline import save_component
    from music2img.diffusion.scene_layouts import SceneLayouts

    model = make_tiny_pipeline(tmp_path / "pipe")
    photos = torch.full((2, 3, 16, 16), value, dtype=torch.uint8)
    save_component(model, "layouts", SceneLayouts.from_photos(photos, np.full((2, 2), emotion)))
    return model


def test_generate_one_png(tiny_model, tmp_path, capsys):
    out = tmp_path / "img.png"
    rc = main(
        [
            "generate",
            "--valence",
            "7",
            "--arousal",
            "3",
            "--model",
            str(tiny_model),
            "--out",
            str(out),
            "--steps",
            "2",
            "--seed",
            "5",
        ]
    )
    assert rc == 0
    record = _json(capsys.readouterr().out)
    assert record["valence"] == 7 and record["arousal"] == 3 and record["seed"] == 5
    assert record["scheduler"] == defaults.SCHEDULER and record["steps"] == 2
    assert record["guidance"] == defaults.GUIDANCE_SCALE
    assert record["guidance_interval"] == list(defaults.GUIDANCE_INTERVAL)
    assert record["guidance_lowpass"] == defaults.GUIDANCE_LOWPASS
    assert record["paths"] == [str(out)] and Image.open(out).size == (defaults.SIZE, defaults.SIZE)
    assert record["size"] == defaults.SIZE and record["upscaler"] == "lanczos"  # the tiny model has no network
    assert record["layout_strength"] is None  # nor layouts
    assert record["max_redraws"] == defaults.MAX_REDRAWS and record["redraws"] == [0]  # nor checkers


def test_max_redraws_reaches_the_pipeline_and_the_record(tmp_path, capsys):
    """A model whose scene check rejects everything: the picture is painted 1 + N times, N from --max-redraws."""
    from music2img.diffusion.pipeline import save_component
    from music2img.diffusion.scene_check import SceneChecker

    model = make_tiny_pipeline(tmp_path / "pipe")
    rejecting = SceneChecker()
    rejecting.intercept.fill_(-20.0)
    save_component(model, "scene_checker", rejecting)
    args = ["generate", "--valence", "2", "--arousal", "2", "--model", str(model), "--steps", "2", "--size", "128"]
    for n in ("0", "2"):
        assert main([*args, "--out", str(tmp_path / f"{n}.png"), "--max-redraws", n]) == 0
        record = _json(capsys.readouterr().out)
        assert record["max_redraws"] == int(n) and record["redraws"] == [int(n)]
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "0.png")), np.asarray(Image.open(tmp_path / "2.png")))
    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "x.png"), "--max-redraws", "-1"])


def test_guidance_lowpass_reaches_the_pipeline(tmp_path, capsys):
    unet = make_tiny_unet()
    perturb_emotion(unet)  # the emotion moves the pictures, as after training
    model = tmp_path / "model"
    EmotionLandscapePipeline(unet=unet, scheduler=training_scheduler()).save_pretrained(model)

    def paint(lowpass: str) -> np.ndarray:
        out = tmp_path / f"lowpass{lowpass}.png"
        args = ["generate", "--valence", "2", "--arousal", "8", "--model", str(model), "--out", str(out)]
        assert main([*args, "--steps", "3", "--size", "128", "--guidance-lowpass", lowpass]) == 0
        assert _json(capsys.readouterr().out)["guidance_lowpass"] == float(lowpass)
        return np.asarray(Image.open(out), dtype=float)

    plain, low = paint("0"), paint("3")
    assert np.abs(plain - low).mean() > 0.5


def test_a_student_paints_with_lcm_by_default_and_refuses_other_samplers(tmp_path, capsys):
    student = make_tiny_student_pipeline(tmp_path / "student")
    rc = main(
        ["generate", "--valence", "7", "--arousal", "3", "--model", str(student), "--out", str(tmp_path / "a.png")]
    )
    assert rc == 0
    record = _json(capsys.readouterr().out)
    assert (
        record["scheduler"] == "lcm"
        and record["steps"] == 4
        and Image.open(tmp_path / "a.png").size == (defaults.SIZE,) * 2
    )
    with pytest.raises(SystemExit):
        main(
            [
                "generate",
                "--valence",
                "7",
                "--arousal",
                "3",
                "--model",
                str(student),
                "--out",
                str(tmp_path / "b.png"),
                "--scheduler",
                "unipc",
            ]
        )
    assert "consistency-distilled student" in capsys.readouterr().err and not (tmp_path / "b.png").exists()


def test_generate_several_into_folder(tiny_model, tmp_path, capsys):
    rc = main(
        [
            "generate",
            "--valence",
            "2",
            "--arousal",
            "8",
            "--model",
            str(tiny_model),
            "--out",
            str(tmp_path / "o"),
            "--num-images",
            "3",
            "--scheduler",
            "ddim",
            "--steps",
            "2",
            "--guidance",
            "1",
        ]
    )
    assert rc == 0
    paths = _json(capsys.readouterr().out)["paths"]
    assert len(paths) == 3 and all(Path(p).is_file() for p in paths) and len(set(paths)) == 3


def test_generate_from_audio(tiny_model, make_audio, tmp_path, capsys):
    """The shipped music model hears each synthesised clip; the picture is painted at what it hears."""
    from music2img.music.emotion_model import MusicEmotionModel

    music = MusicEmotionModel.load()
    heard = []
    for name, kw in (("bright.wav", dict(bpm=150)), ("dark.wav", dict(bpm=60, minor=True, root_hz=110.0))):
        song = make_audio(name, seconds=8.0, **kw)
        rc = main(
            [
                "generate",
                "--audio",
                str(song),
                "--model",
                str(tiny_model),
                "--out",
                str(tmp_path / f"{name}.png"),
                "--steps",
                "1",
            ]
        )
        assert rc == 0
        record = _json(capsys.readouterr().out)
        expected = music.predict_file(song)
        assert (record["valence"], record["arousal"], record["quadrant"], record["audio"]) == (
            round(expected.valence, 3),
            round(expected.arousal, 3),
            expected.quadrant,
            str(song),
        )
        heard.append((record["valence"], record["arousal"]))
    assert heard[0] != heard[1]


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    rc = main(
        [
            "generate",
            "--valence",
            "5",
            "--arousal",
            "5",
            "--model",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "x.png"),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "no diffusion model" in err and str(tmp_path / "none") in err
    assert not (tmp_path / "x.png").exists()


def test_out_of_range_emotion(tiny_model, tmp_path, capsys):
    rc = main(
        ["generate", "--valence", "12", "--arousal", "5", "--model", str(tiny_model), "--out", str(tmp_path / "x.png")]
    )
    assert rc == 2 and "valence" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--valence", "5"],
        ["--valence", "5", "--arousal", "5", "--num-images", "2"],
        ["--valence", "5", "--arousal", "5", "--guidance-interval", "0.6", "0.2"],
    ],
)
def test_usage_errors(tiny_model, tmp_path, argv):
    with pytest.raises(SystemExit) as exc:
        main(["generate", *argv, "--model", str(tiny_model), "--out", str(tmp_path / "x.png")])
    assert exc.value.code == 2


def _fresh(*argv: str) -> subprocess.CompletedProcess:
    """``python -m music2img ARGV`` in a new interpreter (the command's own fast exit included)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "music2img", *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_generate_in_a_fresh_process(tiny_model, tmp_path):
    """The saved pipeline (custom UNet class named in model_index.json) loads in a new interpreter; the
    JSON line and the PNG are complete when the process leaves through os._exit."""
    proc = _fresh(
        "generate",
        "--valence",
        "3",
        "--arousal",
        "3",
        "--model",
        str(tiny_model),
        "--out",
        str(tmp_path / "f.png"),
        "--steps",
        "2",
    )
    assert proc.returncode == 0, proc.stderr
    assert _json(proc.stdout)["paths"] == [str(tmp_path / "f.png")]
    assert Image.open(tmp_path / "f.png").size == (defaults.SIZE, defaults.SIZE)


def test_a_fresh_process_exits_with_the_commands_code(tmp_path):
    proc = _fresh(
        "generate",
        "--valence",
        "3",
        "--arousal",
        "3",
        "--model",
        str(tmp_path / "missing"),
        "--out",
        str(tmp_path / "f.png"),
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and not (tmp_path / "f.png").exists()


def test_the_pipeline_loads_without_the_other_stages_libraries():
    """Import time of a fresh ``music2img generate``: pandas and scikit-learn stay unloaded."""
    code = (
        "import sys, music2img.diffusion.pipeline; print(sorted({'pandas', 'sklearn', 'librosa'} & set(sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr


def test_cli_offers_every_sampler():
    from music2img.cli.generate import SCHEDULER_NAMES
    from music2img.diffusion.schedulers import SCHEDULERS

    assert set(SCHEDULER_NAMES) == set(SCHEDULERS)


def test_colour_ceiling_reaches_the_pipeline_and_the_record(tmp_path, capsys):
    """A model with grey layouts: the default ceiling greys its pictures, --colour-ceiling 0 leaves the colour."""
    from music2img.image.features import colourfulness

    model = _with_layouts(tmp_path, 120, 5.0)

    def paint(ceiling: list[str]) -> float:
        out = tmp_path / f"c{len(ceiling)}.png"
        args = ["generate", "--valence", "6", "--arousal", "6", "--model", str(model), "--out", str(out)]
        assert main([*args, "--steps", "4", "--layout-strength", "0.5", "--size", "128", *ceiling]) == 0
        record = _json(capsys.readouterr().out)
        assert record["colour_ceiling"] == (float(ceiling[1]) or None if ceiling else defaults.COLOUR_CEILING)
        return colourfulness(np.asarray(Image.open(out), dtype=np.float32) / 255)

    assert paint([]) < 1.0 < paint(["--colour-ceiling", "0"])


def test_shadow_toe_reaches_the_pipeline_and_the_record(tmp_path, capsys):
    """Dark layouts whose photos were 5 % black: by default twice that share of the picture is made black on its
    darkest channel, --shadow-toe 0 leaves the shadows as the black point left them (and the record says so)."""
    from music2img.diffusion.pipeline import save_component
    from music2img.diffusion.scene_layouts import SceneLayouts

    model = make_tiny_pipeline(tmp_path / "pipe")
    layouts = SceneLayouts.from_photos(torch.full((2, 3, 16, 16), 40, dtype=torch.uint8), np.full((2, 2), 5.0))
    layouts.set_black_shares([0.05, 0.05])
    save_component(model, "layouts", layouts)

    def black_share(option: list[str]) -> float:
        out = tmp_path / f"t{len(option)}.png"
        args = ["generate", "--valence", "6", "--arousal", "6", "--model", str(model), "--out", str(out)]
        assert main([*args, "--steps", "4", "--layout-strength", "0.25", "--size", "128", *option]) == 0
        record = _json(capsys.readouterr().out)
        assert record["shadow_toe"] == (None if option else defaults.SHADOW_TOE)
        return float((np.asarray(Image.open(out)).min(2) == 0).mean())

    off = black_share(["--shadow-toe", "0"])
    assert black_share([]) > off + 0.02  # 10 % asked for as painted at 16 px; enlarged to 128, about 5 % against 3 %


def test_sad_layout_strength_reaches_the_pipeline_and_the_record(tmp_path, capsys):
    """A sad request starts later over its layout by default; --sad-layout-strength 0 paints it as a happy one."""
    model = _with_layouts(tmp_path, 200, 2.0)

    def paint(option: list[str]) -> np.ndarray:
        out = tmp_path / f"s{len(option)}.png"
        args = ["generate", "--valence", "2", "--arousal", "2", "--model", str(model), "--out", str(out)]
        assert main([*args, "--steps", "12", "--size", "128", "--colour-ceiling", "0", *option]) == 0
        record = _json(capsys.readouterr().out)
        assert record["sad_layout_strength"] == (None if option else defaults.SAD_LAYOUT_STRENGTH)
        return np.asarray(Image.open(out), dtype=float)

    assert np.abs(paint([]) - paint(["--sad-layout-strength", "0"])).mean() > 0.5


def test_black_point_drop_reaches_the_pipeline_and_the_record(tmp_path, capsys):
    """Over light grey layouts the pictures' shadows are lifted: the default lowers their black point by its drop,
    --black-point-drop 0 leaves it."""
    from music2img.diffusion.colour import black_point_of

    model = _with_layouts(tmp_path, 190, 5.0)

    def black_point(option: list[str]) -> float:
        out = tmp_path / f"b{len(option)}.png"
        args = ["generate", "--valence", "6", "--arousal", "6", "--model", str(model), "--out", str(out)]
        args += ["--steps", "4", "--layout-strength", "0.25", "--size", "128", "--colour-ceiling", "0"]
        assert main([*args, *option]) == 0
        record = _json(capsys.readouterr().out)
        assert record["black_point_drop"] == (None if option else defaults.BLACK_POINT_DROP)
        picture = torch.from_numpy(np.asarray(Image.open(out), dtype=np.float32) / 255).permute(2, 0, 1)
        return float(black_point_of(picture[None])[0])

    as_painted = black_point(["--black-point-drop", "0"])
    assert as_painted > defaults.BLACK_POINT_DROP + 0.02  # lifted enough to be lowered by the whole drop
    assert black_point([]) == pytest.approx(as_painted - defaults.BLACK_POINT_DROP, abs=2 / 255)
