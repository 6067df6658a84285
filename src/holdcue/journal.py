"""The journal: every session played, kept in SQLite in the user's data folder, so that
``holdcue history`` can say what was done and ``holdcue resume`` can go on where a session
stopped.

A session's row is written when it starts, updated (and committed) at each step boundary
and completed when it ends, so a power cut loses at most the step in progress; a row left
"playing" with no end reads as interrupted. WAL mode lets a reader (``holdcue history``)
read while a session writes, and each commit is synced to disk (synchronous=FULL: a few
writes per session, so the cost does not matter on an SD card).

The journal is never worth a session: every failure is a JournalError, and the recording
display (``Recorder``) keeps the first one for the caller to report and plays on without
the journal. Nothing here prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from holdcue.errors import HoldcueError

if TYPE_CHECKING:
    from holdcue.display import Status

FILE_NAME = "journal.sqlite3"
SCHEMA_VERSION = 2  # PRAGMA user_version of a journal this holdcue writes
BUSY_TIMEOUT = 1.0  # seconds a write waits for another writer; the play loop (keys, display) waits with it
OUTCOMES = ("finished", "stopped", "interrupted")
UNFINISHED = ("stopped", "interrupted")
BUILTIN_PREFIX = "builtin:"  # as library.py names built-in routines

# MIGRATIONS[v] takes a journal from version v - 1 to v; version 0 is an empty file.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            routine_id TEXT NOT NULL,
            title TEXT NOT NULL,
            source TEXT NOT NULL,            -- names the routine again: "builtin:<id>" or an absolute path
            started REAL NOT NULL,           -- epoch seconds
            updated REAL NOT NULL,           -- epoch seconds of the last write: where a cut-off session ended
            ended REAL,                      -- epoch seconds; NULL while playing (or cut off)
            outcome TEXT NOT NULL DEFAULT 'playing'
                CHECK (outcome IN ('playing', 'finished', 'stopped', 'interrupted')),
            step INTEGER NOT NULL DEFAULT 0, -- the last step reached, 1-based; 0: still in the introduction
            steps INTEGER NOT NULL,
            planned REAL NOT NULL,           -- seconds: the whole session as compiled
            played REAL NOT NULL DEFAULT 0,  -- seconds heard: pauses and skipped parts left out
            resumed_from INTEGER REFERENCES sessions(id)
        )""",
        "CREATE INDEX sessions_started ON sessions (started)",
    ),
    2: (
        """CREATE TABLE holds (
            id INTEGER PRIMARY KEY,
            session INTEGER NOT NULL REFERENCES sessions(id),
            step INTEGER NOT NULL,           -- 1-based
            side TEXT NOT NULL,              -- "left", "right" or ""
            round INTEGER NOT NULL,          -- 1-based; 0: the step is not done in rounds
            held REAL NOT NULL,              -- seconds held: a hold that lasts until a press
            longest REAL NOT NULL,           -- seconds: its full time, the most it could last
            pressed INTEGER NOT NULL         -- 1: ended by a press; 0: it ran its full time
        )""",
        "CREATE INDEX holds_session ON holds (session)",
    ),
}


class JournalError(HoldcueError):
    """The journal could not be opened, read or written. The message names the file and
    what to do; a session plays on without the journal."""

    def __init__(self, message: str, path: Path | None = None):
        super().__init__(message)
        self.path = path


@dataclasses.dataclass(frozen=True)
class Hold:
    """A hold that lasts until a press, as it was held in a session."""

    step: int  # 1-based
    side: str  # "left", "right" or ""
    round: int  # 0: the step is not done in rounds
    held: float  # seconds
    longest: float  # seconds: the step's time
    pressed: bool  # False: it ran its full time


@dataclasses.dataclass(frozen=True)
class Record:
    """One session as the journal has it."""

    id: int
    routine_id: str
    title: str
    source: str  # "builtin:<id>", an absolute path, or "" when the routine had no file
    started: float  # epoch seconds
    updated: float  # epoch seconds of the last write
    ended: float | None  # None: cut off (a power cut, a killed process)
    outcome: str  # one of OUTCOMES; a row cut off while playing reads as "interrupted"
    step: int  # the last step reached, 1-based; 0: the introduction
    steps: int
    planned: float  # seconds
    played: float  # seconds
    resumed_from: int | None
    holds: tuple[Hold, ...] = ()  # its holds that last until a press, in the order held

    @property
    def ref(self) -> str:
        """What names the routine for library.load_routine: its source, else its id."""
        return self.source or self.routine_id


@dataclasses.dataclass(frozen=True)
class Day:
    date: dt.date  # local
    sessions: int
    played: float  # seconds


@dataclasses.dataclass(frozen=True)
class Week:
    """Monday to Sunday in local time."""

    days: tuple[Day, ...]

    @property
    def start(self) -> dt.date:
        return self.days[0].date

    @property
    def sessions(self) -> int:
        return sum(day.sessions for day in self.days)

    @property
    def played(self) -> float:
        return sum(day.played for day in self.days)


def default_path() -> Path:
    """journal.sqlite3 in the data folder (folders.py)."""
    from holdcue import folders

    return folders.data_dir() / FILE_NAME


class Journal:
    """An open journal. Every method raises JournalError, never sqlite3's own errors."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self.connection = connection
        self.path = path

    @classmethod
    def open(cls, path: Path | None = None, *, timeout: float | None = None) -> Journal:
        """Open the journal for writing, creating its folder and file or bringing an older
        schema up to date."""
        path = path or default_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise JournalError(
                f"the journal's folder {path.parent} cannot be created ({error.strerror or error}): "
                "make it writable, or set HOLDCUE_DATA_DIR to another folder.",
                path,
            ) from error
        return cls._connect(path, BUSY_TIMEOUT if timeout is None else timeout)

    @classmethod
    def read(cls, path: Path | None = None, *, timeout: float | None = None) -> Journal:
        """Open the journal for reading; when there is none yet, an empty one (nothing is created)."""
        path = path or default_path()
        if not path.exists():
            return cls._connect(path, 0, memory=True)
        return cls._connect(path, BUSY_TIMEOUT if timeout is None else timeout)

    @classmethod
    def _connect(cls, path: Path, timeout: float, memory: bool = False) -> Journal:
        connection = None
        try:
            # isolation_level=None: each statement commits on its own; migrations use explicit transactions
            connection = sqlite3.connect(":memory:" if memory else path, timeout=timeout, isolation_level=None)
            journal = cls(connection, path)
            with journal._guard():
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = FULL")
                journal._migrate()
            return journal
        except sqlite3.Error as error:
            if connection is not None:
                connection.close()
            raise _problem(path, error) from error
        except JournalError:
            if connection is not None:
                connection.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.connection.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------

    def begin(
        self,
        *,
        routine_id: str,
        title: str,
        source: str,
        steps: int,
        planned: float,
        resumed_from: int | None = None,
        at: float | None = None,
    ) -> int:
        """A new session's row, "playing"; returns its id."""
        at = time.time() if at is None else at
        with self._guard():
            cursor = self.connection.execute(
                "INSERT INTO sessions (routine_id, title, source, started, updated, steps, planned, resumed_from)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (routine_id, title, source, at, at, steps, planned, resumed_from),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def step(self, row: int, step: int, played: float, at: float | None = None) -> None:
        """The session reached ``step`` (1-based) having played ``played`` seconds."""
        at = time.time() if at is None else at
        with self._guard():
            self.connection.execute(
                "UPDATE sessions SET step = ?, played = ?, updated = ? WHERE id = ?", (step, played, at, row)
            )

    def end(self, row: int, outcome: str, step: int, played: float, at: float | None = None) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"an outcome is one of {', '.join(OUTCOMES)}, not {outcome!r}")
        at = time.time() if at is None else at
        with self._guard():
            self.connection.execute(
                "UPDATE sessions SET outcome = ?, step = ?, played = ?, updated = ?, ended = ? WHERE id = ?",
                (outcome, step, played, at, at, row),
            )

    def hold(self, row: int, hold: Hold, played: float, at: float | None = None) -> None:
        """A hold that lasts until a press ended in session ``row``, ``played`` seconds in."""
        at = time.time() if at is None else at
        with self._guard(), self._transaction():  # both or neither: a failed write is tried again whole
            self.connection.execute(
                "INSERT INTO holds (session, step, side, round, held, longest, pressed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row, hold.step, hold.side, hold.round, hold.held, hold.longest, int(hold.pressed)),
            )
            self.connection.execute("UPDATE sessions SET played = ?, updated = ? WHERE id = ?", (played, at, row))

    # -- reading --------------------------------------------------------------------------

    def recent(self, limit: int = 20) -> list[Record]:
        """The last ``limit`` sessions, newest first."""
        with self._guard():
            rows = self.connection.execute(f"{SELECT} ORDER BY started DESC, id DESC LIMIT ?", (limit,)).fetchall()
        return self._with_holds([_record(row) for row in rows])

    def get(self, row: int) -> Record | None:
        with self._guard():
            found = self.connection.execute(f"{SELECT} WHERE id = ?", (row,)).fetchone()
        return self._with_holds([_record(found)])[0] if found else None

    def _with_holds(self, records: list[Record]) -> list[Record]:
        """The records with their holds that last until a press."""
        if not records:
            return records
        ids = [record.id for record in records]
        marks = ", ".join("?" * len(ids))
        columns = "session, step, side, round, held, longest, pressed"
        query = f"SELECT {columns} FROM holds WHERE session IN ({marks}) ORDER BY id"
        with self._guard():
            rows = self.connection.execute(query, ids).fetchall()
        holds: dict[int, list[Hold]] = {}
        for session, step, side, round_, held, longest, pressed in rows:
            holds.setdefault(session, []).append(Hold(step, side, round_, held, longest, bool(pressed)))
        return [dataclasses.replace(record, holds=tuple(holds.get(record.id, ()))) for record in records]

    def to_resume(self) -> Record | None:
        """The newest session that was stopped or interrupted, unless its routine was played
        again since (a later session of it supersedes it, whatever its outcome)."""
        seen: set[str] = set()
        with self._guard():
            for row in self.connection.execute(f"{SELECT} ORDER BY started DESC, id DESC"):
                record = _record(row)
                if record.outcome in UNFINISHED and record.ref not in seen:
                    return record
                seen.add(record.ref)
        return None

    def week(self, now: dt.datetime | None = None) -> Week:
        """This week (Monday to Sunday, local time): sessions started and seconds played each day."""
        today = (now or dt.datetime.now()).astimezone().date()
        monday = today - dt.timedelta(days=today.weekday())
        dates = [monday + dt.timedelta(days=n) for n in range(7)]
        # Local midnights as epoch seconds: naive datetimes are local time to timestamp()
        bounds = [dt.datetime.combine(day, dt.time()).timestamp() for day in (*dates, monday + dt.timedelta(days=7))]
        with self._guard():
            rows = self.connection.execute(
                "SELECT started, played FROM sessions WHERE started >= ? AND started < ?", (bounds[0], bounds[-1])
            ).fetchall()
        days = []
        for day, start, end in zip(dates, bounds, bounds[1:], strict=False):
            within = [played for started, played in rows if start <= started < end]
            days.append(Day(day, len(within), float(sum(within))))
        return Week(tuple(days))

    # -- inside ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            raise _problem(self.path, error) from error

    def _migrate(self) -> None:
        version = self._version()
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise self._newer(version)
        # The version is read again inside the write transaction: another process may have
        # created the journal in the meantime.
        with self._transaction():
            version = self._version()
            if version > SCHEMA_VERSION:
                raise self._newer(version)
            for number in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[number]:
                    self.connection.execute(statement)
            self.connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction (each statement commits on its own otherwise): committed at
        the end, rolled back on any failure."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.connection.execute("COMMIT")
        except BaseException:
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
            raise

    def _version(self) -> int:
        return int(self.connection.execute("PRAGMA user_version").fetchone()[0])

    def _newer(self, version: int) -> JournalError:
        return JournalError(
            f"the journal {self.path} was written by a newer holdcue (schema {version}, this one knows "
            f"{SCHEMA_VERSION}): update holdcue, or set HOLDCUE_DATA_DIR to another folder.",
            self.path,
        )


SELECT = (
    "SELECT id, routine_id, title, source, started, updated, ended, outcome, step, steps, planned, played,"
    " resumed_from FROM sessions"
)


def _record(row: tuple) -> Record:
    record = Record(*row)
    if record.outcome == "playing":  # cut off: no end was ever written
        return dataclasses.replace(record, outcome="interrupted")
    return record


def _problem(path: Path, error: sqlite3.Error) -> JournalError:
    """What went wrong, for a person: in use, not writable, or damaged."""
    text = str(error)
    said = text.lower()
    if "locked" in said or "busy" in said:
        advice = "is in use by another program"
        todo = "try again when it has finished"
    elif any(word in said for word in ("readonly", "read-only", "unable to open", "disk i/o", "full", "permission")):
        advice = "cannot be written"
        todo = "make its folder writable, or set HOLDCUE_DATA_DIR to another folder"
    else:
        advice = "is damaged"
        todo = "move it away and holdcue starts a new one"
    return JournalError(f"the journal {path} {advice} ({text}): {todo}.", path)


# -- recording a session as it plays ----------------------------------------------------------------


def routine_source(source: str) -> str:
    """A routine's source as the journal keeps it: a file as an absolute path, so that
    ``holdcue resume`` finds it from any folder; a built-in as "builtin:<id>"."""
    if source.startswith(BUILTIN_PREFIX):
        return source
    path = Path(source).expanduser()
    return str(path.resolve()) if source and path.is_file() else ""


def heard(before: Status, after: Status, elapsed: float) -> float:
    """Seconds heard between two statuses ``elapsed`` clock seconds apart: none unless it
    was playing before; no more than the position moved (a new take's lead-in is silence
    before the position moves), and no more than the clock moved (a skip moves the position
    far in an instant). After going back, the position moved backwards: the clock says it."""
    if before.state != "playing":
        return 0.0
    moved = after.position - before.position
    return max(0.0, elapsed if moved < 0 else min(elapsed, moved))


# -- what the journal says, for people and programs ---------------------------------------------

FOLLOWED_FRACTION = 0.8  # a planned day counts as done with a session of its routine finished, or this much played


@dataclasses.dataclass(frozen=True)
class PlannedDay:
    """One planned day of this week, up to today: whether its routine was played."""

    date: dt.date
    routine: str  # the routine id the plan names for the day
    followed: bool  # a session of it that day finished, or played at least FOLLOWED_FRACTION of its length
    session: int | None  # the session's id that made it followed (None: not followed)


def plan_followed(journal: Journal, routines: tuple[str | None, ...], today: dt.date) -> list[PlannedDay]:
    """For each planned day of today's week (Monday on), up to and including today: whether
    a session of the day's routine was finished that (local) day, or played at least
    FOLLOWED_FRACTION of its planned length. ``routines[i]`` is weekday i's routine id,
    None on a rest day (plan.Plan.routines). Sessions count on the day they started."""
    monday = today - dt.timedelta(days=today.weekday())
    start = dt.datetime.combine(monday, dt.time()).timestamp()
    end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time()).timestamp()
    with journal._guard():
        rows = journal.connection.execute(
            f"{SELECT} WHERE started >= ? AND started < ? ORDER BY started, id", (start, end)
        ).fetchall()
    records = [_record(row) for row in rows]
    days = []
    for offset in range(today.weekday() + 1):
        date = monday + dt.timedelta(days=offset)
        routine = routines[date.weekday()]
        if routine is None:
            continue
        done = next((r.id for r in records if _on(r, date) and r.routine_id == routine and counts(r)), None)
        days.append(PlannedDay(date, routine, done is not None, done))
    return days


def counts(record: Record) -> bool:
    """A session that counts for the plan: finished, or played at least FOLLOWED_FRACTION of its length."""
    return record.outcome == "finished" or (record.planned > 0 and record.played >= FOLLOWED_FRACTION * record.planned)


def _on(record: Record, date: dt.date) -> bool:
    return dt.datetime.fromtimestamp(record.started).date() == date


def iso_time(seconds: float) -> str:
    """Epoch seconds as local time with its UTC offset: "2026-11-16T07:30:00+01:00"."""
    return dt.datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


def history_json(records: list[Record], week: Week, plan: list[PlannedDay] | None, plan_error: str = "") -> dict:
    """The journal as ``holdcue history --json`` and ``GET /api/history`` give it: an object,
    so that later parts are new keys. ``plan``: this week's planned days so far (None: no
    plan, or ``plan_error`` says why it could not be read)."""
    return {
        "sessions": [record_json(record) for record in records],
        "week": {
            "start": week.start.isoformat(),
            "sessions": week.sessions,
            "minutes": round(week.played / 60, 1),
            "days": [
                {
                    "date": day.date.isoformat(),
                    "weekday": f"{day.date:%A}",
                    "sessions": day.sessions,
                    "minutes": round(day.played / 60, 1),
                }
                for day in week.days
            ],
        },
        "plan": None
        if plan is None
        else {
            "planned": len(plan),
            "followed": sum(day.followed for day in plan),
            "threshold": FOLLOWED_FRACTION,
            "days": [
                {
                    "date": day.date.isoformat(),
                    "weekday": f"{day.date:%A}",
                    "routine": day.routine,
                    "followed": day.followed,
                    "session": day.session,
                }
                for day in plan
            ],
        },
        "plan_error": plan_error,
    }


def record_json(record: Record) -> dict:
    return {
        "id": record.id,
        "routine": record.routine_id,
        "title": record.title,
        "source": record.source,
        "started": iso_time(record.started),
        "ended": iso_time(record.ended) if record.ended is not None else None,
        "outcome": record.outcome,
        "step": record.step,
        "steps": record.steps,
        "planned": round(record.planned, 1),
        "played": round(record.played, 1),
        "resumed_from": record.resumed_from,
        "holds": [
            {
                "step": hold.step,
                "side": hold.side or None,
                "round": hold.round or None,
                "held": round(hold.held, 1),
                "longest": round(hold.longest, 1),
                "pressed": hold.pressed,
            }
            for hold in record.holds
        ],
    }
