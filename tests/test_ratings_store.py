"""The answers database (music2img.ratings.store): validation, replays, concurrency, migration, failures."""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from music2img.ratings import store as store_mod
from music2img.ratings.store import (
    COLUMNS,
    SCHEMA_VERSION,
    Answer,
    RatingRefused,
    RatingSchemaError,
    RatingStore,
    RatingStoreUnavailable,
    Request,
    configured_path,
    default_path,
    new_id,
)
from music2img.ratings.upload import Uploader, uploader_from_env

REPO = Path(__file__).resolve().parent.parent
WEIGHTS = {"diffusion": "0123456789abcdef", "music": "fedcba9876543210"}


def _request(**kw) -> Request:
    return Request(
        **{
            **dict(
                valence=6.3,
                arousal=2.1,
                seed=42,
                guidance_scale=9.0,
                steps=12,
                scheduler="unipc",
                num_images=1,
                size=384,
            ),
            **kw,
        }
    )


def _grid(visitor=None, picture="a" * 64, v=7, a=3, **kw) -> Answer:
    return Answer(
        new_id(),
        visitor or new_id(),
        "grid",
        kw.pop("request", _request()),
        picture,
        WEIGHTS,
        answer_valence=v,
        answer_arousal=a,
        seconds=2.5,
        **kw,
    )


def _fit(visitor=None, picture="b" * 64, fit=4, **kw) -> Answer:
    return Answer(
        new_id(),
        visitor or new_id(),
        "fit",
        _request(),
        picture,
        WEIGHTS,
        fit=fit,
        song_valence=6.25,
        song_arousal=3.5,
        **kw,
    )


@pytest.fixture
def store(tmp_path) -> RatingStore:
    return RatingStore.open(tmp_path / "sub" / "ratings.sqlite")


def test_answers_are_stored_one_row_each_with_every_field(store):
    grid, fit = _grid(), _fit()
    assert store.add(grid) == 1 and store.add(fit) == 2
    rows = list(store.rows())
    assert [r["question"] for r in rows] == ["grid", "fit"] and set(rows[0]) == set(COLUMNS)
    g, f = rows
    assert (g["answer_id"], g["visitor"], g["picture"]) == (grid.answer_id, grid.visitor, grid.picture)
    assert (g["valence"], g["arousal"], g["seed"], g["guidance_scale"], g["steps"], g["scheduler"], g["size"]) == (
        6.3,
        2.1,
        42,
        9.0,
        12,
        "unipc",
        384,
    )
    assert (g["answer_valence"], g["answer_arousal"], g["fit"], g["seconds"]) == (7, 3, None, 2.5)
    assert (g["diffusion_weights"], g["music_weights"]) == (WEIGHTS["diffusion"], WEIGHTS["music"])
    assert (g["song_valence"], f["song_valence"], f["song_arousal"], f["fit"]) == (None, 6.25, 3.5, 4)
    assert store.count() == 2 and store.count(question="fit") == 1 and store.count(visitor=grid.visitor) == 1
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.parametrize(
    "answer, message",
    [
        (_grid(v=0), "the grid's valence must be a whole number from 1 to 9, got 0: click one of the 9 × 9 cells"),
        (_grid(a=10), "the grid's arousal must be a whole number from 1 to 9"),
        (_grid(v=4.5), "the grid's valence must be a whole number"),
        (_grid(v=True), "the grid's valence must be a whole number"),
        (_grid(a=float("nan")), "the grid's arousal"),
        (_grid(v=None), "the grid's valence"),
        (_fit(fit=6), "fit must be a whole number from 1 to 5, got 6: answer 1 (not at all) to 5 (perfectly)"),
        (_fit(fit=0), "fit must be a whole number from 1 to 5"),
        (dataclasses.replace(_grid(), fit=3), "a grid answer has no 'fit' value"),
        (dataclasses.replace(_fit(), answer_valence=3), "a 'fit' answer has no grid cell"),
        (dataclasses.replace(_grid(), question="mood"), "unknown question 'mood'"),
        (dataclasses.replace(_grid(), visitor="x' OR 1=1 --"), "visitor must be 32 lower-case hex digits"),
        (dataclasses.replace(_grid(), answer_id=""), "answer_id must be 32 lower-case hex digits"),
        (dataclasses.replace(_grid(), picture="pic.png"), "picture must be a SHA-256 in hex"),
        (_grid(request=_request(valence=9.5)), "requested valence must be a number from 1 to 9, got 9.5"),
        (_grid(request=_request(seed=-1)), "seed must be a whole number"),
        (_grid(request=_request(steps=0)), "steps must be a whole number from 1"),
        (_grid(song_valence=5.0), "the song's valence and arousal go together"),
    ],
)
def test_bad_answers_are_refused_with_a_clear_message_and_nothing_is_written(store, answer, message):
    with pytest.raises(RatingRefused) as err:
        store.add(answer)
    assert message in str(err.value)
    assert store.count() == 0


def test_a_replayed_answer_id_and_a_second_answer_about_a_picture_are_refused(store):
    first = _grid()
    store.add(first)
    with pytest.raises(RatingRefused, match="already received \\(a replayed answer id\\)"):
        store.add(first)
    with pytest.raises(RatingRefused, match="already answered this question about this picture"):
        store.add(dataclasses.replace(first, answer_id=new_id(), answer_valence=2))
    store.add(_grid(picture=first.picture))  # another visitor, same picture
    store.add(dataclasses.replace(_fit(), visitor=first.visitor, picture=first.picture))  # the other question
    assert store.count() == 3 and [r["answer_valence"] for r in store.rows()][0] == 7


def _expected(writer: int, i: int) -> dict:
    """The fields a concurrent writer's i-th answer carries: each derived from (writer, i)."""
    return dict(
        seed=writer * 1000 + i,
        valence=1 + (writer * 7 + i) % 81 / 10,
        answer_valence=1 + (writer + i) % 9,
        answer_arousal=1 + (writer * 3 + i) % 9,
        visitor=f"{writer:032x}",
        picture=f"{writer:032x}{i:032x}",
    )


WRITER = """
import sys
from music2img.ratings.store import Answer, RatingStore, Request, new_id
path, writer, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = RatingStore.open(path)
for i in range(n):
    seed, valence = writer * 1000 + i, 1 + (writer * 7 + i) % 81 / 10
    request = Request(valence, 5.0, seed, 9.0, 12, "unipc")
    store.add(Answer(new_id(), f"{writer:032x}", "grid", request, f"{writer:032x}{i:032x}", {"diffusion": "d"},
                     answer_valence=1 + (writer + i) % 9, answer_arousal=1 + (writer * 3 + i) % 9))
"""


def _check_rows(store: RatingStore, writers: range, n: int) -> None:
    rows = list(store.rows())
    assert len(rows) == len(writers) * n
    assert len({r["answer_id"] for r in rows}) == len(rows)
    got = {(r["seed"] // 1000, r["seed"] % 1000): r for r in rows}
    assert set(got) == {(w, i) for w in writers for i in range(n)}  # none lost, none twice
    for (w, i), row in got.items():  # none torn: every field belongs to the same answer
        assert {k: row[k] for k in _expected(w, i)} == pytest.approx(_expected(w, i))


def test_many_writer_threads_lose_and_tear_no_rows(store):
    writers, n = range(12), 25

    def write(w):
        for i in range(n):
            e = _expected(w, i)
            store.add(
                Answer(
                    new_id(),
                    e["visitor"],
                    "grid",
                    _request(valence=e["valence"], seed=e["seed"]),
                    e["picture"],
                    WEIGHTS,
                    answer_valence=e["answer_valence"],
                    answer_arousal=e["answer_arousal"],
                )
            )

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _check_rows(store, writers, n)


def test_many_writer_processes_lose_and_tear_no_rows(store):
    writers, n = range(6), 40
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(store.path), str(w), str(n)], cwd=REPO, stderr=subprocess.PIPE, text=True
        )
        for w in writers
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), errors
    _check_rows(store, writers, n)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _schema_1_file(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(store_mod._SCHEMA_1 + "PRAGMA user_version = 1;")
        for i, visitor in enumerate(("1" * 32, "2" * 32)):
            conn.execute(
                "INSERT INTO ratings (answer_id, created, visitor, valence, arousal, seed, guidance_scale, "
                "steps, scheduler, diffusion_weights, picture, answer_valence, answer_arousal) "
                "VALUES (?, ?, ?, 2.5, 8.0, ?, 9.0, 12, 'unipc', 'w1', ?, ?, 9)",
                (f"{i:032x}", 1.7e9 + i, visitor, i, "c" * 64, 1 + i),
            )


def test_a_schema_1_database_is_migrated_with_its_answers_kept(tmp_path):
    path = tmp_path / "old.sqlite"
    _schema_1_file(path)
    store = RatingStore.open(path)
    rows = list(store.rows())
    assert [
        (
            r["question"],
            r["visitor"],
            r["answer_valence"],
            r["answer_arousal"],
            r["seed"],
            r["num_images"],
            r["fit"],
            r["diffusion_weights"],
        )
        for r in rows
    ] == [("grid", "1" * 32, 1, 9, 0, 1, None, "w1"), ("grid", "2" * 32, 2, 9, 1, 1, None, "w1")]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == {"answers"}
    with pytest.raises(RatingRefused, match="already answered"):  # the old uniqueness holds in the new table
        store.add(dataclasses.replace(_grid(visitor="1" * 32, picture="c" * 64)))
    store.add(_fit(visitor="1" * 32, picture="c" * 64))
    assert RatingStore.open(path).count() == 3  # opening again changes nothing


def test_a_failed_migration_leaves_the_old_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "old.sqlite"
    _schema_1_file(path)
    broken = store_mod._V1_TO_V2.replace("DROP TABLE ratings", "DROP TABLE nope")
    monkeypatch.setitem(store_mod.MIGRATIONS, 1, (2, broken))
    with pytest.raises(RatingSchemaError):
        RatingStore.open(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM ratings").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'answers'").fetchone()[0] == 0


def test_newer_foreign_and_broken_files_are_refused_untouched(tmp_path):
    newer, foreign, broken = tmp_path / "newer.sqlite", tmp_path / "foreign.sqlite", tmp_path / "broken.sqlite"
    with sqlite3.connect(newer) as conn:
        conn.executescript("CREATE TABLE answers (x); PRAGMA user_version = 99;")
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
    broken.write_bytes(b"not a database at all" * 100)
    for path, message in (
        (newer, "schema 99, newer than this music2img's 2"),
        (foreign, "without a ratings schema"),
        (broken, "is not a ratings database"),
    ):
        before = path.read_bytes()
        with pytest.raises(RatingSchemaError, match=message):
            RatingStore.open(path)
        assert path.read_bytes() == before


def test_an_unwritable_place_is_reported_when_opening(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(RatingStoreUnavailable, match="cannot create the ratings database"):
        RatingStore.open(tmp_path / "file" / "ratings.sqlite")


def test_a_full_disk_is_reported_once_and_later_answers_are_stored_again(store, monkeypatch, caplog):
    real = store_mod._connect

    class FullDisk:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, sql, *args):
            if sql.startswith("INSERT"):
                raise sqlite3.OperationalError("database or disk is full")
            return self.conn.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self.conn, name)

    monkeypatch.setattr(store_mod, "_connect", lambda *a: FullDisk(real(*a)))
    with caplog.at_level(logging.WARNING, logger=store_mod.__name__):
        with pytest.raises(RatingStoreUnavailable, match="could not be saved \\(database or disk is full\\)"):
            store.add(_grid())
        assert store.add(_grid()) == -1 and store.add(_fit()) == -1  # quietly
        monkeypatch.setattr(store_mod, "_connect", real)
        assert store.add(_grid()) == 1
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]
    assert "painting goes on" in caplog.records[0].getMessage() and "saved again" in caplog.records[1].getMessage()
    assert store.count() == 1


def test_a_database_replaced_by_a_folder_makes_writes_fail_softly(store):
    store.path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{store.path}{suffix}").unlink(missing_ok=True)
    store.path.mkdir()
    with pytest.raises(RatingStoreUnavailable):
        store.add(_grid())
    assert store.add(_grid()) == -1


def test_the_path_comes_from_the_environment_or_a_persistent_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(store_mod.DB_ENV, raising=False)
    assert configured_path() == default_path()
    (tmp_path / "space").mkdir()
    assert default_path(tmp_path / "space") == tmp_path / "space" / "music2img" / "ratings.sqlite"
    assert default_path(tmp_path / "missing") == tmp_path / "xdg" / "music2img" / "ratings.sqlite"
    monkeypatch.setenv(store_mod.DB_ENV, str(tmp_path / "r.sqlite"))
    assert configured_path() == tmp_path / "r.sqlite"
    for off in ("off", "OFF", "none", "0"):
        monkeypatch.setenv(store_mod.DB_ENV, off)
        assert configured_path() is None
    assert configured_path("off") is None and configured_path(str(tmp_path / "x")) == tmp_path / "x"


class CountingLock:
    def __init__(self):
        self.entered = 0

    def __enter__(self):
        self.entered += 1

    def __exit__(self, *exc):
        pass


class FakeScheduler:
    """Stands in for huggingface_hub.CommitScheduler, which would create the repo over the network."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.lock = CountingLock()


def test_upload_is_off_unless_a_repo_and_a_token_are_configured(tmp_path, caplog):
    made = []

    def factory(**kw):
        made.append(FakeScheduler(**kw))
        return made[-1]

    assert uploader_from_env(tmp_path, {}, factory) is None
    with caplog.at_level(logging.WARNING):
        assert uploader_from_env(tmp_path, {"MUSIC2IMG_RATINGS_REPO": "me/ratings"}, factory) is None
    assert "no token" in caplog.text and made == []
    up = uploader_from_env(tmp_path / "up", {"MUSIC2IMG_RATINGS_REPO": "me/ratings", "HF_TOKEN": "hf_x"}, factory)
    assert isinstance(up, Uploader) and len(made) == 1
    assert made[0].kwargs == dict(
        repo_id="me/ratings",
        repo_type="dataset",
        folder_path=tmp_path / "up",
        path_in_repo="answers",
        every=10.0,
        token="hf_x",
        private=True,
    )
    from huggingface_hub import CommitScheduler  # the real one takes these arguments (checked without calling it)

    inspect.signature(CommitScheduler).bind(**made[0].kwargs)
    up2 = uploader_from_env(
        tmp_path / "up",
        {"MUSIC2IMG_RATINGS_REPO": "me/ratings", "HF_TOKEN": "hf_x", "MUSIC2IMG_RATINGS_TOKEN": "hf_y"},
        factory,
    )
    assert made[1].kwargs["token"] == "hf_y" and up2.file != up.file


def test_stored_rows_are_mirrored_for_upload_under_the_schedulers_lock(tmp_path):
    scheduler = FakeScheduler()
    up = Uploader(tmp_path / "up", "me/ratings", "hf_x", scheduler_factory=lambda **kw: scheduler)
    store = RatingStore.open(tmp_path / "r.sqlite", on_row=up)
    answer = _grid()
    store.add(answer)
    with pytest.raises(RatingRefused):
        store.add(answer)  # refused answers are not mirrored
    lines = up.file.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["answer_id"] == answer.answer_id
    assert set(json.loads(lines[0])) == set(COLUMNS) - {"id"} and scheduler.lock.entered == 1
