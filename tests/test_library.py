"""The built-in routine library: every file loads cleanly, follows the schema and the house
rules for spoken text, and the weekly plan's sessions last about as long as the plan says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

import holdcue
from holdcue import compiler, library

PACKAGE = Path(holdcue.__file__).parent
BUILTIN = PACKAGE / "routines"
IDS = sorted(path.stem for path in BUILTIN.glob("*.yaml"))

AREA_ROUTINES = {
    "neck-and-upper-trapezius",
    "shoulders-and-chest",
    "mid-and-lower-back",
    "glutes-and-piriformis",
    "calves-and-hamstrings",
}
TECHNIQUES = {
    "ischemic-compression",
    "foam-rolling",
    "tennis-ball-release",
    "pin-and-stretch",
    "stretch-and-release",
}
WEEKLY_MINUTES = {  # the weekly plan: session and its stated length
    "upper-back-and-neck-peanut-ball": 10,
    "glutes-and-calves-lacrosse-ball": 15,
    "chest-and-shoulders-massage-ball": 10,
    "full-body-check-in": 20,
}


def test_the_whole_library_is_there():
    assert AREA_ROUTINES | TECHNIQUES | set(WEEKLY_MINUTES) <= set(IDS)


@pytest.mark.parametrize("routine_id", IDS)
def test_loads_by_id_and_by_file_without_warnings(routine_id):
    by_id = library.load_routine(routine_id)
    by_file = library.load_file(BUILTIN / f"{routine_id}.yaml")
    assert by_id.id == by_file.id == routine_id
    assert by_id.warnings == () and by_file.warnings == ()
    assert by_id.steps == by_file.steps


@pytest.fixture(scope="module")
def schema():
    schema = json.loads((PACKAGE / "routine.schema.json").read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema).check_schema(schema)
    return schema


@pytest.mark.parametrize("routine_id", IDS)
def test_follows_the_json_schema(routine_id, schema):
    data = yaml.safe_load((BUILTIN / f"{routine_id}.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)


@pytest.mark.parametrize("routine_id", IDS)
def test_describes_itself_and_its_safety(routine_id):
    loaded = library.load_routine(routine_id)
    assert loaded.title and loaded.summary and loaded.areas and loaded.tools
    assert len(loaded.safety) >= 3
    for step in loaded.steps:
        assert step.kind == "rest" or step.target, f"{routine_id}: {step.text!r} has no target"


@pytest.mark.parametrize("routine_id", IDS)
def test_sided_steps_say_which_side(routine_id):
    for step in library.load_routine(routine_id).steps:
        if step.sides:
            assert "{side}" in step.text, f"{routine_id}: {step.text!r}"


@pytest.mark.parametrize("routine_id", IDS)
def test_spoken_text_reads_naturally(routine_id):
    """Nothing a voice would read out as a symbol, a digit or an abbreviation."""
    for text in compiler.spoken_texts(library.load_routine(routine_id)):
        assert not re.search(r"[0-9()\[\]{}/&%#*<>=+@_|~]|\be\.g\b|\betc\b|\bi\.e\b", text), text


@pytest.mark.parametrize("routine_id", sorted(WEEKLY_MINUTES))
def test_weekly_sessions_last_about_as_long_as_the_plan_says(routine_id):
    seconds = compiler.estimate_seconds(library.load_routine(routine_id))
    planned = WEEKLY_MINUTES[routine_id] * 60
    assert 0.8 * planned <= seconds <= 1.2 * planned, f"{routine_id}: {seconds / 60:.1f} min"


@pytest.mark.parametrize("routine_id", sorted(WEEKLY_MINUTES))
def test_weekly_sessions_build_on_the_area_and_technique_routines(routine_id):
    groups = {step.group for step in library.load_routine(routine_id).steps}
    titles = {library.load_routine(other).title for other in AREA_ROUTINES | TECHNIQUES}
    assert groups & titles
