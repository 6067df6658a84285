"""Sessions composed for the time there is (compose.py, holdcue compose, docs/compose.md).

The property test checks every composed session against the guidance's own numbers, written
out here rather than read from compose.py, and against the library as loaded: each session
is a valid routine file that loads back to itself, lasts the minutes asked within the
tolerance as the compiler measures it, holds within the guidance's bounds, keeps its sides
balanced and its steps in the guidance's order, and is the same for the same ask. An ask
that cannot be met names a length that can, and that length is then met."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import re
import shlex
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

from holdcue import compiler, compose, errors, library, loader, play, session, speech, terminal
from holdcue.cli import cli
from holdcue.errors import ComposeError
from holdcue.exitcodes import ExitCode
from holdcue.routine import SIDES, Routine
from play_helpers import short_session
from speech_support import espeak_test

# The guidance's bounds of a hold, in seconds (docs/compose.md cites where each comes from).
HOLDS = {
    "compress": (20, 90),  # trigger point compression: 20-30 s, 30-60 s, up to 90 s
    "roll": (30, 120),  # foam roller about a minute an area; a ball on the wall 1-2 minutes a side
    "stretch": (15, 30),  # a stretch held 15 s to 20-30 s
    "warm-up": (20, 60),
    "finish": (20, 60),
    "rest": (10, 30),
}
BALL_COMPRESS = (30, 45)  # the tennis ball release: pause on the most painful point 30-45 s
LARGE_TO_SMALL = [
    "upper back",
    "mid back",
    "lower back",
    "glutes",
    "hamstrings",
    "quads",
    "outer thigh",
    "inner thigh",
    "hips",
    "calves",
    "chest",
    "shoulders",
    "neck",
]


def english_builtins() -> list[Routine]:
    routines = [library.load_routine(library.BUILTIN_PREFIX + rid) for rid in library.builtin_ids()]
    return [routine for routine in routines if routine.voice.language.startswith("en")]


SCHEMA = jsonschema.Draft202012Validator(json.loads(loader.SCHEMA_PATH.read_text(encoding="utf-8")))
LIBRARY_STEPS = {(step.kind, step.text): step for routine in english_builtins() for step in routine.steps}
AREAS = sorted({area for routine in english_builtins() for area in routine.areas})
TOOLS = sorted({tool for routine in english_builtins() for tool in routine.tools})


def tolerance(minutes: float) -> float:
    return max(0.05 * minutes * 60, 20)


def comparable(routine: Routine) -> Routine:
    """The routine without where it was read from."""
    steps = tuple(dataclasses.replace(step, line=0, group="") for step in routine.steps)
    return dataclasses.replace(routine, source="", warnings=(), steps=steps)


def test_the_areas_and_tools_are_those_of_the_library():
    """holdcue list --json's areas are exactly those a session can be composed for, and every
    tool a routine names is known (a new routine's area or tool must be taught to compose)."""
    assert sorted(compose.known_areas()) == AREAS
    assert set(compose.known_tools()) == set(TOOLS)
    assert list(compose.known_areas()) == [area for area in LARGE_TO_SMALL if area in AREAS]


def check_session(made: compose.Composed, areas: list[str], minutes: float, tools: list[str]) -> None:
    routine = made.routine
    # a routine file that loads back to the same routine, without a warning
    back = loader.load(made.text, "composed.yaml", routine_id=routine.id)
    assert comparable(back) == comparable(routine)
    assert not back.warnings, back.warnings
    SCHEMA.validate(yaml.safe_load(made.text))  # and one an editor's schema accepts
    # as long as asked, as the compiler measures it (the estimate holdcue list shows)
    seconds = compiler.estimate_seconds(back)
    assert seconds == pytest.approx(made.seconds)
    assert abs(seconds - minutes * 60) <= tolerance(minutes)
    # only the library's steps, each hold within the guidance's bounds or as the library has it
    for step in back.steps:
        mine = LIBRARY_STEPS[(step.kind, step.text)]
        kept = ("sides", "repeat", "rest_ms", "count")
        assert [getattr(step, name) for name in kept] == [getattr(mine, name) for name in kept]
        if step.count:
            assert step.time_ms == mine.time_ms
            continue
        low, high = BALL_COMPRESS if step.kind == "compress" and re.search(r"\bball\b", step.text) else HOLDS[step.kind]
        assert low * 1000 <= step.time_ms <= high * 1000, (step.title, step.time_ms)
        assert step.time_ms % 5000 == 0
    # timed throughout: no hold or preparation waits for a press, so the length is known
    assert not back.cues.prep_press and not any(step.until for step in back.steps)
    # sides balanced: both or none, and each left hold as long as its right one
    assert all(step.sides in ((), SIDES) for step in back.steps)
    timeline = compiler.compile(back, lambda text: 22050, lambda name: 4410)
    holds = Counter((s.step, s.side, s.end - s.start) for s in timeline.segments if s.phase == "hold" and s.side)
    for (step, side, length), count in holds.items():
        other = "right" if side == "left" else "left"
        assert holds[(step, other, length)] == count
    # the order: warm-ups first, the areas from large to small, a finisher last
    kinds = [step.kind for step in back.steps]
    assert kinds[0] == "warm-up" and kinds[-1] in ("finish", "rest")
    warm_ups = [step for step in back.steps if step.kind == "warm-up"]
    assert len({step.title for step in warm_ups}) == len(warm_ups)  # no warm-up twice
    whole_body = [n for n, step in enumerate(warm_ups) if step.target == "whole body"]
    assert whole_body in ([], [0])  # the whole body's warm-up before an area's own
    work = kinds[kinds.index(next(k for k in kinds if k != "warm-up")) : -1]
    assert "warm-up" not in work and "finish" not in work and "rest" not in work
    wanted = [area for area in LARGE_TO_SMALL if area in {a.replace("-", " ") for a in areas}]
    assert list(back.areas) == wanted
    worked = [
        min(wanted.index(area) for area in compose.TARGET_AREAS[step.target.lower()] if area in wanted)
        for step in back.steps[len(kinds) - len(work) - 1 : -1]
    ]
    assert worked == sorted(worked)
    assert set(worked) <= set(range(len(wanted)))
    # only the tools named (a wall and your hands are always there)
    if tools:
        have = {compose.TOOLS[tool] for tool in tools} - {None}
        for step in back.steps:
            assert compose.tools_named(step.text) <= have, (step.text, tools)


def minutes_suggested(message: str) -> int:
    return int(re.search(r"ask for at (?:least|most) (\d+) minutes", message)[1])


asks = st.tuples(
    st.lists(st.sampled_from(AREAS), min_size=1, max_size=4, unique=True),
    st.integers(min_value=1, max_value=45),
    st.lists(st.sampled_from(TOOLS), max_size=2, unique=True),
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(asks)
@example((["upper back", "mid back", "lower back", "glutes", "calves"], 1, []))  # five areas in one minute
@example((["neck"], 10, ["your hands"]))
@example((["calves"], 10, ["wall"]))
@example((["upper back", "hips"], 15, ["foam roller"]))
def test_every_session_composed_keeps_the_rules(ask):
    areas, minutes, tools = ask
    try:
        made = compose.compose(areas, minutes, tools)
    except ComposeError as error:
        message = str(error)
        if "no step of the library works" in message:
            assert tools, message  # with any tool, every area can be worked
            return
        assert "cannot be done in" in message or "cannot fill" in message, message
        # the length it names can be had
        suggested = minutes_suggested(message)
        assert (suggested > minutes) == ("cannot be done in" in message)
        check_session(compose.compose(areas, suggested, tools), areas, suggested, tools)
        return
    check_session(made, areas, minutes, tools)
    assert compose.compose(areas[::-1], minutes, tools[::-1]) == made  # the same ask, the same session


def test_five_areas_in_one_minute_names_the_shortest_session():
    with pytest.raises(ComposeError) as raised:
        compose.compose(["upper back", "mid back", "lower back", "glutes", "calves"], 1)
    message = str(raised.value)
    assert message.startswith("the upper back, mid back, lower back, glutes and calves cannot be done in 1 minute:")
    shortest = re.search(r"the shortest session for them lasts (\d+):(\d\d)", message)
    seconds = int(shortest[1]) * 60 + int(shortest[2])
    assert seconds > 60 + tolerance(1)
    least = minutes_suggested(message)
    assert least * 60 + tolerance(least) >= seconds > (least - 1) * 60 + tolerance(least - 1)


@pytest.mark.parametrize(
    "areas,tools,message",
    [
        (["knees"], [], 'unknown area "knees"; the areas are upper back, mid back, lower back, glutes'),
        (["neck"], ["kettlebell"], 'unknown tool "kettlebell"; the tools are foam roller, lacrosse ball,'),
        (["inner thigh"], ["foam roller"], "no step of the library works the inner thigh with foam roller"),
        ([], [], "name at least one area: upper back, mid back"),
    ],
)
def test_what_cannot_be_asked_says_what_can(areas, tools, message):
    with pytest.raises(ComposeError, match=re.escape(message)):
        compose.compose(areas, 10, tools)


@pytest.mark.parametrize("minutes", [0, -3, float("nan"), float("inf"), 121])
def test_a_length_that_is_no_session_is_refused(minutes):
    with pytest.raises(ComposeError, match="is not a session length"):
        compose.compose(["neck"], minutes)


def test_a_dash_stands_for_a_space_and_case_does_not_matter():
    assert compose.compose(["Upper-Back", "NECK"], 8) == compose.compose(["upper back", "neck"], 8)


def test_a_step_that_goes_on_from_the_one_before_comes_with_it():
    """ "Keep the ball..." is said only right after the step that put the ball there."""
    made = compose.compose(["shoulders"], 12)
    steps = made.routine.steps
    for index, step in enumerate(steps):
        if step.text.startswith(("Keep ", "Stay ", "Now ")):
            pairs = [pair for routine in english_builtins() for pair in itertools.pairwise(routine.steps)]
            before = [first.text for first, then in pairs if then.text == step.text]
            assert steps[index - 1].text in before


# -- the real speech's length ---------------------------------------------------------------


@espeak_test
@pytest.mark.parametrize(
    "areas,minutes,tools",
    [
        (["neck"], 3, []),  # short: the speech is much of it
        (["upper back", "hips"], 14, ["foam roller"]),  # near the longest the library has
        (["calves", "neck", "glutes"], 25, []),
        (["inner thigh", "hips", "calves"], 10, ["tennis ball"]),
    ],
)
def test_with_the_real_speech_the_session_heard_is_as_long_as_asked(areas, minutes, tools, tmp_path):
    cache = speech.ClipCache(tmp_path / "cache")
    measure = functools.partial(session.spoken_seconds, cache=cache)
    made = compose.compose(areas, minutes, tools, measure=measure)
    heard = session.build(made.routine, cache=cache).timeline.duration
    assert heard == pytest.approx(made.seconds, abs=0.001)
    assert abs(heard - minutes * 60) <= tolerance(minutes)
    assert compose.compose(areas, minutes, tools, measure=measure) == made


# -- holdcue compose ------------------------------------------------------------------------


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@espeak_test
def test_compose_prints_a_routine_file_that_validates(folders):
    result = run("compose", "neck", "upper-back", "--minutes", "8")
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout.startswith("# Composed by holdcue for 8 minutes: ")
    routine = loader.load(result.stdout, "composed.yaml")
    assert routine.title == "Upper back and neck" and routine.areas == ("upper back", "neck")
    assert abs(session.spoken_seconds(routine) - 480) <= tolerance(8)
    assert run("compose", "upper-back", "neck", "--minutes", "8").stdout == result.stdout


@espeak_test
def test_compose_writes_a_file_and_refuses_to_replace_one_without_force(folders):
    target = folders / "neck.yaml"
    result = run("compose", "neck", "--minutes", "5", "-o", str(target))
    assert result.exit_code == ExitCode.OK, result.output
    assert re.fullmatch(rf"Wrote {re.escape(str(target))}: Neck, \d:\d\d\.\n", result.stdout)
    written = target.read_text()
    assert run("validate", str(target)).exit_code == ExitCode.OK
    target.write_text("mine")
    again = run("compose", "neck", "--minutes", "5", "-o", str(target))
    assert again.exit_code == ExitCode.OUTPUT_FAILED
    assert again.stderr == f"Error: {target} is already there; add --force to replace it.\n"
    assert target.read_text() == "mine"
    forced = run("compose", "neck", "--minutes", "5", "-o", str(target), "--force")
    assert forced.exit_code == ExitCode.OK
    assert target.read_text() == written
    assert sorted(path.name for path in folders.iterdir() if path.name.startswith(".neck")) == []


def test_compose_cannot_write_into_a_missing_folder(folders):
    target = folders / "nowhere" / "neck.yaml"
    result = run("compose", "neck", "--minutes", "5", "-o", str(target))
    assert result.exit_code == ExitCode.OUTPUT_FAILED
    assert result.stderr.startswith(f"Error: cannot write {target}: ")
    assert not target.parent.exists()


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["knees", "--minutes", "5"], ExitCode.USAGE, 'Error: unknown area "knees"; the areas are upper back,'),
        (["neck", "--minutes", "5", "--tool", "kettlebell"], ExitCode.USAGE, 'Error: unknown tool "kettlebell";'),
        (
            ["upper-back", "mid-back", "lower-back", "glutes", "calves", "--minutes", "1"],
            ExitCode.USAGE,
            "Error: the upper back, mid back, lower back, glutes and calves cannot be done in 1 minute: "
            "the shortest session for them lasts ",
        ),
        (["neck", "--minutes", "90"], ExitCode.USAGE, "Error: the neck cannot fill 90 minutes: the longest session"),
        (["neck", "--minutes", "5", "--force"], ExitCode.USAGE, "--force replaces the file of -o FILE"),
        (["neck"], ExitCode.USAGE, "Missing option '--minutes'"),
        (["--minutes", "5"], ExitCode.USAGE, "Missing argument 'AREA...'"),
    ],
)
def test_compose_says_what_is_wrong_with_the_ask(folders, args, code, message):
    result = run("compose", *args)
    assert result.exit_code == code
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_compose_plays_the_routine_of_the_file_it_wrote(folders, monkeypatch):
    played = {}
    monkeypatch.setattr(session, "build", lambda routine, **kw: dataclasses.replace(short_session(), routine=routine))
    monkeypatch.setattr(terminal, "play", lambda ready, **kw: played.update(routine=ready.routine, **kw))
    monkeypatch.setattr(play, "output", lambda keep_alive=False: contextlib.nullcontext(None))
    monkeypatch.setattr(session, "spoken_seconds", lambda routine, **kw: compiler.estimate_seconds(routine))
    target = folders / "neck.yaml"
    result = run("compose", "neck", "--minutes", "5", "-o", str(target), "--play", "--volume", "0.5")
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout == "" and result.stderr.startswith(f"Wrote {target}: Neck, ")
    assert played["routine"].source == str(target) and played["volume"] == 0.5
    assert comparable(played["routine"]) == comparable(loader.load(target.read_text(), "x.yaml", routine_id="neck"))


def test_compose_without_a_file_plays_the_session_and_says_how_to_export_it_without_a_device(folders, monkeypatch):
    def no_device(*args, **kwargs):
        raise errors.AudioDeviceError("No sound device could be opened.")

    monkeypatch.setattr(session, "build", lambda routine, **kw: dataclasses.replace(short_session(), routine=routine))
    monkeypatch.setattr(terminal, "play", no_device)
    monkeypatch.setattr(play, "output", lambda keep_alive=False: contextlib.nullcontext(None))
    monkeypatch.setattr(session, "spoken_seconds", lambda routine, **kw: compiler.estimate_seconds(routine))
    result = run("compose", "neck", "--minutes", "5", "--play")
    assert result.exit_code == ExitCode.AUDIO_UNAVAILABLE
    assert "write the session to a file with -o FILE, export that" in result.stderr
    assert result.stdout == ""


def test_compose_writes_through_a_link_and_not_into_a_folder(folders, monkeypatch):
    monkeypatch.setattr(session, "spoken_seconds", lambda routine, **kw: compiler.estimate_seconds(routine))
    mine = folders / "mine.yaml"
    mine.write_text("old")
    link = folders / "link.yaml"
    link.symlink_to(mine)
    assert run("compose", "neck", "--minutes", "5", "-o", str(link), "--force").exit_code == ExitCode.OK
    assert link.is_symlink() and loader.load(mine.read_text(), "mine.yaml").areas == ("neck",)
    (folders / "folder.yaml").symlink_to(folders)
    for folder in (folders, folders / "folder.yaml"):
        into = run("compose", "neck", "--minutes", "5", "-o", str(folder))
        assert into.exit_code == ExitCode.USAGE
        assert f"File '{folder}' is a directory." in into.stderr


def test_the_messages_docs_compose_shows_are_those_given(folders):
    """docs/compose.md's examples of asks that cannot be met, word for word."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "compose.md").read_text()
    shown = re.findall(r"^\$ holdcue (compose .*)\n(Error: .*)$", page, re.M)
    assert len(shown) == 3
    for command, message in shown:
        result = run(*shlex.split(command))
        assert result.exit_code == ExitCode.USAGE
        assert result.stderr == message + "\n"
