"""People's answers about pictures, one row per answer, in an SQLite file.

>>> store = RatingStore.open("ratings.sqlite")
>>> store.add(Answer.grid(visitor, picture, request, valence=7, arousal=3))

The file is in WAL mode (readers never wait for the writer), its layout is versioned with
``PRAGMA user_version`` and migrated forward when opened, and every write is one short
transaction on its own connection, so threads and processes can write side by side. A row holds the
time, an anonymous random visitor id, the request the picture was painted for (valence, arousal,
seed, sampler settings), the song's predicted emotion when there was one (never audio, a file name
or an address), the weights' versions, the picture's hash and the answer.

Bad answers (outside the grid, a replayed answer id, a second answer by the same visitor about the
same picture) raise :class:`RatingRefused` and change nothing. A full or read-only disk raises
:class:`RatingStoreUnavailable` once — a rating lost, the painting untouched — and later answers are
then dropped quietly until one gets through again.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

from ..errors import Music2ImgError
from ..va import VA_MAX, VA_MIN

log = logging.getLogger(__name__)

#: Environment variable with the database path, or ``off`` to store nothing.
DB_ENV = "MUSIC2IMG_RATINGS_DB"
#: Answers of the Affect Grid: 1–9 across (unpleasant → pleasant) and up (sleepy → aroused).
GRID_MIN, GRID_MAX = 1, 9
#: Answers of "Does the picture fit the music?": 1 (not at all) – 5 (perfectly).
FIT_MIN, FIT_MAX = 1, 5
#: The two questions: the blind Affect-Grid rating and "fits the music".
QUESTIONS = ("grid", "fit")
#: Seconds a write waits for another writer before it gives up (a writer holds the file for milliseconds).
BUSY_TIMEOUT = 10.0

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")


class RatingRefused(Music2ImgError, ValueError):
    """An answer that is not stored: a value off the scale, a replayed id, a second answer."""


class RatingStoreUnavailable(Music2ImgError, OSError):
    """The database cannot be written (a full or read-only disk); the answer is lost."""


class RatingSchemaError(Music2ImgError, ValueError):
    """A database written by a newer music2img, or a file that is not a ratings database."""


def new_id() -> str:
    """A random 128-bit id in hex: visitor ids and answer ids."""
    return uuid.uuid4().hex


@dataclasses.dataclass(frozen=True)
class Request:
    """What a picture was painted for: the emotion, the seed and the sampler settings."""

    valence: float
    arousal: float
    seed: int
    guidance_scale: float
    steps: int
    scheduler: str
    num_images: int = 1
    size: int | None = None


@dataclasses.dataclass(frozen=True)
class Answer:
    """One answer about one picture (or one batch of pictures, for ``"fit"``).

    ``answer_valence``/``answer_arousal`` are the Affect-Grid cell (question ``"grid"``), ``fit`` the
    1–5 answer (question ``"fit"``). ``song_valence``/``song_arousal``: the song's predicted emotion.
    ``weights``: model name → version hash. ``picture``: SHA-256 of the picture shown
    (:func:`~music2img.ratings.pictures.picture_hash`). ``seconds``: from showing to answering.
    """

    answer_id: str
    visitor: str
    question: str
    request: Request
    picture: str
    weights: dict[str, str]
    answer_valence: int | None = None
    answer_arousal: int | None = None
    fit: int | None = None
    song_valence: float | None = None
    song_arousal: float | None = None
    seconds: float | None = None
    created: float = dataclasses.field(default_factory=time.time)

    def check(self) -> Answer:
        """Return the answer, or raise :class:`RatingRefused` saying what is wrong with it."""
        if self.question not in QUESTIONS:
            raise RatingRefused(f"unknown question {self.question!r}; expected one of {', '.join(QUESTIONS)}")
        for name in ("answer_id", "visitor"):
            if not isinstance(getattr(self, name), str) or not _HEX_ID.match(getattr(self, name)):
                raise RatingRefused(f"{name} must be 32 lower-case hex digits, got {getattr(self, name)!r}")
        if not isinstance(self.picture, str) or not _HASH.match(self.picture):
            raise RatingRefused(f"picture must be a SHA-256 in hex, got {self.picture!r}")
        r = self.request
        for name in ("valence", "arousal"):
            _check_number(f"requested {name}", getattr(r, name), VA_MIN, VA_MAX)
        _check_number("seed", r.seed, 0, 2**63 - 1, integer=True)
        _check_number("guidance_scale", r.guidance_scale, 0, 1000)
        _check_number("steps", r.steps, 1, 10_000, integer=True)
        _check_number("num_images", r.num_images, 1, 64, integer=True)
        if r.size is not None:
            _check_number("size", r.size, 1, 16_384, integer=True)
        if not isinstance(r.scheduler, str) or not 0 < len(r.scheduler) <= 32:
            raise RatingRefused(f"scheduler must be a short name, got {r.scheduler!r}")
        if (self.song_valence is None) != (self.song_arousal is None):
            raise RatingRefused("the song's valence and arousal go together: give both or neither")
        if self.song_valence is not None:
            _check_number("song valence", self.song_valence, VA_MIN, VA_MAX)
            _check_number("song arousal", self.song_arousal, VA_MIN, VA_MAX)
        if self.question == "grid":
            if self.fit is not None:
                raise RatingRefused("a grid answer has no 'fit' value")
            _check_number(
                "the grid's valence",
                self.answer_valence,
                GRID_MIN,
                GRID_MAX,
                integer=True,
                hint="click one of the 9 × 9 cells",
            )
            _check_number(
                "the grid's arousal",
                self.answer_arousal,
                GRID_MIN,
                GRID_MAX,
                integer=True,
                hint="click one of the 9 × 9 cells",
            )
        else:
            if self.answer_valence is not None or self.answer_arousal is not None:
                raise RatingRefused("a 'fit' answer has no grid cell")
            _check_number(
                "fit", self.fit, FIT_MIN, FIT_MAX, integer=True, hint="answer 1 (not at all) to 5 (perfectly)"
            )
        if not isinstance(self.weights, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.weights.items()
        ):
            raise RatingRefused("weights must map model names to version strings")
        if self.seconds is not None:
            _check_number("seconds", self.seconds, 0, 1e9)
        _check_number("created", self.created, 0, 1e11)
        return self


def _check_number(name: str, value, lo: float, hi: float, *, integer: bool = False, hint: str = "") -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and lo <= value <= hi and (not integer or float(value).is_integer())
    if not ok:
        kind = "a whole number" if integer else "a number"
        raise RatingRefused(
            f"{name} must be {kind} from {lo:g} to {hi:g}, got {value!r}" + (f": {hint}" if hint else "")
        )


# ---- schema ---------------------------------------------------------------------------------------

#: Columns of the answers table (schema :data:`SCHEMA_VERSION`), in export order.
COLUMNS = (
    "id",
    "answer_id",
    "created",
    "visitor",
    "question",
    "valence",
    "arousal",
    "seed",
    "guidance_scale",
    "steps",
    "scheduler",
    "num_images",
    "size",
    "song_valence",
    "song_arousal",
    "diffusion_weights",
    "music_weights",
    "picture",
    "answer_valence",
    "answer_arousal",
    "fit",
    "seconds",
)

_SCHEMA_1 = """
CREATE TABLE ratings (
    id INTEGER PRIMARY KEY,
    answer_id TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    visitor TEXT NOT NULL,
    valence REAL NOT NULL, arousal REAL NOT NULL,
    seed INTEGER NOT NULL, guidance_scale REAL NOT NULL, steps INTEGER NOT NULL, scheduler TEXT NOT NULL,
    diffusion_weights TEXT,
    picture TEXT NOT NULL,
    answer_valence INTEGER NOT NULL CHECK (answer_valence BETWEEN 1 AND 9),
    answer_arousal INTEGER NOT NULL CHECK (answer_arousal BETWEEN 1 AND 9),
    UNIQUE (visitor, picture)
);
"""

_SCHEMA_2 = """
CREATE TABLE answers (
    id INTEGER PRIMARY KEY,
    answer_id TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    visitor TEXT NOT NULL,
    question TEXT NOT NULL CHECK (question IN ('grid', 'fit')),
    valence REAL NOT NULL, arousal REAL NOT NULL,
    seed INTEGER NOT NULL, guidance_scale REAL NOT NULL, steps INTEGER NOT NULL, scheduler TEXT NOT NULL,
    num_images INTEGER NOT NULL DEFAULT 1, size INTEGER,
    song_valence REAL, song_arousal REAL,
    diffusion_weights TEXT, music_weights TEXT,
    picture TEXT NOT NULL,
    answer_valence INTEGER CHECK (answer_valence BETWEEN 1 AND 9),
    answer_arousal INTEGER CHECK (answer_arousal BETWEEN 1 AND 9),
    fit INTEGER CHECK (fit BETWEEN 1 AND 5),
    seconds REAL,
    CHECK ((question = 'grid') = (answer_valence IS NOT NULL AND answer_arousal IS NOT NULL AND fit IS NULL)),
    UNIQUE (visitor, picture, question)
);
CREATE INDEX answers_request ON answers (question, valence, arousal, seed);
"""

_V1_TO_V2 = (
    _SCHEMA_2
    + """
INSERT INTO answers (id, answer_id, created, visitor, question, valence, arousal, seed, guidance_scale, steps,
                     scheduler, diffusion_weights, picture, answer_valence, answer_arousal)
SELECT id, answer_id, created, visitor, 'grid', valence, arousal, seed, guidance_scale, steps, scheduler,
       diffusion_weights, picture, answer_valence, answer_arousal FROM ratings;
DROP TABLE ratings;
"""
)

SCHEMA_VERSION = 2
#: ``MIGRATIONS[v] = (w, script)`` takes a database from schema ``v`` to ``w`` (0: an empty file, created
#: at the latest schema directly). Schema 1 held the blind grid answers only; 2 adds the "fits the
#: music" question, the song's emotion, the music model's version and the time taken to answer.
MIGRATIONS = {0: (SCHEMA_VERSION, _SCHEMA_2), 1: (2, _V1_TO_V2)}


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)  # explicit transactions
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    # in WAL mode a commit is then written without waiting for the disk (checkpoints still sync): a power
    # cut may lose the last answers, never corrupt the file
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring an open database to :data:`SCHEMA_VERSION` in one transaction; returns the version it had.

    Raises :class:`RatingSchemaError` for a database from a newer music2img or a file that is not one.
    """
    conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others then see the new version
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RatingSchemaError(
                f"the ratings database has schema {version}, newer than this music2img's "
                f"{SCHEMA_VERSION}: update music2img (the file is left as it is)"
            )
        if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise RatingSchemaError("the file is an SQLite database without a ratings schema; refusing to change it")
        start = version
        while version < SCHEMA_VERSION:
            target, script = MIGRATIONS[version]
            try:
                for statement in filter(str.strip, script.split(";")):  # executescript would commit
                    conn.execute(statement)
            except sqlite3.DatabaseError as err:
                raise RatingSchemaError(
                    f"could not migrate the ratings database from schema {version} to "
                    f"{target} ({err}); the file is left as it was"
                ) from err
            version = target
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return start


def _row(answer: Answer) -> dict:
    r, w = answer.request, answer.weights
    return dict(
        answer_id=answer.answer_id,
        created=float(answer.created),
        visitor=answer.visitor,
        question=answer.question,
        valence=float(r.valence),
        arousal=float(r.arousal),
        seed=int(r.seed),
        guidance_scale=float(r.guidance_scale),
        steps=int(r.steps),
        scheduler=r.scheduler,
        num_images=int(r.num_images),
        size=None if r.size is None else int(r.size),
        song_valence=answer.song_valence,
        song_arousal=answer.song_arousal,
        diffusion_weights=w.get("diffusion"),
        music_weights=w.get("music"),
        picture=answer.picture,
        answer_valence=answer.answer_valence,
        answer_arousal=answer.answer_arousal,
        fit=answer.fit,
        seconds=answer.seconds,
    )


_INSERT = f"INSERT INTO answers ({', '.join(COLUMNS[1:])}) VALUES ({', '.join(':' + c for c in COLUMNS[1:])})"


class RatingStore:
    """The answers database at ``path`` (created, with its folder, when missing).

    Use :meth:`open`, which also migrates the file. ``on_row(row)`` is called with every stored row
    (a dict of :data:`COLUMNS` but ``id``), e.g. to mirror it for upload (:mod:`~music2img.ratings.upload`).
    """

    def __init__(
        self, path: str | os.PathLike, *, timeout: float = BUSY_TIMEOUT, on_row: Callable[[dict], None] | None = None
    ):
        self.path = Path(path)
        self.timeout = float(timeout)
        self.on_row = on_row
        self._unavailable = False
        self._lock = threading.Lock()
        self._local = threading.local()  # one connection per thread, kept: closing the last one checkpoints

    @classmethod
    def open(cls, path: str | os.PathLike, **kwargs) -> RatingStore:
        """Open (create, migrate) the database at ``path``. Raises :class:`RatingStoreUnavailable` when
        it cannot be created and :class:`RatingSchemaError` when it is not a ratings database we can read."""
        store = cls(path, **kwargs)
        try:
            store.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(_connect(store.path, store.timeout)) as conn:
                migrate(conn)  # first: a file that is not ours is refused before anything changes it
                if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                    log.warning("ratings database %s is not in WAL mode (its file system may not support it)", path)
        except sqlite3.DatabaseError as err:
            if isinstance(err, sqlite3.OperationalError):
                raise RatingStoreUnavailable(f"cannot open the ratings database {store.path}: {err}") from err
            raise RatingSchemaError(f"{store.path} is not a ratings database: {err}") from err
        except OSError as err:
            raise RatingStoreUnavailable(f"cannot create the ratings database {store.path}: {err}") from err
        return store

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _connect(self.path, self.timeout)
        return conn

    def _drop(self) -> None:
        """Forget this thread's connection (after an error: the next call opens the file afresh)."""
        conn, self._local.conn = getattr(self._local, "conn", None), None
        if conn is not None:
            conn.close()

    def add(self, answer: Answer) -> int:
        """Store one answer; returns its row id.

        Raises :class:`RatingRefused` for a bad answer, a replayed ``answer_id`` or a second answer by
        the visitor to the same question about the same picture (nothing is written), and
        :class:`RatingStoreUnavailable` when the disk refuses the write — the first time only: after
        that, failed writes return ``-1`` quietly until one succeeds again.
        """
        row = _row(answer.check())
        try:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                rowid = conn.execute(_INSERT, row).lastrowid
                conn.execute("COMMIT")
            except sqlite3.IntegrityError as err:
                conn.execute("ROLLBACK")
                replayed = conn.execute("SELECT 1 FROM answers WHERE answer_id = ?", (answer.answer_id,)).fetchone()
                raise RatingRefused(_integrity_message(err, replayed is not None)) from None
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except (sqlite3.OperationalError, OSError) as err:
            self._drop()
            with self._lock:
                first, self._unavailable = not self._unavailable, True
            if first:
                log.error("ratings are not being saved: %s (%s); painting goes on", err, self.path)
                raise RatingStoreUnavailable(
                    f"the answer could not be saved ({err}); the pictures are not affected"
                ) from err
            return -1
        with self._lock:
            if self._unavailable:
                log.warning("ratings are being saved again (%s)", self.path)
            self._unavailable = False
        if self.on_row is not None:
            try:
                self.on_row(row)
            except Exception:  # the answer is stored; a mirror's failure must not undo or hide that
                log.exception("could not mirror a rating for upload")
        return int(rowid)

    def count(self, visitor: str | None = None, question: str | None = None) -> int:
        """Answers stored (by ``visitor``, to ``question``)."""
        where, args = [], []
        for column, value in (("visitor", visitor), ("question", question)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT count(*) FROM answers" + (" WHERE " + " AND ".join(where) if where else "")
        return int(self._conn().execute(sql, args).fetchone()[0])

    def pictures(self, visitor: str, question: str = "grid") -> set[str]:
        """Hashes of the pictures ``visitor`` has answered ``question`` about."""
        return {
            row[0]
            for row in self._conn().execute(
                "SELECT picture FROM answers WHERE visitor = ? AND question = ?", (visitor, question)
            )
        }

    def rows(self) -> Iterator[dict]:
        """Every stored answer as a dict of :data:`COLUMNS`, oldest first."""
        for row in self._conn().execute(f"SELECT {', '.join(COLUMNS)} FROM answers ORDER BY id"):
            yield dict(zip(COLUMNS, row))


def _integrity_message(err: sqlite3.IntegrityError, replayed: bool) -> str:
    if replayed:
        return "this answer was already received (a replayed answer id); it is counted once"
    if "answers.visitor" in str(err):
        return "you have already answered this question about this picture; one answer per picture"
    return f"the answer does not fit the database's rules: {err}"


def default_path(data: str | os.PathLike = "/data") -> Path:
    """Where answers go unless told: ``/data/music2img/ratings.sqlite`` where ``/data`` is a writable
    folder (a Space's persistent storage), else ``$XDG_DATA_HOME/music2img`` (``~/.local/share``)."""
    data = Path(data)
    if data.is_dir() and os.access(data, os.W_OK | os.X_OK):
        return data / "music2img" / "ratings.sqlite"
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "music2img" / "ratings.sqlite"


def configured_path(value: str | None = None) -> Path | None:
    """The database path from ``value`` or :data:`DB_ENV` (``off``/``none``/``0``: no ratings → ``None``),
    else :func:`default_path`."""
    value = os.environ.get(DB_ENV) if value is None else value
    if value is None or not value.strip():
        return default_path()
    if value.strip().lower() in ("off", "none", "0", "false", "no"):
        return None
    return Path(value).expanduser()
