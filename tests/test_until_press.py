"""Holds that last until a press (``until: press``) and getting into position until a press
(``cues: {prep: press}``): what the loader and the schema accept, what the compiler makes of
them, and how the player ends such a part at a press (docs/controls.md)."""

from __future__ import annotations

import dataclasses
import io
import json

import jsonschema
import numpy as np
import pytest
import yaml

from compiler_helpers import clip_length, tone_length
from holdcue import compiler, display, loader, phrases, play
from holdcue.errors import RoutineError
from holdcue.render import render
from holdcue.routine import PRESS_WAIT_MS, REMIND_MS, Cues, Routine, Step
from play_helpers import RATE, FakeClock, FakeSink, make_session, prefix_of, said_alone

ROUTINE = """\
title: Knots
cues:
  prep: press
  countdown: 3
steps:
  - compress: Press into the knot and hold still until it eases.
    title: Knot
    time: 90s
    until: press
    remind: 20s
  - compress: Lean into the ball under your {side} glute.
    title: Glute
    time: 1m
    sides: both
    until: press
  - stretch: Reach up.
    time: 20s
"""

REMINDER = "Breathe. Press when it eases."


def load(text: str = ROUTINE) -> Routine:
    return loader.load(text, source="knots.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(RoutineError) as raised:
        load(text)
    return [str(problem) for problem in raised.value.problems]


def hold_routine(**step) -> Routine:
    fields = {"time_ms": 60_000, "until": "press", **step}
    return Routine(id="r", title="R", steps=(Step("compress", "Press the knot.", **fields),))


# -- the loader and the schema --------------------------------------------------------------------------


def test_the_loader_reads_until_remind_and_prep_press():
    routine = load()
    knot, glute, reach = routine.steps
    assert (knot.until, knot.remind_ms) == ("press", 20_000)
    assert (glute.until, glute.remind_ms) == ("press", REMIND_MS)
    assert (reach.until, reach.remind_ms) == ("", REMIND_MS)
    assert routine.cues.prep_press and routine.cues.prep_ms == PRESS_WAIT_MS == 60_000
    assert load(ROUTINE.replace("remind: 20s", "remind: false")).steps[0].remind_ms == 0
    assert not load(ROUTINE.replace("prep: press", "prep: 8s")).cues.prep_press


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("prep: press", "prep: pres"),
            'knots.yaml:3:9: cues.prep: "pres" is neither a time nor press; give a time like "5s", '
            'or "press" to wait until Next is pressed (at most 1m); did you mean "press"?',
        ),
        (
            ("until: press\n    remind", "until: eased\n    remind"),
            'knots.yaml:9:12: steps[0].until: must be press, not "eased"',
        ),
        (
            ("remind: 20s", "remind: 5s"),
            'knots.yaml:10:13: steps[0].remind: "5s" is too often; give a reminder every 10s at the most, '
            "or false for none",
        ),
        (
            ("remind: 20s", "remind: often"),
            'knots.yaml:10:13: steps[0].remind: "often" is not a time; write it like "45s", "1m30s" or "500ms"',
        ),
        (
            ("time: 90s\n", "count: 10\n    each: 9s\n"),
            "knots.yaml:10:12: steps[0].until: a counted step ends with its count, not at a press; "
            "leave out until or the count",
        ),
    ],
)
def test_bad_values_are_reported_with_their_line_column_and_what_to_write(change, message):
    assert problems(ROUTINE.replace(*change)) == [message]


def test_a_rest_step_cannot_wait_for_a_press_and_remind_alone_is_a_warning():
    text = ROUTINE + "  - rest: Breathe.\n    time: 10s\n    until: press\n"
    assert problems(text) == [
        'knots.yaml:20:12: steps[3].until: a rest step has only its time; "until" belongs to the step being rested from'
    ]
    warned = load(ROUTINE + "  - hold: Still.\n    time: 10s\n    remind: 20s\n")
    assert [str(w) for w in warned.warnings] == [
        'knots.yaml:20:13: warning: steps[3].remind: has no effect without "until: press"'
    ]


def test_the_schema_knows_the_fields_and_refuses_what_the_loader_refuses():
    schema = json.loads(loader.SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid(yaml.safe_load(ROUTINE))
    assert validator.is_valid(yaml.safe_load(ROUTINE.replace("remind: 20s", "remind: false")))
    for change in (
        ("prep: press", "prep: pres"),
        ("until: press\n    remind", "until: eased\n    remind"),
        ("remind: 20s", "remind: often"),
        ("time: 90s\n", "count: 10\n    each: 9s\n"),
    ):
        assert not validator.is_valid(yaml.safe_load(ROUTINE.replace(*change))), change


# -- the compiler ---------------------------------------------------------------------------------------


def compiled(routine: Routine):
    return compiler.compile(routine, clip_length, tone_length)


def test_a_press_hold_is_marked_lasts_its_full_time_and_reminds_at_its_interval():
    tl = compiled(load())
    rate = tl.rate
    holds = [s for s in tl.segments if s.phase == "hold"]
    assert [(s.title, s.side, s.until) for s in holds] == [
        ("Knot", "", "press"),
        ("Glute", "left", "press"),
        ("Glute", "right", "press"),
        ("Reach up", "", ""),
    ]
    knot = holds[0]
    assert knot.end - knot.start == 90 * rate  # exactly its full time
    inside = [e for e in tl.events if knot.start <= e.start < knot.end]
    reminders = [e.start - knot.start for e in inside if e.text == REMINDER]
    assert reminders == [20 * rate, 40 * rate, 60 * rate, 80 * rate]
    # No halfway tone and no "time left": they count towards an end the listener does not
    # aim for; the countdown stays, for the hold's longest end.
    assert [e.name for e in inside if e.kind == "tone"] == ["start", "tick", "tick", "tick"]
    assert [e.start for e in tl.events if e.name == "end" and e.segment == tl.segments.index(knot)] == [knot.end]
    # The ordinary step keeps its halfway tone.
    reach = holds[3]
    assert any(e.name == "halfway" for e in tl.events if reach.start <= e.start < reach.end)
    assert tl.to_json()["segments"][tl.segments.index(knot)]["until"] == "press"
    assert tl.to_json()["segments"][tl.segments.index(reach)]["until"] is None


def test_prep_press_makes_getting_into_position_wait_up_to_a_minute_and_says_so():
    tl = compiled(load())
    prepares = [s for s in tl.segments if s.phase == "prepare"]
    # after each announcement: until a press, a minute at most; after "switch sides": its time
    assert [(s.title, s.side, s.until, s.end - s.start) for s in prepares] == [
        ("Knot", "", "press", 60 * tl.rate),
        ("Glute", "left", "press", 60 * tl.rate),
        ("Glute", "right", "", 5 * tl.rate),
        ("Reach up", "", "press", 60 * tl.rate),
    ]
    said = [e.text for e in tl.events if e.kind == "speech"]
    assert (
        "Next: Press into the knot and hold still until it eases. Up to one minute thirty. "
        "Get into position, and press to start." in said
    )
    assert "Next: Reach up. Twenty seconds. Get into position, and press to start." in said


def test_remind_false_says_no_reminder_and_spoken_texts_has_it_otherwise():
    silent = hold_routine(remind_ms=0)
    assert REMINDER not in [e.text for e in compiled(silent).events]
    assert REMINDER in compiler.spoken_texts(hold_routine())
    # none closer than five seconds to the longest end
    tl = compiled(hold_routine(time_ms=62_000, remind_ms=30_000))
    hold = next(s for s in tl.segments if s.phase == "hold")
    assert [e.start - hold.start for e in tl.events if e.text == REMINDER] == [30 * tl.rate]


def test_the_words_are_in_every_catalogue():
    for language in phrases.languages():
        words = phrases.for_language(language)
        said = (words.press_reminder(), words.get_into_position_and_press(), words.up_to(90_000))
        if language == "en":
            assert said == (REMINDER, "Get into position, and press to start.", "up to one minute thirty")
        else:
            english = phrases.for_language("en")
            assert said[0] != english.press_reminder() and said[1] != english.get_into_position_and_press()
            assert words.duration(90_000) in said[2] and said[2] != words.duration(90_000)


# -- the player -----------------------------------------------------------------------------------------


def start_player(session, origin: int = 0):
    clock = FakeClock()
    sink = FakeSink(clock)
    player = play.Player(session, sink=sink, clock=clock)
    player.start(origin)
    return player, sink, clock


def after_press(session, segment_index: int) -> np.ndarray:
    """What a take after a press in segment ``segment_index`` must hold: the lead-in, then
    the session from the segment's end, with its end tone (a hold's)."""
    tl = session.timeline
    end = tl.segments[segment_index].end
    kept = tuple(e for e in tl.events if e.start >= end and e.segment >= segment_index)
    rest = render(dataclasses.replace(tl, events=kept), session.clips, session.tones, start=end)
    return np.concatenate([prefix_of(session), rest])


@pytest.fixture(scope="module")
def knots():
    return make_session(load())


def test_a_press_in_the_hold_ends_it_with_its_end_tone_and_the_rest_follows(knots):
    tl = knots.timeline
    index, knot = next((i, s) for i, s in enumerate(tl.segments) if s.phase == "hold")
    player, sink, clock = start_player(knots, knot.start)
    clock.sleep(play.LEAD_IN + 12.5)  # twelve and a half seconds into the hold
    player.tick()
    assert player.take_ended() == []
    player.next()
    assert player.state == "playing" and len(sink.takes) == 2 and sink.takes[0].handle.stopped
    take = sink.takes[-1].samples
    expected = after_press(knots, index)
    assert np.array_equal(take, expected)
    end_tone = [e for e in tl.events if e.name == "end" and e.segment == index][0]
    lead = round(play.LEAD_IN * RATE)
    tone = said_alone(knots, "tone", "end")
    assert not np.any(take[:lead]) and np.array_equal(take[lead : lead + len(tone)], tone)  # the end tone first
    assert end_tone.start == knot.end
    assert player.position() == knot.end  # the session goes on from the hold's end
    [held] = player.take_ended()
    assert (held.step, held.side, held.round, held.pressed) == (1, "", 0, True)
    assert held.seconds == pytest.approx(12.5, abs=1 / RATE) and held.longest == 90.0
    assert player.take_ended() == []


def test_a_press_while_getting_into_position_starts_the_hold(knots):
    tl = knots.timeline
    index, prepare = next((i, s) for i, s in enumerate(tl.segments) if s.phase == "prepare")
    player, sink, clock = start_player(knots, prepare.start)
    clock.sleep(play.LEAD_IN + 3)
    player.next()
    assert np.array_equal(sink.takes[-1].samples, after_press(knots, index))
    assert player.position() == prepare.end == tl.segments[index + 1].start  # the hold's start tone
    assert player.take_ended() == []  # getting into position is not a hold held


def test_a_hold_that_runs_its_full_time_is_recorded_as_not_pressed(knots):
    tl = knots.timeline
    right = next(s for s in tl.segments if s.phase == "hold" and s.side == "right")
    player, sink, clock = start_player(knots, right.start)
    clock.sleep(play.LEAD_IN + 1)
    player.tick()
    assert player.take_ended() == []
    clock.sleep((right.end - right.start) / RATE)
    [held] = player.take_ended()
    assert (held.step, held.side, held.seconds, held.longest, held.pressed) == (2, "right", 60.0, 60.0, False)


def test_next_in_an_ordinary_hold_or_an_announcement_still_skips_the_step(knots):
    tl = knots.timeline
    reach = next(s for s in tl.segments if s.phase == "hold" and s.title == "Reach up")
    player, sink, clock = start_player(knots, reach.start)
    clock.sleep(play.LEAD_IN + 2)
    player.next()
    assert tl.segments[player.segment_at(player.position())].phase == "outro"
    announce = next(s for s in tl.segments if s.phase == "announce" and s.title == "Glute")
    player, sink, clock = start_player(knots, announce.start)
    clock.sleep(play.LEAD_IN + 3)  # the announcement is under way
    player.next()
    assert tl.segments[player.segment_at(player.position())].title == "Reach up"


def test_back_out_of_a_press_hold_records_nothing(knots):
    tl = knots.timeline
    knot = next(s for s in tl.segments if s.phase == "hold")
    player, sink, clock = start_player(knots, knot.start)
    clock.sleep(play.LEAD_IN + 5)
    player.tick()
    player.take_ended()
    player.previous()
    clock.sleep(3)
    assert player.take_ended() == []


def test_the_volume_changed_in_the_lead_in_after_a_press_keeps_the_end_tone(knots):
    tl = knots.timeline
    index, knot = next((i, s) for i, s in enumerate(tl.segments) if s.phase == "hold")
    player, sink, clock = start_player(knots, knot.start)
    clock.sleep(play.LEAD_IN + 4)
    player.next()
    player.set_volume(0.5)
    take = sink.takes[-1].samples
    lead = round(play.LEAD_IN * RATE)
    assert np.any(take[lead : lead + len(knots.tones["end"])])
    assert player.take.origin == knot.end


def test_a_session_with_no_press_parts_plays_as_before():
    routine = dataclasses.replace(
        load(), cues=Cues(), steps=tuple(dataclasses.replace(s, until="") for s in load().steps)
    )
    tl = make_session(routine).timeline
    assert not any(s.until for s in tl.segments)


def test_the_screen_says_what_a_press_does_and_gives_the_longest_time_left(knots):
    tl = knots.timeline
    knot = next(s for s in tl.segments if s.phase == "hold")
    player, sink, clock = start_player(knots, knot.start)
    clock.sleep(play.LEAD_IN + 30)
    status = player.status()
    assert (status.phase, status.until, status.left) == ("hold", "press", 60.0)
    assert display.doing(status) == "hold until you press · at most 1:00"
    assert display.doing(status, phrases.for_language("de")) == "halten bis zum Drücken · höchstens 1:00"
    lines = io.StringIO()
    display.LineDisplay(lines).show(status)
    assert lines.getvalue().endswith("Step 1 of 3 · Knot: hold until you press, at most 1:00\n")
    prepare = next(s for s in tl.segments if s.phase == "prepare")
    player, sink, clock = start_player(knots, prepare.start)
    clock.sleep(play.LEAD_IN + 10)
    assert display.doing(player.status()) == "get into position · press to start · at most 0:50"
    ordinary = next(s for s in tl.segments if s.phase == "prepare" and not s.until)
    player, sink, clock = start_player(knots, ordinary.start)
    assert display.doing(player.status()) == "get into position · hold starts in 0:05"
