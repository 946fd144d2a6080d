"""Every sub-command and the app answer bad arguments and damaged model folders with ``error: …`` and
exit code 2, before painting anything, never with a traceback and never leaving an output file."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import REPO, SR, load_script, synth_music
from factories_diffusion import make_tiny_pipeline
from factories_music import make_tiny_music_model

from music2img.assets import IMAGE_MODEL_DIR
from music2img.cli import main

UNET_WEIGHTS = "unet/diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Paths the table's arguments name: a song, good models and damaged copies of each."""
    root = tmp_path_factory.mktemp("cli_errors")
    song = root / "song.wav"
    sf.write(song, synth_music(4.0), SR)
    diffusion = make_tiny_pipeline(root / "diffusion")
    bad_diffusion = shutil.copytree(diffusion, root / "bad_diffusion")
    weights = bad_diffusion / UNET_WEIGHTS
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated
    music = make_tiny_music_model(root / "music")
    bad_music = shutil.copytree(music, root / "bad_music")
    (bad_music / "model.joblib").write_bytes(b"\x80\x04 not a pickle")
    bad_image = root / "bad_image"
    bad_image.mkdir()
    shutil.copy(IMAGE_MODEL_DIR / "model.json", bad_image)
    (bad_image / "model.joblib").write_bytes((IMAGE_MODEL_DIR / "model.joblib").read_bytes()[:5000])
    photo = root / "photo.png"
    from PIL import Image

    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(photo)
    return {
        "song": str(song),
        "photo": str(photo),
        "diffusion": str(diffusion),
        "bad_diffusion": str(bad_diffusion),
        "music": str(music),
        "bad_music": str(bad_music),
        "bad_image": str(bad_image),
        "missing": str(root / "missing"),
    }


GENERATE = ["generate", "--valence", "5", "--arousal", "5", "--model", "{diffusion}"]
FILM = ["film", "{song}", "--model", "{diffusion}", "--music-model", "{music}"]

#: (arguments, what stderr must say). ``{name}`` is replaced by the path of ``files[name]``; every
#: command also gets ``--out`` (or is given none if it has no outputs).
CASES = [
    # generate: numbers
    (GENERATE + ["--threads", "0"], "argument --threads: must be a whole number from 1 to 1024, got 0"),
    (GENERATE + ["--threads", "two"], "argument --threads: must be a whole number, got 'two'"),
    (GENERATE + ["--steps", "0"], "argument --steps: must be a whole number from 1 to 1000, got 0"),
    (GENERATE + ["--steps", "100000"], "argument --steps: must be a whole number from 1 to 1000, got 100000"),
    (GENERATE + ["--steps", "101"], "--steps of unipc must be a whole number from 1 to 100, got 101"),
    (GENERATE + ["--steps", "1001", "--scheduler", "ddpm"], "from 1 to 1000, got 1001"),
    (GENERATE + ["--num-images", "0"], "argument --num-images: must be a whole number from 1 to 64, got 0"),
    (GENERATE + ["--num-images", "100000"], "argument --num-images: must be a whole number from 1 to 64"),
    (GENERATE + ["--guidance", "nan"], "argument --guidance: must be a number from 0 to 50, got nan"),
    (GENERATE + ["--guidance", "-1"], "argument --guidance: must be a number from 0 to 50, got -1.0"),
    (GENERATE + ["--seed", "-1"], "argument --seed: must be a whole number from 0 to"),
    (GENERATE + ["--seed", str(2**64)], "argument --seed: must be a whole number from 0 to"),
    (GENERATE + ["--guidance-interval", "0.6", "0.2"], "--guidance-interval needs 0 ≤ START ≤ END ≤ 1"),
    (GENERATE + ["--layout-strength", "0"], "--layout-strength needs 0 < S ≤ 1, got 0"),
    (GENERATE + ["--layout-strength", "1.5"], "--layout-strength needs 0 < S ≤ 1, got 1.5"),
    (GENERATE + ["--guidance-lowpass", "-1"], "argument --guidance-lowpass: must be a number from 0 to 128, got -1.0"),
    (GENERATE + ["--guidance-lowpass", "nan"], "argument --guidance-lowpass: must be a number from 0 to 128, got nan"),
    (["generate", "--valence", "12", "--arousal", "5", "--model", "{diffusion}"], "valence"),
    (["generate", "--valence", "5", "--model", "{diffusion}"], "--valence needs --arousal"),
    # generate: models and the song
    (["generate", "--valence", "5", "--arousal", "5", "--model", "{missing}"], "no diffusion model at {missing}"),
    (
        ["generate", "--valence", "5", "--arousal", "5", "--model", "{bad_diffusion}"],
        "checksum mismatch for {bad_diffusion}/" + UNET_WEIGHTS,
    ),
    (
        ["generate", "--audio", "{song}", "--music-model", "{missing}", "--model", "{diffusion}"],
        "no music emotion model at {missing}",
    ),
    (
        ["generate", "--audio", "{song}", "--music-model", "{bad_music}", "--model", "{diffusion}"],
        "checksum mismatch for {bad_music}/model.joblib",
    ),
    (["generate", "--audio", "{missing}.wav", "--music-model", "{music}", "--model", "{diffusion}"], "{missing}.wav"),
    # film: numbers
    (FILM + ["--threads", "0"], "argument --threads: must be a whole number from 1 to 1024, got 0"),
    (FILM + ["--fps", "0"], "argument --fps: must be a whole number from 1 to 120, got 0"),
    (FILM + ["--fps", "1000"], "argument --fps: must be a whole number from 1 to 120, got 1000"),
    (FILM + ["--size", "101"], "argument --size: must be even"),
    (FILM + ["--size", "8"], "argument --size: must be a whole number from 16 to 4096, got 8"),
    (FILM + ["--size", "100000"], "argument --size: must be a whole number from 16 to 4096"),
    (FILM + ["--steps", "0"], "argument --steps: must be a whole number from 1 to 1000, got 0"),
    (FILM + ["--steps", "500"], "--steps of dpm must be a whole number from 1 to 100, got 500"),
    (FILM + ["--guidance", "inf"], "argument --guidance: must be a number from 0 to 50, got inf"),
    (FILM + ["--layout-strength", "0"], "argument --layout-strength: must be a number above 0 and at most 1, got 0"),
    (FILM + ["--layout-strength", "2"], "argument --layout-strength: must be a number above 0 and at most 1, got 2"),
    (FILM + ["--seed", "-5"], "argument --seed: must be a whole number from 0 to"),
    (FILM + ["--start", "-1"], "argument --start: must be a number at least 0, got -1.0"),
    (FILM + ["--duration", "0"], "argument --duration: must be a number above 0, got 0.0"),
    (FILM + ["--max-duration", "-60"], "argument --max-duration: must be a number above 0, got -60.0"),
    (FILM + ["--keyframe-interval", "0"], "argument --keyframe-interval: must be a number from 0.1 to 600, got 0.0"),
    (FILM + ["--zoom", "3"], "argument --zoom: must be a number from 0 to 1, got 3.0"),
    (FILM + ["--drift", "-1"], "argument --drift: must be a number at least 0, got -1.0"),
    (FILM + ["--encoder-threads", "-1"], "argument --encoder-threads: must be a whole number from 0 to 256, got -1"),
    (FILM + ["--start", "100"], "cannot start at 100 s"),
    # film: models and the song
    (["film", "{song}", "--model", "{missing}", "--music-model", "{music}"], "no diffusion model at {missing}"),
    (["film", "{song}", "--model", "{bad_diffusion}", "--music-model", "{music}"], "checksum mismatch"),
    (["film", "{song}", "--model", "{diffusion}", "--music-model", "{missing}"], "no music emotion model at {missing}"),
    (["film", "{song}", "--model", "{diffusion}", "--music-model", "{bad_music}"], "checksum mismatch"),
    (["film", "{missing}.wav", "--model", "{diffusion}", "--music-model", "{music}"], "{missing}.wav"),
    # emotion and image-emotion: models
    (["emotion", "{song}", "--model", "{missing}"], "no music emotion model at {missing}"),
    (["emotion", "{song}", "--model", "{bad_music}"], "checksum mismatch for {bad_music}/model.joblib"),
    (["image-emotion", "{photo}", "--model", "{missing}"], "{missing}"),
    (["image-emotion", "{photo}", "--model", "{bad_image}"], "checksum mismatch for {bad_image}/model.joblib"),
]


def _fill(text: str, files: dict[str, str]) -> str:
    return text.format(**files)


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CASES])
def test_bad_arguments_and_damaged_models_give_one_clear_error(files, tmp_path, capsys, argv, message, recwarn):
    argv = [_fill(a, files) for a in argv]
    out = tmp_path / ("film.mp4" if argv[0] == "film" else "x.png")
    if argv[0] in ("generate", "film"):
        argv += ["--out", str(out)]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and "error: " in err and _fill(message, files) in err, err
    assert "Traceback" not in err and not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["--threads", "0"], ["--port", "0"], ["--port", "70000"], ["--threads", "x"]])
def test_the_apps_options(argv, capsys):
    app = load_script("app.py")
    with pytest.raises(SystemExit) as exc:
        app.parse_args(argv)
    assert exc.value.code == 2 and f"error: argument {argv[0]}: must be a whole number" in capsys.readouterr().err


def test_a_fresh_process_reports_a_bad_option_without_a_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "music2img", "film", "song.wav", "--out", str(tmp_path / "f.mp4"), "--threads", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "error: argument --threads" in proc.stderr and "Traceback" not in proc.stderr
