"""The service wired to the rest of holdcue: every session it plays is recorded in a real
journal (SQLite in a temporary folder), today's session comes from the weekly plan, the
last unfinished session can be resumed, the history (with whether the plan was followed)
is served over real HTTP on 127.0.0.1, and the GPIO button (gpiozero's mock pins) plays
today's session through the real controller."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from gpiozero.pins.mock import MockFactory

from holdcue import button, core, journal, plan
from holdcue.cli import cli
from holdcue.config import Config
from holdcue.core import recording
from holdcue.journal import Journal
from service_support import RealClock, Sink, make_session, says, wait_until
from test_core import Rig, tiny
from test_web_api import Running

ROOT = Path(__file__).resolve().parents[1]
THURSDAY = dt.date(2025, 6, 5)  # a fixed week in the past: Monday 2025-06-02 to Sunday 2025-06-08


def every_day(routine: str) -> plan.Plan:
    return plan.Plan((routine,) * 7, "test")


def records(path: Path) -> list[journal.Record]:
    with Journal.read(path) as kept:
        return kept.recent(50)


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("HOLDCUE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def rigs(folders):
    made: list[Rig] = []

    def make(**options) -> Rig:
        made.append(Rig(folders, journal_path=folders / "journal.sqlite3", **options))
        return made[-1]

    yield make
    for rig in made:
        rig.controller.close()


def advance_to(rig: Rig, seconds: float) -> core.Snapshot:
    """Move the fake clock to ``seconds`` after the take started, in steps the ticker sees."""
    take = rig.sink.takes[-1]
    while rig.clock.now() < take.started + seconds and rig.controller.state() == "playing":
        rig.clock.advance(1.0)  # the status moves by whole seconds: each advance is a new status
        rig.settle()
    return rig.controller.status()


# -- the journal -------------------------------------------------------------------------------


def test_a_session_is_recorded_at_its_start_each_step_and_its_end(rigs, folders):
    rig = rigs()
    path = folders / "journal.sqlite3"
    rig.controller.play("tiny")
    rig.controller.keeper.flush()
    (row,) = records(path)
    assert (row.routine_id, row.title, row.source, row.steps, row.step) == ("tiny", "Tiny", "", 2, 0)
    assert row.ended is None and row.outcome == "interrupted"  # a row still playing reads as cut off

    timeline = make_session(tiny()).timeline
    second = next(s.start for s in timeline.segments if s.step == 1) / timeline.rate
    advance_to(rig, second + 1)
    rig.controller.keeper.flush()
    (row,) = records(path)
    assert row.step == 2 and row.ended is None  # committed at the step boundary, before the end
    assert second - 1 <= row.played <= second + 1

    rig.controller.pause()
    rig.clock.advance(30)  # paused: not heard
    rig.controller.resume()
    rig.controller.stop()
    rig.controller.keeper.flush()
    (row,) = records(path)
    assert row.outcome == "stopped" and row.step == 2 and row.ended is not None
    assert second <= row.played <= second + 2


def test_a_finished_session_is_recorded_finished_and_a_replaced_one_stopped(rigs, folders):
    rig = rigs()
    rig.controller.play("other")
    rig.clock.advance(1)
    rig.controller.play("tiny")
    duration = make_session(tiny()).timeline.duration
    assert advance_to(rig, duration + 2).state == "finished"
    rig.controller.keeper.flush()
    finished, replaced = records(folders / "journal.sqlite3")
    assert (finished.routine_id, finished.outcome, finished.step) == ("tiny", "finished", 2)
    assert duration - 1 <= finished.played <= duration + 0.5
    assert (replaced.routine_id, replaced.outcome) == ("other", "stopped")


def test_closing_the_service_records_the_session_as_interrupted(rigs, folders):
    rig = rigs()
    rig.controller.play("tiny")
    rig.clock.advance(2)
    rig.controller.close("interrupted")
    (row,) = records(folders / "journal.sqlite3")
    assert row.outcome == "interrupted" and row.ended is not None  # written before close() returned


def test_a_damaged_journal_is_logged_once_and_sessions_play_on(rigs, folders, caplog):
    (folders / "journal.sqlite3").write_bytes(b"this is not a database" * 100)
    rig = rigs()
    with caplog.at_level(logging.WARNING, logger="holdcue.core"):
        for routine in ("tiny", "other", "tiny"):
            assert rig.controller.play(routine).state == "playing"
            rig.clock.advance(1)
        rig.controller.stop()
        rig.controller.keeper.flush()
    said = [r.getMessage() for r in caplog.records if "not recorded in the journal" in r.getMessage()]
    assert len(said) == 1 and "is damaged" in said[0] and "journal.sqlite3" in said[0]


def test_a_locked_journal_is_logged_once_and_what_it_missed_is_written_when_it_is_free(rigs, folders, caplog):
    path = folders / "journal.sqlite3"
    Journal.open(path).close()
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    rig = rigs()
    with caplog.at_level(logging.INFO, logger="holdcue.core"):
        began = time.monotonic()
        assert rig.controller.play("tiny").state == "playing"
        assert time.monotonic() - began < 0.5  # the controls never wait for the journal
        stopped = time.time()
        rig.controller.stop()
        rig.controller.keeper.flush()
        locker.execute("ROLLBACK")
        locker.close()
        rig.controller.play("other")
        rig.controller.stop()
        rig.controller.keeper.flush()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("not recorded in the journal" in m and "in use" in m for m in messages) == 1
    assert any("is written again" in m for m in messages)
    kept = records(path)
    assert [(r.routine_id, r.outcome) for r in kept] == [("other", "stopped"), ("tiny", "stopped")]
    assert kept[1].ended is not None and abs(kept[1].ended - stopped) < 1.0  # when it happened, not when written


def test_a_session_that_ends_while_the_journal_is_locked_is_recorded_as_ended_once_it_is_free(rigs, folders):
    """The service's writer tries again by itself: nothing else need happen."""
    path = folders / "journal.sqlite3"
    Journal.open(path).close()
    rig = rigs()
    rig.controller.play("tiny")
    rig.controller.keeper.flush()
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        rig.controller.stop()
        rig.controller.keeper.flush()
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    [row] = records(path)
    assert row.routine_id == "tiny" and row.ended is None  # still "playing", for now
    wait_until(lambda: records(path)[0].outcome == "stopped", timeout=recording.RETRY * 3, what="the retried end")
    with Journal.read(path) as kept:
        assert kept.to_resume() is not None and kept.to_resume().routine_id == "tiny"  # stopped: resumable, once


# -- resume and today --------------------------------------------------------------------------


def test_resume_last_goes_on_at_the_step_it_reached_and_is_recorded_as_resumed(rigs, folders):
    rig = rigs()
    c = rig.controller
    with pytest.raises(core.NothingToResume, match="nothing to resume"):
        c.resume_last()
    c.play("tiny")
    while c.status().step != 2:
        assert c.next().state == "playing"
    with pytest.raises(core.WrongState, match="stop it first"):
        c.resume_last()
    c.stop()
    status = c.resume_last()
    assert status.state == "playing" and status.routine == "tiny" and status.step == 2
    c.stop()
    c.keeper.flush()
    resumed, first = records(folders / "journal.sqlite3")
    assert resumed.resumed_from == first.id and first.outcome == "stopped"
    assert c.keeper.to_resume() == records(folders / "journal.sqlite3")[0]  # the newest stopped one


def test_today_plays_the_plans_session_and_a_rest_day_names_the_next(rigs):
    week = plan.Plan(("tiny", None, None, "other", None, None, None), "test")  # Monday tiny, Thursday other
    on = {"day": THURSDAY}
    rig = rigs(plan=lambda: week, date=lambda: on["day"])
    today = rig.controller.today()
    assert (today.routine, today.title, today.rest) == ("other", "Other", False)
    assert today.message == "Today: Other, about 1 minute." and 0 < today.seconds < 90
    assert rig.controller.play_today().routine == "other"
    on["day"] = THURSDAY + dt.timedelta(days=1)  # Friday: rest; next is Monday
    with pytest.raises(core.RestDay, match=r"^Today is a rest day\. Next: Monday, Tiny, about 1 minute\.$"):
        rig.controller.play_today()


# -- whether the plan was followed -------------------------------------------------------------


def at(day: dt.date, hour: int) -> float:
    return dt.datetime.combine(day, dt.time(hour)).timestamp()


def session_row(kept: Journal, routine: str, day: dt.date, outcome: str, played: float, planned: float = 600) -> int:
    row = kept.begin(routine_id=routine, title=routine, source="", steps=3, planned=planned, at=at(day, 8))
    kept.end(row, outcome, 3, played, at=at(day, 9))
    return row


def test_plan_followed_for_a_fixed_week(tmp_path):
    monday = THURSDAY - dt.timedelta(days=3)
    week = ("a", None, "b", "c", "d", None, None)  # Monday a, Wednesday b, Thursday c, Friday d
    with Journal.open(tmp_path / "j.sqlite3") as kept:
        session_row(kept, "a", monday - dt.timedelta(days=7), "finished", 600)  # last week: not this week's
        finished = session_row(kept, "a", monday, "finished", 300)  # finished counts, however long
        session_row(kept, "b", monday + dt.timedelta(days=1), "finished", 600)  # b on Tuesday: not Wednesday's
        session_row(kept, "x", monday + dt.timedelta(days=2), "finished", 600)  # another routine on Wednesday
        session_row(kept, "c", THURSDAY, "stopped", 0.79 * 600)  # just under 80%
        most = session_row(kept, "c", THURSDAY, "interrupted", 0.8 * 600)  # 80% played: counts
        days = journal.plan_followed(kept, week, THURSDAY)
    assert [(d.date.isoformat(), d.routine, d.followed, d.session) for d in days] == [
        ("2025-06-02", "a", True, finished),
        ("2025-06-04", "b", False, None),
        ("2025-06-05", "c", True, most),
    ]  # Friday is still to come: not listed


# -- over HTTP ---------------------------------------------------------------------------------


@pytest.fixture
def served(folders):
    made: list[Running] = []

    def make(**controller) -> Running:
        made.append(Running(controller={"journal_path": folders / "journal.sqlite3", **controller}))
        return made[-1]

    yield make
    for running in made:
        running.close()


def test_history_today_and_resume_last_over_http(served):
    week = plan.Plan(("glutes-and-piriformis",) * 3 + (None,) * 4, "test")  # Monday to Wednesday
    api = served(plan=lambda: week, date=lambda: THURSDAY)

    status, _, body = api.request("POST", "/api/today")  # Thursday: rest
    assert status == 409
    rest = r"Today is a rest day\. Next: Monday, Glutes and piriformis, about \d+ minutes\."
    assert re.fullmatch(rest, body["error"])
    page = api.request("GET", "/")[2]
    assert "Today is a rest day. Next: Monday, Glutes and piriformis" in page.split('id="routines-heading"')[0]

    status, _, body = api.request("POST", "/api/resume-last")
    assert status == 409 and body["error"].startswith("nothing to resume")

    assert api.request("POST", "/api/play", {"routine": "glutes-and-piriformis", "start_at": 2})[0] == 200
    assert api.request("POST", "/api/stop")[0] == 200
    status, _, history = api.request("GET", "/api/history")
    assert status == 200 and set(history) == {"sessions", "week", "plan", "plan_error", "resume"}
    (played,) = history["sessions"]
    assert played["routine"] == "glutes-and-piriformis" and played["outcome"] == "stopped" and played["step"] == 2
    assert history["resume"]["id"] == played["id"]
    assert history["week"]["start"] == "2025-06-02" and history["week"]["sessions"] == 0  # played today, not then
    assert history["plan"]["planned"] == 3 and history["plan"]["followed"] == 0
    assert [d["weekday"] for d in history["plan"]["days"]] == ["Monday", "Tuesday", "Wednesday"]

    status, _, body = api.request("POST", "/api/resume-last")
    assert status == 200 and body["state"] == "playing" and body["step"] == 2
    status, _, history = api.request("GET", "/api/history")
    assert history["sessions"][0]["resumed_from"] == played["id"] and history["resume"] is None  # one is under way


def test_a_plan_with_errors_is_409_and_the_history_says_why(served, folders):
    def broken() -> plan.Plan:
        return plan.load("monday: no-such-routine\n", "plan.yaml")

    api = served(plan=broken, date=lambda: THURSDAY)
    status, _, body = api.request("POST", "/api/today")
    assert status == 409 and "the weekly plan has errors" in body["error"] and "no-such-routine" in body["error"]
    status, _, history = api.request("GET", "/api/history")
    assert status == 200 and history["plan"] is None and "no-such-routine" in history["plan_error"]
    assert "The weekly plan has errors" in api.request("GET", "/")[2]


# -- holdcue history -------------------------------------------------------------------------


def test_holdcue_history_says_whether_the_plan_was_followed(folders):
    config = folders / "config"
    config.mkdir()
    (config / "plan.yaml").write_text("".join(f"{day}: shoulders-and-chest\n" for day in plan.WEEKDAYS))
    today = dt.date.today()
    with Journal.open(journal.default_path()) as kept:
        row = kept.begin(
            routine_id="shoulders-and-chest", title="Shoulders", source="", steps=3, planned=600, at=at(today, 0) + 60
        )
        kept.end(row, "finished", 3, 600, at=at(today, 0) + 700)
    runner = CliRunner()
    shown = runner.invoke(cli, ["history"])
    assert shown.exit_code == 0, shown.output
    planned = today.weekday() + 1  # every day of the week so far
    assert f"Plan followed: 1 of {planned} planned days so far" in shown.output
    assert re.search(rf"{today:%a %Y-%m-%d}  shoulders-and-chest\s+done", shown.output)
    answer = json.loads(runner.invoke(cli, ["history", "--json"]).output)
    assert answer["plan"]["planned"] == planned and answer["plan"]["followed"] == 1
    assert answer["plan"]["days"][-1] == {
        "date": today.isoformat(),
        "weekday": f"{today:%A}",
        "routine": "shoulders-and-chest",
        "followed": True,
        "session": row,
    }
    assert answer["plan"]["threshold"] == journal.FOLLOWED_FRACTION and answer["plan_error"] == ""


# -- the button ----------------------------------------------------------------------------------


def test_a_button_press_plays_todays_session_through_the_service(folders):
    factory = MockFactory()
    clock = RealClock()
    sink = Sink(clock)
    days = {"day": THURSDAY}
    week = plan.Plan((None, None, None, "glutes-and-piriformis", None, None, None), "test")
    controller = core.Core(
        core.Catalog(), sink=sink, build=make_session, clock=clock, plan=lambda: week, date=lambda: days["day"]
    )
    controller.start()
    lines: list[str] = []
    pressable = button.start_button(Config(button_pin=17), button.Remote(controller), lines.append, factory)
    assert pressable is not None
    pin = factory.pin(17)
    try:
        pin.drive_low()
        time.sleep(0.08)
        pin.drive_high()
        wait_until(lambda: controller.state() == "playing", what="today's session to play")
        assert controller.status().routine == "glutes-and-piriformis" and len(sink.takes) == 1
        assert sink.takes[0].handle.is_playing()
        assert "button: press: play today" in lines

        pin.drive_low()  # held: stop
        wait_until(lambda: controller.state() == "idle", what="the long press to stop")
        pin.drive_high()
        assert len(sink.takes) == 2 and says(sink.takes[1], "Session ended.")  # confirmed aloud

        days["day"] = THURSDAY + dt.timedelta(days=1)  # a rest day: nothing plays, the log says why
        pin.drive_low()
        time.sleep(0.08)
        pin.drive_high()
        wait_until(lambda: any("rest day" in line for line in lines), what="the rest day in the log")
        said = next(line for line in lines if "rest day" in line)
        assert said.startswith("button: press failed: RestDay: Today is a rest day. Next: Thursday")
        assert controller.state() == "idle" and len(sink.takes) == 2
    finally:
        pressable.close()
        controller.close()
        factory.close()


# -- holdcue serve -------------------------------------------------------------------------------


def serve(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "holdcue", "serve", "--port", "0", "--no-prepare"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_serve_with_a_broken_config_file_runs_without_the_button(folders):
    config = folders / "config"
    config.mkdir()
    (config / "config.yaml").write_text("button:\n  pin: 99\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT / "src")}
    process = serve(env)
    try:
        line = process.stdout.readline().decode()
        base = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert base, line
        process.terminate()
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    log = process.stderr.read().decode()
    assert "the config file has errors; running on the defaults, without the button" in log
    assert "config.yaml" in log
    assert "button: on GPIO" not in log and "Traceback" not in log


def test_serve_without_gpio_says_so_once(folders):
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT / "src")}
    process = serve(env)
    try:
        assert "listening" in process.stdout.readline().decode()
        process.terminate()
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    log = process.stderr.read().decode()
    assert len(re.findall(r"button: ", log)) == 1 and "running without the button" in log, log


def test_next_over_http_ends_a_hold_until_a_press_and_the_journal_keeps_the_time_held(served, folders):
    from holdcue import loader, play

    text = "title: Knot\nsteps:\n  - compress: Press into the knot.\n    time: 40s\n    until: press\n"
    ready = make_session(loader.load(text, source="knot.yaml", routine_id="knot"))
    hold = next(s for s in ready.timeline.segments if s.phase == "hold")
    api = served()
    api.controller.play_ready(ready, hold.start)
    time.sleep(0.6)
    status, _, body = api.request("POST", "/api/next")
    assert status == 200 and body["state"] == "playing"
    take = api.sink.takes[-1]
    # the rest from the hold's end
    assert api.controller.player_status().position == pytest.approx(hold.end / ready.timeline.rate, abs=0.3)
    assert take.samples.any()
    api.request("POST", "/api/stop")
    path = folders / "journal.sqlite3"
    [record] = wait_until(lambda: [r for r in records(path) if r.outcome == "stopped"], what="the session's end")
    [held] = record.holds
    assert (held.step, held.side, held.round, held.longest, held.pressed) == (1, "", 0, 40.0, True)
    assert 0.6 - play.LEAD_IN <= held.held < 2.0  # held from the start tone, after the take's lead-in
    status, _, body = api.request("GET", "/api/history")
    assert body["sessions"][0]["holds"][0]["pressed"] is True


TWO_STEPS = """\
title: Two steps
cues: {prep: 1s, countdown: 0, halfway: false, time_left: false}
steps:
  - hold: Breathe.
    title: One
    time: 4s
  - hold: Breathe again.
    title: Two
    time: 4s
"""


def test_history_offers_to_resume_only_what_resume_last_can_go_on_with(folders):
    """The page's "go on where you stopped" comes from history()["resume"]: never a session
    that resume_last() would refuse (its routine gone, or its step)."""
    routines = folders / "config" / "routines"
    routines.mkdir(parents=True)
    file = routines / "two-steps.yaml"
    file.write_text(TWO_STEPS)
    clock = RealClock()
    c = core.Core(
        core.Catalog(), sink=Sink(clock), build=make_session, clock=clock, journal_path=folders / "journal.sqlite3"
    )
    c.start()
    try:
        c.play("two-steps", 2)
        c.stop()
        assert (c.history()["resume"]["routine"], c.history()["resume"]["step"]) == ("two-steps", 2)
        file.write_text(TWO_STEPS.split("  - hold: Breathe again.")[0])  # step 2 is gone
        assert c.history()["resume"] is None
        with pytest.raises(core.NothingToResume, match="the routine has changed"):
            c.resume_last()
        file.unlink()
        assert c.history()["resume"] is None
        with pytest.raises(core.NothingToResume, match="not in the library"):
            c.resume_last()
    finally:
        c.close()
