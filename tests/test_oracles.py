"""The test oracles that recompute what the code computes (expected_take, expected_chapters)
checked against values written out by hand, so that an oracle that drifts along with the
code it checks is caught."""

from __future__ import annotations

import numpy as np

from holdcue import play
from holdcue.routine import Routine
from holdcue.timeline import SAMPLE_RATE, Event, Segment, Session, Timeline
from play_helpers import expected_take
from test_export import expected_chapters

RATE = 1000  # for the take: one sample a millisecond


def test_expected_chapters_on_a_timeline_written_out():
    s = SAMPLE_RATE  # whole seconds, so that the chapters' milliseconds are exact
    segments = (
        Segment("Introduction", "intro", 0, 4 * s),
        Segment("Press", "announce", 4 * s, 7 * s, step=0, side="left"),
        Segment("Press", "prepare", 7 * s, 9 * s, step=0, side="left"),
        Segment("Press", "hold", 9 * s, 39 * s, step=0, side="left"),
        Segment("Press", "transition", 39 * s, 42 * s, step=0, side="right"),
        Segment("Press", "hold", 42 * s, 72 * s, step=0, side="right"),
        Segment("Rest", "rest", 72 * s, 82 * s, step=1),
        Segment("Session complete", "outro", 82 * s, 85 * s),
    )
    timeline = Timeline("T", SAMPLE_RATE, 85 * s, (), segments)
    assert expected_chapters(timeline) == [
        (0, 4000, -1, ""),
        (4000, 39000, 0, "left"),
        (39000, 72000, 0, "right"),
        (72000, 82000, 1, ""),
        (82000, 85000, -1, ""),
    ]


def test_expected_take_on_a_session_written_out():
    """A take from the hold's start: the lead-in's silence, then the hold, in which only
    the tone 20 ms in sounds; the speech before the take's origin is left out."""
    segments = (Segment("Introduction", "intro", 0, 100), Segment("Hold", "hold", 100, 200, step=0))
    events = (
        Event(50, 53, "speech", text="Hi.", segment=0),
        Event(120, 122, "tone", name="start", segment=1),
    )
    session = Session(
        Routine("r", "R", ()),
        Timeline("T", RATE, 200, events, segments),
        {"Hi.": np.array([1000, 2000, 3000], np.int16)},
        {"start": np.array([8000, -8000], np.int16)},
    )
    take = expected_take(session, 100)
    lead = round(play.LEAD_IN * RATE)
    assert len(take) == lead + 100
    assert np.flatnonzero(take).tolist() == [lead + 20, lead + 21]
    assert take[lead + 20] > 0 > take[lead + 21]  # the tone, as written, levelled
