"""Holds that last until a press, live through a real audio stack (ALSA -> PulseAudio -> a
null sink recorded in real time, real espeak-ng speech): a press while getting into position
starts the hold, a press in the hold ends it with its end tone, each within 100 ms of the key
on the streaming output (simpleaudio's, which opens the device for each take, answers it as
it answers every key), and the rest of the session follows exactly as the timeline has it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from audio_stack import RATE, NullSink, PtyChild, Recorder, holdcue, missing
from holdcue import library, play, session
from holdcue.speech import ClipCache
from speech_support import HAVE_ESPEAK
from test_play_e2e import heard

FIXTURE = str(Path(__file__).parent / "fixtures" / "play" / "until-press.yaml")
LACKING = missing() + ([] if HAVE_ESPEAK else ["espeak-ng"])
EXACT = RATE // 1000  # 1 ms, in samples
PROMPT = 0.1  # seconds from a press to the tone it brings
# simpleaudio opens the device for each take: it answers a press as it answers every key,
# after the lead-in and the device's opening (0.42 to 0.47 s on the machine this was written on)
REOPENED = play.LEAD_IN + 0.6
CLOCK = 0.02  # the recording's times are known to within about 10 ms (audio_stack.Recorder)

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
    return session.build(library.load_routine(FIXTURE), cache=ClipCache(cache / "speech"))


@pytest.fixture(scope="module", params=play.OUTPUTS)
def env(request, tmp_path_factory, cache):
    if LACKING:
        pytest.fail(f"the audio end-to-end tests need {', '.join(LACKING)} (CI=true: they may not be skipped)")
    with NullSink(tmp_path_factory.mktemp("pulse")) as stack:
        yield {**stack.env, "HOLDCUE_CACHE_DIR": str(cache), "HOLDCUE_OUTPUT": request.param}


def test_presses_end_the_wait_and_the_hold_at_once_and_the_rest_follows(env, fixture, tmp_path):
    tl = fixture.timeline
    events = tl.events
    index = {s: i for i, s in enumerate(tl.segments)}
    prepare = next(s for s in tl.segments if s.phase == "prepare" and s.until)
    assert prepare.end - prepare.start == 60 * RATE  # a minute at most, unless pressed
    left = next(s for s in tl.segments if s.phase == "hold" and s.side == "left")
    right = next(s for s in tl.segments if s.phase == "hold" and s.side == "right")
    start_left = next(i for i, e in enumerate(events) if e.name == "start" and e.start == left.start)
    end_left = next(i for i, e in enumerate(events) if e.name == "end" and e.segment == index[left])
    end_right = next(i for i, e in enumerate(events) if e.name == "end" and e.segment == index[right])
    ticks = [i for i, e in enumerate(events) if e.name == "tick"]
    after = [i for i, e in enumerate(events) if left.end < e.start <= right.start]
    assert len(after) == 3  # the switch tone and words, the right side's start tone
    late = REOPENED if env["HOLDCUE_OUTPUT"] == "simpleaudio" else PROMPT

    with Recorder({**env, "HOLDCUE_DATA_DIR": str(tmp_path)}) as recorder:
        child = PtyChild(holdcue("play", FIXTURE), {**env, "HOLDCUE_DATA_DIR": str(tmp_path)})
        try:
            seen = child.wait_for("get into position · press to start", 60)
            time.sleep(1.0)
            ready_at = child.send(b"n")  # in position: the hold starts
            seen = child.wait_for("hold until you press ·", 10, seen)
            time.sleep(2.5)  # held about 2.5 s: the journal's whole seconds say 0:02, whatever the latency
            eased_at = child.send(b"n")  # it eased: the left hold ends
            seen = child.wait_for("· right side", 10, seen)
            seen = child.wait_for("hold until you press ·", 30, seen)
            time.sleep(1.5)
            right_at = child.send(b"n")
            code = child.wait(60)
        finally:
            child.close()
        time.sleep(0.3)
    assert code == 0, child.text()
    assert "Traceback" not in child.text()
    rec = recorder.recording()
    found = heard(rec.samples, fixture)

    def onsets(i: int) -> list[int]:
        return [at for at, j in found if j == i]

    def first(i: int, since: float) -> int:
        """The first onset of event ``i`` (or one that sounds the same) after the time ``since``."""
        return min(at for at in onsets(i) if rec.time_of(at) > since - 0.05)

    # The start tone within 100 ms of the press that ended the wait (a minute at most)...
    started = first(start_left, ready_at)
    assert not [at for at in onsets(start_left) if at < started]
    delays = [rec.time_of(started) - ready_at]
    # ...then the rest of the session exactly as the timeline has it from the hold's end,
    # each sound to the millisecond...
    switch, *rest = after
    switched = first(switch, eased_at)
    for i in rest:
        matches = [at for at in onsets(i) if at > switched]
        assert matches, f"not heard after the press: {events[i]}"
        assert abs((matches[0] - switched) - (events[i].start - events[switch].start)) <= EXACT, events[i]
    # ...after the end tone, which began within 100 ms of the press, whole (a streamed take
    # starts with a landing of silence, for what a sound server drops as it starts again)
    ended = switched - (events[switch].start - events[end_left].start)
    assert abs(first(end_left, eased_at) - ended) <= EXACT
    assert not [at for at in onsets(end_left) if at < ended - EXACT]
    delays.append(rec.time_of(ended) - eased_at)
    assert not [at for i in ticks for at in onsets(i)]  # no countdown: neither hold ran its time
    held = (ended - started) / RATE
    assert held == pytest.approx(eased_at - ready_at, abs=late + CLOCK)
    ended_right = first(end_right, right_at)
    delays.append(rec.time_of(ended_right) - right_at)
    print(f"{env['HOLDCUE_OUTPUT']}: press to tone {', '.join(f'{d * 1000:.0f} ms' for d in delays)}")
    assert all(-CLOCK <= delay <= late for delay in delays), delays
    # and the journal has the time actually held
    history = subprocess.run(
        holdcue("history"), env={**env, "HOLDCUE_DATA_DIR": str(tmp_path)}, capture_output=True, text=True, timeout=60
    )
    assert history.returncode == 0, history.stderr
    held_line = "held until pressed: step 1 left 0:02 of 0:30, right 0:01 of 0:30\n"
    assert held_line in history.stdout, history.stdout
