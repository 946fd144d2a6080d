"""Plots and the model card of ``train/music_emotion.py``: what the training run measured, written
for people (Markdown) beside the JSON card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from music2img.files import atomic_path
from music2img.music.emotion_model import MODEL_FILE
from music2img.music.features import FEATURE_NAMES
from music2img.music.reencode import ENCODINGS
from music2img.va import DIMENSIONS, QUADRANTS, VA_MID


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save_figure(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


def plot_predictions(Y_true, Y_pred, path: Path) -> None:
    fig = _figure(8.4, 4.0)
    for j, (dim, ax) in enumerate(zip(DIMENSIONS, fig.subplots(1, 2))):
        ax.scatter(Y_true[:, j], Y_pred[:, j], s=10, alpha=0.6, color="#4338ca")
        ax.plot([1, 9], [1, 9], color="#9ca3af", lw=1)
        ax.set(xlim=(1, 9), ylim=(1, 9), xlabel=f"true {dim}", ylabel=f"predicted {dim}", title=f"{dim} (held-out)")
        ax.set_aspect("equal")
    _save_figure(fig, path)


def plot_spread(Y_true, by_method: dict[str, np.ndarray], quad: np.ndarray, path: Path, title: str) -> None:
    """The targets (unless ``None``) and each method's predictions on the valence/arousal plane,
    coloured by the true quadrant."""
    colours = dict(zip(QUADRANTS, ("#d97706", "#dc2626", "#2563eb", "#059669")))
    panels = ({} if Y_true is None else {"targets": Y_true}) | by_method
    fig = _figure(3.3 * len(panels), 3.6)
    for ax, (name, P) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels.items()):
        ax.scatter(P[:, 0], P[:, 1], s=6, alpha=0.6, c=[colours.get(q, "#6b7280") for q in quad])
        ax.axhline(VA_MID, color="#9ca3af", lw=0.8)
        ax.axvline(VA_MID, color="#9ca3af", lw=0.8)
        ax.set(
            xlim=(1, 9),
            ylim=(1, 9),
            xlabel="valence",
            ylabel="arousal",
            title=name if name == "targets" else f"{name}: std {P[:, 0].std():.2f} / {P[:, 1].std():.2f}",
        )
        ax.set_aspect("equal")
    fig.suptitle(title)
    _save_figure(fig, path)


def plot_importances(importances: np.ndarray, names: list[str], path: Path, top: int = 10) -> None:
    order = np.argsort(importances)[::-1][:top][::-1]
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    ax.barh([names[i] for i in order], importances[order], color="#047857")
    ax.set(xlabel="impurity importance", title=f"top {top} features")
    ax.tick_params(labelsize=8)
    _save_figure(fig, path)


def plot_confusion(confusion: list[list[int]], path: Path) -> None:
    cm = np.asarray(confusion)
    fig = _figure(4.4, 4.0)
    ax = fig.add_subplot()
    ax.imshow(cm, cmap="Blues")
    for (i, j), n in np.ndenumerate(cm):
        ax.text(j, i, str(n), ha="center", va="center", color="white" if n > cm.max() / 2 else "black")
    ax.set(
        xticks=range(4),
        yticks=range(4),
        xticklabels=QUADRANTS,
        yticklabels=QUADRANTS,
        xlabel="predicted quadrant",
        ylabel="true quadrant",
        title="held-out quadrants",
    )
    _save_figure(fig, path)


#: What the musicnn features are and where their weights come from (model card).
MUSICNN_TEXT = (
    "900 musicnn features: per window, the mean probability of each of the 100 tags of the two pretrained musicnn "
    "taggers (MSD_musicnn: 50 Million Song Dataset last.fm tags such as sad, happy, Mellow, chill, party; "
    "MTT_musicnn: 50 MagnaTagATune tags such as slow, fast, loud, quiet, soft, strings, choir) over three evenly "
    "spaced 3 s patches of the window (the first, middle and last of a 30 s window's ten: in the nested evaluation "
    "three measured as well as all ten, at under a third of the cost), and the mean and standard deviation over "
    "those patches of each unit of their 200-unit penultimate embeddings "
    "(`music2img/music/musicnn_features.py`). The weights are those of the PyPI package musicnn 0.1.0 (Pons & Serra "
    "2019, ISC licence), converted once from its TensorFlow checkpoints by `train/convert_musicnn.py` to float16 "
    "safetensors, shipped in `musicnn/` with the licence and checked by SHA-256 on load; the torch port "
    "(`music2img/music/musicnn.py`) matches the original package's tag probabilities within 0.005 "
    "(`tests/test_musicnn.py`)."
)


def _fmt(x: float) -> str:
    return f"{x:.3f}"


LIBROSA_TEXT = (
    "mean, standard deviation and mean frame-to-frame change of MFCC, chroma STFT/CQT/CENS relative to the "
    "estimated key, spectral contrast, centroid, bandwidth, roll-off, ZCR, RMS, tonnetz and 16 log-mel bands; tempo, "
    "key clarity, mode and their stability over 3 s segments, chord-change rate, onset rate, spectral flux, "
    "low-energy rate, dynamic range, pulse clarity, tempogram bands"
)
ROBUSTNESS_TEXT = (
    "Each analysed stretch is first scaled to a fixed RMS level, and the spectral descriptors look at frequencies up "
    "to 8 kHz only, so that level, 16 kHz resampling and low-bit-rate codecs move the features little "
    "(`docs/music_robustness.md`). "
)


def intro(card: dict, parts: list[str]) -> str:
    """The model card's first paragraph up to the windows: what the features are."""
    head = (
        f"Predicts valence and arousal (1–9) of music from {card['n_features']} features "
        f"(schema v{card['schema_version']}"
    )
    if parts == ["librosa"]:
        return f"{head}: {LIBROSA_TEXT}). {ROBUSTNESS_TEXT}"
    text = f"{head}): "
    if "librosa" in parts:
        text += f"{len(FEATURE_NAMES)} librosa features ({LIBROSA_TEXT}). {ROBUSTNESS_TEXT}"
    return text + MUSICNN_TEXT + " "


def model_card(card: dict) -> str:
    t = card["held_out"]
    parts = card.get("feature_parts", ["librosa"])
    lines = [
        f"# Music emotion model (Random Forest on {' and '.join(parts)} features)",
        "",
        intro(card, parts) + "Songs are analysed in 30 s windows; the song value is the mean over windows.",
        "",
        "## Data",
        "",
    ]
    for name, d in card["data"]["datasets"].items():
        if "pieces" in d:
            lines.append(
                f"- **{name}**: {d['pieces']} phrases of {d['groups']} games rendered to {d['clips']} clips "
                f"(the windows of a reference piano rendering, and {card['data']['augment']} augmented "
                f"renderings of one window each), {d['skipped']} phrases skipped"
            )
        else:
            lines.append(f"- **{name}**: {d['clips']} clips, {d['groups']} groups, {d['skipped']} rows skipped")
    if card["data"].get("train_reencoded"):
        lines.append(
            "- fitted on re-encoded copies too: every clip (and VGMIDI window) also as "
            + ", ".join(ENCODINGS[n].label for n in card["data"]["reencode"])
            + " (ffmpeg), beside its clip with its targets, the clip's weight shared between them; "
            "a test clip's copies are never in training"
        )
    lines += [
        f"- feature extraction failed for {card['data']['failed']} clips (skipped)",
        f"- split: {card['split']['train']} training / {card['split']['test']} held-out clips, "
        f"grouped by {card['split']['grouped_by']} (no group on both sides), stratified by quadrant, seed "
        f"{card['seed']}",
        "",
        f"## Held-out results (clips and artists never seen in tuning or fitting; calibration: {card['calibration']})",
        "",
        "| dimension | MSE | MAE | RMSE | R² | explained var. | Pearson r |",
        "|---|---|---|---|---|---|---|",
    ]
    for dim in DIMENSIONS:
        m = t["regression"][dim]
        lines.append(
            f"| {dim} | {_fmt(m['mse'])} | {_fmt(m['mae'])} | {_fmt(m['rmse'])} | {_fmt(m['r2'])} | "
            f"{_fmt(m['explained_variance'])} | {_fmt(m['pearson_r'])} |"
        )
    lines.append("")
    for key, label in (
        ("quadrant_dataset", "the dataset's own quadrant labels"),
        ("quadrant_targets", "quadrants of the continuous targets"),
    ):
        if key in t:
            lines.append(
                f"- quadrant accuracy {t[key]['accuracy']:.1%}, macro-F1 **{t[key]['macro_f1']:.1%}** "
                f"against {label} ({t[key]['n']} clips)"
            )
    if card.get("nested"):
        n = card["nested"]
        q = n.get("quadrant_dataset", n["quadrant_targets"])
        lines += [
            "",
            f"## Nested grouped CV ({n['folds']} outer folds, each tuned and tested on its own)",
            "",
            f"Every clip is a test clip once, predicted by a forest tuned and fitted without its artist: "
            f"valence R² {n['regression']['valence']['r2']:.3f} "
            f"(r {n['regression']['valence']['pearson_r']:.3f}), "
            f"arousal R² {n['regression']['arousal']['r2']:.3f} "
            f"(r {n['regression']['arousal']['pearson_r']:.3f}); "
            f"quadrant accuracy {q['accuracy']:.1%}, macro-F1 **{q['macro_f1']:.1%}** pooled over "
            f"{q['n']} clips, {np.mean(n['macro_f1_per_fold']):.1%} ± {np.std(n['macro_f1_per_fold']):.1%} "
            "per fold.",
        ]
    spread = card.get("nested") or card["held_out"]
    lines += [
        "",
        "## Spread calibration",
        "",
        f"The forest's predictions crowd the middle of the plane. A monotone map per dimension, fitted on "
        f"out-of-fold predictions of the training part only ({card['tuning']['cv_folds']}-fold grouped CV), "
        "stretches them back to the targets' spread without changing their order. Measured on "
        + (
            "the nested artist-disjoint test predictions (every clip once):"
            if card.get("nested")
            else "the held-out clips:"
        ),
        "",
        "| calibration | MSE v | MSE a | R² v | R² a | Pearson r v / a | quadrant macro-F1 | std v / a (targets) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, m in spread["by_calibration"].items():
        r, q = m["regression"], m.get("quadrant_dataset", m["quadrant_targets"])
        shipped = " (shipped)" if method == card["calibration"] else ""
        lines.append(
            f"| {method}{shipped} | {_fmt(r['valence']['mse'])} | {_fmt(r['arousal']['mse'])} | "
            f"{_fmt(r['valence']['r2'])} | {_fmt(r['arousal']['r2'])} | "
            f"{r['valence']['pearson_r']:.3f} / {r['arousal']['pearson_r']:.3f} | {q['macro_f1']:.1%} | "
            f"{r['valence']['pred_std']:.2f} / {r['arousal']['pred_std']:.2f} "
            f"({r['valence']['true_std']:.2f} / {r['arousal']['true_std']:.2f}) |"
        )
    lines += [
        "",
        "The trade-off: when a prediction is uncertain, the mean is the guess with the smallest squared "
        "error, so the uncalibrated forest has the best MSE and R²; stretched predictions err further when "
        "they are wrong (MSE up, R² down) but use the whole plane, so that songs of different moods get "
        "different pictures. The order of the songs, and so the Pearson r, is unchanged "
        "(`spread.png`: targets, raw and calibrated predictions).",
    ]
    if spread.get("reencoded"):
        lines += reencoding_section(card, spread)
    if "vgmidi" in spread:
        lines += vgmidi_section(card, spread)
    if card.get("comparison"):
        lines += comparison_section(card["comparison"], card.get("comparison_note", ""))
    if card.get("cross_validation"):
        lines += ["", "## Grouped cross-validation (for comparison with the literature)", ""]
        for cv in card["cross_validation"].values():
            lines.append(
                f"- {cv['repeats']}× {cv['folds']}-fold grouped CV over all labelled clips, "
                f"{cv['description']}: "
                f"macro-F1 {cv['macro_f1_mean']:.1%} (± {cv['macro_f1_std']:.1%} between folds, "
                f"± {cv['macro_f1_repeat_std']:.1%} between repeats), pooled {cv['pooled']['macro_f1']:.1%}"
            )
        lines.append(
            "- reference (Panda et al. 2018, 900 clips, 20×10-fold CV, SVM): 67.4% standard features, "
            "76.4% with their novel features"
        )
    lines += [
        "",
        "## Model",
        "",
        f"- scikit-learn RandomForestRegressor, hyper-parameters tuned by Optuna TPE "
        f"({card['tuning']['trials']} trials, {card['tuning']['cv_folds']}-fold grouped CV on the training part, "
        f"best {card['tuning']['objective']} {card['tuning']['best_cv']:.3f}):",
        "",
        "```json",
        json.dumps(card["params"], indent=2),
        "```",
        "",
        f"- shipped model refitted on all {card['data']['clips']} clips; {MODEL_FILE}: {card['model_size_mb']:.1f} MB",
    ]
    if card["center_targets"]:
        off = card["target_offset_final"]
        lines.append(
            f"- targets re-centred: valence {off[0]:+.3f}, arousal {off[1]:+.3f} added so the training mean "
            "sits at the neutral 5 (quadrant boundary at the data's balance point; errors unchanged)"
        )
    if card["calibration"] != "none":
        scale = card["calibration_scale"]
        lines.append(
            f"- spread calibration `{card['calibration']}` fitted on out-of-fold predictions of all clips: "
            f"valence stretched ×{scale[0]:.2f}, arousal ×{scale[1]:.2f} (applied by `MusicEmotionModel`, "
            "stored in model.json)"
        )
    lines += [
        "- plots: `pred_vs_true.png`, `feature_importance.png`, `confusion.png` (held-out part), `spread.png`",
        "",
        "## Limits",
        "",
        "The 4Q targets are AllMusic mood tags mapped through Warriner word norms, not listener ratings of the audio; "
        "the model learns how editors tag music, on 20 s previews of mostly Western popular music.",
        "",
    ]
    return "\n".join(lines)


def comparison_row(label: str, metrics: dict) -> dict:
    """The headline figures of nested-evaluation ``metrics`` (:func:`train.music_emotion.evaluate`'s)."""
    r, q = metrics["regression"], metrics.get("quadrant_dataset", metrics["quadrant_targets"])
    row = {
        "label": label,
        "macro_f1": q["macro_f1"],
        "n": q["n"],
        **{f"{d}_r": r[d]["pearson_r"] for d in DIMENSIONS},
        **{f"{d}_std_ratio": r[d]["pred_std"] / r[d]["true_std"] for d in DIMENSIONS},
    }
    if "vgmidi" in metrics:
        v = metrics["vgmidi"]
        row |= {
            "vgmidi_macro_f1": v["macro_f1"],
            "vgmidi_valence_auc": v["valence_auc"],
            "vgmidi_arousal_auc": v["arousal_auc"],
        }
    return row


def comparison_rows(paths: list[Path]) -> list[dict]:
    """:func:`comparison_row` of each nested run: a ``model_card.json`` of train/music_emotion.py
    (``--nested``) or the JSON of train/music_heads.py (one row per head)."""
    rows = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        if "heads" in data:
            rows += [
                comparison_row(f"{'untuned forest' if head == 'forest' else head} on {'+'.join(data['features'])}", m)
                for head, m in data["heads"].items()
            ]
        elif data.get("nested"):
            rows.append(comparison_row(f"forest on {'+'.join(data.get('feature_parts', ['librosa']))}", data["nested"]))
        else:
            raise ValueError(f"{path}: neither a nested model card nor train/music_heads.py output")
    return rows


def comparison_section(rows: list[dict], note: str = "") -> list[str]:
    """Model card lines: the nested figures of several feature sets and heads side by side."""
    lines = [
        "",
        "## Feature comparison (nested, every artist and game held out once)",
        "",
        "Each row is its own nested evaluation on the same data and outer folds (train/music_emotion.py "
        "`--features …`; train/music_heads.py for the linear and kernel heads); std = the predictions' standard "
        "deviation relative to the targets'." + (f" {note}" if note else ""),
        "",
    ]
    if any("musicnn" in row["label"] for row in rows):
        lines += [MUSICNN_TEXT, ""]
    lines += [
        "| features, model | 4Q macro-F1 | valence r | arousal r | std v / a | VGMIDI macro-F1 | VGMIDI AUC v / a |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        vg = (
            f"{row['vgmidi_macro_f1']:.1%} | {row['vgmidi_valence_auc']:.2f} / {row['vgmidi_arousal_auc']:.2f}"
            if "vgmidi_macro_f1" in row
            else "– | –"
        )
        lines.append(
            f"| {row['label']} | {row['macro_f1']:.1%} | {row['valence_r']:.3f} | {row['arousal_r']:.3f} | "
            f"{row['valence_std_ratio']:.0%} / {row['arousal_std_ratio']:.0%} | {vg} |"
        )
    return lines


def reencoding_section(card: dict, part: dict) -> list[str]:
    """Model card lines on how far the test clips' predictions move on their re-encoded copies."""
    trained = card["data"].get("train_reencoded")
    lines = [
        "",
        "## The same clips stored differently",
        "",
        "Each test clip's re-encoded copy predicted by the same forest "
        + ("(nested: every clip once)" if card.get("nested") else "(held-out clips)")
        + f", calibrated (`{card['calibration']}`), against the clip's own prediction; "
        + (
            "copies of the training clips were fitted too (never a test clip's)."
            if trained
            else "the forest saw no re-encoded copy."
        ),
        "",
        "| data | copy | clips | mean \\|Δ\\| valence / arousal | 90th percentile | quadrant changed |",
        "|---|---|---|---|---|---|",
    ]
    by_source = part["reencoded"]
    if any("n" in v for v in by_source.values()):  # cards written before the shifts were split by source
        by_source = {"clips": by_source}
    for source, shifts in by_source.items():
        for name, r in shifts.items():
            lines.append(
                f"| {source} | {ENCODINGS[name].label} | {r['n']} | {r['mean_shift']['valence']:.2f} / "
                f"{r['mean_shift']['arousal']:.2f} | {r['p90_shift']['valence']:.2f} / "
                f"{r['p90_shift']['arousal']:.2f} | "
                f"{r['quadrant_changed']:.0%} |"
            )
    return lines


def vgmidi_section(card: dict, part: dict) -> list[str]:
    """Model card lines on the sign-labelled VGMIDI phrases of games held out."""
    vg = part["vgmidi"]
    lines = [
        "",
        "## VGMIDI piano phrases of unseen games",
        "",
        f"{vg['n']} phrases of {vg['groups']} games, each predicted by a forest that saw no phrase of its game "
        + ("(nested: every game held out once)" if card.get("nested") else "(held-out games)")
        + ": the mean prediction over the analysis windows of its reference rendering (General MIDI piano, "
        "as written) against the listeners' quadrant; AUC = how well the predicted valence (arousal) "
        "separates the phrases heard as positive from those heard as negative (0.5 = chance). Augmented: each "
        "augmented window (other SoundFont, instrument, tempo, velocity, level) on its own.",
        "",
        "| calibration | quadrant macro-F1 | accuracy | valence AUC | arousal AUC | std v / a | augmented: "
        "macro-F1, AUC v / a |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, m in part["by_calibration"].items():
        v, aug = m["vgmidi"], m["vgmidi"].get("augmented")
        shipped = " (shipped)" if method == card["calibration"] else ""
        extra = f"{aug['macro_f1']:.1%}, {aug['valence_auc']:.2f} / {aug['arousal_auc']:.2f}" if aug else "–"
        lines.append(
            f"| {method}{shipped} | {v['macro_f1']:.1%} | {v['accuracy']:.1%} | {v['valence_auc']:.3f} | "
            f"{v['arousal_auc']:.3f} | {v['valence_std']:.2f} / {v['arousal_std']:.2f} | {extra} |"
        )
    lines += [
        "",
        f"VGMIDI's labels are signs; as targets, valence = 5 ± {card['data']['vgmidi_levels'][0]:.2f} and "
        f"arousal = 5 ± {card['data']['vgmidi_levels'][1]:.2f}: the mean distance from 5 of the 4Q targets of "
        "the songs in the quadrants of that sign, so a phrase heard as positive sits where a typical positive "
        "4Q song does. "
        + (
            "They are re-centred on their own (not with the 4Q targets), so that the balance of VGMIDI's "
            "labels (more happy than sad phrases) is not learnt as the sound of a piano. "
            if card["center_targets"]
            else ""
        )
        + "They take no part in the calibration or the regression metrics. "
        "`vgmidi.png`: the phrases on the plane, coloured by the listeners' quadrant.",
    ]
    return lines


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def main(argv: list[str] | None = None) -> int:
    """Re-render a model folder's MODEL_CARD.md from its model_card.json, optionally with a comparison."""
    import argparse

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("folder", type=Path, help="model folder with model_card.json (e.g. assets/music_emotion)")
    p.add_argument(
        "--compare",
        type=Path,
        action="append",
        default=[],
        metavar="JSON",
        help="nested runs to compare (model_card.json of train/music_emotion.py --nested, or the JSON of "
        "train/music_heads.py); repeatable; replaces the card's comparison",
    )
    p.add_argument("--note", default="", help="a sentence on how the compared runs were made")
    args = p.parse_args(argv)
    card = json.loads((args.folder / "model_card.json").read_text())
    if args.compare:
        card["comparison"], card["comparison_note"] = comparison_rows(args.compare), args.note
        write_text(args.folder / "model_card.json", json.dumps(card, indent=2) + "\n")
    write_text(args.folder / "MODEL_CARD.md", model_card(card))
    return 0


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
