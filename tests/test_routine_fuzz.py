"""Whatever it is fed, the loader returns a Routine or raises RoutineError: never anything
else, never slowly, never by expanding what an attacker wrote."""

from __future__ import annotations

import copy
import time
import tracemalloc

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from holdcue import loader, routine
from holdcue.errors import RoutineError, RoutineNotFound

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NEAR_VALID = {
    "title": "Shoulders and chest",
    "summary": "Loosen the chest.",
    "areas": ["shoulders", "chest"],
    "tools": ["tennis ball", "wall"],
    "safety": ["Go slowly."],
    "voice": {"language": "en", "rate": 160, "volume": 0.9},
    "cues": {
        "prep": "5s",
        "countdown": 3,
        "countdown_style": "ticks",
        "halfway": True,
        "time_left": "30s",
        "breathe": False,
        "switch": "5s",
    },
    "steps": [
        {"warm-up": "Roll your shoulders.", "count": 10, "each": "2s"},
        {
            "compress": "Lean into the ball below your {side} collarbone.",
            "time": "1m",
            "sides": "both",
            "target": "pectoralis major",
            "say": [{"at": "half", "text": "Breathe."}, {"at": "20s", "text": "Soften."}],
        },
        {"stretch": "Arm across, round {round} of {rounds}.", "time": "15s", "repeat": 2, "rest": "5s"},
        {"include": "other"},
        {"rest": "Relax.", "time": "10s"},
    ],
}


def library(rid: str):
    """A tiny library: "other" is a routine, anything else is unknown."""
    if rid == "other":
        return "title: Other\nsteps:\n  - hold: Hold.\n    time: 20s\n", "other.yaml", None
    raise RoutineNotFound(f'no routine called "{rid}"')


def load_anything(text: str) -> None:
    try:
        loaded = loader.load(text, "fuzz.yaml", resolve=library)
    except RoutineError as error:
        assert error.problems and all(p.message for p in error.problems)
        assert any(p.severity == "error" for p in error.problems)
        return
    assert isinstance(loaded, routine.Routine) and loaded.steps
    assert all(w.severity == "warning" for w in loaded.warnings)
    assert all(0 < step.time_ms <= routine.MAX_HOLD_MS for step in loaded.steps)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
keys = st.sampled_from(
    [
        "title",
        "steps",
        "time",
        "rest",
        "sides",
        "say",
        "at",
        "include",
        "count",
        "each",
        "cues",
        "voice",
        "repeat",
        "hold",
        "compress",
        "roll",
        "tones",
        "prep",
        "x",
    ]
)
leaves = (
    st.none()
    | st.booleans()
    | st.integers(-5, 700)
    | st.floats(allow_nan=True)
    | st.sampled_from(
        [
            "",
            "45",
            "45s",
            "0s",
            "-1s",
            "11m",
            "half",
            "50%",
            "both",
            "left",
            "{side}",
            "{x}",
            "{",
            "other",
            "missing",
            "tones/x.wav",
            "1h",
            "1m 30s",
        ]
    )
    | st.text(max_size=8)
)


def mutate(data, draw):
    """One random change somewhere in a copy of ``data``."""
    data = copy.deepcopy(data)
    node = data
    while True:
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node, key=str)))
        elif isinstance(node, list) and node:
            key = draw(st.integers(0, len(node) - 1))
        else:
            return data
        action = draw(st.sampled_from(["descend", "descend", "replace", "delete", "add"]))
        if action == "descend" and isinstance(node[key], (dict, list)):
            node = node[key]
            continue
        if action == "delete":
            del node[key]
        elif action == "add" and isinstance(node, dict):
            node[draw(keys)] = draw(leaves)
        elif action == "add":
            node.append(copy.deepcopy(draw(st.sampled_from(NEAR_VALID["steps"]))))
        else:
            node[key] = draw(leaves | yaml_values)
        return data


@st.composite
def near_valid_routines(draw):
    data = NEAR_VALID
    for _ in range(draw(st.integers(0, 4))):
        data = mutate(data, draw)
    return data


@FUZZ
@given(st.text())
def test_arbitrary_text(text):
    load_anything(text)


@FUZZ
@given(yaml_values)
def test_arbitrary_yaml_structures(value):
    load_anything(yaml.safe_dump(value))


@FUZZ
@given(near_valid_routines())
def test_near_valid_routines(data):
    load_anything(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


VALID_TEXT = yaml.safe_dump(NEAR_VALID, sort_keys=False)


def test_the_unmutated_routine_is_valid():
    loaded = loader.load(VALID_TEXT, resolve=library)
    assert [step.kind for step in loaded.steps] == ["warm-up", "compress", "stretch", "hold", "rest"]


@FUZZ
@given(st.data())
def test_edited_text(data):
    """A valid file with characters inserted, deleted or replaced, as a slip of the keyboard."""
    text = VALID_TEXT
    for _ in range(data.draw(st.integers(1, 5))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        text = text[:at] + data.draw(st.text(alphabet=" :-[]{}&*!|>'\"#%@`\t\nabc01", max_size=3)) + text[at + cut :]
    load_anything(text)


def billion_laughs(levels: int = 9, width: int = 10) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    lines.append(f"title: *a{levels}\nsteps: *a{levels}")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once_without_growing():
    text = billion_laughs()  # 10**10 "lol"s if expanded
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(RoutineError) as error:
        loader.load(text, "bomb.yaml")
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [str(p) for p in error.value.problems] == [
        "bomb.yaml:2:10: YAML aliases (*name) are not supported in holdcue's files; write the value out"
    ]
    assert elapsed < 5.0  # expanded, it would take hours; the margin is for a Raspberry Pi (3-4x slower)
    assert peak < 5_000_000


def test_a_merge_key_is_an_alias_too():
    text = "base: &base {time: 30s}\ntitle: T\nsteps:\n  - <<: *base\n    hold: Hold.\n"
    with pytest.raises(RoutineError, match="aliases"):
        loader.load(text)


def test_deep_nesting_is_refused_not_a_recursion_error():
    for text in ("[" * 100_000, "steps:\n" + "".join("  " * i + "- \n" for i in range(200))):
        with pytest.raises(RoutineError):
            loader.load(text)
    with pytest.raises(RoutineError, match="nested too deeply"):
        loader.load("title: " + "[" * 50 + "]" * 50 + "\nsteps: []\n")


def test_a_2_mb_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text(billion_laughs() + "#" * 2_000_000 + "\n")
    started = time.perf_counter()
    with pytest.raises(RoutineError) as error:
        loader.load_file(path, resolve=None)
    assert time.perf_counter() - started < 5.0  # parsing 2 MB would not take long either: see the next line
    assert [p.message for p in error.value.problems] == ["the file is over 1 MB; a routine file is much smaller"]


def test_huge_numbers_and_strange_scalars():
    text = (
        "title: T\nvoice: {rate: " + "9" * 5000 + ", volume: .nan}\ncues: {countdown: 0x10, prep: !!binary aGk=}\n"
        "steps:\n  - hold: !custom tag\n    time: 2001-12-14\n    repeat: !!int nope\n"
    )
    with pytest.raises(RoutineError) as error:
        loader.load(text, "odd.yaml")
    assert [p.path for p in error.value.problems] == [
        "voice.rate",
        "voice.volume",
        "cues.countdown",
        "cues.prep",
        "steps[0].time",
        "steps[0].repeat",
    ]
