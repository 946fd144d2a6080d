"""``music2img ratings report`` / ``export`` (music2img.ratings.report) on synthetic raters and tiny models."""

from __future__ import annotations

import csv
import hashlib
import sqlite3

import numpy as np
import pytest
from scipy.stats import spearmanr
from test_ratings_store import _schema_1_file

from music2img.cli import main
from music2img.ratings.pool import design
from music2img.ratings.report import analyse, icc1, load_answers, spearman_ci, write_report
from music2img.ratings.store import Answer, RatingStore, Request, new_id

NOISE = {"valence": 1.5, "arousal": 2.5}  # the synthetic raters' noise, in grid squares
DESIGN = design(64)


def _answer(request: tuple, noise: np.ndarray) -> tuple[int, int]:
    v, a = np.clip(np.round(np.asarray(request[:2]) + noise), 1, 9).astype(int)
    return int(v), int(a)


def _picture(index: int) -> str:
    return hashlib.sha256(f"picture {index}".encode()).hexdigest()


def synthetic_db(path, visitors=30, per_visitor=20, seed=0, fits=True) -> RatingStore:
    """Raters who see the requested emotion through Gaussian noise of known size (:data:`NOISE`)."""
    rng = np.random.default_rng(seed)
    store = RatingStore.open(path)
    for _ in range(visitors):
        visitor = new_id()
        for i in rng.choice(len(DESIGN), per_visitor, replace=False):
            v, a, s = DESIGN[i]
            cell = _answer(DESIGN[i], rng.normal(0, [NOISE["valence"], NOISE["arousal"]]))
            store.add(
                Answer(
                    new_id(),
                    visitor,
                    "grid",
                    Request(v, a, s, 9.0, 12, "unipc", size=384),
                    _picture(i),
                    {"diffusion": "d" * 16, "music": "m" * 16},
                    answer_valence=cell[0],
                    answer_arousal=cell[1],
                )
            )
        if fits:
            sv, sa = rng.uniform(1, 9, 2)
            store.add(
                Answer(
                    new_id(),
                    visitor,
                    "fit",
                    Request(round(sv, 1), round(sa, 1), 0, 9.0, 12, "unipc"),
                    new_id() * 2,
                    {},
                    fit=int(rng.integers(1, 6)),
                    song_valence=sv,
                    song_arousal=sa,
                )
            )
    return store


def _truth(n=400_000, seed=123):
    """The raters' correlation with the request and their ICC(1), from a very large simulation."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(DESIGN), size=n)
    req = np.array(DESIGN)[picks, :2]
    ans = np.clip(np.round(req + rng.normal(0, [NOISE["valence"], NOISE["arousal"]], (n, 2))), 1, 9)
    rho = [spearmanr(req[:, j], ans[:, j])[0] for j in range(2)]
    icc = [icc1(ans[:, j], picks) for j in range(2)]
    return rho, icc


@pytest.fixture(scope="module")
def truth():
    return _truth()


def test_the_report_recovers_synthetic_raters_correlation_and_agreement_within_its_intervals(tmp_path, truth):
    rho, icc = truth
    assert 0.6 < rho[0] < 0.9 and 0.3 < rho[1] < rho[0]  # the two noise levels give clearly different truths
    r = analyse(list(synthetic_db(tmp_path / "r.sqlite").rows()), n_boot=1000)
    for estimate, true in ((r.valence, rho[0]), (r.arousal, rho[1])):
        assert estimate.n == 600 and estimate.low <= true <= estimate.high, (estimate, true)
        assert estimate.high - estimate.low < 0.2
    for dim, true in zip(("valence", "arousal"), icc):
        got = r.agreement[dim]["icc"]
        assert got.low <= true <= got.high, (dim, got, true)
    assert r.agreement["shared"] == 64 and r.agreement["answers"] == 600


def test_the_intervals_cover_the_truth_about_as_often_as_they_say(truth):
    """Over 40 synthetic studies of 10 raters, the 95 % intervals for valence miss the truth rarely."""
    rho = truth[0][0]
    rng = np.random.default_rng(7)
    covered = 0
    for k in range(40):
        x, y, groups = [], [], []
        for visitor in range(10):
            for i in rng.choice(len(DESIGN), 15, replace=False):
                x.append(DESIGN[i][0])
                y.append(_answer(DESIGN[i], rng.normal(0, NOISE["valence"], 2))[0])
                groups.append(visitor)
        e = spearman_ci(x, y, groups, n_boot=300, seed=k)
        covered += e.low <= rho <= e.high
    assert covered >= 34  # 95 % of 40 = 38; binomial 1st percentile ≈ 35


def test_the_report_states_its_numbers_with_the_answers_they_rest_on(tmp_path):
    synthetic_db(tmp_path / "r.sqlite", visitors=12, per_visitor=10)
    path = write_report(tmp_path / "r.sqlite", tmp_path / "out", n_boot=200)
    text = path.read_text()
    lines = text.splitlines()
    assert lines[0] == "# What people see in music2img's pictures"
    assert lines[2].startswith("**132 answers** from **12 visitors**: 120 blind Affect-Grid ratings and 12 ")
    for heading in (
        "## Do people see the emotion that was asked for?",
        "### By quadrant of the request",
        "## Do people agree with each other?",
        "## The image-emotion model against people",
        "## Does the picture fit the music?",
    ):
        assert heading in lines
    assert "| valence | " in text and "| 120 | 12 |" in text and "Not computed (no models given" in text
    quadrant_rows = [line for line in lines if line.startswith("| Q") and "%" in line]
    assert len(quadrant_rows) == 4 and sum(int(line.split("|")[2]) for line in quadrant_rows) == 120
    fit_rows = [line for line in lines if line.count("|") == 9 and line.startswith("| Q")]
    assert sum(int(line.split("|")[2]) for line in fit_rows) == 12
    for plot in ("ratings_vs_request.png", "affect_grid.png", "fit_by_quadrant.png"):
        assert (tmp_path / "out" / plot).stat().st_size > 10_000 and f"]({plot})" in text


def test_an_empty_database_gives_a_short_report(tmp_path):
    RatingStore.open(tmp_path / "r.sqlite")
    text = write_report(tmp_path / "r.sqlite", tmp_path / "out", n_boot=50).read_text()
    assert "**No answers yet**" in text and "Too few pictures were rated by more than one person" in text


def test_a_schema_1_file_is_read_without_being_changed(tmp_path):
    path = tmp_path / "old.sqlite"
    _schema_1_file(path)
    before = path.read_bytes()
    rows = load_answers(path)
    assert [(r["question"], r["answer_valence"]) for r in rows] == [("grid", 1), ("grid", 2)]
    assert path.read_bytes() == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


def test_the_model_section_paints_rated_pictures_again_and_compares(tmp_path):
    from factories_diffusion import make_tiny_pipeline
    from factories_music import make_tiny_music_model

    from music2img.music_to_image import MusicToImage
    from music2img.ratings.pictures import picture_hash, weights_versions

    class MeanColour:
        """Stands in for ImageEmotionModel (whose detector features take seconds a picture): same ``predict``."""

        def __init__(self):
            self.seen = []

        def predict(self, images):
            self.seen += images
            return np.array([1 + 8 * np.asarray(im, float).mean(axis=(0, 1))[:2] / 255 for im in images])

    m2i = MusicToImage.load(
        make_tiny_music_model(tmp_path / "m"), make_tiny_pipeline(tmp_path / "d"), device="cpu", num_threads=1
    )
    image_model = MeanColour()
    weights = weights_versions(m2i)
    store = RatingStore.open(tmp_path / "r.sqlite")
    rng = np.random.default_rng(0)
    settings = dict(guidance_scale=3.0, steps=3, scheduler="ddim")
    for i, (v, a, s) in enumerate(DESIGN[:6]):
        picture = picture_hash(m2i.generate(v, a, seed=s, size=32, **settings)[0])
        if i == 4:
            picture = "0" * 64  # a stored hash the painting no longer gives
        for _ in range(2):
            cell = _answer((v, a), rng.normal(0, 1, 2))
            store.add(
                Answer(
                    new_id(),
                    new_id(),
                    "grid",
                    Request(v, a, s, size=32, **settings),
                    picture,
                    {**weights, "diffusion": "x" * 16} if i == 5 else weights,
                    answer_valence=cell[0],
                    answer_arousal=cell[1],
                )
            )
    text = write_report(store.path, tmp_path / "out", m2i=m2i, image_model=image_model, n_boot=100).read_text()
    assert "4 of 6 pictures were recovered (1 painted by other weights, 1 painted again differently)" in text
    assert "Per picture (8 answers)" in text and (tmp_path / "out" / "model_vs_people.png").is_file()
    # the model rated the very pictures people saw
    assert [picture_hash(im) for im in image_model.seen] == [r["picture"] for r in store.rows()][:8:2]


def test_export_and_report_on_the_command_line(tmp_path, capsys):
    synthetic_db(tmp_path / "r.sqlite", visitors=3, per_visitor=4)
    assert main(["ratings", "export", str(tmp_path / "r.sqlite"), str(tmp_path / "a.csv")]) == 0
    assert capsys.readouterr().out.strip().startswith("15 answers →")
    with open(tmp_path / "a.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 15 and rows[0]["created_utc"].endswith("+00:00") and rows[0]["question"] == "grid"
    assert {r["answer_id"] for r in rows} == {r["answer_id"] for r in load_answers(tmp_path / "r.sqlite")}
    assert (
        main(
            [
                "ratings",
                "report",
                str(tmp_path / "r.sqlite"),
                "--out",
                str(tmp_path / "o"),
                "--no-models",
                "--boot",
                "50",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == str(tmp_path / "o" / "report.md")
    assert main(["ratings", "export", str(tmp_path / "missing.sqlite"), str(tmp_path / "b.csv")]) == 2
    assert "error: no ratings database at" in capsys.readouterr().err and not (tmp_path / "b.csv").exists()
    (tmp_path / "junk.sqlite").write_bytes(b"junk" * 500)
    assert main(["ratings", "report", str(tmp_path / "junk.sqlite"), "--out", str(tmp_path / "j"), "--no-models"]) == 2
    assert "is not a ratings database" in capsys.readouterr().err
