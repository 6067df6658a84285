"""The weekly plan: which routine each weekday brings, or a rest day, and what "play today"
plays on a given date.

A plan file is YAML, a weekday -> a routine id or ``rest`` (docs/plan.md). The built-in plan
(``plan.yaml`` beside this module) follows a sample week of trigger point work; the user's
``plan.yaml`` in the config folder replaces it as a whole. Files are checked like routine
files: every problem at once, with line and column, raised as PlanError.

Dates are always passed in: nothing here reads the clock, so the command line, the phone
remote and the button decide what "today" is.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import yaml

from holdcue import library, loader
from holdcue.errors import PlanError, Problem, RoutineError, RoutineNotFound
from holdcue.fields import Checker, did_you_mean
from holdcue.text import listing
from holdcue.yamlsafe import STR, describe

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")  # date.weekday() order
REST = "rest"  # the value of a rest day
BUILTIN_PLAN = Path(__file__).with_name("plan.yaml")
BUILTIN_SOURCE = "builtin:plan"
_EXAMPLE = "monday: upper-back-and-neck-peanut-ball"


@dataclass(frozen=True)
class Plan:
    """A week: ``routines[i]`` is the routine id of weekday i (0 is Monday), None on a rest day."""

    routines: tuple[str | None, ...]
    source: str  # the plan file's path, or "builtin:plan"

    @property
    def builtin(self) -> bool:
        return self.source == BUILTIN_SOURCE


@dataclass(frozen=True)
class Upcoming:
    """A planned session after some date."""

    date: datetime.date
    weekday: str  # "wednesday"
    routine: str  # its routine id
    days_ahead: int  # 1 is the next day; 7 the same weekday a week later


@dataclass(frozen=True)
class PlanDay:
    """What the plan says for one date."""

    date: datetime.date
    weekday: str  # "monday"
    routine: str | None  # the routine id planned for the date; None on a rest day
    next: Upcoming | None  # the next session after the date; None when the plan has no sessions

    @property
    def rest(self) -> bool:
        return self.routine is None


@dataclass(frozen=True)
class Choice:
    """What "play today" plays on a date, or why nothing."""

    routine: str | None  # the routine id to play; None: nothing (a rest day, or no sessions at all)
    day: PlanDay  # the plan's day: whether it is a rest day, and the next session
    early: bool  # the routine is the next session, played ahead of its day (anyway on a rest day)


def today(plan: Plan, on: datetime.date) -> PlanDay:
    """The plan's routine for the date (None on a rest day) and the next session after it."""
    return PlanDay(on, WEEKDAYS[on.weekday()], plan.routines[on.weekday()], next_session(plan, on))


def next_session(plan: Plan, after: datetime.date) -> Upcoming | None:
    """The first planned session 1 to 7 days after the date; None when every day is a rest day."""
    for ahead in range(1, 8):
        day = after + datetime.timedelta(days=ahead)
        routine = plan.routines[day.weekday()]
        if routine is not None:
            return Upcoming(day, WEEKDAYS[day.weekday()], routine, ahead)
    return None


def play_today(plan: Plan, on: datetime.date, *, anyway: bool = False) -> Choice:
    """What "play today" plays on the date: the day's routine; on a rest day nothing, or
    with ``anyway`` the next session (``early``); nothing when the plan has no sessions."""
    day = today(plan, on)
    if day.routine is not None:
        return Choice(day.routine, day, early=False)
    if anyway and day.next is not None:
        return Choice(day.next.routine, day, early=True)
    return Choice(None, day, early=False)


def about(seconds: float) -> str:
    """A session's length as people say it: "about 15 minutes" (at least one minute)."""
    minutes = max(1, round(seconds / 60))
    return f"about {minutes} minute{'s' * (minutes != 1)}"


def rest_message(day: PlanDay, title: str, seconds: float) -> str:
    """ "Today is a rest day. Next: Wednesday, <title>, about 15 minutes." ``title`` and
    ``seconds`` are those of ``day.next``'s routine (ignored when the plan has no sessions)."""
    if day.next is None:
        return "Today is a rest day, and the plan has no sessions."
    return f"Today is a rest day. Next: {day.next.weekday.capitalize()}, {title}, {about(seconds)}."


def user_plan_path() -> Path:
    """The user's plan file: plan.yaml in the config folder ($HOLDCUE_CONFIG_DIR, or the
    platform's, ~/.config/holdcue on Linux), beside the routines folder."""
    return library.user_routine_dir().parent / "plan.yaml"


def current() -> Plan:
    """The user's plan if they have one, else the built-in plan. Raises PlanError."""
    path = user_plan_path()
    # exists(), not is_file(): a FIFO or folder there is refused with a message, not passed over
    return load_file(path) if path.exists() else load_file(BUILTIN_PLAN, BUILTIN_SOURCE)


def load_file(path: Path, source: str | None = None) -> Plan:
    """The plan in a file (read as routine files are: at most 1 MB of UTF-8); ``source``
    names it in messages (default: its path). Raises PlanError with every problem."""
    try:
        text = loader.read_text(path, kind="plan file")
    except RoutineNotFound as error:
        raise PlanError([Problem(source or str(path), 0, 0, "", str(error))]) from None
    except RoutineError as error:
        raise PlanError(error.problems) from None
    return load(text, source or str(path))


def load(text: str, source: str = "<plan>") -> Plan:
    """Parse and check a plan's text; every problem is reported at once in a PlanError.
    Weekdays are matched ignoring case, and by their first three letters ("mon", "Wed");
    days left out are rest days; every routine id must name an existing routine."""
    checker = Checker(source)
    root = loader.compose(checker, text, f'a plan names a routine for each weekday, like "{_EXAMPLE}"')
    routines = _week(checker, root) if root is not None else None
    problems = checker.all_problems()
    if routines is None or problems:
        raise PlanError(problems)
    return Plan(routines, source)


def _week(c: Checker, root: yaml.Node) -> tuple[str | None, ...] | None:
    if not isinstance(root, yaml.MappingNode):
        c.report(root, "", f'a plan is a mapping of weekdays to routine ids, like "{_EXAMPLE}", not {describe(root)}')
        return None
    routines: list[str | None] = [None] * 7
    lines: dict[int, int] = {}  # weekday -> the line it was first given on, for "appears twice"
    for key, value in root.value:
        index = _weekday(c, key)
        if index is None:
            _routine(c, value, key.value if isinstance(key, yaml.ScalarNode) else "")  # all problems at once
            continue
        name = WEEKDAYS[index]
        if index in lines:
            c.report(key, name, f"appears twice (first on line {lines[index]}); keep only one")
            continue
        lines[index] = key.start_mark.line + 1
        routines[index] = _routine(c, value, name)
    return tuple(routines)


def _weekday(c: Checker, key: yaml.Node) -> int | None:
    """The weekday (0 is Monday) a key names: its full name or first three letters, any case."""
    if not isinstance(key, yaml.ScalarNode) or key.tag != STR:
        c.report(key, "", f"{describe(key)} is not a weekday; keys are weekdays like monday")
        return None
    word = key.value.strip().lower()
    for index, name in enumerate(WEEKDAYS):
        if word in (name, name[:3]):
            return index
    hint = did_you_mean(word, WEEKDAYS, f"; use {listing(WEEKDAYS, 'or')}")
    c.report(key, key.value, f"unknown weekday{hint}")
    return None


def _routine(c: Checker, node: yaml.Node, path: str) -> str | None:
    """A day's routine id, checked to exist; None for rest (and for a problem, reported)."""
    value = c.text(node, path, empty=f"write a routine id, or {REST} for a rest day")
    if value is None or value.lower() == REST:
        return None
    if value.endswith((".yaml", ".yml")) or "/" in value:
        where = library.user_routine_dir()
        advice = f"put the file in {where} and write its name without .yaml"
        c.report(node, path, f'"{value}" is a path; a plan names routines by id: {advice}')
        return None
    try:
        library.find_id(value)
    except RoutineNotFound as error:
        c.report(node, path, str(error))
        return None
    except RoutineError:
        pass  # the routine exists; its own problems are reported when it is played
    return value
