"""Example songs, one per Russell quadrant: short pieces written here as notes, played by a
General MIDI SoundFont.

Each :class:`Piece` is a score (tempo and parts of notes, drums on the General MIDI drum
channel); :meth:`Piece.to_midi` writes it as a standard MIDI file (``mido``, needed only to build
the clips), :func:`render` plays it through FluidSynth, and :func:`write_examples` writes the
compressed clips shipped in ``assets/examples``::

    python -m music2img.music.examples assets/examples [--soundfont FluidR3_GM.sf2]

Rendering (:mod:`music2img.music.midi_render`) needs the ``fluidsynth`` program and a General MIDI
SoundFont (Debian: ``fluidsynth``, ``fluid-soundfont-gm``). The same score, SoundFont and
FluidSynth version give the same samples.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..assets import EXAMPLES_DIR
from ..errors import AudioError
from ..files import atomic_path

SR = 22050
#: Debian's ``fluid-soundfont-gm`` (Frank Wen's FluidR3_GM, MIT licence).
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9
#: FluidSynth settings for every example: a larger reverb room than FluidSynth's default.
SYNTH_SETTINGS = ("synth.reverb.room-size=0.6", "synth.reverb.damp=0.3", "synth.reverb.width=1.0")
TAIL_S = 1.2  # release and reverb kept after the last beat, the last half faded out
_BLOCK = 1 << 16

#: One note: start and length in beats, MIDI pitch, velocity (1–127).
Note = tuple[float, float, int, int]

# General MIDI drum keys.
KICK, SNARE, CLAP, CLOSED_HAT, OPEN_HAT, CRASH, RIDE, CHINA, TAMBOURINE = 36, 38, 39, 42, 46, 49, 51, 52, 54
COWBELL, HIGH_CONGA, LOW_CONGA, MARACAS = 56, 63, 64, 70


@dataclass(frozen=True)
class Part:
    """One instrument: a General MIDI program (0-based; ignored for drums) and its notes."""

    program: int
    notes: tuple[Note, ...]
    drums: bool = False
    volume: int = 100  # channel volume, CC 7
    pan: int = 64  # CC 10, 0 = left, 127 = right
    reverb: int = 40  # reverb send, CC 91


@dataclass(frozen=True)
class Piece:
    """A short piece: file stem, page label, intended quadrant, tempo, length and parts."""

    name: str
    title: str
    quadrant: str
    bpm: float
    beats: float
    parts: tuple[Part, ...]
    peak: float = 0.9  # peak level of the rendered clip
    humanize: tuple[float, int] = (0.012, 6)  # s.d. of the players' timing (s) and velocity offsets

    @property
    def seconds(self) -> float:
        """Length of the rendered clip, tail included."""
        return self.beats * 60.0 / self.bpm + TAIL_S

    def to_midi(self, seed: int = 0):
        """The piece as a type-1 :class:`mido.MidiFile` (a tempo track, then one track per part), every
        onset and velocity moved by a small random offset (:attr:`humanize`; ``seed`` fixes it)."""
        import mido

        rng = np.random.default_rng(seed)
        jitter_beats, jitter_vel = self.humanize[0] * self.bpm / 60.0, self.humanize[1]

        def tick(beat: float) -> int:
            return round(beat * TICKS_PER_BEAT)

        midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
        midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(self.bpm), time=0)]))
        end = tick(self.beats + TAIL_S * self.bpm / 60.0)
        melodic = iter(c for c in range(16) if c != DRUM_CHANNEL)
        for part in self.parts:
            ch = DRUM_CHANNEL if part.drums else next(melodic)
            setup = [
                mido.Message("control_change", channel=ch, control=c, value=v)
                for c, v in ((7, part.volume), (10, part.pan), (91, part.reverb))
            ]
            if not part.drums:
                setup.insert(0, mido.Message("program_change", channel=ch, program=part.program))
            played = []  # [on tick, off tick, pitch, velocity]
            for start, length, pitch, velocity in part.notes:
                start = max(0.0, start + jitter_beats * rng.standard_normal())
                velocity = int(np.clip(round(velocity + jitter_vel * rng.standard_normal()), 1, 127))
                played.append([tick(start), max(tick(start) + 1, tick(start + length)), pitch, velocity])
            sounding: dict[int, list] = {}
            for note in sorted(played):  # a key struck again ends its previous note
                if note[2] in sounding and sounding[note[2]][1] > note[0]:
                    sounding[note[2]][1] = max(sounding[note[2]][0] + 1, note[0])
                sounding[note[2]] = note
            events = []  # (tick, 0 = off before 1 = on at the same tick, message)
            for on, off, pitch, velocity in played:
                events.append((on, 1, mido.Message("note_on", channel=ch, note=pitch, velocity=velocity)))
                events.append((off, 0, mido.Message("note_off", channel=ch, note=pitch, velocity=0)))
            track, now = mido.MidiTrack(setup), 0
            for at, _, msg in sorted(events, key=lambda e: (e[0], e[1], e[2].note)):
                track.append(msg.copy(time=at - now))
                now = at
            track.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
            midi.tracks.append(track)
        return midi


def pitches(chord: str) -> list[int]:
    """MIDI pitches of ``'C4+E4+G4'`` (scientific pitch names joined by ``+``)."""
    import librosa

    return [int(librosa.note_to_midi(p)) for p in chord.split("+")]


def seq(text: str, start: float = 0.0, velocity: int = 80, legato: float = 0.9) -> list[Note]:
    """Notes from a line such as ``'E5/1 G5+B5/.5 r/.5'``: pitch or ``+``-joined chord (``r`` = rest),
    ``/`` length in beats, optionally ``/velocity``; each sounds for ``legato`` of its length."""
    notes, t = [], start
    for token in text.split():
        name, beats, *vel = token.split("/")
        if name != "r":
            notes += [(t, float(beats) * legato, p, int(vel[0]) if vel else velocity) for p in pitches(name)]
        t += float(beats)
    return notes


_HITS = {"X": 1.0, "x": 0.8, "-": 0.55}


def steps(
    pattern: str, chord: str | int, velocity: int, start: float = 0.0, step: float = 0.25, length: float | None = None
) -> list[Note]:
    """A rhythm, one character per ``step`` beats: ``X`` accent, ``x`` hit, ``-`` ghost, ``.`` rest
    (``|`` is ignored, for readability); every hit plays ``chord`` (names, or a drum key)."""
    keys = [chord] if isinstance(chord, int) else pitches(chord)
    hits = [c for c in pattern if c != "|"]
    return [
        (start + i * step, length or step * 0.9, k, round(velocity * _HITS[c]))
        for i, c in enumerate(hits)
        if c in _HITS
        for k in keys
    ]


def arp(line: str, start: float, velocity: int, step: float = 0.5, length: float = 1.0) -> list[Note]:
    """Broken chord: the space-separated pitch names of ``line`` one per ``step`` beats, each held ``length`` beats."""
    return [(start + i * step, length, p, velocity) for i, name in enumerate(line.split()) for p in pitches(name)]


def _bars(items: Sequence, make) -> list[Note]:
    """``make(item, start_beat)`` for each 4/4 bar's item, concatenated."""
    return [n for i, item in enumerate(items) for n in make(item, 4.0 * i)]


def sunny_ride() -> Piece:
    """Q1: a 164 bpm Latin-pop band in C major (I–V–vi–IV): drum kit with congas, maracas and
    cowbell up front, bass, piano, strummed and overdriven guitars, strings, a trumpet hook
    doubled by glockenspiel."""
    chords = ["C", "G", "Am", "F"] * 3 + ["F", "G", "C"]
    voicing = {"C": "C4+E4+G4", "G": "B3+D4+G4", "Am": "C4+E4+A4", "F": "C4+F4+A4"}
    root = {"C": "C2", "G": "G1", "Am": "A1", "F": "F1"}
    power = {"C": "C3+G3+C4", "G": "G2+D3+G3", "Am": "A2+E3+A3", "F": "F2+C3+F3"}
    hook = (
        "E5/.5 G5/.5 C6/1 B5/.5 C6/.5 D6/1 D6/.5 B5/.5 G5/1 r/.5 G5/.5 A5/.5 B5/.5 "
        "C6/.5 B5/.5 A5/1 E5/.5 A5/.5 C6/1 A5/1.5 G5/.5 F5/.5 E5/.5 F5/.5 G5/.5 "
    )
    melody = seq(hook * 3 + "A5/1 C6/1 F6/1 E6/.5 D6/.5 D6/1 B5/1 G5/.5 A5/.5 B5/1", velocity=100) + seq(
        "C6/4", 60, 105, 1.0
    )
    end = 4.0 * len(chords)  # the final chord, after the last bar
    drums = _bars(
        range(len(chords)),
        lambda i, t: (
            steps("X.....x.X.....x.", KICK, 110, t)
            + steps("....X.......X..." if i % 4 != 3 else "....X.......XxXX", SNARE, 105, t)
            + steps("xxxxxxxxxxxxxxxx", CLOSED_HAT, 90, t)
            + steps("....x.......x...", TAMBOURINE, 70, t)
            + steps("....x.......x...", CLAP, 90, t)
            + steps("..............x.", OPEN_HAT, 80, t, length=0.5)
            + steps("x-xxx-xxx-xxx-xx", MARACAS, 85, t)
            + steps("..x..x....x..x..", HIGH_CONGA, 90, t)
            + steps("x..x..x.x..x..x.", LOW_CONGA, 85, t)
            + steps("x...x...x...x...", COWBELL, 80, t)
            + (steps("X", CRASH, 110, t, length=2) if i % 4 == 0 else [])
        ),
    )
    drums += steps("X", KICK, 115, end) + steps("X", CRASH, 120, end, length=4)
    return Piece(
        "sunny_ride",
        "Q1 happy · Sunny ride (Latin pop, 164 bpm)",
        "Q1",
        164,
        end + 4,
        (
            Part(0, tuple(drums), drums=True, volume=127),
            Part(
                34,
                tuple(_bars(chords, lambda c, t: steps("x.x.x.x.", root[c], 105, t, 0.5)) + seq("C2/4", end, 110, 1.0)),
                volume=75,
            ),
            Part(
                1,
                tuple(
                    _bars(chords, lambda c, t: steps("x..x..x.x.x..x..", voicing[c], 85, t))
                    + seq("C4+E4+G4+C5/4", end, 95, 1.0)
                ),
                volume=75,
                pan=84,
            ),
            Part(
                25,
                tuple(
                    _bars(chords, lambda c, t: steps("X.x.X.x.", voicing[c], 75, t, 0.5))
                    + seq("C3+G3+C4+E4+G4/4", end, 90, 1.0)
                ),
                volume=75,
                pan=40,
            ),
            Part(
                29,
                tuple(
                    _bars(chords, lambda c, t: steps("x.x.x.x.", power[c], 95, t, 0.5))
                    + seq("C3+G3+C4/4", end, 100, 1.0)
                ),
                volume=64,
                pan=20,
            ),
            Part(48, tuple(_bars(chords, lambda c, t: seq(f"{voicing[c]}/4", t, 70, 1.0))), volume=52, pan=100),
            Part(56, tuple(melody), volume=82, reverb=50),
            Part(9, tuple((s, d, p + 12, v - 30) for s, d, p, v in melody), volume=60, pan=90),
        ),
    )


def storm_front() -> Piece:
    """Q2: 172 bpm metal in E Phrygian: a distorted power-chord riff with tritones and chromatic
    steps, drums with crashes on every bar, then brass stabs on a minor-second cluster,
    orchestra hits, timpani and rising tremolo strings; it ends on unison hits."""
    power = {
        "E": "E2+B2+E3",
        "F": "F2+C3+F3",
        "F#": "F#2+C#3+F#3",
        "G": "G2+D3+G3",
        "A": "A2+E3+A3",
        "A#": "A#2+F3+A#3",
    }
    riff = ["E E E F E E A# A", "E E E F E G F# F"] * 8
    hits, stop = "X..X..X...X.X...", 4.0 * len(riff)

    def chug(line: str, t: float, octave: int) -> list[Note]:
        out = []
        for i, name in enumerate(line.split()):
            keys = pitches(power[name])[:1] if octave else pitches(power[name])
            out += [(t + 0.5 * i, 0.4, k + octave, 120) for k in keys]
        return out

    guitar = _bars(riff, lambda line, t: chug(line, t, 0)) + steps(hits, power["E"], 125, stop, length=0.2)
    bass = _bars(riff, lambda line, t: chug(line, t, -12)) + steps(hits, "E1", 125, stop, length=0.2)
    drums = _bars(
        range(len(riff)),
        lambda i, t: (
            steps("x.x.x.x.x.x.x.x." if i < 8 else "xxxxxxxxxxxxxxxx", KICK, 120 if i < 8 else 105, t)
            + steps("....X.......X...", SNARE, 125, t)
            + steps("X", CRASH, 120, t, length=2)
            + (steps("x.x.x.x.x.x.x.x.", RIDE, 95, t) if i < 8 else steps("........X.......", CHINA, 115, t))
        ),
    )
    drums += steps(hits, KICK, 127, stop) + steps(hits, CRASH, 127, stop, length=1) + steps(hits, SNARE, 120, stop)
    section2 = range(8, len(riff))
    brass = [n for i in section2 for n in steps("X.....X.....X...", "E4+F4+A#4", 120, 4.0 * i, length=0.3)]
    orchestra = [n for i in section2[::2] for n in steps("X", "E4", 127, 4.0 * i, length=1)]
    timpani = [n for i in section2 for n in steps("X.......X.......", "E2", 120, 4.0 * i, length=1)]
    rising = ["E5+F5", "F5+F#5", "F#5+G5", "G5+G#5"]  # a minor second climbing every two bars
    tremolo = [n for k, i in enumerate(section2[::2]) for n in seq(f"{rising[k]}/8", 4.0 * i, 100, 1.0)]
    stabs = steps(hits, "E4+F4+A#4", 125, stop, length=0.3)
    return Piece(
        "storm_front",
        "Q2 tense · Storm front (metal, 172 bpm)",
        "Q2",
        172,
        stop + 4,
        (
            Part(0, tuple(drums), drums=True, volume=110),
            Part(30, tuple(guitar), volume=110, pan=40),
            Part(29, tuple(guitar), volume=90, pan=88),
            Part(34, tuple(bass), volume=110),
            Part(61, tuple(brass + stabs), volume=105),
            Part(55, tuple(orchestra + stabs), volume=100),
            Part(47, tuple(timpani), volume=110),
            Part(44, tuple(tremolo), volume=95),
        ),
        peak=0.95,
    )


def letters_never_sent() -> Piece:
    """Q3: a 60 bpm lament in A minor for piano, strings and cello over the chromatically falling
    lament bass (A G♯ G F♯ F, then the Neapolitan B♭ and E7), the tune sighing down by
    semitones, low strings holding a grinding A–B♭ semitone underneath; no drums."""
    bass = ["A2", "G#2", "G2", "F#2", "F2", "D2", "E2", "A1"]
    chords = ["A3+C4+E4", "G#3+B3+E4", "G3+C4+E4", "F#3+A3+D4", "F3+A3+D4", "F3+A#3+D4", "G#3+B3+D4", "A3+C4+E4"]
    beats = [4, 4, 4, 4, 4, 2, 2, 4]
    starts = [sum(beats[:i]) for i in range(len(beats))]
    left = []
    for b, c, t, d in zip(bass, chords, starts, beats):  # the bass note, then the chord rocking in eighths
        c0, c1, c2 = c.split("+")
        left += seq(f"{b}/{d}", t, 48, 1.0) + arp(" ".join(([c0, c1, c2, c1] * d)[: 2 * d - 1]), t + 0.5, 38, 0.5, 1.5)
    melody = seq(
        "E5/1.5 F5/.5 E5/2 D5/1.5 C5/.5 B4/2 C5/1 E5/1 D5/1.5 C5/.5 C5/2 A4/1 D5/.5 C5/.5 "
        "F5/2 E5/1 D5/1 D5/1.5 A#4/.5 B4/1 G#4/1 A4/4",
        velocity=58,
        legato=0.98,
    )
    strings = [n for c, t, d in zip(chords, starts, beats) for n in seq(f"{c}/{d}", t, 45, 1.0)]
    cello = [n for b, t, d in zip(bass, starts, beats) for n in seq(f"{b}/{d}", t, 58, 1.0)]
    grief = seq("A2+A#2/8 " * 3 + "A2+A#2/4", 0, 60, 1.0)  # low strings grind A against B♭, bowed every two bars
    return Piece(
        "letters_never_sent",
        "Q3 sad · Letters never sent (piano lament, 60 bpm)",
        "Q3",
        60,
        28,
        (
            Part(0, tuple(left + melody), volume=95, reverb=60),
            Part(49, tuple(strings), volume=70, reverb=70, pan=44),
            Part(42, tuple(cello), volume=80, reverb=70, pan=84),
            Part(48, tuple(grief), volume=90, reverb=90),
        ),
        peak=0.5,
    )


def morning_tea() -> Piece:
    """Q4: a 76 bpm piece in D major (I–IV–vi–V): fingerpicked nylon guitar, a flute tune
    and a warm pad, no drums."""
    guitar = {
        "D": "D3 A3 D4 F#4 A4 F#4 D4 A3",
        "G": "G2 D3 G3 B3 D4 B3 G3 D3",
        "Bm": "B2 F#3 B3 D4 F#4 D4 B3 F#3",
        "A": "A2 E3 A3 C#4 E4 C#4 A3 E3",
        "Em7/A": "E3 B3 D4 G4 A2 E3 A3 C#4",
    }
    pad = {"D": "D4+F#4+A4+C#5", "G": "G3+B3+D4+F#4", "Bm": "B3+D4+F#4+A4", "A": "A3+C#4+E4", "Em7/A": "G3+B3+D4+E4"}
    chords = ["D", "G", "Bm", "A", "D", "G", "Em7/A"]
    picking = _bars(chords, lambda c, t: arp(guitar[c], t, 60, length=1.5)) + seq("D3+A3+D4+F#4+A4/4", 28, 62, 1.0)
    melody = seq(
        "F#5/1.5 E5/.5 D5/1 A4/1 B4/2 D5/1 E5/1 F#5/2 D5/1 B4/1 C#5/1 B4/1 A4/2 "
        "A5/1.5 F#5/.5 E5/1 D5/1 B4/1 D5/1 G5/2 F#5/1 E5/1 C#5/1 E5/1 D5/4",
        velocity=70,
        legato=0.97,
    )
    pads = _bars(chords, lambda c, t: seq(f"{pad[c]}/4", t, 50, 1.0)) + seq(f"{pad['D']}/4", 28, 50, 1.0)
    return Piece(
        "morning_tea",
        "Q4 calm · Morning tea (guitar and flute, 76 bpm)",
        "Q4",
        76,
        32,
        (
            Part(24, tuple(picking), volume=100, reverb=60, pan=48),
            Part(73, tuple(melody), volume=85, reverb=70, pan=76),
            Part(89, tuple(pads), volume=70, reverb=80),
        ),
        peak=0.6,
    )


#: The example pieces, in quadrant order (Q1 happy, Q2 tense, Q3 sad, Q4 calm).
EXAMPLES: tuple[Piece, ...] = (sunny_ride(), storm_front(), letters_never_sent(), morning_tea())


def render(piece: Piece, soundfont: str | Path = SOUNDFONT, sr: int = SR) -> np.ndarray:
    """Play ``piece`` through FluidSynth with ``soundfont`` (:func:`~music2img.music.midi_render.render`):
    float32 mono at ``sr`` Hz, ``piece.seconds`` long, the tail faded out, peak ``piece.peak``.

    Raises :class:`~music2img.errors.AudioError` when the SoundFont or ``fluidsynth`` is missing.
    """
    from .midi_render import Rendering
    from .midi_render import render as render_midi

    with tempfile.TemporaryDirectory(prefix="m2i_example_") as tmp:
        mid = Path(tmp) / f"{piece.name}.mid"
        piece.to_midi().save(mid)
        y = render_midi(mid, Rendering(str(soundfont), program=None, settings=SYNTH_SETTINGS), sr).astype(np.float64)
    n = round(piece.seconds * sr)
    y = np.pad(y, (0, max(0, n - len(y))))[:n]
    fade = round(TAIL_S / 2 * sr)
    y[n - fade :] *= np.linspace(1.0, 0.0, fade) ** 2
    return (piece.peak * y / np.max(np.abs(y))).astype(np.float32)


def write_examples(
    outdir: str | Path,
    soundfont: str | Path = SOUNDFONT,
    sr: int = SR,
    fmt: str = "ogg",
    pieces: Sequence[Piece] | None = None,
) -> list[Path]:
    """Render ``pieces`` (default :data:`EXAMPLES`) to ``outdir/<name>.<fmt>``, atomically; return the paths."""
    import soundfile as sf

    outdir = Path(outdir)
    paths = []
    for piece in EXAMPLES if pieces is None else pieces:
        path = outdir / f"{piece.name}.{fmt}"
        y = render(piece, soundfont, sr)
        with atomic_path(path) as tmp, sf.SoundFile(tmp, "w", sr, 1, format=fmt.upper()) as f:
            for start in range(0, y.size, _BLOCK):  # libsndfile 1.2's Vorbis encoder crashes on long single writes
                f.write(y[start : start + _BLOCK])
        paths.append(path)
    return paths


def load_examples(folder: str | Path = EXAMPLES_DIR, sr: int = SR) -> dict[str, np.ndarray]:
    """The rendered clips in ``folder`` (default: the shipped ones) as float32 mono arrays at ``sr``,
    keyed by piece name, in quadrant order."""
    from .audio import load_audio

    return {p.name: load_audio(Path(folder) / f"{p.name}.ogg", sr) for p in EXAMPLES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m music2img.music.examples", description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path, help="folder to write the clips into")
    parser.add_argument(
        "--soundfont", type=Path, default=SOUNDFONT, help=f"General MIDI SoundFont (default {SOUNDFONT})"
    )
    parser.add_argument("--sr", type=int, default=SR, help=f"sample rate (default {SR})")
    parser.add_argument("--format", default="ogg", choices=("ogg", "flac", "wav"), help="file format (default ogg)")
    args = parser.parse_args(argv)
    try:
        paths = write_examples(args.outdir, args.soundfont, args.sr, args.format)
    except AudioError as err:
        parser.exit(2, f"{parser.prog}: {err}\n")
    for path in paths:
        print(f"{path}  {path.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
