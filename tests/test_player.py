"""Live playback's scheduler with a fake clock, sink, keys and display: what each take
(one buffer handed to the sink) holds, where commands move the session, and what is said
when a key is pressed."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from holdcue import errors, play, terminal
from holdcue.compiler import ENGLISH
from holdcue.controls import Command
from holdcue.render import render
from holdcue.routine import Cues, Routine, Step
from holdcue.timeline import Event, Segment, Timeline
from play_helpers import (
    LEAD,
    RATE,
    FakeClock,
    FakeHandle,
    FakeSink,
    FakeSpeak,
    RecordingDisplay,
    ScriptedKeys,
    Take,
    assert_onsets_exact,
    expected_take,
    first_heard,
    first_segment,
    make_session,
    position_at,
    prefix_of,
    resume_words,
    run,
    segment_index,
    short_session,
)
from play_helpers import long_session as make_long_session

PAUSED = [("speech", "Paused.")]
RESUMING = [("speech", "Resuming.")]
ENDED = [("speech", "Session ended.")]


@pytest.fixture(scope="module")
def short():
    return short_session()


@pytest.fixture(scope="module")
def long_session():
    return make_long_session()


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


# -- a half-hour session with pauses and skips -------------------------------------------------


def test_half_hour_session_with_pauses_and_skips_is_exact_and_fast(long_session):
    s = long_session
    tl = s.timeline
    lead = round(LEAD * RATE)
    segments = tl.segments
    holds = [g for g in segments if g.phase == "hold"]
    hold = holds[4]  # the right side of the first round of the stretch
    assert (hold.side, hold.round) == ("right", 1)
    # When each command comes (seconds on the session's clock), worked out from the timeline:
    t1 = hold.start / RATE + LEAD + 7.3  # pause 7.3 s into the hold
    t2 = t1 + 95.0  # resume after a long pause
    paused = hold.start + round(7.3 * RATE)
    said = resume_words(s, paused)  # "Resuming.", the time left, the start tone
    left = (hold.end - paused) / RATE  # 7.7 s: said to the second
    assert said == [("speech", "Resuming."), ("speech", "Eight seconds left."), ("tone", "start")], left
    prefix2 = len(prefix_of(s, said))
    t3 = t2 + 40.0  # skip to the next step
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
    # a fake clock: half an hour of playing takes no real time (the margin is for a Raspberry Pi;
    # scripts/bench_play.py measures the real speed)
    assert elapsed < 5.0, f"took {elapsed:.2f} s of real time"
    assert result.finished and result.position == tl.length

    resuming = len(prefix_of(s, RESUMING))
    expected = [  # (clock time it starts, origin, words, prefix); origin None: words alone
        (0.0, 0, [], lead),
        (t1, None, PAUSED, None),
        (t2, paused, said, prefix2),
        (t3, first_heard(tl, step3), [], lead),
        (t4, None, PAUSED, None),
        (t5, first_heard(tl, lead_up), RESUMING, resuming),
        (t6, first_heard(tl, restart), [], lead),
    ]
    origin_time = sink.takes[0].started
    assert len(sink.takes) == len(expected)
    for take, (t, origin, words, prefix) in zip(sink.takes, expected, strict=True):
        assert take.started == pytest.approx(origin_time + t)
        if origin is None:  # said at once when the key is pressed
            assert np.array_equal(take.samples, prefix_of(s, words))
            continue
        assert np.array_equal(take.samples, expected_take(s, origin, words))
        assert_onsets_exact(s, take, origin, prefix)
    assert [t.handle.stopped for t in sink.takes] == [True] * 6 + [False]

    # The hold that was paused: the time heard before the pause and after it add up to
    # the hold's length; its end tone sounds exactly the time it had left after it went on.
    end_tone = next(e for e in tl.events if e.name == "end" and e.start == hold.end)
    at = prefix2 + end_tone.start - paused
    assert np.array_equal(
        sink.takes[2].samples[at : at + end_tone.end - end_tone.start],
        render(tl, s.clips, s.tones, start=end_tone.start, stop=end_tone.end),
    )
    assert (paused - hold.start) + (at - prefix2) == hold.end - hold.start
    assert any(st.state == "paused" for st in shown.shown)
    assert shown.shown[-1].state == "finished"


def test_pause_in_a_hold_says_the_time_left_then_the_start_tone_and_keeps_it(short):
    tl = short.timeline
    hold = first_segment(tl, 1, "hold", "right")
    t = hold.start / RATE + LEAD + 20.0
    speak = FakeSpeak()
    result, sink, shown, _ = run(short, [(t, Command.PAUSE), (t + 10.0, Command.PAUSE)], speak=speak)
    assert result.finished
    first, paused_words, second = sink.takes
    lead = round(LEAD * RATE)
    paused = position_at(first, first.started + t, 0, lead)
    assert paused == hold.start + 20 * RATE
    # "Paused." is heard at once, alone; the session take stopped.
    assert first.handle.stopped and paused_words.started == pytest.approx(first.started + t)
    assert np.array_equal(paused_words.samples, prefix_of(short, PAUSED))
    # On resume: "Resuming.", the time actually left (not the hold's full time), the start tone.
    assert (hold.end - hold.start) / RATE == 60 and (hold.end - paused) / RATE == 40
    said = [("speech", "Resuming."), ("speech", "Forty seconds left."), ("tone", "start")]
    assert resume_words(short, paused) == said
    assert speak.said == ["Forty seconds left."]  # made while paused, once; the rest were the session's
    assert np.array_equal(second.samples, expected_take(short, paused, said))
    # Everything after the start tone is where it was, shifted by the pause alone: the
    # hold goes on from the sample where it paused, as the tone ends.
    prefix = len(prefix_of(short, said))
    tone = short.tones["start"]
    alone = Timeline(
        "", RATE, len(tone), (Event(0, len(tone), "tone", name="start"),), (Segment("", "hold", 0, len(tone)),)
    )
    assert np.array_equal(second.samples[prefix - len(tone) : prefix], render(alone, {}, short.tones))
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
    assert any(s.state == "paused" for s in shown.shown)


def test_the_time_left_is_said_to_the_second_when_short_and_to_five_seconds_otherwise():
    assert play.time_left_words(35.3, ENGLISH) == "Thirty-five seconds left."
    assert play.time_left_words(37.4, ENGLISH) == "Thirty-five seconds left."
    assert play.time_left_words(37.6, ENGLISH) == "Forty seconds left."
    assert play.time_left_words(12.5, ENGLISH) == "Thirteen seconds left."
    assert play.time_left_words(7.2, ENGLISH) == "Seven seconds left."
    assert play.time_left_words(0.2, ENGLISH) == "One second left."
    assert play.time_left_words(92.0, ENGLISH) == "One minute thirty left."
    assert play.time_left_words(60.0, ENGLISH) == "One minute left."


def test_without_clips_or_speak_for_the_words_keys_act_in_silence(short):
    """A session built without the control phrases, and no speak function: the words are
    left out (the start tone stays), and everything else is as before."""
    bare = make_session(short.routine, control_phrases=False)
    tl = bare.timeline
    hold = first_segment(tl, 1, "hold", "right")
    t = hold.start / RATE + LEAD + 20.0
    clock = FakeClock()
    sink = FakeSink(clock)
    keys = ScriptedKeys(clock, [(t, Command.PAUSE), (t + 10.0, Command.PAUSE)])
    terminal.play(bare, sink=sink, clock=clock, keys=keys, display=RecordingDisplay())
    first, second = sink.takes  # no take for "Paused."
    paused = hold.start + 20 * RATE
    assert np.array_equal(second.samples, expected_take(bare, paused, [("tone", "start")]))


def test_pause_in_the_middle_of_a_cue_leaves_its_rest_out(short):
    tl = short.timeline
    hold = first_segment(tl, 1, "hold", "left")
    breathe = next(e for e in tl.events if e.text == "Breathe slowly." and e.segment == tl.segments.index(hold))
    t = (breathe.start + 100) / RATE + LEAD
    _, sink, _, _ = run(short, [(t, Command.PAUSE), (t + 1, Command.PAUSE), (t + 2, Command.QUIT)])
    paused = breathe.start + 100
    said = resume_words(short, paused)
    expected = expected_take(short, paused, said)
    resumed = sink.takes[2]
    assert np.array_equal(resumed.samples[: len(expected) // 2], expected[: len(expected) // 2])
    prefix = len(prefix_of(short, said))
    assert not resumed.samples[prefix : prefix + breathe.end - paused].any()


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
    resumed = sink.takes[2]
    assert np.array_equal(resumed.samples, expected_take(short, speech.start, RESUMING))
    assert resumed.samples[round(LEAD * RATE)] != 0  # "Resuming." at once
    assert resumed.samples[len(prefix_of(short, RESUMING))] != 0  # then the announcement


def test_pausing_twice_in_a_row_and_pausing_during_the_lead_in(short):
    tl = short.timeline
    hold = first_segment(tl, 1, "hold", "left")
    t = hold.start / RATE + LEAD + 5
    # Pause, resume, and pause again while the words before the hold play: it resumes at
    # the same place, with the words again.
    script = [(t, Command.PAUSE), (t + 2, Command.PAUSE), (t + 2.1, Command.PAUSE), (t + 4, Command.PAUSE)]
    _, sink, _, _ = run(short, script)
    paused = hold.start + 5 * RATE
    said = resume_words(short, paused)
    assert len(sink.takes) == 5
    for take in sink.takes[1::2]:
        assert np.array_equal(take.samples, prefix_of(short, PAUSED))
    for take in sink.takes[2::2]:
        assert np.array_equal(take.samples, expected_take(short, paused, said))


# -- next, previous, quit ----------------------------------------------------------------------


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


def test_previous_goes_a_step_back_only_within_the_first_seconds_heard(short):
    """As a media player: back to the start of the step, unless it began less than
    AT_START seconds ago (as heard, after the lead-in); no double-press timer."""
    tl = short.timeline
    step2, step3 = first_segment(tl, 1), first_segment(tl, 2)
    start3 = first_heard(tl, step3) / RATE + LEAD
    _, sink, _, _ = run(short, [(start3 + play.AT_START - 0.1, Command.PREVIOUS)])
    assert np.array_equal(sink.takes[1].samples, expected_take(short, first_heard(tl, step2)))
    _, sink, _, _ = run(short, [(start3 + play.AT_START + 0.1, Command.PREVIOUS)])
    assert np.array_equal(sink.takes[1].samples, expected_take(short, first_heard(tl, step3)))
    # Next, then previous at once: back where it was (the step before the new one).
    _, sink, _, _ = run(short, [(start3 + 6.0, Command.NEXT), (start3 + 7.0, Command.PREVIOUS)])
    assert np.array_equal(sink.takes[2].samples, expected_take(short, first_heard(tl, step3)))


def test_previous_and_next_while_paused_play_from_the_new_place(short):
    tl = short.timeline
    step3 = first_segment(tl, 2)
    hold = first_segment(tl, 1, "hold", "left")
    t = hold.start / RATE + LEAD + 3
    result, sink, shown, _ = run(short, [(t, Command.PAUSE), (t + 5, Command.NEXT)])
    assert result.finished
    assert np.array_equal(sink.takes[1].samples, prefix_of(short, PAUSED))
    assert np.array_equal(sink.takes[2].samples, expected_take(short, first_heard(tl, step3)))
    assert sink.takes[2].started == pytest.approx(sink.takes[0].started + t + 5)
    assert sink.takes[1].handle.stopped  # "Paused." does not go on under the new place


def test_quit_stops_at_once_says_session_ended_and_reports_where(short):
    tl = short.timeline
    result, sink, shown, clock = run(short, [(12.0, Command.QUIT)])
    assert result == play.PlayResult(finished=False, position=round((12.0 - LEAD) * RATE))
    assert sink.takes[0].handle.stopped
    assert shown.shown[-1].state == "stopped" and shown.closed
    # The session stopped at 12 s; "Session ended." started then, and was heard out.
    session_take, ended = sink.takes
    assert ended.started - session_take.started == pytest.approx(12.0)
    assert np.array_equal(ended.samples, prefix_of(short, ENDED))
    heard_out = clock.t - ended.started
    assert len(ended.samples) / RATE <= heard_out <= len(ended.samples) / RATE + play.TICK
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
        terminal.play(short, sink=sink, clock=clock, keys=keys, display=shown)
    assert keys.opened and keys.closed and shown.closed
    assert sink.takes[0].handle.stopped


# -- --start-at --------------------------------------------------------------------------------


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


# -- the sound device --------------------------------------------------------------------------


class BrokenSink:
    def start(self, samples, rate):
        raise errors.AudioDeviceError("No sound device could be opened (ALSA: Unknown PCM default).")


def test_no_device_raises_audio_device_error_and_closes_the_display(short):
    shown = RecordingDisplay()
    with pytest.raises(errors.AudioDeviceError) as caught:
        terminal.play(short, sink=BrokenSink(), clock=FakeClock(), display=shown)
    assert str(caught.value) == "No sound device could be opened (ALSA: Unknown PCM default)."
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

    with pytest.raises(errors.AudioDeviceError, match=r"^Playback stopped at 0:29: .*unplugged\?\)\.$"):
        terminal.play(short, sink=Unplugged(clock), clock=clock, display=RecordingDisplay())


def test_a_sound_card_clock_a_little_fast_is_no_lost_device(long_session):
    """Sound card clocks differ from the system's (by 140 parts per million on the machine
    this was written on): a long take may end seconds before the system clock says it should."""
    clock = FakeClock()

    class Fast(FakeSink):
        def start(self, samples, rate):
            handle = super().start(samples, rate)
            handle.until = clock.t + len(samples) / rate * (1 - 1000e-6)  # two seconds early
            return handle

    result = terminal.play(long_session, sink=Fast(clock), clock=clock, display=RecordingDisplay())
    assert result.finished


def test_an_empty_buffer_is_never_played(short):
    clock = FakeClock()
    sink = FakeSink(clock)
    player = play.Player(short, sink=sink, clock=clock, lead_in=0)
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
    terminal.play(short, sink=Sink(clock), clock=clock, keys=keys, display=RecordingDisplay())
    (_, t0), (_, stopped), (_, restarted) = order[:3]
    assert restarted - stopped >= 0.15


# -- volume ------------------------------------------------------------------------------------


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


def _under_way(session, origin: int, volume: float) -> np.ndarray:
    """The session from ``origin`` at ``volume``, sounds under way there included (cut at origin)."""
    tl = session.timeline
    kept = tuple(e for e in tl.events if e.end > origin)
    voice = session.routine.voice.volume
    return render(
        dataclasses.replace(tl, events=kept),
        session.clips,
        session.tones,
        start=origin,
        volume=volume,
        speech_volume=voice,
    )


def test_louder_and_quieter_are_heard_at_once_from_the_same_sample(short):
    tl = short.timeline
    hold = first_segment(tl, 1, "hold", "left")
    breathe = next(e for e in tl.events if e.text == "Breathe slowly." and e.segment == tl.segments.index(hold))
    t = (breathe.start + 400) / RATE + LEAD  # in the middle of a spoken cue
    result, sink, shown, _ = run(short, [(t, Command.LOUDER), (t + 3.0, Command.QUIETER)])
    assert result.finished
    first, louder, quieter = sink.takes
    step = 10 ** (play.VOLUME_STEP_DB / 20)
    lead = round(LEAD * RATE)
    # A new take at once, from the very sample reached: the cue under way goes on, louder.
    at = breathe.start + 400
    assert louder.started == pytest.approx(first.started + t) and first.handle.stopped
    assert np.array_equal(louder.samples[:lead], np.zeros(lead, np.int16))
    assert np.array_equal(louder.samples[lead:], _under_way(short, at, step))
    again = at + 3 * RATE - lead  # three seconds later, less the louder take's lead-in
    assert np.array_equal(quieter.samples[lead:], _under_way(short, again, 1.0))
    # What was louder is louder by the step (where the limiter leaves it alone).
    piece = slice(lead, lead + breathe.end - at)
    quiet = np.abs(first.samples[lead + at : lead + breathe.end].astype(float))
    loud = np.abs(louder.samples[piece].astype(float))
    assert loud.max() / quiet.max() == pytest.approx(step, rel=0.01)
    # The status shows the level.
    assert {round(s.volume, 3) for s in shown.shown} == {1.0, round(step, 3)}


def test_volume_steps_are_clamped_and_a_paused_session_takes_the_new_level_on_resume(short):
    assert play.louder(1.9) == play.MAX_VOLUME == 2.0
    assert play.louder(0.0) == play.MIN_VOLUME  # from silence (--volume 0), the quietest step
    assert play.quieter(play.MIN_VOLUME * 1.1) == play.MIN_VOLUME
    assert play.quieter(1.0) == pytest.approx(10 ** (-3 / 20))
    tl = short.timeline
    hold = first_segment(tl, 1, "hold", "right")
    t = hold.start / RATE + LEAD + 20.0
    script = [(t, Command.PAUSE)] + [(t + 1 + i * 0.1, Command.LOUDER) for i in range(5)] + [(t + 3, Command.PAUSE)]
    _, sink, shown, _ = run(short, script)
    assert len(sink.takes) == 3  # no take while paused: only the level changes
    assert max(s.volume for s in shown.shown) == 2.0
    assert any(s.state == "paused" and s.volume == 2.0 for s in shown.shown)
    resumed = sink.takes[2].samples.astype(float)
    normal = expected_take(short, hold.start + 20 * RATE, resume_words(short, hold.start + 20 * RATE)).astype(float)
    quiet = (np.abs(normal) > 0) & (np.abs(normal) < 0.3 * 32767)  # well below the limiter
    assert np.allclose(resumed[quiet], 2 * normal[quiet], atol=1.5)


def test_a_volume_change_during_the_words_before_a_hold_says_them_again(short):
    tl = short.timeline
    hold = first_segment(tl, 1, "hold", "right")
    t = hold.start / RATE + LEAD + 20.0
    paused = hold.start + 20 * RATE
    _, sink, _, _ = run(short, [(t, Command.PAUSE), (t + 2, Command.PAUSE), (t + 2.3, Command.QUIETER)])
    again = sink.takes[3]
    assert again.started == pytest.approx(sink.takes[0].started + t + 2.3)
    louder = expected_take(short, paused, resume_words(short, paused)).astype(float)
    assert len(again.samples) == len(louder)
    assert 0.6 < np.abs(again.samples).max() / np.abs(louder).max() < 0.8  # -3 dB


def test_a_boosted_mix_never_clips(short):
    """At the loudest (+6 dB) the limiter bends the peaks: no sample wraps around or passes
    full scale, each is at least as loud as at 1.0 and of the same sign, and below the
    limiter the boost is exact."""
    tl = short.timeline
    normal = render(tl, short.clips, short.tones).astype(np.int32)
    boosted = render(tl, short.clips, short.tones, volume=play.MAX_VOLUME).astype(np.int32)
    assert np.abs(boosted).max() <= 32767
    assert np.all(np.sign(boosted) * np.sign(normal) >= 0)
    assert np.all(np.abs(boosted) >= np.abs(normal))
    low = np.abs(normal) < 0.4 * 32767
    assert np.all(np.abs(boosted[low] - 2 * normal[low]) <= 1)
    assert (np.abs(normal) > 0.45 * 32767).any()  # the limiter had work to do


def test_levels_are_a_named_type_given_to_the_renderer(short):
    clock = FakeClock()
    player = play.Player(short, sink=FakeSink(clock), clock=clock, volume=1.5)
    assert player.levels == play.Levels(volume=1.5, speech_volume=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        player.levels.volume = 2.0  # type: ignore[misc]


# -- signals ------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_the_sound_and_close_everything(short, signum):
    """The CLI turns SIGTERM and SIGHUP into errors.Terminated (test_cli.py); on its way
    through play() the sound stops and the keys and display are closed."""
    clock = FakeClock()
    sink = FakeSink(clock)

    class Signalled(ScriptedKeys):
        def read(self, timeout):
            if clock.t - self.origin > 3:
                raise errors.Terminated(signum)
            return super().read(timeout)

    keys = Signalled(clock, [])
    shown = RecordingDisplay()
    with pytest.raises(errors.Terminated) as caught:
        terminal.play(short, sink=sink, clock=clock, keys=keys, display=shown)
    assert caught.value.signum == signum
    assert keys.opened and keys.closed and shown.closed
    assert [t.handle.stopped for t in sink.takes] == [True]  # silenced, and no words
