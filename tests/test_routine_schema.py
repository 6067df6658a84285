"""The JSON Schema for editors agrees with the loader on what a routine file is."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from holdcue import durations, loader, routine
from holdcue.library import BUILTIN_DIR

FIXTURES = Path(__file__).parent / "fixtures" / "routines"
SCHEMA = json.loads(loader.SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

# Invalid fixtures whose problem is one of structure or type, which the schema sees too.
STRUCTURAL = [
    "bad-id",
    "bad-values",
    "count-and-each",
    "empty",
    "empty-steps",
    "include-extra-keys",
    "many-problems",
    "missing-steps",
    "missing-title",
    "negative-time",
    "no-unit",
    "not-a-mapping",
    "repeat-over-50",
    "rest-with-a-duration",
    "say-cues",
    "tones",
    "two-kinds",
    "unknown-keys",
    "unknown-unit",
]


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_schema_names_what_the_loader_knows():
    step = SCHEMA["$defs"]["step"]["properties"]
    assert set(routine.STEP_KINDS) <= set(step)
    assert set(SCHEMA["properties"]["cues"]["properties"]["tones"]["properties"]) == set(routine.TONE_NAMES)
    assert step["sides"]["enum"] == ["both", "left", "right"]
    assert (step["repeat"]["maximum"], step["count"]["maximum"]) == (50, 200)


@pytest.mark.parametrize(
    "path",
    sorted((FIXTURES / "valid").glob("*.yaml")) + sorted(BUILTIN_DIR.glob("*.yaml")),
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_valid_routines_match_the_schema(path):
    errors = [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8")))]
    assert errors == []


@pytest.mark.parametrize("name", STRUCTURAL)
def test_structural_mistakes_are_caught_by_the_schema_too(name):
    document = yaml.safe_load((FIXTURES / "invalid" / f"{name}.yaml").read_text(encoding="utf-8"))
    assert not VALIDATOR.is_valid(document)


DURATION = re.compile(SCHEMA["$defs"]["duration"]["pattern"])
UNITS = [
    "ms",
    "s",
    "sec",
    "secs",
    "second",
    "seconds",
    "m",
    "min",
    "mins",
    "minute",
    "minutes",
    "h",
    "hr",
    "hours",
    "S",
    "x",
    "",
]
parts = st.tuples(
    st.from_regex(r"\d{1,3}(\.\d{1,3})?", fullmatch=True),
    st.sampled_from(["", " "]),
    st.sampled_from(UNITS),
    st.sampled_from(["", " "]),
)


@given(st.lists(parts, min_size=1, max_size=3).map(lambda ps: "".join("".join(p) for p in ps)) | st.text(max_size=12))
@example("1m 1m")
@example("30s 1m")
@example("1h 2m 3s 4ms")
def test_the_schema_duration_pattern_agrees_with_parse_duration(text):
    try:
        durations.parse_duration(text)
        parsed = True
    except ValueError:
        parsed = False
    assert bool(DURATION.search(text)) == parsed
