"""MIDI → audio with FluidSynth and a General MIDI SoundFont, with variations for augmentation.

A :class:`Rendering` says how to play a MIDI file: which SoundFont, which General MIDI instrument
for every melodic channel, how fast, how hard (note velocities) and how loud (gain after
synthesis), with or without FluidSynth's reverb and chorus. :func:`render` plays a file with
the ``fluidsynth`` program (Debian package ``fluidsynth``; SoundFonts e.g. ``fluid-soundfont-gm``)
and returns float32 mono audio; :func:`render_cached` keeps the result as FLAC under a key made of
the MIDI file's content and the rendering, so a second call reads it back.
:func:`augmentations` draws a reproducible set of varied renderings for one piece.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import AudioError
from ..files import atomic_path, sha256sum
from .audio import SAMPLE_RATE

#: Where Debian and most Linux distributions install General MIDI SoundFonts.
SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3", "/usr/share/soundfonts")
#: General MIDI programs (0-based) that augmentation draws from: pianos, electric pianos,
#: harpsichord, mallets, organ, guitars, harp, strings, choir, brass, flute and a square lead —
#: instruments game music is arranged for.
AUGMENT_PROGRAMS = (0, 1, 2, 4, 5, 6, 8, 11, 12, 19, 24, 25, 46, 48, 49, 52, 56, 61, 73, 80)
#: Drawn ranges of the tempo factor, velocity factor and gain (dB) of augmented renderings.
TEMPO_RANGE = (0.8, 1.25)
VELOCITY_RANGE = (0.6, 1.25)
GAIN_DB_RANGE = (-20.0, -1.0)
#: MIDI channel 10 (index 9) is percussion in General MIDI and keeps its sounds.
DRUM_CHANNEL = 9


@dataclass(frozen=True)
class Rendering:
    """How to play a MIDI file.

    Parameters
    ----------
    soundfont : str
        Path of a General MIDI SoundFont (.sf2 / .sf3).
    program : int or None
        General MIDI program (0–127, 0 = acoustic grand piano) for every melodic channel;
        ``None`` keeps the file's own instruments.
    tempo : float
        Tempo factor (> 1 plays faster).
    velocity : float
        Factor on every note's velocity (clipped to 1–127): softer or harder playing.
    gain_db : float
        Level of the synthesised audio's peak, dB relative to full scale (0 = normalised to full
        scale, as mastered recordings are).
    effects : bool
        FluidSynth's reverb and chorus on.
    settings : tuple of str
        Further FluidSynth settings, ``"name=value"`` (e.g. ``"synth.reverb.room-size=0.6"``).
    """

    soundfont: str
    program: int | None = 0
    tempo: float = 1.0
    velocity: float = 1.0
    gain_db: float = -1.0
    effects: bool = True
    settings: tuple[str, ...] = ()

    def __post_init__(self):
        if self.program is not None and not 0 <= self.program <= 127:
            raise ValueError(f"General MIDI program must be 0–127, got {self.program}")
        if self.tempo <= 0 or self.velocity <= 0:
            raise ValueError("tempo and velocity factors must be positive")

    def name(self) -> str:
        """Short readable description, e.g. ``"FluidR3_GM p0 t1.00 v1.00 g+0 fx"``."""
        program = "own" if self.program is None else f"p{self.program}"
        return (
            f"{Path(self.soundfont).stem} {program} t{self.tempo:.2f} v{self.velocity:.2f} "
            f"g{self.gain_db:+.0f}{' fx' if self.effects else ''}"
        )


def find_soundfonts(dirs: tuple[str, ...] = SOUNDFONT_DIRS) -> list[str]:
    """SoundFont files (.sf2, .sf3) in the usual folders, links to the same file listed once, sorted
    by name with FluidR3 first (the reference piano)."""
    found: dict[str, str] = {}
    for d in dirs:
        if os.path.isdir(d):
            for p in sorted(Path(d).iterdir()):
                if p.suffix.lower() in (".sf2", ".sf3") and p.is_file():
                    found.setdefault(str(p.resolve()), str(p.resolve()))
    return sorted(found.values(), key=lambda p: (not Path(p).stem.startswith("FluidR3"), Path(p).name))


def augmentations(piece: str, soundfonts: list[str], n: int, seed: int = 0) -> list[Rendering]:
    """``n`` varied renderings of one piece: SoundFonts in turn, instrument, tempo, velocity, gain
    and effects drawn at random from a generator seeded by ``piece`` and ``seed`` (so the same
    piece always gets the same set)."""
    if not soundfonts:
        raise ValueError("no SoundFont to render with")
    rng = np.random.default_rng([zlib.crc32(piece.encode()), seed])
    return [
        Rendering(
            soundfont=soundfonts[(k + 1) % len(soundfonts)],
            program=int(rng.choice(AUGMENT_PROGRAMS)),
            tempo=round(float(np.exp(rng.uniform(*np.log(TEMPO_RANGE)))), 3),
            velocity=round(float(rng.uniform(*VELOCITY_RANGE)), 3),
            gain_db=round(float(rng.uniform(*GAIN_DB_RANGE)), 1),
            effects=bool(rng.random() < 0.7),
        )
        for k in range(n)
    ]


def transform_midi(src: str | os.PathLike, dst: str | os.PathLike, rendering: Rendering) -> None:
    """Write ``src`` with the rendering's instrument, tempo and velocity applied to ``dst``."""
    import mido

    try:
        midi = mido.MidiFile(src)
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise AudioError(f"{Path(src).name}: cannot read this MIDI file ({type(exc).__name__}: {exc})") from None
    has_tempo = False
    channels: set[int] = set()
    programmed: set[int] = set()
    for track in midi.tracks:
        for i, msg in enumerate(track):
            if msg.type == "set_tempo":
                has_tempo = True
                track[i] = msg.copy(tempo=max(1, round(msg.tempo / rendering.tempo)))
            elif msg.type == "program_change" and rendering.program is not None and msg.channel != DRUM_CHANNEL:
                programmed.add(msg.channel)
                track[i] = msg.copy(program=rendering.program)
            elif msg.type == "note_on" and msg.velocity > 0:
                channels.add(msg.channel)
                track[i] = msg.copy(velocity=int(np.clip(round(msg.velocity * rendering.velocity), 1, 127)))
    first = midi.tracks[0]
    if not has_tempo:
        first.insert(0, mido.MetaMessage("set_tempo", tempo=round(500000 / rendering.tempo), time=0))
    if rendering.program is not None:
        for ch in sorted(channels - programmed - {DRUM_CHANNEL}):
            first.insert(0, mido.Message("program_change", channel=ch, program=rendering.program, time=0))
    midi.save(dst)


def render(midi_path: str | os.PathLike, rendering: Rendering, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Play a MIDI file with FluidSynth: float32 mono at ``sr`` Hz.

    Raises :class:`~music2img.errors.AudioError` when the MIDI file cannot be read, ``fluidsynth``
    is not installed, the SoundFont is missing, or the result is silent.
    """
    import soundfile as sf

    midi_path = Path(midi_path)
    if not midi_path.is_file():
        raise AudioError(f"MIDI file not found: {midi_path}")
    if not Path(rendering.soundfont).is_file():
        raise AudioError(f"SoundFont not found: {rendering.soundfont}")
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise AudioError("the fluidsynth program is needed to render MIDI (e.g. apt-get install fluidsynth)")
    with tempfile.TemporaryDirectory(prefix="music2img-render-") as tmp:
        mid, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        transform_midi(midi_path, mid, rendering)
        effects = "1" if rendering.effects else "0"
        # Dynamic sample loading decodes only the samples played (sf3 SoundFonts are compressed).
        cmd = [
            exe,
            "-n",
            "-i",
            "-q",
            "-o",
            "synth.dynamic-sample-loading=1",
            "-R",
            effects,
            "-C",
            effects,
            *(x for setting in rendering.settings for x in ("-o", setting)),
            "-g",
            "0.5",
            "-r",
            str(sr),
            "-T",
            "wav",
            "-F",
            str(wav),
            rendering.soundfont,
            str(mid),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not wav.is_file():
            raise AudioError(f"{midi_path.name}: fluidsynth failed ({done.stderr.strip()[-300:] or done.returncode})")
        y, file_sr = sf.read(wav, dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if file_sr != sr or peak == 0.0:
        raise AudioError(f"{midi_path.name}: fluidsynth rendered no audio at {sr} Hz")
    return (y * np.float32(10 ** (rendering.gain_db / 20) / peak)).astype(np.float32)


def render_key(midi_path: str | os.PathLike, rendering: Rendering, sr: int, max_seconds: float | None) -> str:
    """Cache key: hash of the MIDI file's content, the SoundFont's name and size, the rendering and
    the output format."""
    sf_path = Path(rendering.soundfont)
    spec = asdict(replace(rendering, soundfont=f"{sf_path.name}:{sf_path.stat().st_size}"))
    blob = json.dumps([sha256sum(midi_path), spec, sr, max_seconds], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def render_cached(
    midi_path: str | os.PathLike,
    rendering: Rendering,
    cache_dir: str | os.PathLike,
    sr: int = SAMPLE_RATE,
    max_seconds: float | None = None,
) -> Path:
    """The FLAC file of :func:`render`'s output (its first ``max_seconds`` when given), rendered on
    the first call and read from ``cache_dir`` afterwards."""
    import soundfile as sf

    if not Path(rendering.soundfont).is_file():
        raise AudioError(f"SoundFont not found: {rendering.soundfont}")
    key = render_key(midi_path, rendering, sr, max_seconds)
    target = Path(cache_dir) / key[:2] / f"{key}.flac"
    if not target.is_file():
        y = render(midi_path, rendering, sr)
        if max_seconds is not None:
            y = y[: int(max_seconds * sr)]
        y = y / max(1.0, float(np.max(np.abs(y))))  # FLAC is integer PCM: scale down rather than clip
        with atomic_path(target) as tmp:
            sf.write(tmp, y, sr, format="FLAC", subtype="PCM_16")
    return target
