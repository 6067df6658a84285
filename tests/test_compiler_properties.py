"""The compiler's guarantees on generated routines and clip lengths."""

import zlib
from dataclasses import replace
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler_helpers import RATE, tone_length
from holdcue import compiler
from holdcue.routine import MIN_HOLD_MS, Cues, Routine, Say, Step

seconds = st.integers(min_value=1, max_value=600).map(lambda s: s * 1000)
odd_ms = st.integers(min_value=MIN_HOLD_MS, max_value=600_000)


@st.composite
def steps(draw):
    kind = draw(st.sampled_from(["compress", "roll", "hold", "stretch", "rest", "finish", "warm-up"]))
    time_ms = draw(st.one_of(seconds, odd_ms))
    sides = () if kind == "rest" else draw(st.sampled_from([(), ("left",), ("right",), ("left", "right")]))
    text = "Press the {side} side." if sides else "Press here."
    says = draw(
        st.lists(
            st.builds(
                Say,
                text=st.sampled_from(["Soften.", "Breathe out and let the muscle melt.", "Ease off if it is sharp."]),
                at_fraction=st.floats(min_value=0.01, max_value=0.99),
            ),
            max_size=3,
        )
    )
    return Step(
        kind,
        text,
        time_ms,
        sides=sides,
        repeat=draw(st.integers(1, 3)),
        rest_ms=draw(st.sampled_from([0, 3000, 10_000])),
        count=draw(st.sampled_from([0, 0, 0, 5, 12])) if kind == "warm-up" and time_ms >= 12_000 else 0,
        say=tuple(says) if kind != "rest" else (),
    )


cues = st.builds(
    Cues,
    prep_ms=st.sampled_from([0, 2000, 5000]),
    countdown=st.integers(0, 5),
    countdown_style=st.sampled_from(["ticks", "spoken"]),
    halfway=st.booleans(),
    time_left_every_ms=st.sampled_from([0, 15_000, 30_000]),
    breathe_every_ms=st.sampled_from([0, 10_000, 20_000]),
    switch_ms=st.sampled_from([0, 3000, 5000]),
)
routines = st.builds(
    Routine,
    id=st.just("generated"),
    title=st.just("Generated"),
    steps=st.lists(steps(), min_size=1, max_size=5).map(tuple),
    cues=cues,
    tools=st.sampled_from([(), ("foam roller",), ("ball", "wall")]),
)
# speech from quick and short to slow and long (a slow voice, or a long instruction)
speech_scales = st.floats(min_value=0.2, max_value=6.0)


def lengths(scale):
    return lambda text: int(RATE * scale * (0.2 + len(text) / 15)) + zlib.crc32(text.encode()) % 700 + 1


@settings(max_examples=150, deadline=None)
@given(routines, speech_scales)
def test_guarantees(routine, scale):
    clip = lengths(scale)
    timeline = compiler.compile(routine, clip, tone_length, RATE)
    events, segments = timeline.events, timeline.segments

    # 1. every hold is exactly as written, with a start tone at its start and an end tone at its end
    holds = [s for s in segments if s.phase == "hold"]
    starts = {e.start for e in events if e.name == "start"}
    ends = {e.start for e in events if e.name == "end"}
    expected = [
        round(step.time_ms * RATE / 1000)
        for step in routine.steps
        if step.kind != "rest"
        for _ in range(step.repeat * max(1, len(step.sides)))
    ]
    assert [h.end - h.start for h in holds] == expected
    for hold in holds:
        assert hold.start in starts and hold.end in ends

    # 2. nothing overlaps and nothing is cut short
    for a, b in pairwise(events):
        assert a.end <= b.start, (a, b)
    for e in events:
        assert e.end - e.start == (clip(e.text) if e.kind == "speech" else tone_length(e.name))

    # 3. sorted, tiling segments, length the sum of its parts, every event inside
    assert [e.start for e in events] == sorted(e.start for e in events)
    assert segments[0].start == 0 and segments[-1].end == timeline.length
    for a, b in pairwise(segments):
        assert a.end == b.start
    assert sum(s.end - s.start for s in segments) == timeline.length
    assert all(0 <= e.start and e.end <= timeline.length for e in events)
    for e in events:
        segment = segments[e.segment]
        if e.name == "end":
            assert segment.phase == "hold" and segment.end == e.start
        else:
            assert segment.start <= e.start < segment.end

    # 4. deterministic
    assert compiler.compile(routine, clip, tone_length, RATE) == timeline

    # and all that is said was known before the clips' lengths were (it is what gets synthesized)
    assert {e.text for e in events if e.kind == "speech"} <= set(compiler.spoken_texts(routine))


@settings(max_examples=150, deadline=None)
@given(routines.map(lambda r: replace(r, cues=replace(r.cues, legend=True))) | routines, speech_scales)
def test_length_is_the_compiled_length_and_asks_what_compile_asks(routine, scale):
    """compiler.length places no cue inside a hold; it must still give compile's length
    to the sample, and ask for every clip compile asks for, first asked in compile's order
    (session.exact_seconds learns from the asking that a clip is not cached; spoken_texts
    learns what is said). compile asks again for the cues it places: the repeats differ."""
    clip = lengths(scale)
    asked_by_compile: list[str] = []
    asked_by_length: list[str] = []

    def asking(asked):
        return lambda text: asked.append(text) or clip(text)

    timeline = compiler.compile(routine, asking(asked_by_compile), tone_length, RATE)
    assert compiler.length(routine, asking(asked_by_length), tone_length, RATE) == timeline.length
    assert list(dict.fromkeys(asked_by_length)) == list(dict.fromkeys(asked_by_compile))
    assert (
        compiler.estimate_seconds(routine)
        == compiler._estimate(routine, RATE, compiler._estimated_minutes(routine, RATE)).duration
    )
