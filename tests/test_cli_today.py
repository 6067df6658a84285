"""holdcue today and holdcue plan, through the real command line with a config folder of
their own. Playing itself is the play command's (tests/test_play_cli.py); here the play command
is replaced by a recorder to see what today would play."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from holdcue import cli as cli_module
from holdcue import library, plan, session
from holdcue.cli import cli
from holdcue.exitcodes import ExitCode
from holdcue.text import length

# A fixed week: Monday 2 June to Sunday 8 June 2025
MONDAY, TUESDAY, WEDNESDAY, SATURDAY, SUNDAY = "2025-06-02", "2025-06-03", "2025-06-04", "2025-06-07", "2025-06-08"


@pytest.fixture(autouse=True)
def config(config_dir) -> Path:
    return config_dir


@pytest.fixture
def played(monkeypatch) -> list[dict]:
    """What the play command was asked to play (the command's callback is replaced)."""
    calls: list[dict] = []
    monkeypatch.setattr(cli_module.play, "callback", lambda **options: calls.append(options))
    return calls


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def about(routine_id: str) -> tuple[str, str]:
    """The title and "about N minutes" of a routine, as the command should say them."""
    routine = library.load_routine(routine_id)
    return routine.title, plan.about(session.heard_length(routine)[0])


def test_show_on_a_planned_day_says_what_it_would_play_and_plays_nothing(played):
    result = run("today", "--date", WEDNESDAY, "--show")
    assert result.exit_code == ExitCode.OK
    title, length = about("glutes-and-calves-lacrosse-ball")
    assert result.stdout == f"Today: {title} (glutes-and-calves-lacrosse-ball), {length}.\n"
    assert length == "about 15 minutes"  # the guidance's 15 minutes
    assert played == []


def test_dry_run_is_show(played):
    assert run("today", "--date", MONDAY, "--dry-run").stdout == run("today", "--date", MONDAY, "--show").stdout
    assert played == []


def test_a_planned_day_plays_its_routine_through_the_play_command(played):
    result = run("today", "--date", SATURDAY, "--volume", "0.5")
    assert result.exit_code == ExitCode.OK, result.output
    assert played == [
        {
            "routine": "full-body-check-in",
            "start_at": None,
            "volume": 0.5,
            "legend": False,
            "music_file": None,
            "no_music": False,
            "engine": None,
            "model": None,
            "fallback": False,
            "lead_in": 0.15,
            "keep_alive": False,
        }
    ]
    assert result.stdout.startswith("Today: Full body check-in (full-body-check-in), about 21 minutes.")


def test_today_reaches_the_real_play_code_path(monkeypatch):
    """Not the recorder: the play command itself loads the routine and hands it to playback."""
    built, playing = [], []

    def build(routine, also=()):
        built.append(routine.id)
        return "the session"

    monkeypatch.setattr("holdcue.cli.sessions.build_session", build)
    monkeypatch.setattr("holdcue.play.output", lambda keep_alive: contextlib.nullcontext(("the sink", keep_alive)))
    monkeypatch.setattr(
        "holdcue.cli.sessions.play_recorded", lambda session, sink, **options: playing.append((session, sink, options))
    )
    result = run("today", "--date", MONDAY)
    assert result.exit_code == ExitCode.OK, result.output
    assert built == ["upper-back-and-neck-peanut-ball"]
    assert playing == [("the session", ("the sink", False), {"start_at": None, "volume": 1.0, "lead_in": 0.15})]


def test_a_rest_day_names_the_next_session_and_exits_0(played):
    result = run("today", "--date", TUESDAY)
    assert result.exit_code == ExitCode.OK
    assert result.stdout == (
        "Today is a rest day. Next: Wednesday, Glutes and calves with a lacrosse ball, about 15 minutes.\n"
    )
    assert played == []


def test_sunday_rest_wraps_round_to_mondays_session(played):
    result = run("today", "--date", SUNDAY)
    title, length = about("upper-back-and-neck-peanut-ball")
    assert result.stdout == f"Today is a rest day. Next: Monday, {title}, {length}.\n"
    assert played == []


def test_anyway_on_a_rest_day_plays_the_next_session(played):
    result = run("today", "--date", SUNDAY, "--anyway")
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout.splitlines()[1] == "Playing it now (upper-back-and-neck-peanut-ball)."
    expected = {"routine": "upper-back-and-neck-peanut-ball", "start_at": None, "volume": 1.0, "legend": False}
    assert played == [
        {
            **expected,
            **{"music_file": None, "no_music": False, "engine": None, "model": None, "fallback": False},
            **{"lead_in": 0.15, "keep_alive": False},
        }
    ]


def test_anyway_with_show_only_says_so(played):
    result = run("today", "--date", TUESDAY, "--anyway", "--show")
    assert result.stdout.splitlines()[1] == "Would play it now (glutes-and-calves-lacrosse-ball)."
    assert played == []


def test_anyway_on_a_planned_day_plays_that_days_routine(played):
    run("today", "--date", MONDAY, "--anyway")
    assert [call["routine"] for call in played] == ["upper-back-and-neck-peanut-ball"]


def test_the_users_plan_replaces_the_builtin_one(config, played):
    (config / "plan.yaml").write_text("tuesday: neck-and-upper-trapezius\n", encoding="utf-8")
    run("today", "--date", TUESDAY)
    assert [call["routine"] for call in played] == ["neck-and-upper-trapezius"]
    result = run("today", "--date", MONDAY)  # Monday is a rest day in this plan
    assert result.stdout.startswith("Today is a rest day. Next: Tuesday, Neck and upper trapezius")
    assert len(played) == 1


def test_a_plan_of_rest_days_only(config, played):
    (config / "plan.yaml").write_text("monday: rest\n", encoding="utf-8")
    result = run("today", "--date", MONDAY, "--anyway")
    assert result.exit_code == ExitCode.OK
    assert result.stdout == "Today is a rest day, and the plan has no sessions.\n"
    assert played == []


def test_a_broken_plan_is_reported_compiler_style_and_exits_3(config, played):
    path = config / "plan.yaml"
    path.write_text("wensday: glutes-and-calves\nfriday: chest-and-shoulders-massage-ball\n", encoding="utf-8")
    result = run("today", "--date", MONDAY, "--show")
    assert result.exit_code == ExitCode.INVALID_ROUTINE == 3
    lines = result.stderr.splitlines()
    assert lines[0] == f'{path}:1:1: wensday: unknown weekday; did you mean "wednesday"?'
    assert lines[1].startswith(f'{path}:1:10: wensday: no routine called "glutes-and-calves"; did you mean')
    assert lines[-1] == "Error: 2 problems; fix them and try again."
    assert result.stdout == "" and played == []


def test_a_planned_routine_with_errors_exits_3(config, played):
    (config / "routines" / "mine.yaml").write_text("title: Mine\nsteps: []\n", encoding="utf-8")
    (config / "plan.yaml").write_text("monday: mine\n", encoding="utf-8")
    result = run("today", "--date", MONDAY)
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert str(config / "routines" / "mine.yaml") in result.stderr and played == []


@pytest.mark.parametrize("date", ["2025-13-01", "next monday", "02/06/2025"])
def test_a_bad_date_is_a_usage_error(date):
    result = run("today", "--date", date)
    assert result.exit_code == ExitCode.USAGE
    assert "--date" in result.stderr


def test_plan_prints_the_week():
    result = run("plan")
    assert result.exit_code == ExitCode.OK
    lines = result.stdout.splitlines()
    assert lines[0].startswith("The built-in plan (yours would be ")
    assert [line.split()[0] for line in lines[1:]] == list(plan.WEEKDAYS)
    assert lines[2].split() == ["tuesday", "rest"]
    monday = lines[1].split(maxsplit=3)
    routine = library.load_routine("upper-back-and-neck-peanut-ball")
    shown = length(*session.heard_length(routine))  # as holdcue list shows it
    assert monday[1:] == ["upper-back-and-neck-peanut-ball", shown, routine.title]


def test_plan_shows_the_users_plan_and_routines_with_errors(config):
    (config / "routines" / "mine.yaml").write_text("title: Mine\nsteps: []\n", encoding="utf-8")
    (config / "plan.yaml").write_text("thu: mine\n", encoding="utf-8")
    result = run("plan")
    assert result.exit_code == ExitCode.OK
    lines = result.stdout.splitlines()
    assert lines[0] == f"Your plan, {config / 'plan.yaml'}:"
    assert lines[4].split(maxsplit=2) == ["thursday", "mine", "(has errors: run holdcue show mine to see them)"]
