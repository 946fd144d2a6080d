"""What people said: ``music2img ratings report DB --out DIR`` (Markdown and plots) and ``… export``.

Every number states how many answers it rests on. Correlations are Spearman's, with percentile
bootstrap intervals that resample *visitors* (their answers are not independent of each other), or
pictures where the unit is a picture.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import rankdata

from ..files import atomic_path
from ..va import QUADRANT_NAMES, QUADRANTS, VA_MID, quadrant
from .store import COLUMNS, RatingSchemaError, migrate

if TYPE_CHECKING:
    from ..image.emotion_model import ImageEmotionModel
    from ..music_to_image import MusicToImage

#: Bootstrap resamples and the interval's level.
N_BOOT = 2000
LEVEL = 0.95
_CI = f"{LEVEL * 100:g} % CI"


# ---- reading ---------------------------------------------------------------------------------------


def load_answers(path: str | os.PathLike) -> list[dict]:
    """Every answer in the database at ``path`` as a dict of :data:`~music2img.ratings.store.COLUMNS`,
    oldest first. The file is only read (an older schema is migrated in a copy in memory)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ratings database at {path}")
    try:
        with (
            closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as disk,
            closing(sqlite3.connect(":memory:")) as mem,
        ):
            disk.backup(mem)
            mem.isolation_level = None
            migrate(mem)
            mem.row_factory = sqlite3.Row
            return [dict(row) for row in mem.execute(f"SELECT {', '.join(COLUMNS)} FROM answers ORDER BY id")]
    except sqlite3.DatabaseError as err:
        raise RatingSchemaError(f"{path} is not a ratings database: {err}") from err


def export_csv(db: str | os.PathLike, out: str | os.PathLike) -> int:
    """Write every answer to the CSV file ``out`` (one row per answer, :data:`COLUMNS`, ISO times in
    UTC added as ``created_utc``), atomically; returns the number of answers."""
    rows = load_answers(db)
    with atomic_path(out) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=[*COLUMNS, "created_utc"])
            writer.writeheader()
            for row in rows:
                writer.writerow({**row, "created_utc": _utc(row["created"])})
    return len(rows)


def _utc(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds")


# ---- statistics ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A statistic, its bootstrap interval at :data:`LEVEL` and the number of answers (or pictures) ``n``."""

    value: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        if not np.isfinite(self.value):
            return "n/a"
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}]"


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def _bootstrap(
    stat: Callable[[np.ndarray, np.ndarray], float], groups: np.ndarray, n_boot: int, seed: int
) -> tuple[float, float]:
    """Percentile interval of ``stat(indices, labels)`` over resamples of whole ``groups`` drawn with
    replacement (``labels``: which draw each index came from, so a group drawn twice counts twice)."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    values = []
    for _ in range(n_boot):
        pick = rng.integers(len(members), size=len(members))
        index = np.concatenate([members[i] for i in pick])
        labels = np.repeat(np.arange(len(pick)), [len(members[i]) for i in pick])
        values.append(stat(index, labels))
    values = np.asarray(values)
    values = values[np.isfinite(values)]
    if len(values) < n_boot / 2:
        return float("nan"), float("nan")
    tail = (1 - LEVEL) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def spearman_ci(
    x: Sequence[float], y: Sequence[float], groups: Sequence | None = None, *, n_boot: int = N_BOOT, seed: int = 0
) -> Estimate:
    """Spearman's ρ of ``x`` and ``y`` with a bootstrap interval resampling ``groups`` (default: each pair)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    groups = np.arange(len(x)) if groups is None else np.asarray(groups)
    if len(x) < 3:
        return Estimate(float("nan"), float("nan"), float("nan"), len(x))
    low, high = _bootstrap(lambda i, _: _spearman(x[i], y[i]), groups, n_boot, seed)
    return Estimate(_spearman(x, y), low, high, len(x))


def icc1(values: Sequence[float], targets: Sequence) -> float:
    """One-way random-effects intraclass correlation ICC(1) of ``values`` grouped by ``targets`` (the
    pictures), for unequal numbers of raters: the share of the variance that is between pictures."""
    values, targets = np.asarray(values, float), np.asarray(targets)
    labels, inverse, sizes = np.unique(targets, return_inverse=True, return_counts=True)
    g, n = len(labels), len(values)
    if g < 2 or n <= g:
        return float("nan")
    means = np.bincount(inverse, weights=values) / sizes
    msb = np.sum(sizes * (means - values.mean()) ** 2) / (g - 1)
    msw = np.sum((values - means[inverse]) ** 2) / (n - g)
    k0 = (n - np.sum(sizes**2) / n) / (g - 1)
    denominator = msb + (k0 - 1) * msw
    return float((msb - msw) / denominator) if denominator > 0 else float("nan")


def _rated_quadrant(valence: int, arousal: int) -> str:
    """The quadrant of a grid answer; the middle row and column (5) are on an axis: ``"axis"``."""
    return "axis" if valence == VA_MID or arousal == VA_MID else quadrant(valence, arousal)


# ---- the report ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    """The numbers of the report (also written as Markdown by :func:`write_report`)."""

    answers: int
    grid: list[dict]
    fit: list[dict]
    visitors: int
    valence: Estimate | None = None
    arousal: Estimate | None = None
    quadrants: list[dict] = dataclasses.field(default_factory=list)
    confusion: dict = dataclasses.field(default_factory=dict)
    agreement: dict = dataclasses.field(default_factory=dict)
    model: dict = dataclasses.field(default_factory=dict)
    fit_quadrants: list[dict] = dataclasses.field(default_factory=list)


def analyse(rows: list[dict], *, n_boot: int = N_BOOT, seed: int = 0) -> Report:
    """The report's numbers from the answers ``rows`` (:func:`load_answers`)."""
    grid = [r for r in rows if r["question"] == "grid"]
    fit = [r for r in rows if r["question"] == "fit"]
    report = Report(len(rows), grid, fit, len({r["visitor"] for r in rows}))
    if grid:
        req = np.array([[r["valence"], r["arousal"]] for r in grid])
        ans = np.array([[r["answer_valence"], r["answer_arousal"]] for r in grid], float)
        visitors = np.array([r["visitor"] for r in grid])
        report.valence = spearman_ci(req[:, 0], ans[:, 0], visitors, n_boot=n_boot, seed=seed)
        report.arousal = spearman_ci(req[:, 1], ans[:, 1], visitors, n_boot=n_boot, seed=seed + 1)
        asked = np.array([quadrant(v, a) for v, a in req])
        rated = np.array([_rated_quadrant(int(v), int(a)) for v, a in ans])
        for q in QUADRANTS:
            mask = asked == q
            if mask.any():
                report.quadrants.append(
                    dict(
                        quadrant=q,
                        n=int(mask.sum()),
                        visitors=len(set(visitors[mask])),
                        valence=float(ans[mask, 0].mean()),
                        valence_sd=float(ans[mask, 0].std()),
                        arousal=float(ans[mask, 1].mean()),
                        arousal_sd=float(ans[mask, 1].std()),
                        same=float(np.mean(rated[mask] == q)),
                        axis=float(np.mean(rated[mask] == "axis")),
                    )
                )
            report.confusion[q] = {c: int(np.sum(mask & (rated == c))) for c in (*QUADRANTS, "axis")}
        report.agreement = _agreement(grid, n_boot=n_boot, seed=seed)
    if fit:
        song_q = np.array(
            [quadrant(r["song_valence"], r["song_arousal"]) if r["song_valence"] is not None else "?" for r in fit]
        )
        scores = np.array([r["fit"] for r in fit], float)
        rng = np.random.default_rng(seed)
        for q in (*QUADRANTS, "?"):
            s = scores[song_q == q]
            if len(s):
                boots = s[rng.integers(len(s), size=(n_boot, len(s)))].mean(axis=1)
                tail = (1 - LEVEL) / 2 * 100
                report.fit_quadrants.append(
                    dict(
                        quadrant=q,
                        mean=Estimate(float(s.mean()), *np.percentile(boots, [tail, 100 - tail]), len(s)),
                        counts=[int(np.sum(s == k)) for k in range(1, 6)],
                    )
                )
    return report


def _agreement(grid: list[dict], *, n_boot: int, seed: int) -> dict:
    """Agreement between people who rated the same picture (same hash: same request, seed and weights)."""
    by_picture = defaultdict(list)
    for r in grid:
        by_picture[r["picture"]].append(r)
    shared = {p: rs for p, rs in by_picture.items() if len(rs) >= 2}
    out = dict(pictures=len(by_picture), shared=len(shared), answers=sum(len(rs) for rs in shared.values()))
    if len(shared) < 3:
        return out
    rows = [r for rs in shared.values() for r in rs]
    targets = np.array([r["picture"] for r in rows])
    for dim in ("valence", "arousal"):
        values = np.array([r[f"answer_{dim}"] for r in rows], float)
        low, high = _bootstrap(lambda i, labels, values=values: icc1(values[i], labels), targets, n_boot, seed)
        diffs = [
            abs(a[f"answer_{dim}"] - b[f"answer_{dim}"])
            for rs in shared.values()
            for k, a in enumerate(rs)
            for b in rs[k + 1 :]
        ]
        out[dim] = dict(
            icc=Estimate(icc1(values, targets), low, high, len(values)), mad=float(np.mean(diffs)), pairs=len(diffs)
        )
    return out


def model_vs_people(
    grid: list[dict],
    m2i: MusicToImage,
    image_model: ImageEmotionModel,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """The image-emotion model against people, on the pictures people rated.

    Pictures are not stored; each is painted again from its row (request, seed, sampler, size) by
    ``m2i`` when the row's diffusion-weights version is ``m2i``'s, and used only when the new
    picture's hash equals the stored one, i.e. it is the very picture people saw.
    """
    from .pictures import picture_hash, weights_versions

    version = weights_versions(m2i)["diffusion"]
    by_picture = defaultdict(list)
    for r in grid:
        by_picture[r["picture"]].append(r)
    other = [p for p, rs in by_picture.items() if rs[0]["diffusion_weights"] != version]
    todo = [p for p in by_picture if p not in other]
    images, kept, mismatched = [], [], 0
    for k, p in enumerate(todo):
        r = by_picture[p][0]
        image = m2i.generate(
            r["valence"],
            r["arousal"],
            seed=r["seed"],
            guidance_scale=r["guidance_scale"],
            steps=r["steps"],
            scheduler=r["scheduler"],
            num_images=r["num_images"],
            size=r["size"],
        )[0]
        if picture_hash(image) == p:
            images.append(image)
            kept.append(p)
        else:
            mismatched += 1
        if progress is not None:
            progress(k + 1, len(todo))
    out = dict(
        pictures=len(by_picture), other_weights=len(other), mismatched=mismatched, matched=len(kept), weights=version
    )
    if len(kept) < 3:
        return out
    predicted = image_model.predict(images)
    people = np.array(
        [[np.mean([r[f"answer_{d}"] for r in by_picture[p]]) for d in ("valence", "arousal")] for p in kept]
    )
    request = np.array([[by_picture[p][0]["valence"], by_picture[p][0]["arousal"]] for p in kept])
    out["answers"] = sum(len(by_picture[p]) for p in kept)
    for j, dim in enumerate(("valence", "arousal")):
        out[dim] = dict(
            model_people=spearman_ci(predicted[:, j], people[:, j], n_boot=n_boot, seed=seed + j),
            model_request=spearman_ci(predicted[:, j], request[:, j], n_boot=n_boot, seed=seed + 2 + j),
            people_request=spearman_ci(people[:, j], request[:, j], n_boot=n_boot, seed=seed + 4 + j),
            mae=float(np.mean(np.abs(predicted[:, j] - people[:, j]))),
        )
    out["points"] = (predicted, people)
    return out


# ---- plots -----------------------------------------------------------------------------------------


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _plot_vs_request(grid: list[dict], path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    fig = _figure(9, 4.4)
    for ax, dim in zip(fig.subplots(1, 2), ("valence", "arousal")):
        x = np.array([r[dim] for r in grid])
        y = np.array([r[f"answer_{dim}"] for r in grid], float)
        ax.scatter(x, y + rng.uniform(-0.2, 0.2, len(y)), s=10, alpha=0.35, color="#4338ca", lw=0)
        centres = np.arange(1, 10)
        bins = np.clip(np.round(x), 1, 9)
        means = [y[bins == c].mean() if np.any(bins == c) else np.nan for c in centres]
        ax.plot(centres, means, "o-", color="#b45309", label="mean answer per requested unit")
        ax.plot([1, 9], [1, 9], "--", color="#9ca3af", label="answer = request")
        ax.set(
            xlim=(0.5, 9.5),
            ylim=(0.5, 9.5),
            xlabel=f"requested {dim}",
            ylabel=f"rated {dim} (grid square)",
            title=f"{dim}: {len(y)} answers",
            aspect="equal",
        )
        ax.legend(loc="upper left", fontsize=8)
    fig.savefig(path)


def _plot_grid(grid: list[dict], path: Path) -> None:
    fig = _figure(10, 4.8)
    ax, heat = fig.subplots(1, 2)
    req = np.clip(np.round([[r["valence"], r["arousal"]] for r in grid]), 1, 9).astype(int)
    ans = np.array([[r["answer_valence"], r["answer_arousal"]] for r in grid], float)
    cells = defaultdict(list)
    for (v, a), answer in zip(req, ans):
        cells[(v, a)].append(answer)
    counts = np.array([len(c) for c in cells.values()])
    for (v, a), answers in cells.items():
        mv, ma = np.mean(answers, axis=0)
        ax.annotate(
            "",
            (mv, ma),
            (v, a),
            arrowprops=dict(arrowstyle="->", color="#be123c", lw=0.6 + 2 * len(answers) / counts.max()),
        )
    ax.scatter(*zip(*cells), s=8, color="#111827", zorder=3)
    ax.set(
        xlim=(0.5, 9.5),
        ylim=(0.5, 9.5),
        aspect="equal",
        xticks=range(1, 10),
        yticks=range(1, 10),
        xlabel="valence (unpleasant → pleasant)",
        ylabel="arousal (sleepy → aroused)",
        title="from each requested square to the mean answer",
    )
    ax.axhline(VA_MID, color="#d1d5db", lw=0.8)
    ax.axvline(VA_MID, color="#d1d5db", lw=0.8)
    clicks = np.zeros((9, 9), int)
    for v, a in ans.astype(int):
        clicks[a - 1, v - 1] += 1
    im = heat.imshow(clicks, origin="lower", extent=(0.5, 9.5, 0.5, 9.5), cmap="Blues")
    for (a, v), n in np.ndenumerate(clicks):
        if n:
            heat.text(
                v + 1,
                a + 1,
                str(n),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if n > clicks.max() / 2 else "#111827",
            )
    heat.set(
        xticks=range(1, 10),
        yticks=range(1, 10),
        xlabel="valence square",
        ylabel="arousal square",
        title=f"where people clicked ({len(ans)} answers)",
    )
    fig.colorbar(im, ax=heat, shrink=0.8)
    fig.savefig(path)


def _plot_fit(rows: list[dict], path: Path) -> None:
    fig = _figure(5.5, 3.6)
    ax = fig.subplots()
    labels = [
        r["quadrant"] if r["quadrant"] == "?" else f"{r['quadrant']}\n{QUADRANT_NAMES[r['quadrant']]}" for r in rows
    ]
    means = [r["mean"].value for r in rows]
    err = np.array([[r["mean"].value - r["mean"].low, r["mean"].high - r["mean"].value] for r in rows]).T
    ax.bar(labels, means, yerr=err, capsize=4, color="#86efac", edgecolor="#047857")
    for i, r in enumerate(rows):
        ax.text(i, 0.1, f"n={r['mean'].n}", ha="center", fontsize=8)
    ax.set(ylim=(0, 5.2), ylabel="does the picture fit the music? (1–5)", xlabel="the song's quadrant")
    fig.savefig(path)


def _plot_model(points: tuple[np.ndarray, np.ndarray], path: Path) -> None:
    predicted, people = points
    fig = _figure(8, 4)
    for j, (ax, dim) in enumerate(zip(fig.subplots(1, 2), ("valence", "arousal"))):
        ax.scatter(people[:, j], predicted[:, j], s=14, color="#4338ca", alpha=0.6, lw=0)
        ax.plot([1, 9], [1, 9], "--", color="#9ca3af")
        ax.set(
            xlim=(0.5, 9.5),
            ylim=(0.5, 9.5),
            aspect="equal",
            xlabel=f"people's mean {dim}",
            ylabel=f"image-emotion model's {dim}",
            title=f"{dim}: {len(people)} pictures",
        )
    fig.savefig(path)


# ---- Markdown --------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
    ]


def _versions(rows: list[dict], column: str) -> str:
    counts = defaultdict(int)
    for r in rows:
        counts[r[column] or "?"] += 1
    return ", ".join(f"`{v}` ({n})" for v, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def write_report(
    db: str | os.PathLike,
    out: str | os.PathLike,
    *,
    m2i: MusicToImage | None = None,
    image_model: ImageEmotionModel | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write ``out/report.md`` and its plots for the database ``db``; returns the Markdown's path.

    With ``m2i`` and ``image_model``, the image-emotion model is compared with people on the pictures
    that can be painted again (:func:`model_vs_people`).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = load_answers(db)
    r = analyse(rows, n_boot=n_boot, seed=seed)
    pct = lambda x: f"{100 * x:.0f} %"  # noqa: E731
    md = ["# What people see in music2img's pictures", ""]
    if not rows:
        md += ["**No answers yet** — nothing to report.", ""]
    else:
        first, last = min(x["created"] for x in rows), max(x["created"] for x in rows)
        md += [
            f"**{r.answers} answers** from **{r.visitors} visitors**: {len(r.grid)} blind Affect-Grid ratings and "
            f'{len(r.fit)} "does the picture fit the music?" answers, {_utc(first)} – {_utc(last)} (UTC). '
            f"Every number below says how many answers it rests on.",
            "",
            f"Weights: diffusion {_versions(rows, 'diffusion_weights')}; music {_versions(rows, 'music_weights')}.",
            "",
        ]
    md += ["## Do people see the emotion that was asked for?", ""]
    if r.grid:
        _plot_vs_request(r.grid, out / "ratings_vs_request.png", seed)
        _plot_grid(r.grid, out / "affect_grid.png")
        md += [
            "Each picture was painted for a (valence, arousal) request the visitor did not know; they placed it on "
            "the 9 × 9 Affect Grid. Spearman's ρ between the request and the answer, with a "
            f"{LEVEL * 100:g} % bootstrap interval ({n_boot} resamples of whole visitors):",
            "",
            *_table(
                ["dimension", f"ρ [{_CI}]", "answers", "visitors"],
                [
                    [d, str(e), e.n, len({x["visitor"] for x in r.grid})]
                    for d, e in (("valence", r.valence), ("arousal", r.arousal))
                ],
            ),
            "",
            "![requested against rated](ratings_vs_request.png)",
            "",
            "### By quadrant of the request",
            "",
            'Answers on the grid\'s middle row or column (5: neutral) are "on an axis".',
            "",
            *_table(
                [
                    "requested",
                    "answers",
                    "visitors",
                    "rated valence, mean (sd)",
                    "rated arousal, mean (sd)",
                    "rated in the same quadrant",
                    "on an axis",
                ],
                [
                    [
                        f"{q['quadrant']} {QUADRANT_NAMES[q['quadrant']]}",
                        q["n"],
                        q["visitors"],
                        f"{q['valence']:.1f} ({q['valence_sd']:.1f})",
                        f"{q['arousal']:.1f} ({q['arousal_sd']:.1f})",
                        pct(q["same"]),
                        pct(q["axis"]),
                    ]
                    for q in r.quadrants
                ],
            ),
            "",
            "Requested quadrant (rows) against the quadrant of the answer (columns), in answers:",
            "",
            *_table(
                ["requested \\ rated", *QUADRANTS, "axis"],
                [[q, *r.confusion[q].values()] for q in QUADRANTS if q in r.confusion],
            ),
            "",
            "### The whole grid",
            "",
            "Left: requests rounded to the nearest square, each with an arrow to the mean answer for it (thicker: "
            "more answers). Right: how often each square was clicked.",
            "",
            "![the 9 × 9 picture](affect_grid.png)",
            "",
        ]
    else:
        md += ["No blind ratings yet.", ""]

    md += ["## Do people agree with each other?", ""]
    a = r.agreement
    if a and "valence" in a:
        md += [
            f"{a['shared']} of {a['pictures']} pictures were rated by more than one person ({a['answers']} answers; "
            "the same picture means the same hash: same request, seed, sampler and weights). ICC(1) is the share of "
            "the answers' variance that lies between pictures (1: people agree completely); the interval resamples "
            "whole pictures. The mean difference is between two people's squares for the same picture.",
            "",
            *_table(
                ["dimension", f"ICC(1) [{_CI}]", "answers", "mean absolute difference (squares)", "pairs"],
                [
                    [d, str(a[d]["icc"]), a[d]["icc"].n, f"{a[d]['mad']:.2f}", a[d]["pairs"]]
                    for d in ("valence", "arousal")
                ],
            ),
            "",
        ]
    else:
        md += [
            f"Too few pictures were rated by more than one person to say ({a.get('shared', 0)} of "
            f"{a.get('pictures', 0)}; at least 3 are needed).",
            "",
        ]

    md += ["## The image-emotion model against people", ""]
    if m2i is None or image_model is None:
        md += [
            "Not computed (no models given: `music2img ratings report` without `--no-models` paints the pictures "
            "again and rates them).",
            "",
        ]
    elif r.grid:
        m = model_vs_people(r.grid, m2i, image_model, n_boot=n_boot, seed=seed, progress=progress)
        md += [
            f"Pictures are not stored: each rated picture was painted again from its row with the diffusion weights "
            f"`{m['weights']}` and kept only when its hash equals the stored one. {m['matched']} of {m['pictures']} "
            f"pictures were recovered ({m['other_weights']} painted by other weights, {m['mismatched']} painted "
            "again differently).",
            "",
        ]
        if "valence" in m:
            _plot_model(m["points"], out / "model_vs_people.png")
            md += [
                f"Per picture ({m['answers']} answers), Spearman's ρ with a bootstrap interval over pictures:",
                "",
                *_table(
                    ["dimension", "model vs people", "model vs request", "people vs request", "mean |model − people|"],
                    [
                        [
                            d,
                            str(m[d]["model_people"]),
                            str(m[d]["model_request"]),
                            str(m[d]["people_request"]),
                            f"{m[d]['mae']:.2f}",
                        ]
                        for d in ("valence", "arousal")
                    ],
                ),
                "",
                "![model against people](model_vs_people.png)",
                "",
            ]
        else:
            md += ["Too few pictures to compare (at least 3 are needed).", ""]
    else:
        md += ["No blind ratings yet.", ""]

    md += ["## Does the picture fit the music?", ""]
    if r.fit_quadrants:
        _plot_fit(r.fit_quadrants, out / "fit_by_quadrant.png")
        md += [
            "After *Music → image*, visitors answered 1 (not at all) to 5 (perfectly); by the quadrant of the "
            f"song's predicted emotion (mean with a {LEVEL:.0%} bootstrap interval over answers):",
            "",
            *_table(
                ["song's quadrant", "answers", f"mean [{_CI}]", "1", "2", "3", "4", "5"],
                [
                    [
                        q["quadrant"] if q["quadrant"] == "?" else f"{q['quadrant']} {QUADRANT_NAMES[q['quadrant']]}",
                        q["mean"].n,
                        str(q["mean"]),
                        *q["counts"],
                    ]
                    for q in r.fit_quadrants
                ],
            ),
            "",
            "![fit by quadrant](fit_by_quadrant.png)",
            "",
        ]
    else:
        md += ["No answers yet.", ""]
    md += ["---", f"Made by `music2img ratings report` from `{Path(db).name}` ({r.answers} answers)."]
    path = out / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(md) + "\n", encoding="utf-8")
    return path
