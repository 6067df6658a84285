"""The weekly plan (plan.py): the built-in week, the user's plan replacing it, what each date
brings, the next session, and every problem of a broken plan file with its line and column."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from holdcue import compiler, library, plan
from holdcue.errors import PlanError, RoutineError

MONDAY = datetime.date(2025, 6, 2)  # a fixed week: Monday 2 June to Sunday 8 June 2025
WEEK = [MONDAY + datetime.timedelta(days=i) for i in range(7)]

# The sample week of the guidance: the day, the routine for it, and its length in minutes
GUIDANCE = {
    "monday": ("upper-back-and-neck-peanut-ball", 10),
    "wednesday": ("glutes-and-calves-lacrosse-ball", 15),
    "friday": ("chest-and-shoulders-massage-ball", 10),
    "saturday": ("full-body-check-in", 20),
}


@pytest.fixture(autouse=True)
def config(config_dir) -> Path:
    return config_dir


def week(**days: str | None) -> plan.Plan:
    return plan.Plan(tuple(days.get(name) for name in plan.WEEKDAYS), "<test>")


def problems(text: str) -> list[str]:
    with pytest.raises(PlanError) as raised:
        plan.load(text, "plan.yaml")
    return [str(problem) for problem in raised.value.problems]


# The built-in plan


def test_the_builtin_plan_is_the_guidance_week():
    builtin = plan.current()
    assert builtin.builtin and builtin.source == "builtin:plan"
    expected = tuple(GUIDANCE[name][0] if name in GUIDANCE else None for name in plan.WEEKDAYS)
    assert builtin.routines == expected


def test_the_builtin_plan_names_builtin_routines_of_about_the_guidance_length():
    for name, (routine_id, minutes) in GUIDANCE.items():
        routine = library.load_routine(routine_id)
        assert routine.source == f"builtin:{routine_id}", name
        # the sessions are the guidance's lengths, give or take a tenth
        assert abs(compiler.estimate_seconds(routine) / 60 - minutes) <= minutes / 10 + 0.5, name


def test_the_builtin_plan_file_ships_inside_the_package():
    assert plan.BUILTIN_PLAN.parent == Path(plan.__file__).parent and plan.BUILTIN_PLAN.is_file()


# What each date brings


@pytest.mark.parametrize("date", WEEK, ids=[d.strftime("%A") for d in WEEK])
def test_each_day_of_a_fixed_week(date):
    day = plan.today(plan.current(), date)
    name = date.strftime("%A").lower()
    assert day.date == date and day.weekday == name
    assert day.routine == (GUIDANCE[name][0] if name in GUIDANCE else None)
    assert day.rest == (name not in GUIDANCE)


@pytest.mark.parametrize(
    ("date", "weekday", "routine", "ahead"),
    [
        (WEEK[0], "wednesday", "glutes-and-calves-lacrosse-ball", 2),  # Monday -> Wednesday
        (WEEK[1], "wednesday", "glutes-and-calves-lacrosse-ball", 1),  # Tuesday (rest) -> Wednesday
        (WEEK[4], "saturday", "full-body-check-in", 1),  # Friday -> Saturday
        (WEEK[5], "monday", "upper-back-and-neck-peanut-ball", 2),  # Saturday -> Monday of the next week
        (WEEK[6], "monday", "upper-back-and-neck-peanut-ball", 1),  # Sunday -> Monday: the week wraps
    ],
)
def test_the_next_session(date, weekday, routine, ahead):
    upcoming = plan.today(plan.current(), date).next
    assert upcoming == plan.Upcoming(date + datetime.timedelta(days=ahead), weekday, routine, ahead)


def test_with_one_session_a_week_the_next_is_a_week_later():
    only = week(thursday="full-body-check-in")
    thursday = WEEK[3]
    assert plan.today(only, thursday).next == plan.Upcoming(
        thursday + datetime.timedelta(days=7), "thursday", "full-body-check-in", 7
    )
    assert plan.today(only, WEEK[4]).next.days_ahead == 6  # Friday -> Thursday wraps round the week


def test_a_plan_of_rest_days_has_no_next_session_and_nothing_to_play():
    idle = week()
    day = plan.today(idle, WEEK[2])
    assert day.rest and day.next is None
    assert plan.play_today(idle, WEEK[2], anyway=True) == plan.Choice(None, day, early=False)
    assert plan.rest_message(day, "", 0) == "Today is a rest day, and the plan has no sessions."


def test_play_today_on_a_planned_day_plays_its_routine():
    choice = plan.play_today(plan.current(), WEEK[4])
    assert choice.routine == "chest-and-shoulders-massage-ball" and not choice.early and not choice.day.rest
    assert plan.play_today(plan.current(), WEEK[4], anyway=True) == choice  # anyway changes nothing on a planned day


def test_play_today_on_a_rest_day_plays_nothing_and_says_what_is_next():
    choice = plan.play_today(plan.current(), WEEK[3])  # Thursday
    assert choice.routine is None and not choice.early
    assert choice.day.rest and choice.day.next.routine == "chest-and-shoulders-massage-ball"


def test_play_today_anyway_on_a_rest_day_plays_the_next_session_early():
    choice = plan.play_today(plan.current(), WEEK[6], anyway=True)  # Sunday
    assert choice.routine == "upper-back-and-neck-peanut-ball" and choice.early and choice.day.rest


def test_the_rest_day_message():
    day = plan.today(plan.current(), WEEK[1])
    message = plan.rest_message(day, "Glutes and calves with a lacrosse ball", 925)
    assert message == "Today is a rest day. Next: Wednesday, Glutes and calves with a lacrosse ball, about 15 minutes."


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(925, "about 15 minutes"), (1262, "about 21 minutes"), (20, "about 1 minute"), (95, "about 2 minutes")],
)
def test_about(seconds, said):
    assert plan.about(seconds) == said


# The user's plan


def test_the_users_plan_replaces_the_builtin_one_as_a_whole(config):
    path = config / "plan.yaml"
    path.write_text("tuesday: neck-and-upper-trapezius\nthursday: rest\n", encoding="utf-8")
    mine = plan.current()
    assert mine.source == str(path) and not mine.builtin
    assert mine.routines == (None, "neck-and-upper-trapezius", None, None, None, None, None)
    assert plan.user_plan_path() == path


def test_a_plan_may_name_the_users_own_routines_and_builtin_ids(config):
    (config / "routines" / "my-hips.yaml").write_text(
        "title: Hips\nsteps:\n  - compress: Lie on the ball.\n    time: 30s\n", encoding="utf-8"
    )
    mine = plan.load("monday: my-hips\nfriday: builtin:foam-rolling\n")
    assert mine.routines[0] == "my-hips" and mine.routines[4] == "builtin:foam-rolling"


@pytest.mark.parametrize("key", ["monday", "Monday", "MONDAY", "mon", "Mon", " monday"])
def test_weekdays_ignore_case_and_may_be_three_letters(key):
    text = f'"{key}": full-body-check-in\n'
    assert plan.load(text).routines[0] == "full-body-check-in"


def test_rest_is_rest_in_any_case():
    assert plan.load("monday: Rest\ntuesday: REST\n").routines == (None,) * 7


# Problems, every one at once, with line and column


def test_an_unknown_weekday_gets_a_did_you_mean():
    assert problems("wensday: rest\n") == ['plan.yaml:1:1: wensday: unknown weekday; did you mean "wednesday"?']


def test_a_weekday_that_is_nothing_like_one_lists_them_all():
    assert problems("lunchtime: rest\n") == [
        "plan.yaml:1:1: lunchtime: unknown weekday; use monday, tuesday, wednesday, thursday, friday, "
        "saturday or sunday"
    ]


def test_an_unknown_routine_id_gets_the_librarys_did_you_mean():
    assert problems("monday: rest\nfriday: chest-and-shoulders\n") == [
        'plan.yaml:2:9: friday: no routine called "chest-and-shoulders"; did you mean '
        '"chest-and-shoulders-massage-ball"? Run "holdcue list" to see every routine.'
    ]


def test_every_problem_is_reported_at_once_in_line_order():
    text = (
        "mon: upper-back-and-neck-peanut-ball\n"
        "tuseday: rest\n"
        "monday: rest\n"
        "wednesday: glutes-and-calvs-lacrosse-ball\n"
        "thursday:\n"
        "friday: [chest-and-shoulders-massage-ball]\n"
        "7: rest\n"
        "saturday: ./full-body.yaml\n"
    )
    found = problems(text)
    assert [line.split(": ", 1)[0] for line in found] == [f"plan.yaml:{n}:{c}" for n, c in [
        (2, 1), (3, 1), (4, 12), (5, 10), (6, 9), (7, 1), (8, 11)
    ]]  # fmt: skip
    assert 'tuseday: unknown weekday; did you mean "tuesday"?' in found[0]
    assert "monday: appears twice (first on line 1); keep only one" in found[1]
    assert 'did you mean "glutes-and-calves-lacrosse-ball"' in found[2]
    assert "thursday: is empty; write a routine id, or rest for a rest day" in found[3]
    assert "friday: must be text, not a list" in found[4]
    assert "the number 7 is not a weekday" in found[5]
    assert "saturday: " in found[6] and "is a path; a plan names routines by id" in found[6]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- monday\n- rest\n", "plan.yaml:1:1: a plan is a mapping of weekdays to routine ids"),
        ("just some words\n", "plan.yaml:1:1: a plan is a mapping of weekdays to routine ids"),
        ("", "plan.yaml: the file is empty; a plan names a routine for each weekday"),
        ("# only a comment\n", "plan.yaml: the file is empty; a plan names a routine for each weekday"),
        ("monday: [rest\n", "plan.yaml:2:1: YAML syntax error"),
        ("monday:\tfull-body-check-in\n", "plan.yaml:1:8: YAML syntax error"),
        ("monday: &day full-body-check-in\nfriday: *day\n", "plan.yaml:2:9: YAML aliases (*name) are not supported"),
        ("monday: rest\x07\n", "plan.yaml:1:13: character U+0007 is not allowed"),
    ],
)
def test_files_that_are_not_a_plan(text, expected):
    (found,) = problems(text)
    assert found.startswith(expected)


def test_tags_are_never_acted_on(tmp_path):
    marker = tmp_path / "ran"
    found = problems(f'monday: !!python/object/apply:os.system ["touch {marker}"]\nfriday: !!binary aGVsbG8=\n')
    assert found[0] == "plan.yaml:1:9: monday: must be text, not a list"
    assert found[1].startswith('plan.yaml:2:9: friday: no routine called "aGVsbG8="')
    assert not marker.exists()


def test_a_broken_user_plan_names_its_file_and_is_a_routine_error(config):
    path = config / "plan.yaml"
    path.write_text("monday: full-body-check-in\nfridya: rest\n", encoding="utf-8")
    with pytest.raises(RoutineError) as raised:  # PlanError is a RoutineError: the CLI reports it so
        plan.current()
    assert isinstance(raised.value, PlanError)
    assert [str(p) for p in raised.value.problems] == [f'{path}:2:1: fridya: unknown weekday; did you mean "friday"?']


def test_a_user_plan_that_is_not_utf8_says_where(config):
    path = config / "plan.yaml"
    path.write_bytes(b"monday: rest\nfriday: caf\xe9\n")
    with pytest.raises(PlanError) as raised:
        plan.current()
    (problem,) = raised.value.problems
    assert (problem.file, problem.line, problem.column) == (str(path), 2, 12)
    assert "is not UTF-8" in problem.message


def test_a_huge_user_plan_is_refused_before_parsing(config):
    path = config / "plan.yaml"
    path.write_text("monday: rest\n" + "# padding\n" * 110_000, encoding="utf-8")
    with pytest.raises(PlanError) as raised:
        plan.current()
    assert "over 1 MB" in str(raised.value)


def test_a_missing_plan_file_is_a_plan_error(tmp_path):
    with pytest.raises(PlanError) as raised:
        plan.load_file(tmp_path / "nowhere.yaml")
    assert "no such file" in str(raised.value)
