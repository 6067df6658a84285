"""`holdcue play` end to end through a real audio stack: ALSA -> PulseAudio -> a null sink
whose monitor is recorded in real time, with real espeak-ng speech. What was heard is
found in the recording and checked against the timeline."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import termios
import time
from pathlib import Path

import numpy as np
import pytest

from audio_stack import RATE, NullSink, PtyChild, Recorder, find, holdcue, missing
from holdcue import library, play, session, speech
from holdcue.render import render
from holdcue.speech import ClipCache
from play_helpers import said_alone
from speech_support import HAVE_ESPEAK

FIXTURE = str(Path(__file__).parent / "fixtures" / "play" / "short.yaml")
LACKING = missing() + ([] if HAVE_ESPEAK else ["espeak-ng"])
EXACT = RATE // 1000  # 1 ms, in samples

pytestmark = [
    pytest.mark.audio,
    pytest.mark.speech,
    pytest.mark.skipif(
        bool(LACKING) and os.environ.get("CI") != "true",
        reason=f"needs {', '.join(LACKING)}",
    ),
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def fixture(cache):
    """The short routine's session, with its speech made in the cache the command uses."""
    return session.build(library.load_routine(FIXTURE), cache=ClipCache(cache / "speech"))


@pytest.fixture(scope="module", params=play.OUTPUTS)
def env(request, tmp_path_factory, cache):
    """Every test runs once for each output: the streaming one and simpleaudio."""
    if LACKING:
        pytest.fail(f"the audio end-to-end tests need {', '.join(LACKING)} (CI=true: they may not be skipped)")
    with NullSink(tmp_path_factory.mktemp("pulse")) as stack:
        yield {**stack.env, "HOLDCUE_CACHE_DIR": str(cache), "HOLDCUE_OUTPUT": request.param}


def lead_in(env) -> float:
    """The silence before what a key starts: simpleaudio opens the device for each take, so
    each begins with the lead-in; the stream's device has been open since the session began,
    so it has settled and a key is answered at once."""
    return play.LEAD_IN if env["HOLDCUE_OUTPUT"] == "simpleaudio" else 0.0


def words(fixture, cache, *texts: str) -> dict[str, np.ndarray]:
    """Words holdcue says outside the timeline ("Paused.", "Two seconds left."), as they
    sound: made with the routine's voice in the cache the command uses, levelled alike."""
    clips = speech.synthesize_all(texts, fixture.routine.voice, cache=ClipCache(cache / "speech"), workers=1)
    with_words = dataclasses.replace(fixture, clips={**fixture.clips, **clips})
    return {text: said_alone(with_words, "speech", text) for text in texts}


def sounds(fixture) -> dict[int, np.ndarray]:
    """Every event of the timeline as it sounds in the mix, by index."""
    tl = fixture.timeline
    return {i: render(tl, fixture.clips, fixture.tones, start=e.start, stop=e.end) for i, e in enumerate(tl.events)}


def heard(recording: np.ndarray, fixture) -> list[tuple[int, int]]:
    """(onset in the recording, event index) of every event of the timeline found in it.
    The same text or tone sounds the same each time, so each match is listed under every
    event that sounds like it; callers pick."""
    found = []
    templates: dict[bytes, list[int]] = {}
    for i, sound in sounds(fixture).items():
        templates.setdefault(sound.tobytes(), []).append(i)
    for key, events in templates.items():
        template = np.frombuffer(key, np.int16)
        for at in find(recording, template):
            found.extend((at, i) for i in events)
    return sorted(found)


def test_every_cue_sounds_exactly_where_the_timeline_puts_it(env, fixture):
    tl = fixture.timeline
    with Recorder(env) as recorder:
        done = subprocess.run(holdcue("play", FIXTURE), env=env, capture_output=True, text=True, timeout=120)
        time.sleep(0.3)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    # No terminal: one plain line per segment.
    lines = done.stdout.splitlines()
    assert lines[0] == "0:00  Introduction" and lines[-1].endswith("Session complete")
    assert len(lines) == len(tl.segments)

    recording = recorder.recording().samples
    found = heard(recording, fixture)
    # Each event, in order: the one match that fits the order of the session.
    onsets = []
    for i, event in enumerate(tl.events):
        candidates = [at for at, j in found if j == i and (not onsets or at > onsets[-1])]
        assert candidates, f"not heard: {event}"
        onsets.append(candidates[0])
    first = tl.events[0].start
    errors = [(at - onsets[0]) - (e.start - first) for at, e in zip(onsets, tl.events, strict=True)]
    assert max(abs(e) for e in errors) <= EXACT, f"onset errors in samples: {errors}"
    assert sum(e.kind == "tone" for e in tl.events) >= 9


def test_pause_resume_and_skip_are_heard_as_they_should_be(env, fixture, cache):
    tl = fixture.timeline
    events = tl.events
    left = next(s for s in tl.segments if s.phase == "hold" and s.side == "left")
    start_left = next(i for i, e in enumerate(events) if e.name == "start" and e.start == left.start)
    tick_left = next(i for i, e in enumerate(events) if e.name == "tick" and left.start < e.start < left.end)
    end_left = next(i for i, e in enumerate(events) if e.name == "end" and e.start == left.end)
    announce = next(i for i, e in enumerate(events) if e.kind == "speech" and e.text.startswith("Next: Press"))
    hands = next(i for i, e in enumerate(events) if e.kind == "speech" and e.text.startswith("Next: Relax"))
    hands_tones = [i for i, e in enumerate(events) if e.kind == "tone" and e.start > events[hands].start]
    said = words(fixture, cache, "Paused.", "Resuming.", *(f"{n} seconds left." for n in ("Two", "Three")))
    said["One second left."] = words(fixture, cache, "One second left.")["One second left."]
    start_tone = len(fixture.tones["start"])

    with Recorder(env) as recorder:
        child = PtyChild(holdcue("play", FIXTURE, "--start-at", "1"), env)
        try:
            seen = child.wait_for("hold ·", 30)  # the left hold has begun
            assert not termios.tcgetattr(child.slave)[3] & termios.ICANON  # keys arrive at once
            time.sleep(0.9)
            paused_at = child.send(b" ")  # before the tick: it must wait for the resume
            seen = child.wait_for("PAUSED", 5, seen)
            time.sleep(1.5)
            resumed_at = child.send(b" ")
            seen = child.wait_for("· right side", 30, seen)  # the change of side has begun
            time.sleep(1.0)
            skipped_at = child.send(b"n")
            code = child.wait(60)
        finally:
            restored = termios.tcgetattr(child.slave)
            child.close()
        time.sleep(0.3)
    assert code == 0, child.text()
    assert restored[3] == child.initial[3]  # the terminal is as it was
    rec = recorder.recording()
    found = heard(rec.samples, fixture)

    def onsets(index: int) -> list[int]:
        return [at for at, i in found if i == index]

    # Start tones: the left hold's, again when it went on, then (the right side skipped)
    # the next step's.
    starts = onsets(start_left)
    assert len(starts) == 3
    start, restart = starts[:2]
    held_before = paused_at - rec.time_of(start)
    assert 0.8 < held_before < 2.0
    # "Paused." at once, then silence, though the tick was due.
    (paused_words,) = find(rec.samples, said["Paused."])
    assert lead_in(env) - 0.05 < rec.time_of(paused_words) - paused_at < lead_in(env) + 0.5
    quiet = rec.samples[paused_words + len(said["Paused."]) + RATE // 10 : rec.sample_at(resumed_at)]
    assert len(quiet) > RATE // 2 and not np.any(np.abs(quiet.astype(int)) > 30)
    # On resume: "Resuming." a lead-in after the key, the time left, the start tone; the
    # announcement is not said again.
    (again,) = find(rec.samples, said["Resuming."])
    assert lead_in(env) - 0.05 < rec.time_of(again) - resumed_at < lead_in(env) + 0.5
    told = [text for text in said if text.endswith(" left.") and find(rec.samples, said[text])]
    assert len(told) == 1
    (left_at,) = find(rec.samples, said[told[0]])
    assert again < left_at < restart
    assert len(onsets(announce)) == 1
    # ...then the hold goes on with the time it had left, from the end of the start tone:
    # its tick and end tone exactly a second apart, and the hold heard in two parts adds
    # up to its length.
    assert not [t for t in onsets(tick_left) if start < t < restart]
    tick = min(t for t in onsets(tick_left) if t > restart)
    end = min(t for t in onsets(end_left) if t > restart)
    assert abs((end - tick) - (events[end_left].start - events[tick_left].start)) <= EXACT
    went_on = restart + start_tone
    held_after = (end - went_on) / RATE
    spoken_left = {"One second left.": 1, "Two seconds left.": 2, "Three seconds left.": 3}[told[0]]
    assert abs(spoken_left - held_after) <= 0.5
    assert held_before + held_after == pytest.approx((left.end - left.start) / RATE, abs=0.08)
    # After "n" during the change of side: the next step, exactly as the timeline has it.
    (next_step,) = onsets(hands)
    assert lead_in(env) - 0.05 < rec.time_of(next_step) - skipped_at < lead_in(env) + 0.6
    for i in hands_tones:
        matches = [at for at in onsets(i) if at > next_step]
        assert matches, f"not heard after the skip: {events[i]}"
        assert abs((matches[0] - next_step) - (events[i].start - events[hands].start)) <= EXACT


def test_ctrl_c_silences_at_once_exits_130_and_restores_the_terminal(env, fixture):
    with Recorder(env) as recorder:
        child = PtyChild(holdcue("play", FIXTURE), env)
        try:
            child.wait_for("Introduction", 30)
            time.sleep(1.0)  # the introduction is being spoken
            interrupted_at = child.send(b"\x03")
            code = child.wait(10)
            exited_at = time.monotonic()
        finally:
            restored = termios.tcgetattr(child.slave)
            child.close()
        time.sleep(1.2)
    assert code == 130, child.text()
    assert exited_at - interrupted_at < 2.0
    assert "Interrupted" in child.text() and "Traceback" not in child.text()
    assert restored[3] == child.initial[3]
    rec = recorder.recording()
    before = rec.samples[rec.sample_at(interrupted_at - 0.3) : rec.sample_at(interrupted_at)]
    after = rec.samples[rec.sample_at(interrupted_at + 0.4) :]
    assert np.any(before != 0), "nothing was playing"
    assert len(after) > RATE // 2 and not np.any(after != 0), "the sound went on after Ctrl-C"


def test_q_says_the_session_ended_and_shows_where(env, fixture, cache):
    ended = words(fixture, cache, "Session ended.")["Session ended."]
    with Recorder(env) as recorder:
        child = PtyChild(holdcue("play", FIXTURE, "--start-at", "hands"), env)
        try:
            child.wait_for("Keys: space pause/resume", 30)
            child.wait_for("Hands", 30)
            time.sleep(1.0)
            quit_at = child.send(b"q")
            code = child.wait(10)
            exited_at = time.monotonic()
        finally:
            child.close()
        time.sleep(1.2)
    assert code == 0, child.text()
    said_for = len(ended) / RATE
    assert exited_at - quit_at < 2.0 + said_for
    rec = recorder.recording()
    (said_at,) = find(rec.samples, ended)
    assert lead_in(env) - 0.05 < rec.time_of(said_at) - quit_at < lead_in(env) + 0.5
    after = rec.samples[said_at + len(ended) + RATE // 10 :]
    assert len(after) > RATE // 2 and not np.any(after != 0)
    last = child.text().rstrip().splitlines()[-1]
    assert "Session ended at 0:" in last  # the last line on screen says so, under where it was


def _read_until(stream, text: str, timeout: float) -> str:
    """Lines from ``stream`` until one holds ``text``."""
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        line = stream.readline()
        seen += line
        if text in line or not line:
            return seen
    return seen


def test_sigterm_without_a_terminal_stops_the_sound_at_once_and_exits_143(env, fixture):
    """As a service manager stops it: no terminal, SIGTERM."""
    with Recorder(env) as recorder:
        child = subprocess.Popen(
            holdcue("play", FIXTURE),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert "Introduction" in _read_until(child.stdout, "Introduction", 30)
            time.sleep(1.0)  # the introduction is being spoken
            stopped_at = time.monotonic()
            child.send_signal(signal.SIGTERM)
            code = child.wait(10)
            exited_at = time.monotonic()
            err = child.stderr.read()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()
            child.stderr.close()
        time.sleep(1.2)
    assert code == 143, err
    assert exited_at - stopped_at < 2.0
    assert "Stopped (SIGTERM)" in err and "Traceback" not in err
    rec = recorder.recording()
    before = rec.samples[rec.sample_at(stopped_at - 0.3) : rec.sample_at(stopped_at)]
    after = rec.samples[rec.sample_at(stopped_at + 0.4) :]
    assert np.any(before != 0), "nothing was playing"
    assert len(after) > RATE // 2 and not np.any(after != 0), "the sound went on after SIGTERM"


def test_sighup_stops_the_sound_exits_129_and_restores_the_terminal(env, fixture):
    with Recorder(env) as recorder:
        child = PtyChild(holdcue("play", FIXTURE), env)
        try:
            child.wait_for("Introduction", 30)
            assert not termios.tcgetattr(child.slave)[3] & termios.ICANON  # cbreak while playing
            time.sleep(1.0)
            hung_up_at = time.monotonic()
            child.process.send_signal(signal.SIGHUP)
            code = child.wait(10)
        finally:
            restored = termios.tcgetattr(child.slave)
            child.close()
        time.sleep(1.2)
    assert code == 129, child.text()
    assert restored[3] == child.initial[3]
    assert "Stopped (SIGHUP)" in child.text() and "Traceback" not in child.text()
    rec = recorder.recording()
    after = rec.samples[rec.sample_at(hung_up_at + 0.4) :]
    assert len(after) > RATE // 2 and not np.any(after != 0)


def test_alsas_own_lines_are_counted_not_shown(env, fixture):
    """A machine too busy to feed the device (the process stopped three times for 0.8 s):
    alsa-lib writes "underrun occurred" to stderr from the audio thread. None of it reaches
    the terminal; one line at the end says how many there were, and the session ends well."""
    process = subprocess.Popen(holdcue("play", FIXTURE), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(3)
        for _ in range(3):
            process.send_signal(signal.SIGSTOP)
            time.sleep(0.8)
            process.send_signal(signal.SIGCONT)
            time.sleep(0.5)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out.decode().splitlines()[-1].endswith("Session complete")
    said = err.decode().splitlines()
    assert not [line for line in said if line.startswith("ALSA lib")], said
    if env["HOLDCUE_OUTPUT"] == "stream":  # simpleaudio's short takes may not run dry
        assert len(said) == 1 and said[0].startswith("holdcue: ALSA said 'underrun occurred'"), said


def test_a_routine_that_does_not_exist_is_said_alone(env):
    """The device is opened before the arguments are read (for a quicker start): what
    ALSA says while it opens and closes stays out of the way of the one line that matters."""
    done = subprocess.run(holdcue("play", "nosuchroutine"), env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    expected = 'Error: no routine called "nosuchroutine". Run "holdcue list" to see every routine.'
    assert done.stderr.splitlines() == [expected]
