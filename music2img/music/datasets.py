"""Music emotion datasets in their original layouts, loaded into one common table.

Every loader returns a :class:`pandas.DataFrame` with the columns :data:`COLUMNS`:
``id, audio_path, valence, arousal, group, source, quadrant`` — valence and arousal on the 1–9
scale, ``group`` the unit that must not be split between training and test (the artist where
known), ``quadrant`` the dataset's own Russell quadrant label or ``None``.

Rows that cannot be used (audio file missing, label missing or outside 1–9) are skipped with one
warning per dataset; the skipped ``(id, reason)`` pairs are in ``table.attrs["skipped"]``.

Supported layouts:

- **4Q** (Panda et al. 2018): ``metadata.csv`` and ``audio/<Song>.mp3``; continuous targets are
  the mean Warriner norms of each song's AllMusic mood tags (``mood_lexicon.csv``).
- **DEAM**: ``MEMD_audio/<song_id>.mp3`` and the static annotation CSVs
  ``static_annotations_averaged_songs_*.csv`` anywhere under the root.
- **PMEmo2019**: ``chorus/<musicId>.mp3`` and ``static_annotations.csv`` (at the root or under
  ``annotations/``), labels on 0–1 rescaled to ``1 + 8x``.
- **VGMIDI** (Ferreira & Whitehead 2019): ``labels.csv`` (``file, game, valence_sign,
  arousal_sign, quadrant``) and the MIDI files it names, rendered to audio with FluidSynth
  (:mod:`music2img.music.midi_render`) into a cache; group = game. Extra columns: ``piece`` (the
  MIDI file) and ``rendering`` (``"reference"`` for the General MIDI piano, else the augmentation).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AudioError, DatasetError
from ..va import VA_MAX, VA_MID, VA_MIN

COLUMNS = ["id", "audio_path", "valence", "arousal", "group", "source", "quadrant"]


def _finish(rows: pd.DataFrame, source: str, failed: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Validate rows (audio present, labels finite and in range), warn about and drop the rest
    (and about the ``(id, reason)`` items of ``failed``, already left out); columns beyond
    :data:`COLUMNS` are kept after them."""
    skipped: list[tuple[str, str]] = list(failed or [])
    keep = np.ones(len(rows), dtype=bool)
    for i, row in enumerate(rows.itertuples(index=False)):
        reason = None
        if not (np.isfinite(row.valence) and np.isfinite(row.arousal)):
            reason = "missing valence/arousal label"
        elif not (VA_MIN <= row.valence <= VA_MAX and VA_MIN <= row.arousal <= VA_MAX):
            reason = f"label outside {VA_MIN:g}–{VA_MAX:g} (valence {row.valence:g}, arousal {row.arousal:g})"
        elif not Path(row.audio_path).is_file():
            reason = f"audio file not found: {row.audio_path}"
        if reason:
            keep[i] = False
            skipped.append((str(row.id), reason))
    table = rows.loc[keep, COLUMNS + [c for c in rows.columns if c not in COLUMNS]].reset_index(drop=True)
    if skipped:
        examples = "; ".join(f"{i}: {r}" for i, r in skipped[:3])
        warnings.warn(
            f"{source}: skipped {len(skipped)} of {len(rows) + len(failed or [])} rows "
            f"({examples}{' …' if len(skipped) > 3 else ''})",
            stacklevel=3,
        )
    if table.empty:
        raise DatasetError(f"{source}: no usable rows (audio files and labels) found")
    table.attrs["skipped"] = skipped
    return table


def _read_csv(path: Path, **kw) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, **kw)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    table.columns = [str(c).strip() for c in table.columns]
    return table


def _require(table: pd.DataFrame, path: Path, columns: list[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")


def _find(root: Path, patterns: list[str], what: str) -> list[Path]:
    """Files matching the first pattern that matches anything under ``root`` (recursively)."""
    for pattern in patterns:
        found = sorted(p for p in root.glob(pattern) if p.is_file())
        if found:
            return found
    raise DatasetError(f"{root}: no {what} found (looked for {', '.join(patterns)})")


def _audio_dir(root: Path, name: str) -> Path:
    direct = root / name
    if direct.is_dir():
        return direct
    found = sorted(p for p in root.glob(f"**/{name}") if p.is_dir())
    if not found:
        raise DatasetError(f"{root}: no {name}/ folder with the audio found")
    return found[0]


def _root(root: str | os.PathLike) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    return root


def read_lexicon(path: str | os.PathLike) -> dict[str, tuple[float, float]]:
    """Warriner-style norms: ``word → (valence_mean, arousal_mean)``, words lower-cased."""
    path = Path(path)
    table = _read_csv(path)
    _require(table, path, ["word", "valence_mean", "arousal_mean"])
    return {
        str(w).strip().lower(): (float(v), float(a))
        for w, v, a in zip(table["word"], table["valence_mean"], table["arousal_mean"])
    }


def tags_to_va(tags: str, lexicon: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """Mean (valence, arousal) of the ``;``-separated tags found in ``lexicon``; NaN if none is."""
    found = [lexicon[t] for t in (s.strip().lower() for s in str(tags).split(";")) if t in lexicon]
    if not found:
        return float("nan"), float("nan")
    v, a = np.mean(found, axis=0)
    return float(v), float(a)


def load_4q(root: str | os.PathLike, lexicon_csv: str | os.PathLike | None = None) -> pd.DataFrame:
    """The 4Q dataset: ``metadata.csv`` + ``audio/<Song>.mp3``; group = artist.

    ``lexicon_csv`` defaults to ``mood_lexicon.csv`` in ``root`` or its parent folder.
    """
    root = _root(root)
    if lexicon_csv is None:
        candidates = [root / "mood_lexicon.csv", root.parent / "mood_lexicon.csv"]
        lexicon_csv = next((p for p in candidates if p.is_file()), None)
        if lexicon_csv is None:
            raise DatasetError(f"{root}: no mood_lexicon.csv found; pass the lexicon path")
    lexicon = read_lexicon(lexicon_csv)
    meta_path = root / "metadata.csv"
    meta = _read_csv(meta_path)
    _require(meta, meta_path, ["Song", "Artist", "Quadrant", "MoodsStrSplit"])
    va = np.array([tags_to_va(t, lexicon) for t in meta["MoodsStrSplit"]], dtype=float).reshape(-1, 2)
    rows = pd.DataFrame(
        {
            "id": meta["Song"].astype(str),
            "audio_path": [str(root / "audio" / f"{s}.mp3") for s in meta["Song"]],
            "valence": va[:, 0],
            "arousal": va[:, 1],
            "group": meta["Artist"].astype(str).str.strip(),
            "source": "4q",
            "quadrant": meta["Quadrant"].astype(str).str.strip(),
        }
    )
    return _finish(rows, "4q")


def load_deam(root: str | os.PathLike) -> pd.DataFrame:
    """DEAM: ``MEMD_audio/<song_id>.mp3`` + ``static_annotations_averaged_songs_*.csv``; group = song."""
    root = _root(root)
    parts = []
    for path in _find(
        root,
        ["static_annotations_averaged_songs_*.csv", "**/static_annotations_averaged_songs_*.csv"],
        "DEAM static annotation CSVs",
    ):
        table = _read_csv(path)  # headers have leading spaces, stripped here
        _require(table, path, ["song_id", "valence_mean", "arousal_mean"])
        parts.append(table[["song_id", "valence_mean", "arousal_mean"]])
    labels = pd.concat(parts, ignore_index=True).drop_duplicates("song_id", keep="last")
    audio = _audio_dir(root, "MEMD_audio")
    ids = labels["song_id"].astype(str).str.strip()
    rows = pd.DataFrame(
        {
            "id": ids,
            "audio_path": [str(audio / f"{i}.mp3") for i in ids],
            "valence": pd.to_numeric(labels["valence_mean"], errors="coerce").to_numpy(),
            "arousal": pd.to_numeric(labels["arousal_mean"], errors="coerce").to_numpy(),
            "group": "deam:" + ids,
            "source": "deam",
            "quadrant": None,
        }
    )
    return _finish(rows, "deam")


def load_pmemo(root: str | os.PathLike) -> pd.DataFrame:
    """PMEmo2019: ``chorus/<musicId>.mp3`` + ``static_annotations.csv`` (0–1 → 1 + 8x); group = song."""
    root = _root(root)
    path = _find(
        root,
        ["annotations/static_annotations.csv", "static_annotations.csv", "**/static_annotations.csv"],
        "PMEmo static_annotations.csv",
    )[0]
    labels = _read_csv(path)
    _require(labels, path, ["musicId", "Arousal(mean)", "Valence(mean)"])
    audio = _audio_dir(root, "chorus")
    ids = labels["musicId"].astype(str).str.strip()
    rows = pd.DataFrame(
        {
            "id": ids,
            "audio_path": [str(audio / f"{i}.mp3") for i in ids],
            "valence": 1 + 8 * pd.to_numeric(labels["Valence(mean)"], errors="coerce").to_numpy(),
            "arousal": 1 + 8 * pd.to_numeric(labels["Arousal(mean)"], errors="coerce").to_numpy(),
            "group": "pmemo:" + ids,
            "source": "pmemo",
            "quadrant": None,
        }
    )
    return _finish(rows, "pmemo")


#: Continuous targets of VGMIDI's signs: valence (arousal) = 5 ± these. They are the mean distance
#: from the neutral 5 of the 4Q targets (Warriner norms of the mood tags, re-centred on 5) of the
#: songs in the quadrants of that sign (Q1, Q4 vs Q2, Q3 for valence; Q1, Q2 vs Q3, Q4 for
#: arousal), so that a phrase heard as positive sits where a typical positive 4Q song does.
VGMIDI_LEVELS = (1.56, 0.79)
#: Analysis windows of a reference rendering follow :func:`~music2img.music.audio.frame_windows`
#: (as in prediction); an augmented rendering contributes this many seconds from a random place.
VGMIDI_AUGMENT_SECONDS = 30.0


def _cut(path: Path, spans, out_dir: Path) -> list[str]:
    """FLAC files in ``out_dir`` (cached by name) of ``path``'s audio over each ``(start, end)``
    span, seconds; ``spans`` may be a function of ``(y, sr)``."""
    import soundfile as sf

    from ..files import atomic_path

    y, sr = sf.read(str(path), dtype="float32")
    out = []
    for start, end in spans(y, sr) if callable(spans) else spans:
        target = out_dir / f"{path.stem}-{round(start * 1000)}-{round(end * 1000)}.flac"
        if not target.is_file():
            with atomic_path(target) as tmp:
                sf.write(tmp, y[round(start * sr) : round(end * sr)], sr, format="FLAC", subtype="PCM_16")
        out.append(str(target))
    return out


def load_vgmidi(
    root: str | os.PathLike,
    render_dir: str | os.PathLike,
    soundfonts: list[str] | None = None,
    augment: int = 4,
    levels: tuple[float, float] = VGMIDI_LEVELS,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """VGMIDI: ``labels.csv`` + MIDI files, rendered into ``render_dir``; group = game.

    Every phrase is rendered with the reference piano (General MIDI program 0, the first of
    ``soundfonts``, as written) and cut into the analysis windows a prediction would use, one row
    each; and ``augment`` times with drawn SoundFont, instrument, tempo, velocity, level and
    effects (:func:`~music2img.music.midi_render.augmentations`), one random
    :data:`VGMIDI_AUGMENT_SECONDS` window each. Targets: ``5 ± levels`` by the signs.

    ``soundfonts`` defaults to :func:`~music2img.music.midi_render.find_soundfonts`.
    """
    from tqdm.auto import tqdm

    from .audio import frame_windows
    from .midi_render import Rendering, augmentations, find_soundfonts, render_cached

    root, render_dir = _root(root), Path(render_dir)
    soundfonts = list(soundfonts) if soundfonts else find_soundfonts()
    if not soundfonts:
        raise DatasetError("no General MIDI SoundFont found to render VGMIDI (e.g. apt-get install fluid-soundfont-gm)")
    path = root / "labels.csv"
    labels = _read_csv(path)
    _require(labels, path, ["file", "game", "valence_sign", "arousal_sign", "quadrant"])
    reference = Rendering(soundfonts[0], program=0)
    rng = np.random.default_rng(seed)
    rows, failed = [], []
    for row in tqdm(
        labels.itertuples(index=False), total=len(labels), desc="rendering VGMIDI", unit="phrase", disable=not progress
    ):
        midi = root / row.file
        base = {
            "piece": str(row.file),
            "valence": VA_MID + levels[0] * np.sign(float(row.valence_sign)),
            "arousal": VA_MID + levels[1] * np.sign(float(row.arousal_sign)),
            "group": f"vgmidi:{row.game}",
            "source": "vgmidi",
            "quadrant": str(row.quadrant).strip(),
        }
        try:
            windows = _cut(render_cached(midi, reference, render_dir), frame_windows, render_dir / "windows")
            rows += [
                base | {"id": f"{row.file}#reference{k}", "rendering": "reference", "audio_path": p}
                for k, p in enumerate(windows)
            ]
            for k, rendering in enumerate(augmentations(str(row.file), soundfonts, augment, seed)):
                u = rng.uniform()

                def random_window(y, sr, u=u):
                    start = u * max(0.0, len(y) / sr - VGMIDI_AUGMENT_SECONDS)
                    return [(start, min(len(y) / sr, start + VGMIDI_AUGMENT_SECONDS))]

                [window] = _cut(render_cached(midi, rendering, render_dir), random_window, render_dir / "windows")
                rows.append(
                    base | {"id": f"{row.file}#augment{k}", "rendering": rendering.name(), "audio_path": window}
                )
        except AudioError as exc:
            failed.append((str(row.file), str(exc)))
    return _finish(pd.DataFrame(rows, columns=COLUMNS + ["piece", "rendering"]), "vgmidi", failed)


#: Dataset kind → loader.
LOADERS: dict[str, Callable[..., pd.DataFrame]] = {
    "4q": load_4q,
    "deam": load_deam,
    "pmemo": load_pmemo,
    "vgmidi": load_vgmidi,
}


def load_dataset(kind: str, root: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """Load a dataset by kind (``"4q"``, ``"deam"`` or ``"pmemo"``); ``kwargs`` go to its loader."""
    try:
        loader = LOADERS[kind.lower()]
    except KeyError:
        raise DatasetError(f"unknown dataset kind {kind!r}; choose from {', '.join(LOADERS)}") from None
    return loader(root, **kwargs)
