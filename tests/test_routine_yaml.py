"""Routines written back as routine files (routine_yaml.py): loading the text gives the routine."""

from __future__ import annotations

import dataclasses

import pytest

from holdcue import library, loader, routine_yaml
from holdcue.routine import PRESS_WAIT_MS, Cues, Music, Routine, Say, Step, Voice


def comparable(routine: Routine) -> Routine:
    steps = tuple(dataclasses.replace(step, line=0, group="") for step in routine.steps)
    return dataclasses.replace(routine, source="", warnings=(), steps=steps)


@pytest.mark.parametrize("rid", library.builtin_ids())
def test_every_builtin_routine_is_written_back_as_it_is(rid):
    routine = library.load_routine(rid)
    back = loader.load(routine_yaml.dump(routine), f"{rid}.yaml", routine_id=rid)
    assert comparable(back) == comparable(routine)


def test_what_differs_from_the_defaults_is_written_and_read_back():
    routine = Routine(
        id="all",
        title="Every: kind of 'quote' and #hash",
        steps=(
            Step("hold", "Press {side}: hold.", 45_000, sides=("left",), repeat=3, rest_ms=1500, target="neck"),
            Step("stretch", "Move slowly.", 30_000, count=5, say=(Say("Ease off.", at_ms=12_000),)),
            Step("compress", "Lean in.", 20_000, say=(Say("Soften.", at_fraction=0.25),)),
            Step("roll", "Roll until it eases.", 90_000, until="press", remind_ms=0),
            Step("roll", "Roll again.", 90_000, until="press", remind_ms=45_000),
        ),
        voice=Voice(language="en-gb", rate=140, volume=0.5),
        cues=Cues(
            prep_ms=PRESS_WAIT_MS,
            prep_press=True,
            countdown=5,
            countdown_style="spoken",
            halfway=False,
            time_left_every_ms=0,
            legend=True,
        ),
        side_words=(("left", "port"), ("right", "starboard")),
    )
    back = loader.load(routine_yaml.dump(routine), "all.yaml", routine_id="all")
    assert comparable(back) == comparable(routine)


def test_a_routine_with_what_a_file_cannot_say_is_refused():
    routine = Routine(id="m", title="M", steps=(Step("hold", "Hold.", 5000),), music=Music("/tmp/a.wav"))
    with pytest.raises(ValueError, match="cannot write music"):
        routine_yaml.dump(routine)
