"""Audio features for music emotion recognition: a fixed, named, versioned vector per clip.

:func:`extract_features` computes the usual librosa descriptors (MFCC, chroma, spectral shape,
tonnetz, …) and summarises each over time by its mean, its standard deviation and its mean absolute
frame-to-frame change, then adds tempo and a few song-level descriptors (key clarity,
major/minor mode and their stability, chord change rate, onset rate, spectral flux, low-energy
rate, dynamic range, pulse clarity, rhythmic periodicity from the tempogram). The
three chromagrams are summarised *relative to the estimated key* (row ``k`` is ``k`` semitones
above the tonic), so that a song and its transposition get the same chroma features. The
expensive intermediates are computed once and shared:

- one STFT magnitude ``|S|`` → power ``|S|²`` → mel spectrogram → log-mel, which feeds both the
  MFCCs and the onset envelope (→ tempo, tempogram); ``|S|`` also feeds spectral contrast,
  centroid, bandwidth (reusing the centroid) and roll-off, and ``|S|²`` feeds chroma STFT and
  the 16 coarse log-mel bands;
- the tuning estimates reuse ``|S|`` and ``|S|²`` instead of new STFTs;
- one constant-Q transform feeds chroma CQT, chroma CENS and (through chroma CQT) tonnetz.

The result equals calling each ``librosa.feature.*`` function on ``y`` separately (see
``tests/test_music_features.py``), at a fraction of the cost (``benchmarks/music_features.py``).
"""

from __future__ import annotations

import librosa
import numpy as np

#: Bump when the names, order or computation of the features change; cached features and saved
#: models carry it and are rejected when it differs.
SCHEMA_VERSION = "5"

N_FFT = 2048
HOP_LENGTH = 512
N_MFCC = 13
#: Coarse log-mel bands (the spectral envelope at a resolution the forest can use).
N_MEL_BANDS = 16
#: Constant-Q resolution used by librosa's chroma_cqt / chroma_cens defaults.
CQT_BINS_PER_OCTAVE = 36
CQT_OCTAVES = 7
#: Tuning is estimated on at most this many STFT frames (~30 s); longer signals are strided.
TUNING_FRAMES = 1300
#: Spectral descriptors (mel spectrum, MFCC, onsets, contrast, centroid, bandwidth, roll-off) look
#: at frequencies up to here only, so that a 16 kHz or low-bit-rate version of a song, which lacks the
#: top octave, gets the same features (``benchmarks/music_robustness.py``).
FMAX = 8000.0
#: Every analysed stretch is scaled to this RMS level (dBFS) first: level is a production choice,
#: not the music's; dynamics survive as relative measures (RMS spread, dynamic range).
LEVEL_DBFS = -20.0

#: Frame-wise descriptors in output order: (name, number of rows).
_DESCRIPTORS: tuple[tuple[str, int], ...] = (
    ("mfcc", N_MFCC),
    ("chroma_stft", 12),
    ("spectral_contrast", 7),
    ("zcr", 1),
    ("rms", 1),
    ("spectral_centroid", 1),
    ("spectral_bandwidth", 1),
    ("spectral_rolloff", 1),
    ("tonnetz", 6),
    ("chroma_cqt", 12),
    ("chroma_cens", 12),
    ("mel_band", N_MEL_BANDS),
)
#: Summaries of each frame-wise descriptor, in output order: mean, standard deviation, and
#: ``delta`` = mean absolute change from one frame to the next.
_STATS = ("mean", "std", "delta")


#: Chromagrams summarised relative to the tonic; their rows are named ``<name>_rel<k>``.
_KEY_RELATIVE = ("chroma_stft", "chroma_cqt", "chroma_cens")


def _feature_names() -> list[str]:
    names = []
    for stat in _STATS:
        for name, rows in _DESCRIPTORS:
            stem = f"{name}_rel" if name in _KEY_RELATIVE else name
            names += [f"{name}_{stat}"] if rows == 1 else [f"{stem}{i:02d}_{stat}" for i in range(rows)]
    return names + ["tempo"] + list(_SONG_DESCRIPTORS)


#: Song-level descriptors after tempo. On a repeated grouped 5-fold CV of the 4Q training clips,
#: v2 (key, mode, onsets, dynamics, pulse) lowered the mean MSE from 1.215 to 1.165; v3
#: (key-relative chroma, segment key stability, chord change rate) from 1.178 to 1.135, and
#: raised quadrant macro-F1 from 62.7% to 64.5%; v4 (delta statistics, log-mel bands,
#: tempogram) from 1.126 to 1.114 and from 63.9% to 65.5%.
_SONG_DESCRIPTORS = (
    "key_clarity",  # best correlation of mean chroma CQT with a Krumhansl–Kessler key profile
    "mode_major_minor",  # best major-key correlation minus best minor-key correlation
    "segment_mode_mean",  # mode_major_minor of each 3 s segment: mean and std over segments
    "segment_mode_std",
    "segment_key_clarity_mean",  # key_clarity of each 3 s segment: mean and std
    "segment_key_clarity_std",
    "chroma_flux_mean",  # frame-to-frame change of the normalised chroma CQT (chord changes)
    "chroma_flux_std",
    "onset_rate",  # detected onsets per second
    "onset_strength_mean",  # spectral flux (log-mel onset strength)
    "onset_strength_std",
    "low_energy_rate",  # share of frames quieter than the mean RMS
    "dynamic_range_db",  # 95th − 5th percentile of frame RMS, dB
    "rms_db_std",
    "pulse_clarity",  # highest onset autocorrelation at 40–240 bpm, relative to lag 0
    "tempogram_fast",  # mean tempogram (onset autocorrelation) at lags < 0.46 s (> 130 bpm),
    "tempogram_beat",  # 0.46–1.4 s,
    "tempogram_slow",  # 1.4–2.8 s,
    "tempogram_bar",  # ≥ 2.8 s,
    "tempogram_std",  # and its variation over time
)
#: Tempogram lag bands (in frames) of the tempogram_* descriptors.
_TEMPOGRAM_BANDS = ((1, 20), (20, 60), (60, 120), (120, None))
#: Krumhansl–Kessler key profiles (C major, C minor).
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
#: Length of the segments whose key is estimated separately, in seconds.
KEY_SEGMENT_SECONDS = 3.0


#: Names of the entries of :func:`extract_features`' output, in order.
FEATURE_NAMES: list[str] = _feature_names()


def frame_features(
    y: np.ndarray, sr: int = 22050, *, tuning_frames: int = TUNING_FRAMES
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Frame-wise descriptors of a mono signal (each ``(rows, frames)``) and its onset envelope.

    Parameters
    ----------
    y : np.ndarray
        Mono audio, float.
    sr : int
        Sample rate of ``y``.
    tuning_frames : int
        The tuning is estimated on at most this many STFT frames (evenly strided); clips up to
        ~30 s use all of them, exactly as librosa does.
    """
    y = np.asarray(y, dtype=np.float32)
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    if rms > 0:
        y = y * np.float32(10 ** (LEVEL_DBFS / 20) / rms)
    S_mag = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH))
    S_pow = S_mag**2
    low = librosa.fft_frequencies(sr=sr, n_fft=N_FFT) <= FMAX
    S_low, freq_low = S_mag[low], librosa.fft_frequencies(sr=sr, n_fft=N_FFT)[low]
    log_mel = librosa.power_to_db(librosa.feature.melspectrogram(S=S_pow, sr=sr, fmax=FMAX))
    # The same tuning estimates librosa makes inside chroma_stft (on |S|²) and cqt (on |S|).
    stride = -(-S_mag.shape[-1] // tuning_frames)
    tuning_12 = librosa.estimate_tuning(S=S_pow[:, ::stride], sr=sr, n_fft=N_FFT, bins_per_octave=12)
    tuning_36 = librosa.estimate_tuning(S=S_mag[:, ::stride], sr=sr, n_fft=N_FFT, bins_per_octave=CQT_BINS_PER_OCTAVE)
    C = np.abs(
        librosa.cqt(
            y,
            sr=sr,
            hop_length=HOP_LENGTH,
            n_bins=CQT_OCTAVES * CQT_BINS_PER_OCTAVE,
            bins_per_octave=CQT_BINS_PER_OCTAVE,
            tuning=tuning_36,
        )
    )
    centroid = librosa.feature.spectral_centroid(S=S_low, freq=freq_low)
    chroma_cqt = librosa.feature.chroma_cqt(C=C, sr=sr, bins_per_octave=CQT_BINS_PER_OCTAVE)
    frames = {
        "mfcc": librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC),
        "chroma_stft": librosa.feature.chroma_stft(S=S_pow, sr=sr, tuning=tuning_12),
        "spectral_contrast": librosa.feature.spectral_contrast(S=S_low, sr=sr, freq=freq_low),
        "zcr": librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP_LENGTH),
        "rms": librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP_LENGTH),
        "spectral_centroid": centroid,
        "spectral_bandwidth": librosa.feature.spectral_bandwidth(S=S_low, freq=freq_low, centroid=centroid),
        "spectral_rolloff": librosa.feature.spectral_rolloff(S=S_low, freq=freq_low),
        "tonnetz": librosa.feature.tonnetz(chroma=chroma_cqt, sr=sr),
        "chroma_cqt": chroma_cqt,
        "chroma_cens": librosa.feature.chroma_cens(C=C, sr=sr, bins_per_octave=CQT_BINS_PER_OCTAVE),
        "mel_band": librosa.power_to_db(librosa.feature.melspectrogram(S=S_pow, sr=sr, n_mels=N_MEL_BANDS, fmax=FMAX)),
    }
    return frames, librosa.onset.onset_strength(S=log_mel, sr=sr)


def _key_correlations(chroma: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Pearson correlation of 12-bin chroma vectors ``(12, n)`` with ``profile`` in each of the
    12 keys, ``(12, n)`` (zeros for a flat vector)."""
    keys = np.stack([np.roll(profile, k) for k in range(12)])
    keys = keys - keys.mean(axis=1, keepdims=True)
    c = chroma - chroma.mean(axis=0, keepdims=True)
    denom = np.linalg.norm(keys, axis=1)[:, None] * np.linalg.norm(c, axis=0)
    return np.divide(keys @ c, denom, out=np.zeros(denom.shape), where=denom > 0)


def estimate_key(chroma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Key of each column of a chromagram ``(12, n)``: tonic pitch class (0 = C), key clarity
    (best Krumhansl–Kessler correlation, major or minor) and mode (best major minus best minor
    correlation), each of shape ``(n,)``."""
    major = _key_correlations(chroma, _MAJOR_PROFILE)
    minor = _key_correlations(chroma, _MINOR_PROFILE)
    best_major, best_minor = major.max(axis=0), minor.max(axis=0)
    tonic = np.where(best_major >= best_minor, major.argmax(axis=0), minor.argmax(axis=0))
    return tonic, np.maximum(best_major, best_minor), best_major - best_minor


def song_descriptors(
    frames: dict[str, np.ndarray], onset_env: np.ndarray, sr: int, key: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> np.ndarray:
    """Tempo and the song-level descriptors (key, mode, harmony, onsets, dynamics, pulse) of a
    stretch of frames whose :func:`estimate_key` of the mean chroma CQT is ``key``."""
    bpm = float(librosa.feature.tempo(onset_envelope=onset_env, sr=sr, hop_length=HOP_LENGTH)[0])
    chroma = frames["chroma_cqt"]
    _, clarity, mode = key
    seg = max(1, round(KEY_SEGMENT_SECONDS * sr / HOP_LENGTH))
    n_seg = max(1, chroma.shape[-1] // seg)
    if chroma.shape[-1] >= seg:
        segments = chroma[:, : n_seg * seg].reshape(12, n_seg, seg).mean(axis=-1)
    else:
        segments = chroma.mean(axis=-1, keepdims=True)
    _, seg_clarity, seg_mode = estimate_key(segments)
    unit = chroma / np.maximum(chroma.sum(axis=0, keepdims=True), 1e-9)
    flux = np.sqrt((np.diff(unit, axis=-1) ** 2).sum(axis=0)) if unit.shape[-1] > 1 else np.zeros(1)
    seconds = max(len(onset_env) * HOP_LENGTH / sr, 1e-9)
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=HOP_LENGTH)
    rms = frames["rms"][0]
    db = 20 * np.log10(np.maximum(rms, 1e-5))
    ac = librosa.autocorrelate(onset_env - onset_env.mean())
    lo, hi = int(0.25 * sr / HOP_LENGTH), int(1.5 * sr / HOP_LENGTH)
    pulse = float(ac[lo:hi].max() / ac[0]) if ac[0] > 0 and len(ac) > lo else 0.0
    tempogram = librosa.feature.tempogram(onset_envelope=onset_env, sr=sr, hop_length=HOP_LENGTH)
    periodicity = tempogram.mean(axis=-1)
    return np.array(
        [
            bpm,
            clarity[0],
            mode[0],
            seg_mode.mean(),
            seg_mode.std(),
            seg_clarity.mean(),
            seg_clarity.std(),
            flux.mean(),
            flux.std(),
            len(onsets) / seconds,
            onset_env.mean(),
            onset_env.std(),
            np.mean(rms < rms.mean()),
            np.percentile(db, 95) - np.percentile(db, 5),
            db.std(),
            pulse,
            *(periodicity[a:b].mean() for a, b in _TEMPOGRAM_BANDS),
            tempogram.std(axis=-1).mean(),
        ]
    )


def _summary(frames: np.ndarray, stat: str) -> np.ndarray:
    """One of :data:`_STATS` of each row of ``frames`` over time."""
    if stat == "mean":
        return frames.mean(axis=-1)
    if stat == "std":
        return frames.std(axis=-1)
    return np.abs(np.diff(frames, axis=-1)).mean(axis=-1) if frames.shape[-1] > 1 else np.zeros(len(frames))


def summarise(frames: dict[str, np.ndarray], onset_env: np.ndarray, sr: int = 22050) -> np.ndarray:
    """The feature vector of :data:`FEATURE_NAMES`: mean, standard deviation and mean absolute
    frame-to-frame change of each frame-wise descriptor (chromagrams rotated so that row 0 is the
    estimated tonic), then tempo and the song-level descriptors."""
    key = estimate_key(frames["chroma_cqt"].mean(axis=-1, keepdims=True))
    tonic = int(key[0][0])
    parts = [
        np.roll(_summary(frames[name], stat), -tonic if name in _KEY_RELATIVE else 0)
        for stat in _STATS
        for name, _ in _DESCRIPTORS
    ]
    return np.concatenate(parts + [song_descriptors(frames, onset_env, sr, key)]).astype(np.float32)


def extract_features(y: np.ndarray, sr: int = 22050) -> np.ndarray:
    """Feature vector of one mono clip, shape ``(len(FEATURE_NAMES),)``, float32.

    Parameters
    ----------
    y : np.ndarray
        Mono audio, e.g. from :func:`music2img.music.audio.load_audio`.
    sr : int
        Sample rate of ``y`` (the shipped model was trained at 22050 Hz).
    """
    return summarise(*frame_features(y, sr), sr)


def extract_windows(y: np.ndarray, sr: int, spans: list[tuple[float, float]]) -> np.ndarray:
    """Feature vectors of several windows of one signal, ``(len(spans), len(FEATURE_NAMES))``.

    When the windows cover one contiguous stretch (as :func:`music2img.music.audio.frame_windows` gives
    for songs up to a few minutes), the frame-wise descriptors are computed once for the stretch
    and each window summarises its own frames; otherwise each window is extracted on its own.
    The tuning is then estimated once per stretch, and the first and last frames of a window see
    the neighbouring audio rather than padding — the only differences from
    ``extract_features(y[window])``.
    """
    bounds = [(round(s * sr), round(e * sr)) for s, e in spans]
    contiguous = all(b[0] <= a[1] for a, b in zip(bounds, bounds[1:]))
    if not contiguous:
        return np.stack([extract_features(y[a:b], sr) for a, b in bounds])
    origin = bounds[0][0]
    frames, onset_env = frame_features(y[origin : max(b for _, b in bounds)], sr)
    rows = []
    for a, b in bounds:
        f0, f1 = round((a - origin) / HOP_LENGTH), round((b - origin) / HOP_LENGTH) + 1
        rows.append(summarise({k: v[:, f0:f1] for k, v in frames.items()}, onset_env[f0:f1], sr))
    return np.stack(rows)
