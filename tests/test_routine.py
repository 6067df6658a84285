"""The routine loader: durations, defaults, includes, file reading, and its messages."""

from __future__ import annotations

import textwrap
import wave
from pathlib import Path

import pytest

from holdcue import fields, loader, yamlsafe
from holdcue.durations import format_duration, parse_duration
from holdcue.errors import Problem, RoutineError, RoutineNotFound
from holdcue.library import load_file
from holdcue.loader import load
from holdcue.routine import Cues, Voice


def yaml_text(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def refused(text: str, **kwargs) -> list[str]:
    """The messages (file name left out) of a routine that must be refused."""
    with pytest.raises(RoutineError) as error:
        load(yaml_text(text), "r.yaml", **kwargs)
    return [str(p).removeprefix("r.yaml:") for p in error.value.problems]


ONE_STEP = """
    title: T
    steps:
      - hold: Hold.
        time: 30s
"""


@pytest.mark.parametrize(
    "text, ms",
    [
        ("45s", 45_000),
        ("45 s", 45_000),
        ("45 sec", 45_000),
        ("45 secs", 45_000),
        ("45 seconds", 45_000),
        ("1 second", 1000),
        ("1m", 60_000),
        ("1 min", 60_000),
        ("2 minutes", 120_000),
        ("1m30s", 90_000),
        ("1m 30s", 90_000),
        ("1 min 30 s", 90_000),
        ("90 s", 90_000),
        ("1.5s", 1500),
        ("0.25 min", 15_000),
        ("500ms", 500),
        ("1h", 3_600_000),
        ("1 hour 2 min", 3_720_000),
        ("  20s  ", 20_000),
        ("0s", 0),
        ("1.0005s", 1000),  # whole milliseconds, half to even
        ("1.0015s", 1002),
    ],
)
def test_parse_duration(text, ms):
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    "text, message",
    [
        ("45", '"45" has no unit; write "45s"'),
        ("1.5", '"1.5" has no unit; write "1.5s"'),
        ("1m30", '"1m30" has no unit; write "1m30s"'),
        ("45 secondz", '"45 secondz": unknown unit "secondz"; did you mean "second"?'),
        ("45 S", '"45 S": unknown unit "S"; use ms, s, min or h'),
        ("3 days", '"3 days": unknown unit "days"; use ms, s, min or h'),
        ("-5s", '"-5s" is negative; write a time like "45s"'),
        ("", '"" is not a time; write it like "45s", "1m30s" or "500ms"'),
        ("1:30", '"1:30" is not a time; write it like "45s", "1m30s" or "500ms"'),
        ("1m 1m", '"1m 1m": give each unit once, the largest first, like "1m30s"'),
        ("30s 1m", '"30s 1m": give each unit once, the largest first, like "1m30s"'),
        ("45s,", '"45s," is not a time; write it like "45s", "1m30s" or "500ms"'),
        ("soon", '"soon" is not a time; write it like "45s", "1m30s" or "500ms"'),
        (".5s", '".5s" is not a time; write it like "45s", "1m30s" or "500ms"'),
        ("9" * 80 + "s", f'"{"9" * 80}s" is not a time; write it like "45s", "1m30s" or "500ms"'),
    ],
)
def test_parse_duration_refuses_with_a_hint(text, message):
    with pytest.raises(ValueError) as error:
        parse_duration(text)
    assert str(error.value) == message


@pytest.mark.parametrize("ms", [1, 500, 1000, 1500, 45_000, 60_000, 90_000, 90_500, 600_000, 3_600_000])
def test_format_duration_reads_back(ms):
    assert parse_duration(format_duration(ms)) == ms


def test_format_duration_is_short():
    assert [format_duration(ms) for ms in (500, 45_000, 60_000, 90_000, 1500)] == [
        "500ms",
        "45s",
        "1m",
        "1m30s",
        "1.5s",
    ]


def test_defaults():
    loaded = load(yaml_text(ONE_STEP))
    assert loaded.voice == Voice() and loaded.cues == Cues()
    assert (loaded.voice.language, loaded.voice.rate, loaded.voice.volume) == ("en", 160, 1.0)
    assert (loaded.cues.prep_ms, loaded.cues.countdown, loaded.cues.switch_ms) == (5000, 3, 5000)
    assert (loaded.cues.time_left_every_ms, loaded.cues.breathe_every_ms) == (30_000, 0)
    step = loaded.steps[0]
    assert (step.kind, step.text, step.time_ms, step.sides, step.repeat, step.rest_ms, step.line) == (
        "hold",
        "Hold.",
        30_000,
        (),
        1,
        0,
        3,
    )
    assert loaded.warnings == () and loaded.source == "<routine>"


def test_id_comes_from_the_key_then_the_argument_then_the_source():
    assert load(yaml_text(ONE_STEP), "a/neck-easy.yaml").id == "neck-easy"
    assert load(yaml_text(ONE_STEP), "a/neck-easy.yaml", routine_id="given").id == "given"
    assert load("id: from-key\n" + yaml_text(ONE_STEP), "x.yaml").id == "from-key"


def test_an_id_that_differs_from_the_file_name_is_a_warning():
    loaded = load("id: other\n" + yaml_text(ONE_STEP), "neck.yaml", routine_id="neck")
    assert [str(w) for w in loaded.warnings] == [
        'neck.yaml:1:5: warning: id: "other" differs from the file name "neck"; holdcue finds routines by file name'
    ]


def test_rest_is_the_kind_alone_and_the_pause_between_rounds_beside_another_kind():
    loaded = load(
        yaml_text("""
        title: T
        steps:
          - stretch: Stretch.
            time: 10s
            repeat: 3
            rest: 4s
          - rest: Breathe.
            time: 20s
    """)
    )
    stretch, rest = loaded.steps
    assert (stretch.kind, stretch.repeat, stretch.rest_ms) == ("stretch", 3, 4000)
    assert (rest.kind, rest.text, rest.time_ms, rest.rest_ms) == ("rest", "Breathe.", 20_000, 0)


def test_text_is_taken_as_written():
    loaded = load(
        yaml_text("""
        title: 1990
        summary: yes
        steps:
          - hold: |
              Two lines
              of text.
            time: 5s
    """)
    )
    assert (loaded.title, loaded.summary, loaded.steps[0].text) == ("1990", "yes", "Two lines\nof text.")


def test_all_problems_are_reported_sorted_by_line():
    messages = refused("""
        steps:
          - hold: Hold.
            time: 45
          - stretch: Stretch.
            time: 30s
            repeat: 100
        cues: {prep: soon}
    """)
    assert messages == [
        '1:1: title: missing; add a line like "title: Shoulders and chest"',
        '3:11: steps[0].time: "45" has no unit; write "45s"',
        "6:13: steps[1].repeat: 100 is out of range; use a whole number from 1 to 50",
        '7:14: cues.prep: "soon" is neither a time nor press; give a time like "5s", or "press" to wait until '
        "Next is pressed (at most 1m)",
    ]


def test_errors_come_with_the_warnings():
    messages = refused("""
        title: T
        steps:
          - compress: Press.
            time: 2m
          - hold: Hold.
            time: 0s
    """)
    assert messages == [
        "4:11: warning: steps[0].time: 2m is long for a compress; limit a compression to 90 seconds;"
        " release and come back to it instead",
        '6:11: steps[1].time: "0s" is no time at all; it must be longer than 0s',
    ]


@pytest.mark.parametrize(
    "step, warned",
    [
        ("- compress: Press.\n  time: 91s", True),
        ("- release: Release.\n  time: 2m", True),
        ("- compress: Press.\n  time: 90s", False),
        ("- stretch: Stretch.\n  time: 2m", False),
        ("- roll: Roll your neck.\n  time: 30s", True),  # the tools include a foam roller
        ("- roll: Roll.\n  time: 30s\n  target: neck", True),
        ("- compress: Press.\n  time: 30s\n  target: neck", False),
        ("- roll: Roll.\n  time: 30s\n  target: left kneecap", True),
        ("- compress: Press.\n  time: 30s\n  target: collarbone", True),
        ("- compress: Press.\n  time: 30s\n  target: spinal column", True),
        ("- roll: Roll.\n  time: 30s\n  target: IT band", False),
        ("- roll: Roll.\n  time: 30s\n  target: erector spinae", False),
        ("- hold: Hold.\n  time: 30s\n  target: knee", False),
    ],
)
def test_safety_warnings(step, warned):
    text = "title: T\ntools: [Foam roller]\nsteps:\n" + textwrap.indent(step, "  ")
    warnings = load(text).warnings
    assert all(w.severity == "warning" for w in warnings)
    assert bool(warnings) == warned


def test_neck_rolling_with_a_ball_is_fine_unless_the_target_is_the_neck():
    text = "title: T\ntools: [tennis ball]\nsteps:\n  - roll: Roll your neck.\n    time: 30s\n"
    assert load(text).warnings == ()


def test_count_and_each_make_the_time():
    loaded = load(
        yaml_text("""
        title: T
        steps:
          - warm-up: Rolls.
            count: 12
            each: 2.5s
    """)
    )
    assert (loaded.steps[0].time_ms, loaded.steps[0].count) == (30_000, 12)


def test_say_cues():
    loaded = load(
        yaml_text("""
        title: T
        steps:
          - hold: Hold.
            time: 40s
            say:
              - {at: half, text: Half.}
              - {at: 10%, text: Ten.}
              - {at: 39.5s, text: Late.}
    """)
    )
    assert [(s.text, s.at_ms, s.at_fraction) for s in loaded.steps[0].say] == [
        ("Half.", None, 0.5),
        ("Ten.", None, 0.1),
        ("Late.", 39_500, None),
    ]


def test_too_many_problems_are_cut_short():
    steps = "".join(f"  - hold: Hold.\n    time: {n}\n" for n in range(1, 80))
    with pytest.raises(RoutineError) as error:
        load("title: T\nsteps:\n" + steps, "r.yaml")
    problems = error.value.problems
    assert len(problems) == fields.MAX_PROBLEMS + 1
    assert str(problems[-1]) == f"r.yaml: and {79 - fields.MAX_PROBLEMS} more problems"
    assert str(problems[0]) == 'r.yaml:4:11: steps[0].time: "1" has no unit; write "1s"'


def make_wav(path: Path, frames: int = 80, rate: int = 8000, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * frames * channels)
    return path


def test_a_tone_longer_than_a_second_is_refused_where_it_is_named(tmp_path):
    make_wav(tmp_path / "gong.wav", frames=66_150, rate=44_100, channels=2)  # 1.5 s
    make_wav(tmp_path / "ding.wav", frames=44_100, rate=44_100, channels=2)  # 1 s: allowed
    text = "title: T\ncues:\n  tones:\n    end: gong.wav\n    start: ding.wav\nsteps:\n  - hold: H.\n    time: 5s\n"
    with pytest.raises(RoutineError) as error:
        load(text, "r.yaml", base_dir=tmp_path)
    assert [str(p) for p in error.value.problems] == [
        'r.yaml:4:10: cues.tones.end: "gong.wav" lasts 1.5s; a tone may last at most 1s, to fit the shortest hold'
    ]


def test_tone_paths_are_resolved_next_to_the_routine(tmp_path):
    (tmp_path / "sounds").mkdir()
    start = make_wav(tmp_path / "sounds" / "ding.wav")
    end = make_wav(tmp_path / "end.wav")
    text = (
        f"title: T\ncues:\n  tones:\n    start: sounds/ding.wav\n    end: {end}\nsteps:\n  - hold: H.\n    time: 5s\n"
    )
    loaded = load(text, "r.yaml", base_dir=tmp_path)
    assert loaded.cues.tones == (("start", str(start.resolve())), ("end", str(end.resolve())))
    # Given as text without a folder, only the absolute path is usable.
    with pytest.raises(RoutineError) as error:
        load(text, "r.yaml")
    assert [str(p) for p in error.value.problems] == [
        'r.yaml:4:12: cues.tones.start: "sounds/ding.wav" is a relative path, but this routine is not in a file;'
        " use an absolute path"
    ]


def test_includes_pull_in_steps_with_their_group():
    library = {
        "outer": "title: Outer\ntools: [ball]\nsteps:\n  - hold: O.\n    time: 5s\n  - include: inner\n",
        "inner": "title: Inner\nsafety: [Careful.]\nsteps:\n  - stretch: I.\n    time: 5s\n",
    }

    def resolve(rid):
        if rid not in library:
            raise RoutineNotFound(f'no routine called "{rid}"')
        return library[rid], f"{rid}.yaml", None

    loaded = load(
        "title: Top\nvoice: {rate: 120}\nsteps:\n  - include: outer\n  - include: inner\n    title: Again\n",
        resolve=resolve,
    )
    assert [(s.text, s.group) for s in loaded.steps] == [("O.", "Outer"), ("I.", "Outer"), ("I.", "Again")]
    assert (loaded.tools, loaded.safety, loaded.voice.rate) == (("ball",), ("Careful.",), 120)


def test_include_cycles_name_the_chain():
    library = {"a": "title: A\nsteps:\n  - include: b\n", "b": "title: B\nsteps:\n  - include: a\n"}

    def resolve(rid):
        return library[rid], f"{rid}.yaml", None

    with pytest.raises(RoutineError) as error:
        load(library["a"], "a.yaml", routine_id="a", resolve=resolve)
    assert [str(p) for p in error.value.problems] == [
        'a.yaml:3:14: steps[0].include: the included routine "b" has errors',
        "b.yaml:3:14: steps[0].include: include cycle: a -> b -> a; remove one of these includes",
    ]


def test_an_include_without_a_library_is_refused():
    assert refused("title: T\nsteps:\n  - include: other\n") == [
        '3:14: steps[0].include: cannot include "other": no routine library to look it up in'
    ]


def test_load_file_reads_utf8_and_names_the_routine_after_the_file(tmp_path):
    path = tmp_path / "café-stretch.yaml"
    path.write_text("title: Café stretch\n" + yaml_text(ONE_STEP).split("\n", 1)[1], encoding="utf-8")
    loaded = load_file(path)
    assert (loaded.id, loaded.title, loaded.source) == ("café-stretch", "Café stretch", str(path))


def test_a_missing_file_is_not_found(tmp_path):
    with pytest.raises(RoutineNotFound, match="no such file"):
        load_file(tmp_path / "nothing.yaml")


def test_a_folder_is_refused_with_a_message(tmp_path):
    with pytest.raises(RoutineError) as error:
        load_file(tmp_path)
    (problem,) = error.value.problems
    assert problem.message == "is not a regular file (a folder, FIFO or device); give a routine file"


def test_a_file_over_1_mb_is_refused_before_parsing(tmp_path, monkeypatch):
    path = tmp_path / "big.yaml"
    path.write_text("title: Big\nsteps:\n" + "  - hold: Hold a long time.\n    time: 30s\n" * 30_000)
    assert path.stat().st_size > loader.MAX_FILE_BYTES

    def no_parsing(*args):
        raise AssertionError("parsed")

    monkeypatch.setattr(yamlsafe, "compose", no_parsing)
    with pytest.raises(RoutineError) as error:
        load_file(path)
    assert [str(p) for p in error.value.problems] == [f"{path}: the file is over 1 MB; a routine file is much smaller"]
    with pytest.raises(RoutineError):
        load(path.read_text())


def test_problems_print_like_a_compiler():
    problem = Problem("neck.yaml", 7, 11, "steps[2].time", '"45" has no unit; write "45s"')
    assert str(problem) == 'neck.yaml:7:11: steps[2].time: "45" has no unit; write "45s"'


def test_every_routine_in_the_format_docs_is_valid(tmp_path, monkeypatch):
    from holdcue import library

    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path))
    (tmp_path / "sounds").mkdir()
    for name in ("bowl", "chime"):
        make_wav(tmp_path / "sounds" / f"{name}.wav")
    docs = (Path(__file__).parents[1] / "docs" / "routines.md").read_text(encoding="utf-8")
    blocks = [block.split("```")[0] for block in docs.split("```yaml\n")[1:]]
    examples = [block for block in blocks if "\ntitle: " in f"\n{block}"]
    assert len(examples) >= 7
    for text in examples:
        loaded = load(text, "example.yaml", base_dir=tmp_path, resolve=library.find_id)
        assert loaded.steps


INDENTATION_SLIPS = [
    (
        # a step's "- " one column off
        "title: T\nsteps:\n  - hold: Hold.\n    time: 20s\n   - roll: Roll.\n    time: 20s\n",
        '5:4: YAML syntax error: a "- " is indented differently from the one before it: start every step '
        '(every item of a list) with "- " in the same column',
    ),
    (
        # a step's key one column short of the others
        "title: T\nsteps:\n  - hold: Hold.\n    time: 20s\n  - roll: Roll.\n   time: 20s\n",
        "6:4: YAML syntax error: this line is indented differently from the keys above it: line up each key of a "
        'step with the first key after its "- ", and put top-level keys (title:, steps:) at the very start of the line',
    ),
    (
        # a top-level key indented like a step's (the parser says "expected <block end>, but found '?'")
        "title: T\nsteps:\n  - hold: Hold.\n    time: 20s\n  summary: x\n",
        "5:3: YAML syntax error: this line is indented differently from the keys above it: line up each key of a "
        'step with the first key after its "- ", and put top-level keys (title:, steps:) at the very start of the line',
    ),
    (
        # a step's key one column too far: it reads as the text of the line above
        "title: T\nsteps:\n  - hold: Hold.\n     time: 20s\n",
        "4:10: YAML syntax error: this line is indented further than the line above it, so it reads as part of "
        "that line's text: line up the keys of a step with each other",
    ),
    (
        # and a text that holds ": " is still told to be quoted
        "title: T\nsteps:\n  - hold: Note: press.\n    time: 20s\n",
        '3:15: YAML syntax error: mapping values are not allowed here; if a text holds ": ", put it in quotes',
    ),
]


@pytest.mark.parametrize("text, message", INDENTATION_SLIPS)
def test_indentation_slips_are_explained_in_the_writers_terms(text, message):
    with pytest.raises(RoutineError) as error:
        load(text, "r.yaml")
    assert [str(p).removeprefix("r.yaml:") for p in error.value.problems] == [message]
    assert "<block" not in message and "'?'" not in message


def test_a_missing_dash_is_two_steps_in_one():
    two_kinds = """
        title: T
        steps:
          - hold: Hold.
            time: 20s
            roll: Roll.
            time: 20s
    """
    assert refused(two_kinds) == [
        '5:5: steps[0].roll: looks like two steps in one: start each step with "- ", as in "- roll: ..."'
    ]
    same_kind = two_kinds.replace("roll: Roll.", "hold: Again.")
    assert refused(same_kind) == [
        '5:5: steps[0].hold: looks like two steps in one: start each step with "- ", as in "- hold: ..."'
    ]
    # a key written twice in a step that is one step is still just that
    twice = ONE_STEP + "        time: 40s\n"
    assert refused(twice) == ["5:5: steps[0].time: appears twice; keep only one"]


def test_an_unknown_key_of_a_known_meaning_suggests_the_known_one():
    assert refused(ONE_STEP.replace("time: 30s", "duration: 30s")) == [
        '4:5: steps[0].duration: unknown key; did you mean "time"?'
    ]
    assert refused(ONE_STEP.replace("title: T", "title: T\n    equipment: [ball]")) == [
        '2:1: equipment: unknown key; did you mean "tools"?'
    ]


def test_a_cue_at_a_bare_number_suggests_seconds_and_a_percentage():
    cue = ONE_STEP + "        say:\n          - at: 50\n            text: Halfway.\n"
    assert refused(cue) == [
        '6:13: steps[0].say[0].at: "50" has no unit; write "50s" (50 seconds into the hold) '
        'or "50%" (50 percent of the hold)'
    ]
    assert refused(cue.replace("at: 50", "at: 120")) == [
        '6:13: steps[0].say[0].at: "120" has no unit; write "120s" (120 seconds into the hold)'
    ]
