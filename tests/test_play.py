"""Live playback's scheduler with a fake clock, sink, keys and display: what each take
(one buffer handed to the sink) holds, and where commands move the session."""

from __future__ import annotations

import dataclasses
import io
import os
import pty
import subprocess
import sys
import termios
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from compiler_helpers import shoulders
from holdcue import compiler, controls, display, errors, play, tones
from holdcue.controls import Command
from holdcue.render import render
from holdcue.routine import Cues, Routine, Step
from holdcue.session import Session

RATE = 8000  # low, so that half-hour sessions render in milliseconds
LEAD = play.LEAD_IN
ROOT = Path(__file__).resolve().parents[1]


# -- fakes -------------------------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class FakeHandle:
    def __init__(self, clock: FakeClock, seconds: float):
        self.clock = clock
        self.until = clock.t + seconds
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    def is_playing(self) -> bool:
        return not self.stopped and self.clock.t < self.until


@dataclasses.dataclass
class Take:
    started: float
    samples: np.ndarray
    handle: FakeHandle


class FakeSink:
    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.takes: list[Take] = []

    def start(self, samples: np.ndarray, rate: int) -> FakeHandle:
        assert rate == RATE and samples.dtype == np.int16 and len(samples) > 0
        handle = FakeHandle(self.clock, len(samples) / rate)
        self.takes.append(Take(self.clock.t, samples, handle))
        return handle


class ScriptedKeys:
    """Commands at given times (seconds after the session started), on the fake clock."""

    def __init__(self, clock: FakeClock, script: list[tuple[float, Command]]):
        self.clock = clock
        self.origin = clock.t
        self.script = sorted(script, key=lambda s: s[0])
        self.opened = self.closed = False

    def open(self) -> None:
        self.opened = True

    def close(self) -> None:
        self.closed = True

    def read(self, timeout: float) -> list[Command]:
        if self.script and self.origin + self.script[0][0] <= self.clock.t + timeout:
            at, command = self.script.pop(0)
            self.clock.t = max(self.clock.t, self.origin + at)
            return [command]
        self.clock.t += timeout
        return []


class RecordingDisplay:
    def __init__(self):
        self.shown: list[display.Status] = []
        self.closed = False

    def show(self, status: display.Status) -> None:
        self.shown.append(status)

    def close(self) -> None:
        self.closed = True


# -- sessions ----------------------------------------------------------------------------


def make_session(routine: Routine, rate: int = RATE) -> Session:
    """A session with made-up speech: noise whose first sample is loud, so an onset is
    the first non-zero sample after a quiet gap."""
    clips = {}
    for text in compiler.spoken_texts(routine):
        seed = zlib.crc32(text.encode())
        n = int(rate * (0.3 + len(text) / 15)) + seed % 300
        clip = np.random.default_rng(seed).normal(0, 3000, n).astype(np.int16)
        clip[0] = 9000
        clips[text] = clip
    sounds = tones.load_tones(rate)
    timeline = compiler.compile(routine, lambda t: len(clips[t]), lambda n: len(sounds[n]), rate)
    return Session(routine, timeline, clips, sounds)


@pytest.fixture(scope="module")
def short():
    return make_session(shoulders())


@pytest.fixture(scope="module")
def long_session():
    base = shoulders()
    steps = base.steps * 4
    session = make_session(dataclasses.replace(base, steps=steps))
    assert 28 * 60 < session.timeline.duration < 40 * 60
    return session


def run(session, script=(), *, start_at=None, lead_in=LEAD):
    clock = FakeClock()
    sink = FakeSink(clock)
    keys = ScriptedKeys(clock, list(script))
    shown = RecordingDisplay()
    result = play.play(session, sink=sink, clock=clock, keys=keys, display=shown, start_at=start_at, lead_in=lead_in)
    return result, sink, shown, clock


def segment_index(timeline, position: int) -> int:
    return next(i for i, s in enumerate(timeline.segments) if s.start <= position < s.end)


def expected_take(session, origin: int, instruction=None) -> np.ndarray:
    """What a take from ``origin`` must hold: lead-in silence, the instruction as the
    session sounds it and a pause (when resuming a hold), then the session from ``origin``
    without the sounds under way there or belonging to an earlier part."""
    tl = session.timeline
    parts = [np.zeros(round(LEAD * tl.rate), np.int16)]
    if instruction is not None:
        parts.append(render(tl, session.clips, session.tones, start=instruction.start, stop=instruction.end))
        parts.append(np.zeros(round(play.RECAP_GAP * tl.rate), np.int16))
    first = segment_index(tl, origin)
    kept = tuple(e for e in tl.events if e.start >= origin and e.segment >= first)
    parts.append(render(dataclasses.replace(tl, events=kept), session.clips, session.tones, start=origin))
    return np.concatenate(parts)


def assert_onsets_exact(session, take: Take, origin: int, prefix: int) -> None:
    """Every speech cue of the take starts at exactly prefix + (its time - origin): the
    sample before is quiet, its first sample is not."""
    tl = session.timeline
    first = segment_index(tl, origin)
    checked = 0
    for event in tl.events:
        if event.kind == "speech" and event.start > origin and event.segment >= first:
            at = prefix + event.start - origin
            assert take.samples[at] != 0 and take.samples[at - 1] == 0, event
            checked += 1
    assert checked > 0


def first_segment(timeline, step: int, phase: str | None = None, side: str | None = None):
    return next(
        s
        for s in timeline.segments
        if s.step == step and (phase is None or s.phase == phase) and (side is None or s.side == side)
    )


def first_heard(timeline, segment) -> int:
    """Where a part is first heard: its first own sound (a hold's end tone sounds at the
    start of what follows, but belongs to the hold), else its start."""
    index = timeline.segments.index(segment)
    own = [e.start for e in timeline.events if e.segment >= index and segment.start <= e.start < segment.end]
    return min(own, default=segment.start)


def position_at(take: Take, t: float, origin: int, prefix: int) -> int:
    return origin + round((t - take.started) * RATE) - prefix


# -- hands-free ------------------------------------------------------------------------------


def test_hands_free_plays_the_whole_session_as_one_exact_take(short):
    result, sink, shown, clock = run(short)
    tl = short.timeline
    assert result == play.PlayResult(finished=True, position=tl.length)
    assert len(sink.takes) == 1
    take = sink.takes[0]
    assert np.array_equal(take.samples, expected_take(short, 0))
    assert_onsets_exact(short, take, 0, round(LEAD * RATE))
    # It ended when the take did, not much later.
    assert tl.duration + LEAD <= clock.t - take.started <= tl.duration + LEAD + play.TICK + 1e-9
    assert shown.closed
    assert shown.shown[-1].state == "finished"
    # The status followed the session through every segment, in order.
    seen = [s.segment for s in shown.shown]
    assert seen == sorted(seen) and set(seen) == set(range(len(tl.segments)))


def test_status_says_step_side_time_left_and_what_comes_next(short):
    _, _, shown, _ = run(short)
    tl = short.timeline
    left_hold = first_segment(tl, 1, "hold", "left")
    during = [s for s in shown.shown if s.segment == tl.segments.index(left_hold)]
    assert during, "no status during the left hold"
    first = during[0]
    assert (first.step, first.steps, first.side, first.phase) == (2, 6, "left", "hold")
    assert first.title == left_hold.title
    assert first.next == "right side"
    assert first.left == pytest.approx((left_hold.end - first.position * RATE) / RATE)
    assert [round(s.left, 6) for s in during] == sorted((round(s.left, 6) for s in during), reverse=True)
    intro = shown.shown[0]
    assert (intro.step, intro.phase, intro.next) == (0, "intro", f"step 1: {tl.segments[1].title}")
    round_one = next(s for s in shown.shown if s.phase == "hold" and s.step == 3 and s.round == 1 and s.side == "right")
    assert round_one.next == "round 2 of 2, left side"
    last_hold = next(s for s in reversed(shown.shown) if s.phase == "hold")
    assert last_hold.next == "the end"


def test_status_block_on_a_terminal_and_plain_lines_otherwise(short, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    tl = short.timeline
    out = io.StringIO()
    lines = display.LineDisplay(out)
    player_statuses = run(short)[2].shown
    for status in player_statuses:
        lines.show(status)
    printed = out.getvalue().splitlines()
    assert len(printed) == len(tl.segments)  # one line per segment, nothing else
    assert printed[0] == "0:00  Introduction"
    hold = first_segment(tl, 1, "hold", "left")
    assert f"{display.clock_text(hold.start / RATE)}  Step 2 of 6 · {hold.title} · left side: hold 1:00" in printed

    class Tty(io.StringIO):
        def isatty(self):
            return True

    term = Tty()
    block = display.for_stream(term, controls=True)
    assert isinstance(block, display.TerminalDisplay)
    status = next(s for s in player_statuses if s.phase == "hold" and s.step == 2)
    block.show(status)
    block.show(status)  # unchanged: nothing more written
    once = term.getvalue()
    assert once.startswith(display.KEYS_HELP)
    assert f"Step 2 of 6 · {status.title} · left side" in once
    assert f"hold · {display.clock_text(status.left + 0.999)} left" in once and "next: right side" in once
    block.show(dataclasses.replace(status, state="paused"))
    assert term.getvalue()[len(once) :].startswith("\r\x1b[1A\x1b[2K")
    assert "PAUSED at" in term.getvalue()[len(once) :]
    block.close()
    assert term.getvalue().endswith("\n")


def test_without_a_terminal_the_cli_path_prints_plain_lines_and_reads_no_keys(short, capsys):
    assert controls.terminal_keys(io.StringIO()) is None
    clock = FakeClock()
    sink = FakeSink(clock)
    result = play.play(short, sink=sink, clock=clock)  # keys and display as the CLI gives them without a TTY
    assert result.finished
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "0:00  Introduction" and out[-1].endswith("Session complete")
    assert len(out) == len(short.timeline.segments)
    assert not any("\x1b" in line or "\r" in line for line in out)


# -- a half-hour session with pauses and skips --------------------------------------------------


def test_half_hour_session_with_pauses_and_skips_is_exact_and_fast(long_session):
    s = long_session
    tl = s.timeline
    lead = round(LEAD * RATE)
    gap = round(play.RECAP_GAP * RATE)
    segments = tl.segments
    holds = [g for g in segments if g.phase == "hold"]
    hold = holds[4]  # the right side of the first round of the stretch
    assert (hold.side, hold.round) == ("right", 1)
    switch = next(e for e in tl.events if e.start > holds[3].end and e.text.startswith("Switch to your right side"))
    # When each command comes (seconds on the session's clock), worked out from the timeline:
    t1 = hold.start / RATE + LEAD + 7.3  # pause 7.3 s into the hold
    t2 = t1 + 95.0  # resume after a long pause
    prefix2 = lead + (switch.end - switch.start) + gap
    t3 = t2 + 40.0  # skip to the next step
    paused = hold.start + round(7.3 * RATE)
    skip_from = paused + round(40.0 * RATE) - prefix2
    step3 = first_segment(tl, segments[segment_index(tl, skip_from)].step + 1)
    prepare = next(g for g in segments if g.phase == "prepare" and g.start > step3.start + 60 * RATE)
    t4 = t3 + LEAD + (prepare.start - first_heard(tl, step3)) / RATE + 0.5  # pause while getting into position
    t5 = t4 + 30.0  # resume: the announcement (or change of side) again
    lead_up = segments[segments.index(prepare) - 1]
    assert lead_up.phase in play.LEAD_UP
    t6 = t5 + LEAD + (prepare.start - first_heard(tl, lead_up)) / RATE + 10.0  # back: this step from its start
    restart = first_segment(tl, prepare.step)
    script = [
        (t1, Command.PAUSE),
        (t2, Command.PAUSE),
        (t3, Command.NEXT),
        (t4, Command.PAUSE),
        (t5, Command.PAUSE),
        (t6, Command.PREVIOUS),
    ]

    began = time.perf_counter()
    result, sink, shown, _ = run(s, script)
    elapsed = time.perf_counter() - began
    assert elapsed < 1.0, f"took {elapsed:.2f} s of real time"
    assert result.finished and result.position == tl.length

    expected = [  # (clock time it starts, origin, instruction, prefix)
        (0.0, 0, None, lead),
        (t2, paused, switch, prefix2),
        (t3, first_heard(tl, step3), None, lead),
        (t5, first_heard(tl, lead_up), None, lead),
        (t6, first_heard(tl, restart), None, lead),
    ]
    origin_time = sink.takes[0].started
    assert len(sink.takes) == len(expected)
    for take, (t, origin, instruction, prefix) in zip(sink.takes, expected, strict=True):
        assert take.started == pytest.approx(origin_time + t)
        assert np.array_equal(take.samples, expected_take(s, origin, instruction))
        assert_onsets_exact(s, take, origin, prefix)
    assert [t.handle.stopped for t in sink.takes] == [True] * 4 + [False]

    # The hold that was paused: the time heard before the pause and after it add up to
    # the hold's length; its end tone sounds exactly the time it had left after it went on.
    end_tone = next(e for e in tl.events if e.name == "end" and e.start == hold.end)
    at = prefix2 + end_tone.start - paused
    assert np.array_equal(
        sink.takes[1].samples[at : at + end_tone.end - end_tone.start],
        render(tl, s.clips, s.tones, start=end_tone.start, stop=end_tone.end),
    )
    assert (paused - hold.start) + (at - prefix2) == hold.end - hold.start
    assert any(st.state == "paused" for st in shown.shown)
    assert shown.shown[-1].state == "finished"


def test_pause_in_a_hold_repeats_the_instruction_and_keeps_the_time_left(short):
    tl = short.timeline
    hold = first_segment(tl, 1, "hold", "right")
    t = hold.start / RATE + LEAD + 20.0
    result, sink, _, _ = run(short, [(t, Command.PAUSE), (t + 10.0, Command.PAUSE)])
    assert result.finished
    first, second = sink.takes
    lead = round(LEAD * RATE)
    paused = position_at(first, first.started + t, 0, lead)
    assert paused == hold.start + 20 * RATE
    switch = next(e for e in tl.events if e.kind == "speech" and e.text.startswith("Switch to your right side"))
    assert np.array_equal(second.samples, expected_take(short, paused, switch))
    # Everything after the repeated instruction is where it was, shifted by the pause alone.
    prefix = lead + len(short.clips[switch.text]) + round(play.RECAP_GAP * RATE)
    assert_onsets_exact(short, second, paused, prefix)
    # The halfway tone was still ahead: it sounds ten seconds after the hold goes on, as
    # it would have without the pause.
    halfway = next(e for e in tl.events if e.name == "halfway" and e.segment == tl.segments.index(hold))
    assert halfway.start - paused == 10 * RATE
    at = prefix + halfway.start - paused
    assert np.array_equal(
        second.samples[at : at + halfway.end - halfway.start],
        render(tl, short.clips, short.tones, start=halfway.start, stop=halfway.end),
    )
    assert not second.samples[at - (halfway.start - paused) + 1 : at].any()


def test_pause_in_the_middle_of_a_cue_leaves_its_rest_out(short):
    tl = short.timeline
    hold = first_segment(tl, 1, "hold", "left")
    breathe = next(e for e in tl.events if e.text == "Breathe slowly." and e.segment == tl.segments.index(hold))
    t = (breathe.start + 100) / RATE + LEAD
    _, sink, _, _ = run(short, [(t, Command.PAUSE), (t + 1, Command.PAUSE), (t + 2, Command.QUIT)])
    paused = breathe.start + 100
    announce = next(e for e in tl.events if e.kind == "speech" and e.text.startswith("Next: Lean into"))
    expected = expected_take(short, paused, announce)
    assert np.array_equal(sink.takes[1].samples[: len(expected) // 2], expected[: len(expected) // 2])
    prefix = round(LEAD * RATE) + len(short.clips[announce.text]) + round(play.RECAP_GAP * RATE)
    assert not sink.takes[1].samples[prefix : prefix + breathe.end - paused].any()


def test_pause_outside_a_hold_resumes_at_the_announcement(short):
    tl = short.timeline
    prepare = first_segment(tl, 2, "prepare", "left")
    announce = first_segment(tl, 2, "announce")
    t = prepare.start / RATE + LEAD + 0.5
    result, sink, _, _ = run(short, [(t, Command.PAUSE), (t + 3, Command.PAUSE)])
    assert result.finished
    # The end tone of the hold before sounds at the start of the announcement's segment,
    # but belongs to that hold: the announcement is heard at once after the lead-in.
    end_tone = next(e for e in tl.events if e.name == "end" and e.start == announce.start)
    speech = next(e for e in tl.events if e.kind == "speech" and e.start > announce.start)
    assert first_heard(tl, announce) == speech.start > end_tone.end
    assert np.array_equal(sink.takes[1].samples, expected_take(short, speech.start))
    assert sink.takes[1].samples[round(LEAD * RATE)] != 0


def test_pausing_twice_in_a_row_and_pausing_during_the_lead_in(short):
    tl = short.timeline
    hold = first_segment(tl, 1, "hold", "left")
    t = hold.start / RATE + LEAD + 5
    # Pause, resume, and pause again while the repeated instruction plays: it resumes at
    # the same place, with the instruction again.
    script = [(t, Command.PAUSE), (t + 2, Command.PAUSE), (t + 2.1, Command.PAUSE), (t + 4, Command.PAUSE)]
    _, sink, _, _ = run(short, script)
    paused = hold.start + 5 * RATE
    announce = next(e for e in tl.events if e.kind == "speech" and e.text.startswith("Next: Lean into"))
    for take in sink.takes[1:]:
        assert np.array_equal(take.samples, expected_take(short, paused, announce))


# -- next, previous, quit ---------------------------------------------------------------------


def test_next_goes_to_the_next_step_and_ignores_the_end(short):
    tl = short.timeline
    script = [(1.0, Command.NEXT), (1.5, Command.NEXT)]
    _, sink, shown, _ = run(short, script)
    step1, step2 = first_segment(tl, 0), first_segment(tl, 1)
    assert step1.start > 0  # there is an introduction to skip
    starts = [first_heard(tl, step1), first_heard(tl, step2)]
    for take, origin in zip(sink.takes[1:], starts, strict=True):
        assert np.array_equal(take.samples, expected_take(short, origin))
    assert [t.handle.stopped for t in sink.takes] == [True, True, False]

    # In the last step, "next" goes to the end; at the end it does nothing.
    last = first_segment(tl, 5)
    outro = tl.segments[-1]
    _, sink, _, _ = run(short, [(0.5, Command.NEXT)], start_at="6")
    assert np.array_equal(sink.takes[0].samples, expected_take(short, first_heard(tl, last)))
    assert np.array_equal(sink.takes[1].samples, expected_take(short, first_heard(tl, outro)))
    result, sink, _, _ = run(short, [(0.5, Command.NEXT), (1.0, Command.NEXT)], start_at="6")
    assert len(sink.takes) == 2 and result.finished


def test_previous_restarts_the_step_and_twice_goes_back_one(short):
    tl = short.timeline
    step2, step3 = first_segment(tl, 1), first_segment(tl, 2)
    into = first_heard(tl, step3) / RATE + LEAD + 6.0  # six seconds into step 3
    # Mid-step: back to its start. Pressed again at once: the step before.
    result, sink, _, _ = run(short, [(into, Command.PREVIOUS), (into + 0.5, Command.PREVIOUS)])
    assert result.finished
    assert np.array_equal(sink.takes[1].samples, expected_take(short, first_heard(tl, step3)))
    assert np.array_equal(sink.takes[2].samples, expected_take(short, first_heard(tl, step2)))
    # Once the step has played a while, a single press restarts it again.
    _, sink, _, _ = run(short, [(into, Command.PREVIOUS), (into + 10.0, Command.PREVIOUS)])
    assert np.array_equal(sink.takes[2].samples, expected_take(short, first_heard(tl, step3)))
    # Within two seconds of a step's start (counting from after the lead-in): the one before.
    _, sink, _, _ = run(short, [(first_heard(tl, step3) / RATE + LEAD + 1.5, Command.PREVIOUS)])
    assert np.array_equal(sink.takes[1].samples, expected_take(short, first_heard(tl, step2)))
    # In the first step, going back reaches the introduction.
    _, sink, _, _ = run(short, [(0.5, Command.PREVIOUS)], start_at="1")
    assert np.array_equal(sink.takes[1].samples, expected_take(short, 0))


def test_previous_and_next_while_paused_play_from_the_new_place(short):
    tl = short.timeline
    step3 = first_segment(tl, 2)
    hold = first_segment(tl, 1, "hold", "left")
    t = hold.start / RATE + LEAD + 3
    result, sink, shown, _ = run(short, [(t, Command.PAUSE), (t + 5, Command.NEXT)])
    assert result.finished
    assert np.array_equal(sink.takes[1].samples, expected_take(short, first_heard(tl, step3)))
    assert sink.takes[1].started == pytest.approx(sink.takes[0].started + t + 5)


def test_quit_stops_at_once_and_reports_where(short):
    tl = short.timeline
    result, sink, shown, clock = run(short, [(12.0, Command.QUIT)])
    assert result == play.PlayResult(finished=False, position=round((12.0 - LEAD) * RATE))
    assert sink.takes[0].handle.stopped
    assert shown.shown[-1].state == "stopped" and shown.closed
    assert clock.t - sink.takes[0].started == pytest.approx(12.0)
    assert result.position < tl.length


def test_keys_are_opened_and_closed_even_on_ctrl_c(short):
    clock = FakeClock()
    sink = FakeSink(clock)

    class Interrupting(ScriptedKeys):
        def read(self, timeout):
            if clock.t - self.origin > 3:
                raise KeyboardInterrupt
            return super().read(timeout)

    keys = Interrupting(clock, [])
    shown = RecordingDisplay()
    with pytest.raises(KeyboardInterrupt):
        play.play(short, sink=sink, clock=clock, keys=keys, display=shown)
    assert keys.opened and keys.closed and shown.closed
    assert sink.takes[0].handle.stopped


# -- --start-at ------------------------------------------------------------------------------


def test_start_at_a_step_number_or_title(short):
    tl = short.timeline
    for spec, step in (("3", 2), (" 1 ", 0), ("long press", 3), ("Long Press", 3), ("collarbone", 1)):
        assert play.start_position(tl, spec) == first_heard(tl, first_segment(tl, step)), spec
    result, sink, _, _ = run(short, start_at="long")
    assert np.array_equal(sink.takes[0].samples, expected_take(short, first_heard(tl, first_segment(tl, 3))))
    assert result.finished


def test_start_at_prefers_an_exact_title():
    routine = Routine(
        id="two",
        title="Two",
        steps=(
            Step("hold", "Press the calf.", 5000, title="Calf press long"),
            Step("hold", "Press.", 5000, title="Calf press"),
        ),
        cues=Cues(prep_ms=0),
    )
    tl = make_session(routine).timeline
    assert play.start_position(tl, "calf press") == first_heard(tl, first_segment(tl, 1))
    assert play.start_position(tl, "calf") == first_heard(tl, first_segment(tl, 0))


def test_start_at_something_that_is_no_step_says_which_steps_there_are(short):
    with pytest.raises(ValueError, match=r"there is no step 9: the steps are 1 .*; 6 "):
        play.start_position(short.timeline, "9")
    with pytest.raises(ValueError, match=r"no step title contains 'hamstring': the steps are 1 "):
        play.start_position(short.timeline, "hamstring")
    with pytest.raises(ValueError):
        play.start_position(short.timeline, "0")


# -- the sound device ------------------------------------------------------------------------


def test_no_device_raises_audio_device_error_suggesting_export(short):
    class Broken:
        def start(self, samples, rate):
            raise errors.AudioDeviceError("No sound device could be opened (ALSA: Unknown PCM default).")

    shown = RecordingDisplay()
    with pytest.raises(errors.AudioDeviceError) as caught:
        play.play(short, sink=Broken(), clock=FakeClock(), display=shown)
    message = str(caught.value)
    assert "No sound device" in message
    assert "holdcue export shoulders -o shoulders.mp3" in message
    assert shown.closed


def test_simpleaudio_failures_become_clear_errors(monkeypatch):
    import simpleaudio
    from simpleaudio._simpleaudio import SimpleaudioError

    def busy(*args):
        raise SimpleaudioError("Error opening PCM device. -- CODE: -16 -- MSG: Device or resource busy")

    monkeypatch.setattr(simpleaudio, "play_buffer", busy)
    with pytest.raises(errors.AudioDeviceError, match=r"^The sound device is busy .*close the program"):
        play.SimpleaudioSink().start(np.ones(10, np.int16), RATE)
    with pytest.raises(ValueError):
        play.SimpleaudioSink().start(np.zeros(0, np.int16), RATE)


def test_a_device_with_no_default_pcm_gives_a_clear_message_and_no_alsa_noise(tmp_path):
    """Real ALSA, given a configuration without a default device (wherever this runs)."""
    config = tmp_path / "alsa.conf"
    config.write_text("# no devices at all\n")
    code = (
        "import numpy, holdcue.play as p, holdcue.errors as e\n"
        "try:\n"
        "    p.SimpleaudioSink().start(numpy.ones(2205, numpy.int16), 22050)\n"
        "except e.AudioDeviceError as error:\n"
        "    print(error)\n"
    )
    env = {**os.environ, "ALSA_CONFIG_PATH": str(config)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("No sound device could be opened (ALSA: Unknown PCM default)")
    assert "ALSA lib" not in done.stderr


def test_a_device_lost_during_playback_is_an_audio_device_error(short):
    clock = FakeClock()

    class Unplugged(FakeSink):
        def start(self, samples, rate):
            handle = super().start(samples, rate)
            handle.until = clock.t + 30.0  # stops playing after thirty seconds
            return handle

    with pytest.raises(errors.AudioDeviceError, match=r"(?s)stopped at 0:29.*unplugged.*holdcue export"):
        play.play(short, sink=Unplugged(clock), clock=clock, display=RecordingDisplay())


def test_a_sound_card_clock_a_little_fast_is_no_lost_device(long_session):
    """Sound card clocks differ from the system's (by 140 parts per million on the machine
    this was written on): a long take may end seconds before the system clock says it should."""
    clock = FakeClock()

    class Fast(FakeSink):
        def start(self, samples, rate):
            handle = super().start(samples, rate)
            handle.until = clock.t + len(samples) / rate * (1 - 1000e-6)  # two seconds early
            return handle

    result = play.play(long_session, sink=Fast(clock), clock=clock, display=RecordingDisplay())
    assert result.finished


def test_an_empty_buffer_is_never_played(short):
    clock = FakeClock()
    sink = FakeSink(clock)
    player = play.Player(short.timeline, short.clips, short.tones, sink=sink, clock=clock, lead_in=0)
    player.start(short.timeline.length)
    assert sink.takes == [] and player.state == "finished"


def test_a_stopped_take_is_let_go_before_the_next_starts(short):
    """Without mixing, a device is busy until a stopped take has played out."""
    clock = FakeClock()
    order = []

    class Draining(FakeHandle):
        def stop(self):
            order.append(("stop", clock.t))
            self.until = min(self.until, clock.t + 0.15)  # plays out what the device holds

        def is_playing(self):
            return clock.t < self.until

    class Sink(FakeSink):
        def start(self, samples, rate):
            order.append(("start", clock.t))
            handle = Draining(clock, len(samples) / rate)
            self.takes.append(Take(clock.t, samples, handle))
            return handle

    keys = ScriptedKeys(clock, [(5.0, Command.NEXT)])
    play.play(short, sink=Sink(clock), clock=clock, keys=keys, display=RecordingDisplay())
    (_, t0), (_, stopped), (_, restarted) = order[:3]
    assert restarted - stopped >= 0.15


# -- keys --------------------------------------------------------------------------------------


def test_keys_and_escape_sequences_become_commands():
    assert controls.commands(b" npq") == [Command.PAUSE, Command.NEXT, Command.PREVIOUS, Command.QUIT]
    assert controls.commands(b"\x1b[C\x1b[D\x1bOC\x1b[6~\x1b[5~") == [
        Command.NEXT,
        Command.PREVIOUS,
        Command.NEXT,
        Command.NEXT,
        Command.PREVIOUS,
    ]
    assert controls.commands(b"\x1b") == [Command.QUIT]
    assert controls.commands(b"\x1b\x1b[C") == [Command.QUIT, Command.NEXT]
    assert controls.commands(b"xyz\x1b[15~") == []  # other keys, F5: nothing
    assert controls.split_keys(b"a\x1b[1;5Cb") == [b"a", b"\x1b[1;5C", b"b"]


def test_terminal_keys_use_cbreak_and_restore_the_terminal():
    master, slave = pty.openpty()
    try:
        with open(slave, closefd=False) as stream:
            keys = controls.terminal_keys(stream)
        assert keys is not None
        before = termios.tcgetattr(slave)
        keys.open()
        during = termios.tcgetattr(slave)
        assert not during[3] & termios.ICANON and not during[3] & termios.ECHO
        assert during[3] & termios.ISIG  # Ctrl-C still interrupts
        assert keys.read(0.01) == []
        os.write(master, b" \x1b[C")
        assert keys.read(1.0) == [Command.PAUSE, Command.NEXT]
        os.write(master, b"\x1b")  # an arrow whose bytes arrive apart
        began = time.monotonic()
        os.write(master, b"[D")
        assert keys.read(1.0) == [Command.PREVIOUS]
        os.write(master, b"\x1b")  # Esc alone: quit, once nothing follows
        assert keys.read(1.0) == [Command.QUIT]
        assert time.monotonic() - began < 1.0
        keys.close()
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_no_keys_for_a_background_job():
    """A background job that changed the terminal's mode would be stopped (SIGTTOU)."""
    from audio_stack import PtyChild

    script = (
        "import os, sys\n"
        "from holdcue import controls\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.setpgid(0, 0)\n"
        "    print('background keys:', controls.terminal_keys(sys.stdin) is not None, flush=True)\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print('foreground keys:', controls.terminal_keys(sys.stdin) is not None, flush=True)\n"
    )
    child = PtyChild([sys.executable, "-c", script], dict(os.environ))
    try:
        assert child.wait(30) == 0
        assert "background keys: False" in child.text() and "foreground keys: True" in child.text()
    finally:
        child.close()


# -- the command -------------------------------------------------------------------------------


def test_cli_play_turns_a_device_error_into_its_exit_code(monkeypatch, short):
    from click.testing import CliRunner

    from holdcue import cli, session
    from holdcue.exitcodes import ExitCode

    def broken(self, samples, rate):
        raise errors.AudioDeviceError("No sound device could be opened (ALSA: Unknown PCM default): check it.")

    monkeypatch.setattr(session, "build", lambda routine, **kw: dataclasses.replace(short, routine=routine))
    monkeypatch.setattr(play.SimpleaudioSink, "start", broken)
    result = CliRunner().invoke(cli.cli, ["play", "shoulders-and-chest"])
    assert result.exit_code == ExitCode.AUDIO_UNAVAILABLE, result.output
    assert "No sound device could be opened" in result.output
    assert "holdcue export shoulders-and-chest -o shoulders-and-chest.mp3" in result.output
    assert "Traceback" not in result.output


def test_cli_play_refuses_an_unknown_start_step(monkeypatch, short):
    from click.testing import CliRunner

    from holdcue import cli, session
    from holdcue.exitcodes import ExitCode

    monkeypatch.setattr(session, "build", lambda routine, **kw: dataclasses.replace(short, routine=routine))
    result = CliRunner().invoke(cli.cli, ["play", "shoulders-and-chest", "--start-at", "42"])
    assert result.exit_code == ExitCode.USAGE
    assert "--start-at" in result.output and "there is no step 42" in result.output


def test_the_routines_voice_volume_reaches_the_stream(short):
    voice = dataclasses.replace(short.routine.voice, volume=0.5)
    quiet = dataclasses.replace(short, routine=dataclasses.replace(short.routine, voice=voice))
    loud_take = run(short)[1].takes[0].samples.astype(float)
    quiet_take = run(quiet)[1].takes[0].samples.astype(float)
    offset = round(LEAD * RATE)
    for event in short.timeline.events[:12]:
        piece = slice(offset + event.start, offset + event.end)
        ratio = np.abs(quiet_take[piece]).max() / np.abs(loud_take[piece]).max()
        assert ratio == pytest.approx(0.5 if event.kind == "speech" else 1.0, abs=0.01), event
