"""The journal of sessions: real SQLite files in temporary folders, sessions played by the
real player with a fake clock and sink (the fakes of play_helpers.py), and a journal that is damaged,
locked or in a read-only folder never stopping a session."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compiler_helpers import shoulders
from holdcue import journal, play, terminal
from holdcue.controls import Command
from holdcue.core import JournalWriter
from holdcue.journal import Journal, JournalError
from play_helpers import FakeClock, FakeSink, InterruptingClock, RecordingDisplay, ScriptedKeys, make_session

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"


@pytest.fixture(scope="module")
def session():
    return make_session(dataclasses.replace(shoulders(), source="builtin:shoulders"))


@pytest.fixture
def path(tmp_path):
    return tmp_path / "data" / journal.FILE_NAME


def step_starts(session) -> dict[int, float]:
    """Seconds where each step (1-based) is first heard."""
    timeline = session.timeline
    steps = max(s.step for s in timeline.segments) + 1
    return {n: play.start_position(timeline, str(n)) / timeline.rate for n in range(1, steps + 1)}


class WatchingDisplay(RecordingDisplay):
    """Records every status and, with each, the row's step as another connection sees it
    then: what was committed before this status was shown."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.committed: list[int | None] = []

    def show(self, status) -> None:
        super().show(status)
        with sqlite3.connect(self.path) as other:
            row = other.execute("SELECT step FROM sessions ORDER BY id DESC LIMIT 1").fetchone()
        self.committed.append(row[0] if row else None)


def play_recorded(session, path, script=None, *, clock=None, display=None, timeout=None, **kw):
    """Play with keys when there is a script of them, hands-free otherwise."""
    clock = clock or FakeClock()
    sink = FakeSink(clock)
    keys = ScriptedKeys(clock, list(script)) if script is not None else None
    shown = display or RecordingDisplay()
    recorder = JournalWriter(path, threaded=False, timeout=timeout, report=lambda error: None)
    result = terminal.play(session, sink=sink, clock=clock, keys=keys, display=shown, recorder=recorder, **kw)
    return result, recorder, shown, sink


def rows(path: Path) -> list[dict]:
    with sqlite3.connect(path) as other:
        other.row_factory = sqlite3.Row
        return [dict(row) for row in other.execute("SELECT * FROM sessions ORDER BY id")]


# -- the file ---------------------------------------------------------------------------------


def test_the_journal_lives_in_the_data_folder_set_by_holdcue_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_DATA_DIR", str(tmp_path / "share"))
    assert journal.default_path() == tmp_path / "share" / "journal.sqlite3"
    monkeypatch.delenv("HOLDCUE_DATA_DIR")
    import platformdirs

    assert journal.default_path() == Path(platformdirs.user_data_dir("holdcue")) / "journal.sqlite3"


def test_a_new_journal_is_created_in_wal_mode_with_its_schema_version(path):
    with Journal.open(path):
        pass
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("PRAGMA user_version").fetchone()[0] == journal.SCHEMA_VERSION == 2
        columns = [row[1] for row in other.execute("PRAGMA table_info(sessions)")]
    assert columns == [
        "id",
        "routine_id",
        "title",
        "source",
        "started",
        "updated",
        "ended",
        "outcome",
        "step",
        "steps",
        "planned",
        "played",
        "resumed_from",
    ]


def test_reading_a_journal_that_does_not_exist_creates_nothing(path):
    with Journal.read(path) as kept:
        assert kept.recent() == [] and kept.to_resume() is None and kept.week().sessions == 0
    assert not path.parent.exists()


def test_an_older_journal_is_migrated_and_keeps_its_sessions(path, monkeypatch):
    with Journal.open(path) as kept:
        row = kept.begin(routine_id="neck", title="Neck", source="builtin:neck", steps=3, planned=300.0, at=100.0)
    monkeypatch.setitem(journal.MIGRATIONS, 3, ("ALTER TABLE sessions ADD COLUMN plan TEXT",))
    monkeypatch.setattr(journal, "SCHEMA_VERSION", 3)
    with Journal.open(path) as kept:
        assert kept.get(row).routine_id == "neck"
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA user_version").fetchone()[0] == 3
        assert other.execute("SELECT routine_id, plan FROM sessions").fetchall() == [("neck", None)]


def test_a_first_version_journal_gains_the_holds_table_and_keeps_its_sessions(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as first:
        for statement in journal.MIGRATIONS[1]:
            first.execute(statement)
        first.execute("PRAGMA user_version = 1")
        first.execute(
            "INSERT INTO sessions (routine_id, title, source, started, updated, steps, planned)"
            " VALUES ('neck', 'Neck', 'builtin:neck', 100, 100, 3, 300)"
        )
    first.close()
    with Journal.open(path) as kept:
        [record] = kept.recent()
        assert (record.routine_id, record.holds) == ("neck", ())
        kept.hold(record.id, journal.Hold(2, "left", 0, 41.5, 90.0, True), played=120.0, at=160.0)
        assert kept.get(record.id).holds == (journal.Hold(2, "left", 0, 41.5, 90.0, True),)
        assert kept.get(record.id).played == 120.0
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA user_version").fetchone()[0] == 2
    other.close()


def test_holds_are_read_back_with_their_sessions_in_order_and_as_json(path):
    with Journal.open(path) as kept:
        one = kept.begin(routine_id="a", title="A", source="", steps=2, planned=60.0, at=100.0)
        two = kept.begin(routine_id="b", title="B", source="", steps=2, planned=60.0, at=200.0)
        kept.hold(one, journal.Hold(1, "left", 0, 12.25, 60.0, True), played=20.0)
        kept.hold(one, journal.Hold(1, "right", 0, 60.0, 60.0, False), played=90.0)
        by_id = {record.id: record for record in kept.recent()}
    assert [h.side for h in by_id[one].holds] == ["left", "right"] and by_id[two].holds == ()
    assert journal.record_json(by_id[one])["holds"] == [
        {"step": 1, "side": "left", "round": None, "held": 12.2, "longest": 60.0, "pressed": True},
        {"step": 1, "side": "right", "round": None, "held": 60.0, "longest": 60.0, "pressed": False},
    ]


def test_a_hold_is_written_whole_or_not_at_all_so_a_retry_writes_it_once(path):
    with Journal.open(path) as kept:
        row = kept.begin(routine_id="a", title="A", source="", steps=1, planned=60.0, at=100.0)
    with sqlite3.connect(path) as other:  # the session's update fails after the hold's insert
        other.execute("CREATE TRIGGER refuse BEFORE UPDATE ON sessions BEGIN SELECT RAISE(ABORT, 'refused'); END")
    other.close()
    hold = journal.Hold(1, "", 0, 30.0, 60.0, True)
    with Journal.open(path) as kept:
        with pytest.raises(JournalError, match="refused"):
            kept.hold(row, hold, played=40.0)
        assert kept.get(row).holds == ()
        kept.connection.execute("DROP TRIGGER refuse")
        kept.hold(row, hold, played=40.0)  # tried again, as the writer does
        assert kept.get(row).holds == (hold,) and kept.get(row).played == 40.0


def test_a_journal_from_a_newer_holdcue_is_refused_and_left_alone(path):
    with Journal.open(path):
        pass
    with sqlite3.connect(path) as other:
        other.execute("PRAGMA user_version = 9")
    before = path.read_bytes()
    for opening in (Journal.open, Journal.read):
        with pytest.raises(JournalError, match=r"newer holdcue \(schema 9, this one knows 2\)"):
            opening(path)
    assert path.read_bytes() == before


# -- writing and reading sessions -------------------------------------------------------------


def test_a_session_is_written_at_its_start_each_step_and_its_end(session, path):
    display = WatchingDisplay(path)
    result, recorder, _, _ = play_recorded(session, path, display=display)
    assert result.finished and recorder.error is None
    statuses = display.shown
    # Each status was shown once its own step was committed: the row is updated at every
    # step boundary, before the step is shown, not only at the end.
    reached = 0
    for status, committed in zip(statuses, display.committed, strict=True):
        reached = status.step or reached
        assert committed == reached, status
        if status.state == "finished":
            break
    assert set(display.committed) == {0, 1, 2, 3, 4, 5, 6}
    [row] = rows(path)
    assert row["outcome"] == "finished" and row["ended"] is not None
    assert (row["routine_id"], row["title"], row["source"]) == ("shoulders", "Shoulders and chest", "builtin:shoulders")
    assert (row["step"], row["steps"]) == (6, 6)
    assert row["planned"] == pytest.approx(session.timeline.duration)
    # Played: the whole session, less the lead-in's silence; at most a tick (0.2 s) off.
    assert row["played"] == pytest.approx(session.timeline.duration, abs=play.TICK)
    assert row["started"] <= row["updated"] == row["ended"] <= time.time()


def test_stopping_records_the_step_and_the_seconds_played_without_pauses(session, path):
    starts = step_starts(session)
    timeline = session.timeline
    hold = next(s for s in timeline.segments if s.step == 1 and s.phase == "hold")
    paused_at = timeline.seconds(hold.start) + 10  # a minute's pause ten seconds into step 2's first hold
    quit_at = starts[3] + 20 + 60  # twenty seconds into step 3 on the clock, with the minute paused
    script = [(paused_at, Command.PAUSE), (paused_at + 60, Command.PAUSE), (quit_at, Command.QUIT)]
    result, recorder, _, _ = play_recorded(session, path, script)
    assert not result.finished and recorder.error is None
    [record] = Journal.read(path).recent()
    assert (record.outcome, record.step, record.steps) == ("stopped", 3, 6)
    # Played: where it stopped, as neither the minute paused nor the silence and repeated
    # instruction before the resumed hold moved the position; within a tick or two.
    position = result.position / timeline.rate
    assert starts[3] + 5 < position < starts[3] + 20
    assert record.played == pytest.approx(position, abs=2 * play.TICK)


def test_skipped_steps_are_not_counted_as_played(session, path):
    starts = step_starts(session)
    script = [(starts[2] + 1, Command.NEXT), (starts[2] + 6, Command.QUIT)]  # five seconds into step 3
    result, _, _, _ = play_recorded(session, path, script)
    [record] = Journal.read(path).recent()
    assert record.outcome == "stopped" and record.step == 3
    position = result.position / session.timeline.rate
    assert position == pytest.approx(starts[3] + 5 - play.LEAD_IN, abs=play.TICK)
    assert record.played == pytest.approx(starts[2] + 6 - play.LEAD_IN, abs=2 * play.TICK)


def test_ctrl_c_records_an_interrupted_session(session, path):
    starts = step_starts(session)
    with pytest.raises(KeyboardInterrupt):
        play_recorded(session, path, clock=InterruptingClock(starts[4] + 3))
    [record] = Journal.read(path).recent()
    assert (record.outcome, record.step) == ("interrupted", 4)
    assert record.ended is not None
    assert record.played == pytest.approx(starts[4] + 3, abs=0.5)


def test_a_row_cut_off_while_playing_reads_as_interrupted(path):
    with Journal.open(path) as kept:
        row = kept.begin(routine_id="neck", title="Neck", source="builtin:neck", steps=4, planned=600.0, at=1000.0)
        kept.step(row, 2, 95.5, at=1100.0)
    [record] = Journal.read(path).recent()
    assert (record.outcome, record.step, record.played, record.ended, record.updated) == (
        "interrupted",
        2,
        95.5,
        None,
        1100.0,
    )
    assert rows(path)[0]["outcome"] == "playing"  # reading changes nothing


def test_a_routine_file_is_recorded_by_its_absolute_path(tmp_path, monkeypatch, session):
    routine_file = tmp_path / "mine" / "neck.yaml"
    routine_file.parent.mkdir()
    routine_file.write_text("title: Neck\n")
    monkeypatch.chdir(tmp_path)
    assert journal.routine_source("mine/neck.yaml") == str(routine_file)
    assert journal.routine_source("builtin:neck") == "builtin:neck"
    assert journal.routine_source("<routine>") == ""  # no file to go back to: resume uses the id


def test_recent_sessions_newest_first_up_to_the_limit(path):
    with Journal.open(path) as kept:
        for n in range(5):
            kept.begin(routine_id=f"r{n}", title=f"R{n}", source="", steps=1, planned=60.0, at=1000.0 + n)
        assert [r.routine_id for r in kept.recent(3)] == ["r4", "r3", "r2"]
        assert len(kept.recent()) == 5


def test_the_session_to_resume_is_the_newest_unfinished_one_not_played_again_since(path):
    with Journal.open(path) as kept:

        def played(rid: str, outcome: str | None, at: float) -> int:
            row = kept.begin(routine_id=rid, title=rid, source=f"builtin:{rid}", steps=5, planned=600, at=at)
            if outcome:
                kept.end(row, outcome, 2, 100.0, at=at + 100)
            return row

        assert kept.to_resume() is None
        played("neck", "finished", 1000)
        assert kept.to_resume() is None
        calves = played("calves", "stopped", 2000)
        played("hips", "finished", 3000)
        assert kept.to_resume().id == calves  # another routine finished since: calves can still go on
        hips = played("hips", None, 4000)  # cut off by a power cut
        assert kept.to_resume().id == hips
        played("hips", "finished", 5000)  # hips played again (resumed and finished)
        assert kept.to_resume().id == calves
        played("calves", "finished", 6000)
        assert kept.to_resume() is None


def test_the_week_is_monday_to_sunday_in_local_time(path, monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        local = dt.datetime(2026, 11, 18, 12, 0)  # a Wednesday
        sessions = [
            (dt.datetime(2026, 11, 15, 23, 59), 600),  # Sunday before: last week
            (dt.datetime(2026, 11, 16, 0, 1), 300),  # Monday just after midnight
            (dt.datetime(2026, 11, 18, 7, 0), 900),
            (dt.datetime(2026, 11, 18, 21, 0), 450),
            (dt.datetime(2026, 11, 22, 23, 30), 60),  # Sunday night: this week
            (dt.datetime(2026, 11, 23, 0, 0), 1200),  # next Monday
        ]
        with Journal.open(path) as kept:
            for started, seconds in sessions:
                row = kept.begin(routine_id="r", title="R", source="", steps=1, planned=1800, at=started.timestamp())
                kept.end(row, "finished", 1, seconds, at=started.timestamp() + seconds)
            week = kept.week(local)
        assert week.start == dt.date(2026, 11, 16)
        assert [(d.date.day, d.sessions, d.played) for d in week.days] == [
            (16, 1, 300),
            (17, 0, 0),
            (18, 2, 1350),
            (19, 0, 0),
            (20, 0, 0),
            (21, 0, 0),
            (22, 1, 60),
        ]
        assert (week.sessions, week.played) == (4, 1710)
    finally:
        monkeypatch.undo()
        time.tzset()


# -- a journal that cannot be written never stops a session ----------------------------------------


def test_a_damaged_journal_is_reported_once_and_the_session_plays_on(session, path):
    path.parent.mkdir()
    garbage = os.urandom(4096)
    path.write_bytes(garbage)
    result, recorder, shown, sink = play_recorded(session, path)
    assert result.finished and len(sink.takes) == 1
    assert shown.shown[-1].state == "finished" and shown.closed
    assert isinstance(recorder.error, JournalError)
    assert str(recorder.error).startswith(f"the journal {path} is damaged (file is not a database)")
    assert "move it away" in str(recorder.error)
    assert path.read_bytes() == garbage  # left as it was, for whoever wants to look at it
    with pytest.raises(JournalError, match="is damaged"):
        Journal.read(path)


def test_a_locked_journal_is_reported_and_the_session_plays_on(session, path):
    with Journal.open(path):
        pass
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        began = time.monotonic()
        result, recorder, shown, _ = play_recorded(session, path, timeout=0.05)
        assert time.monotonic() - began < 5  # waited only the busy timeout, once
        assert result.finished and shown.shown[-1].state == "finished"
        assert "is in use by another program (database is locked)" in str(recorder.error)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert rows(path) == []


class LockingDisplay(RecordingDisplay):
    """Another program takes the journal's write lock while step 3 plays."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.holder: sqlite3.Connection | None = None

    def show(self, status) -> None:
        super().show(status)
        if status.step == 3 and self.holder is None:
            self.holder = sqlite3.connect(self.path, isolation_level=None)
            self.holder.execute("BEGIN EXCLUSIVE")


def test_a_journal_locked_in_the_middle_keeps_what_was_written_and_the_session_plays_on(session, path):
    locking = LockingDisplay(path)
    try:
        result, recorder, shown, _ = play_recorded(session, path, display=locking, timeout=0.05)
    finally:
        assert locking.holder is not None
        locking.holder.execute("ROLLBACK")
        locking.holder.close()
    assert result.finished and shown.shown[-1].state == "finished"
    assert "database is locked" in str(recorder.error)
    # Written up to step 3 (committed as it began, before it was shown and the lock taken),
    # nothing after: the row reads as cut off.
    [record] = Journal.read(path).recent()
    assert (record.outcome, record.step) == ("interrupted", 3)


class FreedAtStep2(RecordingDisplay):
    """Another program holds the journal's write lock as the session starts, until step 2."""

    def __init__(self, holder: sqlite3.Connection):
        super().__init__()
        self.holder = holder

    def show(self, status) -> None:
        super().show(status)
        if status.step == 2 and self.holder.in_transaction:
            self.holder.execute("ROLLBACK")


def test_what_a_briefly_locked_journal_missed_is_written_once_it_is_free(session, path):
    with Journal.open(path):
        pass
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    started = time.time()
    try:
        result, recorder, shown, _ = play_recorded(session, path, display=FreedAtStep2(holder), timeout=0.05)
    finally:
        holder.close()
    assert result.finished and "database is locked" in str(recorder.error)
    [record] = Journal.read(path).recent()  # its start was missed, and written later
    assert record.outcome == "finished" and record.step == len(session.routine.steps)
    assert abs(record.started - started) < 1.0  # when it started, not when it was written


READ_ONLY_CHILD = """
import sys
from pathlib import Path
from holdcue.journal import Journal, JournalError
try:
    Journal.open(Path(sys.argv[1]))
except JournalError as error:
    print(error)
else:
    print("opened")
"""


def run_without_privileges(args: list[str]) -> subprocess.CompletedProcess:
    """Run Python as this user, but without root's power to write anywhere (root ignores a
    folder's permissions), so a read-only folder is read-only."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:  # util-linux; without it root cannot be made to respect permissions
            if os.environ.get("CI") == "true":
                pytest.fail("setpriv (util-linux) is needed to test a read-only folder as root")
            pytest.skip("setpriv (util-linux) is needed to test a read-only folder as root")
        prefix = [setpriv, "--inh-caps=-all", "--bounding-set=-all"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)])}
    return subprocess.run([*prefix, sys.executable, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("existing", [False, True], ids=["new journal", "existing journal"])
def test_a_journal_in_a_read_only_folder_is_reported(tmp_path, existing):
    folder = tmp_path / "data"
    folder.mkdir()
    if existing:
        with Journal.open(folder / journal.FILE_NAME):
            pass
    folder.chmod(0o555)
    try:
        done = run_without_privileges(["-c", READ_ONLY_CHILD, str(folder / journal.FILE_NAME)])
    finally:
        folder.chmod(0o755)
    assert done.returncode == 0, done.stderr
    message = done.stdout.strip()
    assert message.startswith(f"the journal {folder / journal.FILE_NAME} cannot be written ("), message
    assert message.endswith("make its folder writable, or set HOLDCUE_DATA_DIR to another folder.")
    assert sorted(p.name for p in folder.iterdir()) == (["journal.sqlite3"] if existing else [])
