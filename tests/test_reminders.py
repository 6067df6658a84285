"""The introduction in full (the tools, the safety reminders, the legend) the first time a
routine is played each day, and one short reminder after: the compiler both ways, the daily
decision from a real journal, config.yaml's reminders and the routine's cues.reminders, and
every way a session starts (play, resume, today, the service) deciding alike, while show and
export stay in full."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time

import pytest
from click.testing import CliRunner

import test_core
from compiler_helpers import RATE, clip_length, shoulders, tone_length
from holdcue import choices, cli, compiler, journal, library, loader, session
from holdcue import play as playback
from holdcue.config import Config
from holdcue.errors import RoutineError
from holdcue.routine import Cues
from play_helpers import short_session

ROUTINE = "shoulders-and-chest"
DRILL = "You know the drill: press lightly, stop if it hurts sharply."


def said(routine) -> list[str]:
    timeline = compiler.compile(routine, clip_length, tone_length, RATE)
    return [event.text for event in timeline.events if event.kind == "speech"]


def short(routine):
    return dataclasses.replace(routine, cues=dataclasses.replace(routine.cues, short_intro=True))


# -- the compiler, both ways ------------------------------------------------------------------


def test_the_full_introduction_says_the_tools_and_every_reminder():
    full = said(shoulders())
    assert full[1:3] == ["You will need a tennis ball and a wall.", "Start gently."]
    assert DRILL not in full


def test_the_short_introduction_says_one_line_instead_and_the_session_is_otherwise_the_same():
    routine = shoulders()
    full, brief = said(routine), said(short(routine))
    assert brief[1] == DRILL
    assert "Start gently." not in brief and not any("You will need" in t for t in brief)
    assert full[3:] == brief[2:]  # every step says the same
    long = compiler.compile(routine, clip_length, tone_length, RATE)
    quick = compiler.compile(short(routine), clip_length, tone_length, RATE)
    intro = [s for s in quick.segments if s.phase == "intro"][0]
    assert intro.end < [s for s in long.segments if s.phase == "intro"][0].end
    assert long.length - quick.length == [s for s in long.segments if s.phase == "intro"][0].end - intro.end


def test_the_short_introduction_leaves_the_legend_out_unless_it_is_asked_for():
    routine = dataclasses.replace(shoulders(), cues=Cues(legend=True))
    full = said(routine)
    assert "These are the tones you will hear." in full
    resolved = choices.resolve(routine, Config(), played_today=True).routine
    assert "These are the tones you will hear." not in said(resolved)
    asked = choices.resolve(routine, Config(), choices.Overrides(legend=True), played_today=True).routine
    assert "These are the tones you will hear." in said(asked) and DRILL in said(asked)


def test_a_routine_without_tools_or_reminders_says_nothing_more_when_short():
    routine = dataclasses.replace(shoulders(), tools=(), safety=())
    assert said(short(routine))[1:] == said(routine)[1:]


def test_the_short_line_is_in_the_routines_language():
    routine = library.load_routine("nacken-de")
    assert "Du kennst das ja: drück sanft, hör auf, wenn es stechend wehtut." in said(short(routine))


# -- the decision ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "routine_says, config_says, short_intro",
    [("", "daily", True), ("", "full", False), ("full", "daily", False), ("daily", "full", True)],
)
def test_the_routine_s_reminders_come_before_the_config_s(routine_says, config_says, short_intro):
    routine = dataclasses.replace(shoulders(), cues=Cues(reminders=routine_says))
    assert choices.resolve(routine, Config(reminders=config_says), played_today=True).routine.cues.short_intro is (
        short_intro
    )
    assert choices.resolve(routine, Config(reminders=config_says)).routine.cues.short_intro is False


def record(path, ref: str, step: int, started: float, routine_id: str = ROUTINE) -> None:
    source = ref if ref.startswith(journal.BUILTIN_PREFIX) else ""
    with journal.Journal.open(path, timeout=10.0) as kept:  # the service's writer may hold it a moment
        row = kept.begin(routine_id=routine_id, title="T", source=source, steps=5, planned=400.0, at=started)
        if step:
            kept.step(row, step, 30.0, at=started + 30)
        kept.end(row, "finished" if step else "stopped", step, 30.0, at=started + 40)


def test_played_today_reads_the_journal(tmp_path):
    path = tmp_path / "journal.sqlite3"
    ref = journal.BUILTIN_PREFIX + ROUTINE
    now = dt.datetime.now().astimezone()
    midnight = dt.datetime.combine(now.date(), dt.time()).timestamp()
    assert not journal.played_today(ref, path, now)  # no journal yet
    record(path, ref, 2, midnight - 3600)  # yesterday
    record(path, ref, 0, midnight + 60)  # today, stopped in the introduction: its reminders were not all heard
    record(path, journal.BUILTIN_PREFIX + "other", 3, midnight + 120, "other")  # today, another routine
    assert not journal.played_today(ref, path, now)
    record(path, ref, 1, midnight + 180)
    assert journal.played_today(ref, path, now)
    assert not journal.played_today(ref, path, now + dt.timedelta(days=1))  # a new day: in full again


def test_a_journal_that_cannot_be_read_means_the_reminders_in_full(tmp_path):
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"not a database" * 100)
    assert not journal.played_today(journal.BUILTIN_PREFIX + ROUTINE, path)


def test_a_routine_file_is_known_by_its_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("title: Mine\nsteps:\n  - hold: Breathe.\n    time: 5s\n")
    routine = library.load_file(path)
    assert journal.routine_ref(routine.source, routine.id) == str(path.resolve())


# -- the keys ---------------------------------------------------------------------------------------


def test_config_reminders_is_read_and_checked_with_its_line(tmp_path):
    from holdcue import config
    from holdcue.errors import ConfigError

    path = tmp_path / "config.yaml"
    assert config.load_config(path).reminders == "daily"
    path.write_text("reminders: full\n")
    assert config.load_config(path).reminders == "full"
    path.write_text("button: false\nreminders: always\n")
    with pytest.raises(ConfigError) as caught:
        config.load_config(path)
    assert [str(p).replace(str(tmp_path), "DIR") for p in caught.value.problems] == [
        'DIR/config.yaml:2:12: reminders: must be full or daily, not "always"'
    ]


def test_cues_reminders_is_read_and_checked_with_its_line():
    text = "title: T\ncues:\n  reminders: {}\nsteps:\n  - hold: Breathe.\n    time: 5s\n"
    assert loader.load(text.format("full"), "t.yaml").cues.reminders == "full"
    assert loader.load(text.format("daily"), "t.yaml").cues.reminders == "daily"
    assert loader.load(text.replace("cues:\n  reminders: {}\n", ""), "t.yaml").cues.reminders == ""
    with pytest.raises(RoutineError) as caught:
        loader.load(text.format("dayly"), "t.yaml")
    assert [str(p) for p in caught.value.problems] == [
        't.yaml:3:14: cues.reminders: must be full or daily, not "dayly"; did you mean "daily"?'
    ]


def test_the_schema_knows_cues_reminders():
    schema = json.loads((library.BUILTIN_DIR.parent / "routine.schema.json").read_text())
    assert schema["properties"]["cues"]["properties"]["reminders"]["enum"] == ["full", "daily"]


# -- every way a session starts ---------------------------------------------------------------------


@pytest.fixture
def kept_builds(monkeypatch):
    """Every session build recorded (none made), and play, resume and today stop short of the device."""
    built = []

    def build(routine, **options):
        built.append(routine)
        return dataclasses.replace(short_session(), routine=routine, music=routine.music)

    monkeypatch.setattr(session, "build", build)
    monkeypatch.setattr(playback, "output", lambda keep_alive=False: _Nothing())
    monkeypatch.setattr("holdcue.cli.sessions.play_recorded", lambda ready, sink, **options: None)
    return built


class _Nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def played_now(step: int = 2, outcome: str = "finished") -> None:
    routine = library.load_routine(ROUTINE)
    with journal.Journal.open() as kept:
        row = kept.begin(routine_id=ROUTINE, title=routine.title, source=routine.source, steps=5, planned=400.0)
        kept.end(row, outcome, step=step, played=60.0)


def test_play_today_and_resume_are_short_after_the_first_session_of_the_day(kept_builds, tmp_path, monkeypatch):
    run = CliRunner()
    assert run.invoke(cli.cli, ["play", ROUTINE]).exit_code == 0
    assert kept_builds[-1].cues.short_intro is False  # the day's first
    played_now(outcome="stopped")
    for args in (["play", ROUTINE], ["resume"]):
        result = run.invoke(cli.cli, args)
        assert result.exit_code == 0, result.output
        assert kept_builds[-1].cues.short_intro is True, args
    monday = dt.date.today() - dt.timedelta(days=dt.date.today().weekday())
    today = run.invoke(cli.cli, ["today", "--anyway", "--date", monday.isoformat()])  # Monday's routine, not played
    assert today.exit_code == 0, today.output
    assert kept_builds[-1].id != ROUTINE and kept_builds[-1].cues.short_intro is False
    (folder := tmp_path / "config").mkdir(exist_ok=True)
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(folder))
    (folder / "config.yaml").write_text("reminders: full\n")
    assert run.invoke(cli.cli, ["play", ROUTINE]).exit_code == 0
    assert kept_builds[-1].cues.short_intro is False


def test_show_and_export_are_always_in_full(kept_builds, tmp_path, monkeypatch):
    from holdcue import export

    played_now()
    monkeypatch.setattr(export, "export", lambda ready, target, **options: target)
    run = CliRunner()
    assert run.invoke(cli.cli, ["show", ROUTINE]).exit_code == 0
    assert run.invoke(cli.cli, ["export", ROUTINE, "-o", str(tmp_path / "x.mp3")]).exit_code == 0
    assert [routine.cues.short_intro for routine in kept_builds] == [False, False]


def test_the_service_plays_the_short_introduction_after_the_first_session_of_the_day(tmp_path, monkeypatch):
    built, make = [], test_core.make_session

    def build(routine):
        built.append(routine)
        return make(routine)

    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path))
    monkeypatch.setattr(test_core, "make_session", build)
    path = tmp_path / "journal.sqlite3"
    rig = test_core.Rig(tmp_path, journal_path=path)
    try:
        rig.controller.play("tiny")
        assert built[-1].cues.short_intro is False
        rig.controller.keeper.flush()
        record(path, "", 1, time.time(), "tiny")
        rig.controller.play("tiny")
        assert built[-1].cues.short_intro is True
        rig.controller.play("other")  # another routine: its own first of the day
        assert built[-1].cues.short_intro is False
    finally:
        rig.controller.close()
