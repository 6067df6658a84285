"""holdcue play records every session; holdcue history shows them and holdcue resume goes on
with the last one that did not finish. The real CLI, a real journal file in a temporary
folder; the speech, the sound device and the clock are the fakes of play_helpers.py."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from holdcue import controls, journal, play, session
from holdcue.cli import cli
from holdcue.controls import Command
from holdcue.exitcodes import ExitCode
from holdcue.journal import Journal
from play_helpers import FakeClock, FakeSink, InterruptingClock, ScriptedKeys, make_session
from test_journal import run_without_privileges

ROUTINE = """\
title: Feet and hands
cues: {prep: 2s, countdown: 2}
steps:
  - compress: Press the ball under your {side} foot.
    title: Foot press
    time: 20s
    sides: both
  - hold: Squeeze the ball in your hands.
    title: Hands
    time: 15s
  - rest: Breathe.
    time: 10s
"""


class Fakes:
    """What the CLI plays with instead of speech, a sound device and the system clock."""

    def __init__(self, setattr, keys: list[tuple[float, Command]] | None = None, clock: FakeClock | None = None):
        self.clock = clock or FakeClock()
        self.sinks: list[FakeSink] = []
        self.sessions: list = []
        setattr(session, "build", self.build)
        setattr(play, "SystemClock", lambda: self.clock)
        setattr(play, "default_sink", lambda keep_alive=False: self.sink())  # the output the CLI plays through
        # No keys: hands-free, as without a terminal
        setattr(controls, "terminal_keys", lambda stdin: None if keys is None else ScriptedKeys(self.clock, keys))

    def build(self, routine, **kw):
        self.sessions.append(make_session(routine))
        return self.sessions[-1]

    def sink(self) -> FakeSink:
        self.sinks.append(FakeSink(self.clock))
        return self.sinks[-1]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def routine_file(tmp_path):
    path = tmp_path / "routines" / "feet-and-hands.yaml"
    path.parent.mkdir()
    path.write_text(ROUTINE)
    return path


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def history(*args: str) -> dict:
    result = invoke("history", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def step_start(fakes: Fakes, step: int, which: int = -1) -> float:
    timeline = fakes.sessions[which].timeline
    return play.start_position(timeline, str(step)) / timeline.rate


# -- recording and history ------------------------------------------------------------------------


def test_play_records_the_session_and_history_shows_it(data_dir, monkeypatch):
    fakes = Fakes(monkeypatch.setattr)
    result = invoke("play", "shoulders-and-chest")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    timeline = fakes.sessions[0].timeline
    shown = history()
    [entry] = shown["sessions"]
    assert entry["routine"] == "shoulders-and-chest" and entry["source"] == "builtin:shoulders-and-chest"
    assert entry["title"] == "Shoulders and chest"
    assert (entry["outcome"], entry["step"], entry["steps"]) == ("finished", 5, 5)
    assert entry["planned"] == round(timeline.duration, 1)
    assert entry["played"] == pytest.approx(timeline.duration, abs=play.TICK + 0.1)
    started = dt.datetime.fromisoformat(entry["started"])
    ended = dt.datetime.fromisoformat(entry["ended"])
    assert started.tzinfo is not None and started <= ended <= dt.datetime.now().astimezone()
    assert entry["resumed_from"] is None
    week = shown["week"]
    today = dt.date.today()
    assert week["start"] == (today - dt.timedelta(days=today.weekday())).isoformat()
    assert [day["weekday"] for day in week["days"]] == [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
    [day] = [day for day in week["days"] if day["sessions"]]
    assert day["date"] == today.isoformat()
    assert week["sessions"] == 1 and week["minutes"] == day["minutes"] == round(entry["played"] / 60, 1)

    table = invoke("history")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["started", "routine", "ended", "step", "played"]
    assert "shoulders-and-chest" in lines[1] and "finished" in lines[1] and "5/5" in lines[1]
    assert f"{dt.datetime.fromtimestamp(started.timestamp()):%a %Y-%m-%d %H:%M}" in lines[1]
    assert f"This week (from {dt.date.fromisoformat(week['start']):%a %Y-%m-%d}): " in table.stdout
    assert f"  {today:%a %Y-%m-%d}  1 session " in table.stdout


def test_the_time_held_in_holds_until_a_press_is_recorded_and_shown(data_dir, tmp_path, monkeypatch):
    path = tmp_path / "until-press.yaml"
    path.write_text(ROUTINE.replace("    sides: both\n", "    sides: both\n    until: press\n", 1))
    timeline = make_session_for(path).timeline
    left, right = [s for s in timeline.segments if s.phase == "hold" and s.step == 0]
    assert (left.until, right.until) == ("press", "press")
    press_at = left.start / timeline.rate + play.LEAD_IN + 7  # seven seconds into the left hold
    Fakes(monkeypatch.setattr, keys=[(press_at, Command.NEXT)])
    result = invoke("play", str(path))
    assert result.exit_code == 0, result.output
    [entry] = history()["sessions"]
    assert entry["outcome"] == "finished"
    pressed, full = entry["holds"]
    assert (pressed["step"], pressed["side"], pressed["pressed"], pressed["longest"]) == (1, "left", True, 20.0)
    assert pressed["held"] == pytest.approx(7.0, abs=0.11)
    assert full == {"step": 1, "side": "right", "round": None, "held": 20.0, "longest": 20.0, "pressed": False}
    # the session was that much shorter than planned: the rest of the left hold was not played
    assert entry["played"] == pytest.approx(timeline.duration - 13, abs=play.TICK + 0.2)
    lines = invoke("history").stdout.splitlines()
    assert lines[2] == f"  held until pressed: step 1 left 0:0{int(pressed['held'])} of 0:20, right 0:20 (full time)"


def test_history_lists_the_most_recent_sessions_up_to_the_limit(data_dir):
    with Journal.open() as kept:
        for n in range(25):
            row = kept.begin(routine_id=f"r{n:02d}", title="R", source="", steps=2, planned=600, at=1.7e9 + 3600 * n)
            kept.end(row, "finished", 2, 600, at=1.7e9 + 3600 * n + 600)
    assert [entry["routine"] for entry in history()["sessions"]] == [f"r{n:02d}" for n in range(24, 4, -1)]
    assert [entry["routine"] for entry in history("--limit", "3")["sessions"]] == ["r24", "r23", "r22"]
    table = invoke("history", "--limit", "2").stdout.splitlines()
    assert [line.split()[3] for line in table[1:3]] == ["r24", "r23"] and table[3] == ""
    assert invoke("history", "--limit", "0").exit_code == ExitCode.USAGE


def test_history_before_any_session_says_so_and_creates_nothing(data_dir):
    result = invoke("history")
    assert result.exit_code == 0
    assert result.stdout.startswith("No sessions recorded yet")
    assert "0 minutes in 0 sessions" in result.stdout
    shown = history()
    assert shown["sessions"] == [] and len(shown["week"]["days"]) == 7 and shown["week"]["minutes"] == 0
    assert not data_dir.exists()


# -- resume -------------------------------------------------------------------------------


def test_a_stopped_session_resumes_at_the_start_of_its_step_from_any_folder(
    data_dir, routine_file, tmp_path, monkeypatch
):
    monkeypatch.chdir(routine_file.parent)
    timeline = make_session_for(routine_file).timeline
    quit_at = play.start_position(timeline, "2") / timeline.rate + 5  # five seconds into step 2
    fakes = Fakes(monkeypatch.setattr, keys=[(quit_at, Command.QUIT)])
    assert invoke("play", "feet-and-hands.yaml").exit_code == 0
    [stopped] = history()["sessions"]
    assert (stopped["outcome"], stopped["step"], stopped["steps"]) == ("stopped", 2, 3)
    assert stopped["source"] == str(routine_file)  # absolute: resume finds it from anywhere

    monkeypatch.chdir(tmp_path)
    fakes = Fakes(monkeypatch.setattr)
    result = invoke("resume")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Resuming Feet and hands at step 2 of 3 (stopped ")
    [sink] = fakes.sinks
    [take] = sink.takes
    # The one take played from where step 2 is first heard to the end (after the lead-in).
    origin = play.start_position(timeline, "2")
    assert len(take.samples) == round(play.LEAD_IN * timeline.rate) + timeline.length - origin
    resumed, first = history()["sessions"]
    assert (resumed["outcome"], resumed["resumed_from"], resumed["step"]) == ("finished", first["id"], 3)
    assert resumed["played"] == pytest.approx((timeline.length - origin) / timeline.rate, abs=play.TICK + 0.1)

    again = invoke("resume")
    assert again.exit_code == ExitCode.INVALID_ROUTINE == 3
    assert "nothing to resume" in again.output


def make_session_for(routine_file: Path):
    from holdcue import library

    return make_session(library.load_routine(str(routine_file)))


def test_ctrl_c_is_recorded_as_interrupted_and_resumed(data_dir, routine_file, monkeypatch):
    timeline = make_session_for(routine_file).timeline
    at = play.start_position(timeline, "3") / timeline.rate + 2
    Fakes(monkeypatch.setattr, clock=InterruptingClock(at))
    result = invoke("play", str(routine_file))
    assert result.exit_code == ExitCode.INTERRUPTED
    [entry] = history()["sessions"]
    assert (entry["outcome"], entry["step"]) == ("interrupted", 3)
    assert entry["played"] == pytest.approx(at, abs=play.TICK + 0.1)

    fakes = Fakes(monkeypatch.setattr)
    result = invoke("resume")
    assert result.exit_code == 0 and "at step 3 of 3 (interrupted " in result.stdout
    origin = play.start_position(timeline, "3")
    assert len(fakes.sinks[0].takes[0].samples) == round(play.LEAD_IN * timeline.rate) + timeline.length - origin


def test_nothing_to_resume_exits_3_and_says_so(data_dir, monkeypatch):
    result = invoke("resume")
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert result.output.startswith("Error: nothing to resume: no session was stopped or interrupted")
    assert "holdcue history" in result.output
    with Journal.open() as kept:
        row = kept.begin(routine_id="neck", title="Neck", source="builtin:neck", steps=3, planned=60)
        kept.end(row, "finished", 3, 60)
    assert invoke("resume").exit_code == ExitCode.INVALID_ROUTINE


def test_a_resumed_routine_that_lost_the_step_is_refused(data_dir, routine_file, monkeypatch):
    with Journal.open() as kept:
        row = kept.begin(routine_id="feet-and-hands", title="Feet", source=str(routine_file), steps=9, planned=600)
        kept.end(row, "stopped", 7, 60)
    Fakes(monkeypatch.setattr)
    result = invoke("resume")
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert "cannot resume feet-and-hands at step 7, the routine has changed (there is no step 7" in result.output
    assert f"holdcue play {routine_file} --start-at STEP" in result.output


# -- a journal that cannot be written never stops a session ----------------------------------------


def warning_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Not recorded in the journal:")]


def test_a_damaged_journal_is_reported_in_one_line_and_the_session_plays(data_dir, monkeypatch):
    data_dir.mkdir()
    path = data_dir / journal.FILE_NAME
    garbage = b"not a database, just bytes " * 200
    path.write_bytes(garbage)
    fakes = Fakes(monkeypatch.setattr)
    result = invoke("play", "neck-and-upper-trapezius")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == warning_lines(result)
    [line] = warning_lines(result)
    assert f"the journal {path} is damaged (file is not a database): move it away" in line
    assert fakes.sinks[0].takes[0].handle.stopped is False  # played out to the end
    assert result.stdout.splitlines()[-1].endswith("Session complete")
    assert path.read_bytes() == garbage
    for command in ("history", "resume"):
        failed = invoke(command)
        assert failed.exit_code == ExitCode.JOURNAL_UNAVAILABLE == 7
        assert f"Error: the journal {path} is damaged" in failed.output


def test_a_locked_journal_is_reported_in_one_line_and_the_session_plays(data_dir, monkeypatch):
    with Journal.open():
        pass
    monkeypatch.setattr(journal, "BUSY_TIMEOUT", 0.05)
    holder = sqlite3.connect(data_dir / journal.FILE_NAME, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        Fakes(monkeypatch.setattr)
        result = invoke("play", "neck-and-upper-trapezius")
        assert result.exit_code == 0, result.output
        [line] = result.stderr.splitlines()
        assert "is in use by another program (database is locked): try again when it has finished." in line
        assert result.stdout.splitlines()[-1].endswith("Session complete")
        assert history()["sessions"] == []  # a reader is not kept out by a writer
    finally:
        holder.execute("ROLLBACK")
        holder.close()


READ_ONLY_CHILD = """
import sys
from holdcue.cli import cli
from test_cli_history import Fakes

Fakes(setattr)
cli(sys.argv[1:], prog_name="holdcue")
"""


def test_a_journal_in_a_read_only_folder_is_reported_and_the_session_plays(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o555)
    monkeypatch.setenv("HOLDCUE_DATA_DIR", str(data))  # the child inherits the environment
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "config"))
    try:
        done = run_without_privileges(["-c", READ_ONLY_CHILD, "play", "neck-and-upper-trapezius"])
        listed = run_without_privileges(["-c", READ_ONLY_CHILD, "history"])
    finally:
        data.chmod(0o755)
    assert done.returncode == 0, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"Not recorded in the journal: the journal {data / journal.FILE_NAME} cannot be written")
    assert done.stdout.splitlines()[-1].endswith("Session complete")
    assert listed.returncode == 0 and listed.stdout.startswith("No sessions recorded yet")
    assert list(data.iterdir()) == []
