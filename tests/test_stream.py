"""The streaming output (stream.py) and the Player feeding it: takes pulled block by block,
the position from the device's count, memory that does not grow with the session, the
keep-alive tone; and through a real audio stack (a PulseAudio null sink), how soon a take
is heard and how soon a stopped one is silent."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

from audio_stack import NullSink, Recorder, missing
from holdcue import play, stream, terminal
from holdcue.errors import AudioDeviceError, Terminated
from holdcue.stream import Feed, StreamSink
from holdcue.timeline import SAMPLE_RATE
from play_helpers import RATE, FakeClock, make_session, short_session

# -- the callback, without a device -------------------------------------------------------


class DeviceTime:
    """Stands in for the sink's device: the stream's clock, set by the test."""

    def __init__(self):
        self.now = 100.0

    def time(self) -> float:
        return self.now

    def running(self) -> bool:
        return True


def test_fill_writes_the_feed_across_blocks_of_any_size_and_then_stops():
    rng = np.random.default_rng(1)
    blocks = [rng.integers(-3000, 3000, n).astype(np.int16) for n in (5, 700, 1, 333)]
    whole = np.concatenate(blocks)
    handle = stream.StreamHandle(Feed(len(whole), iter(blocks)), RATE, DeviceTime())
    handle.prime()  # its feeder has queued it (all of it: it is short)
    out = []
    while True:
        buffer = np.full(256, 99, np.int16)
        written = handle.fill(buffer, dac=100.0)
        out.append(buffer[:written].copy())
        if written < len(buffer):
            break
    assert np.array_equal(np.concatenate(out), whole)
    assert handle.exhausted and handle.delivered() == len(whole)


def test_played_counts_what_the_device_has_played_not_what_it_was_given():
    device = DeviceTime()
    handle = stream.StreamHandle(Feed(4000, iter([np.ones(4000, np.int16)])), RATE, device)
    handle.prime()
    assert handle.played() == 0
    handle.fill(np.zeros(1000, np.int16), dac=100.5)  # its first sample leaves the device at 100.5 s
    assert handle.played() == 0  # still queued
    device.now = 100.5 + 500 / RATE
    assert handle.played() == 500
    device.now = 200.0
    assert handle.played() == 1000  # never more than it was given
    handle.fill(np.zeros(1000, np.int16), dac=201.0)
    device.now = 201.0 + 250 / RATE
    assert handle.played() == 1250


def test_once_the_feed_has_run_out_its_end_is_heard_and_the_take_is_over():
    device = DeviceTime()
    handle = stream.StreamHandle(Feed(100, iter([np.ones(100, np.int16)])), RATE, device)
    handle.prime()
    handle.fill(np.zeros(512, np.int16), dac=101.0)
    handle.fill(np.zeros(512, np.int16), dac=101.0 + 512 / RATE)  # nothing left: the mark stays
    assert handle.is_playing()  # its samples are still queued
    device.now = 101.0 + 100 / RATE
    assert handle.played() == 100 and not handle.is_playing()


def test_a_feed_that_fails_ends_its_take_not_the_device_once_what_came_before_is_played():
    def broken():
        yield np.ones(10, np.int16)
        raise RuntimeError("a bug")

    handle = stream.StreamHandle(Feed(100, broken()), RATE, DeviceTime())
    handle.prime()
    buffer = np.zeros(64, np.int16)
    assert handle.fill(buffer, dac=100.0) == 10
    assert isinstance(handle.failure, RuntimeError) and not handle.is_playing()


def callback(sink: StreamSink, frames: int, dac: float = 0.0) -> np.ndarray:
    out = np.full(frames, 7, np.int16)  # what the device's buffer held before
    when = SimpleNamespace(outputBufferDacTime=dac, currentTime=dac)
    device_buffer = memoryview(out).cast("B")  # bytes, as sounddevice's raw streams give it
    sink._callback(device_buffer, frames, when, SimpleNamespace(output_underflow=False))
    return out


def sink_without_device(keep_alive: bool) -> StreamSink:
    """A StreamSink whose callback is driven by the test (the keep-alive tone made as
    open() makes it)."""
    sink = StreamSink(keep_alive=keep_alive)
    sink._keep = stream._KeepAlive(RATE)
    return sink


def test_idle_the_sink_plays_digital_zero_or_with_keep_alive_a_quiet_low_tone():
    assert not callback(sink_without_device(False), 4000).any()
    sink = sink_without_device(True)
    tone = np.concatenate([callback(sink, n) for n in (1000, 333, 2667, 4000)])  # callbacks of any size
    assert abs(np.abs(tone).max() - stream.KEEP_ALIVE_LEVEL * 32767) <= 1
    spectrum = np.abs(np.fft.rfft(tone.astype(float)))
    assert np.argmax(spectrum) * RATE / len(tone) == pytest.approx(stream.KEEP_ALIVE_HZ, abs=2)
    steps = np.abs(np.diff(tone.astype(int)))
    assert steps.max() <= 2 * np.pi * stream.KEEP_ALIVE_HZ / RATE * 328 + 2  # seamless across callbacks and loops


class OpenStream:
    """Stands in for sounddevice's stream: running, noting each stop (abort) and start with
    the take the sink's callback would play at that moment."""

    def __init__(self, sink):
        self.sink = sink
        self.active = True
        self.time = 0.0
        self.calls: list[tuple[str, object]] = []

    def abort(self):
        self.calls.append(("abort", self.sink._current))

    def start(self):
        self.calls.append(("start", self.sink._current))

    def close(self):
        self.active = False


def test_a_take_started_or_stopped_drops_what_the_device_holds():
    sink = sink_without_device(False)
    sink._stream, sink._rate = OpenStream(sink), RATE
    take = beep(1.0, RATE)
    first = sink.start(take, RATE)
    # what was queued before it is not heard first; and it is swapped in only once the stream
    # has stopped, so none of its samples go into the buffer that is dropped
    assert sink._stream.calls == [("abort", None), ("start", first)]
    second = sink.start(take, RATE)
    assert first.stopped and sink._stream.calls[2:] == [("abort", first), ("start", second)]
    first.stop()  # no longer playing: the take after it is not cut
    assert len(sink._stream.calls) == 4
    second.stop()
    assert sink._stream.calls[4:] == [("abort", second), ("start", None)] and not callback(sink, 500).any()


def test_the_keep_alive_tone_goes_under_a_take_which_is_otherwise_untouched():
    sink = sink_without_device(True)
    sink._stream = OpenStream(sink)
    sink._rate = RATE
    take = (np.sin(np.arange(2000) * 0.05) * 20000).astype(np.int16)
    sink.stream(Feed(len(take), iter([take])), RATE)
    out = callback(sink, 3000)
    under = out[:2000].astype(int) - take
    assert np.abs(under).max() <= stream.KEEP_ALIVE_LEVEL * 32767 + 1 and under.any()


# -- the feeder: the callback only copies ----------------------------------------------------


def feeder_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "holdcue-feeder"]


def test_the_feed_is_pulled_by_its_feeder_never_by_the_callback():
    """The callback (here the test's thread, as PortAudio's would be) copies what the feeder
    made ready: the feed's iterator runs, and is closed, on the feeder's thread only."""
    pulled: list[int] = []
    closed: list[int] = []

    def blocks():
        try:
            for _ in range(40):
                pulled.append(threading.get_ident())
                yield np.full(100, 5, np.int16)
        finally:
            closed.append(threading.get_ident())

    sink = sink_without_device(False)
    sink._stream, sink._rate = OpenStream(sink), RATE
    handle = sink.stream(Feed(4000, blocks()), RATE)
    got = np.concatenate([callback(sink, 256) for _ in range(16)])
    handle.stop()
    handle.join(5)
    assert (got[:4000] == 5).all() and not got[4000:].any()
    assert set(pulled) == set(closed) == {handle._thread.ident}
    assert threading.get_ident() not in pulled
    assert not handle.feeding()


def test_the_feeder_stays_ahead_and_what_the_callback_takes_is_the_feed_exactly(monkeypatch):
    """Through a queue much shorter than the take (it wraps round many times), blocks and
    callbacks of any sizes: every sample once, in order; a callback that finds the feeder
    late writes silence and counts nothing."""
    monkeypatch.setattr(stream, "AHEAD", 0.02)  # 160 samples at 8000 Hz
    monkeypatch.setattr(stream, "FEED_POLL", 0.001)
    rng = np.random.default_rng(7)
    blocks = [rng.integers(-3000, 3000, int(n)).astype(np.int16) for n in rng.integers(1, 300, 200)]
    whole = np.concatenate(blocks)
    handle = stream.StreamHandle(Feed(len(whole), iter(blocks)), RATE, DeviceTime())
    handle.prime()
    out = []
    while not handle.exhausted:
        buffer = np.full(int(rng.integers(1, 200)), 99, np.int16)
        written = handle.fill(buffer, dac=100.0)
        out.append(buffer[:written].copy())
        if written < len(buffer):
            time.sleep(0.001)
    assert np.array_equal(np.concatenate(out), whole) and handle.delivered() == len(whole)
    handle.join(5)
    assert not handle.feeding()


def test_silence_while_the_feeder_is_late_is_not_counted_as_played():
    """A take swapped in before its first samples are ready (its feed slower than
    PRIME_WAIT) plays silence until they are: played() counts the take's samples only."""
    go = threading.Event()

    def slow():
        go.wait(10)
        yield np.ones(2000, np.int16)

    device = DeviceTime()
    handle = stream.StreamHandle(Feed(2000, slow()), RATE, device)
    handle.prime(timeout=0.01)
    assert handle.fill(np.zeros(500, np.int16), dac=100.0) == 0  # silence; nothing of the take given
    device.now = 101.0
    assert handle.played() == 0 and handle.is_playing() and handle.starved == 1
    go.set()
    handle._ready.wait(5)
    assert handle.fill(np.zeros(500, np.int16), dac=101.5) == 500
    device.now = 101.5 + 100 / RATE
    assert handle.played() == 100


def test_a_stopped_take_lets_its_feeder_go_at_once_and_close_ends_every_feeder():
    """A stop does not wait for the feeder (pause is at once); the feeder ends within the
    block it is on. close() ends the feeders of takes never stopped, and waits for them."""
    release = threading.Event()

    def endless():
        while True:
            release.wait(0.05)  # a slow read, now and then
            yield np.ones(800, np.int16)

    sink = sink_without_device(False)
    sink._stream, sink._rate = OpenStream(sink), RATE
    first = sink.stream(Feed(10**9, endless()), RATE)
    started = time.monotonic()
    first.stop()
    assert time.monotonic() - started < 0.01
    first.join(2)
    assert not first.feeding()
    sink.stream(Feed(10**9, endless()), RATE)  # never stopped
    sink.stream(Feed(10**9, endless()), RATE)  # stops the one before it
    assert len(feeder_threads()) >= 1
    sink.close()
    assert not feeder_threads()


# -- the player feeding a streaming sink ---------------------------------------------------


class CountingHandle:
    """A take on a streaming sink whose device count the test sets."""

    def __init__(self, feed: Feed):
        self.feed = feed
        self.count = 0
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    def is_playing(self) -> bool:
        return not self.stopped and self.count < self.feed.length

    def played(self) -> int:
        return self.count


class CountingSink:
    def __init__(self, running_for: float = 0.0):
        self.handles: list[CountingHandle] = []
        self.open_for = running_for  # what running_for says: seconds since the device opened

    def running_for(self) -> float:
        return self.open_for

    def start(self, samples, rate):
        raise AssertionError("a streaming sink is given feeds, not buffers")

    def stream(self, feed: Feed, rate: int) -> CountingHandle:
        self.handles.append(CountingHandle(feed))
        return self.handles[-1]


def player(session, sink) -> play.Player:
    return play.Player(session, sink=sink, clock=FakeClock())


def test_a_streamed_take_is_the_same_samples_as_the_buffer_a_buffer_sink_gets():
    session = short_session()
    p = player(session, CountingSink())
    origin = session.timeline.segments[5].start
    expected, prefix = p.buffer(origin)
    feed, feed_prefix = p.feed(origin)
    got = np.concatenate(list(feed.blocks))
    assert feed_prefix == prefix and feed.length == len(expected) and np.array_equal(got, expected)


def test_the_position_is_the_device_count_not_the_clock():
    session = short_session()
    sink = CountingSink()
    p = player(session, sink)
    p.start(0)
    (handle,) = sink.handles
    lead = round(play.LEAD_IN * RATE)
    p.clock.sleep(60)  # the clock runs on; the device has played nothing yet
    assert p.position() == 0
    handle.count = lead + 12345
    assert p.position() == 12345
    p.pause()
    assert p.held == 12345 and handle.stopped


@pytest.mark.parametrize("open_for", [0.0, 0.05, 0.1, 0.15, 3.0])
def test_the_lead_in_counts_what_the_device_played_since_it_opened(open_for):
    """A device opened while the session was made ready has settled for that long: a take
    starts with only the rest of the lead-in, and once the device has played it all, with
    the landing only (what a sound server may drop as the stream starts again)."""
    session = short_session()
    expected = max(round(play.LANDING * RATE), round(play.LEAD_IN * RATE) - round(open_for * RATE))
    p = player(session, CountingSink(running_for=open_for))
    feed, prefix = p.feed(0)
    assert prefix == expected
    assert not next(feed.blocks)[:expected].any()
    whole, buffer_prefix = player(session, BufferSink()).buffer(0)  # a buffer sink opens for each take
    assert buffer_prefix == round(play.LEAD_IN * RATE) and len(whole) - buffer_prefix == feed.length - prefix


class BufferSink:
    def start(self, samples, rate):
        raise AssertionError("not started in this test")


def test_output_opens_the_stream_at_once_and_closes_it_on_the_way_out(monkeypatch):
    opened, closed = [], []
    monkeypatch.delenv("HOLDCUE_OUTPUT", raising=False)
    monkeypatch.setattr(StreamSink, "open", lambda self, rate: opened.append(rate))
    monkeypatch.setattr(StreamSink, "close", lambda self: closed.append(self))
    with pytest.raises(KeyboardInterrupt), play.output(keep_alive=True) as sink:
        assert opened == [SAMPLE_RATE] and not closed and sink.keep_alive
        raise KeyboardInterrupt
    assert closed == [sink]


def test_the_stream_opened_early_is_the_one_output_gives_and_closes(monkeypatch):
    """`holdcue play` opens its stream before the CLI is imported (open_early); output()
    hands that very stream to the command, once, and closes it on the way out."""
    opened, closed = [], []
    monkeypatch.delenv("HOLDCUE_OUTPUT", raising=False)
    monkeypatch.setattr(StreamSink, "open", lambda self, rate: opened.append(self))
    monkeypatch.setattr(StreamSink, "close", lambda self: closed.append(self))
    stream.open_early(keep_alive=True)
    [early] = opened
    with play.output(keep_alive=True) as sink:
        assert sink is early and not closed
    assert closed == [early] and stream._early is None
    stream._close_early()  # at exit: nothing left to close
    assert closed == [early]


def test_a_stream_opened_early_for_other_options_is_closed_and_another_made(monkeypatch):
    opened, closed = [], []
    monkeypatch.delenv("HOLDCUE_OUTPUT", raising=False)
    monkeypatch.setattr(StreamSink, "open", lambda self, rate: opened.append(self))
    monkeypatch.setattr(StreamSink, "close", lambda self: closed.append(self))
    stream.open_early(keep_alive=False)
    with play.output(keep_alive=True) as sink:
        assert closed == [opened[0]] and sink is not opened[0] and sink.keep_alive
    assert closed == [opened[0], sink]


def test_a_stream_opened_early_and_never_taken_is_closed_at_exit(monkeypatch):
    """A usage error, say, ends the command before it plays: the stream still closes."""
    at_exit, closed = [], []
    monkeypatch.delenv("HOLDCUE_OUTPUT", raising=False)
    monkeypatch.setattr(StreamSink, "open", lambda self, rate: None)
    monkeypatch.setattr(StreamSink, "close", lambda self: closed.append(self))
    monkeypatch.setattr("atexit.register", at_exit.append)
    stream.open_early()
    assert at_exit == [stream._close_early] and not closed
    at_exit[0]()
    assert len(closed) == 1 and stream._early is None


@pytest.mark.parametrize("output", ["simpleaudio", "no-such-output"])
def test_nothing_is_opened_early_but_a_stream(monkeypatch, output):
    """simpleaudio opens its device per take; an unknown output is output()'s to report."""
    monkeypatch.setenv("HOLDCUE_OUTPUT", output)
    monkeypatch.setattr(StreamSink, "open", lambda self, rate: pytest.fail("a stream was opened"))
    stream.open_early()
    assert stream._early is None


def test_output_leaves_a_device_that_cannot_open_yet_to_the_first_take(monkeypatch):
    monkeypatch.delenv("HOLDCUE_OUTPUT", raising=False)

    def cannot(self, rate):
        raise play.AudioDeviceError("No sound device could be opened")

    monkeypatch.setattr(StreamSink, "open", cannot)
    with play.output() as sink:  # no error yet: the session is still to be made ready
        with pytest.raises(play.AudioDeviceError, match="No sound device"):
            sink.stream(Feed(1, iter([np.zeros(1, np.int16)])), RATE)


def test_output_makes_a_buffer_sink_as_holdcue_output_says_and_opens_nothing(monkeypatch):
    monkeypatch.setenv("HOLDCUE_OUTPUT", "simpleaudio")
    monkeypatch.setattr(StreamSink, "open", lambda self, rate: pytest.fail("a stream was opened"))
    with play.output() as sink:
        assert isinstance(sink, play.SimpleaudioSink)


def test_a_take_that_stops_short_by_the_device_count_is_a_lost_device():
    session = short_session()
    sink = CountingSink()
    p = player(session, sink)
    p.start(0)
    handle = sink.handles[0]
    handle.count = 5 * RATE
    handle.stopped = True  # as a StreamHandle whose stream died says
    with pytest.raises(play.AudioDeviceError, match="stopped playing"):
        p.tick()


def test_a_take_played_to_its_end_by_the_device_count_finishes_the_session():
    session = short_session()
    sink = CountingSink()
    p = player(session, sink)
    p.start(session.timeline.segments[-1].start)
    handle = sink.handles[0]
    handle.count = handle.feed.length
    p.tick()
    assert p.state == "finished"


def test_memory_does_not_grow_with_the_session_when_streaming():
    """A take of a two-hour session costs what a take of a ten-minute one does: blocks are
    made as they are pulled and let go once played."""

    def peak(minutes: int) -> int:
        base = short_session()
        steps = base.routine.steps * max(1, round(minutes * 60 / base.timeline.duration))
        session = make_session(dataclasses.replace(base.routine, steps=steps))
        tl = session.timeline
        assert tl.duration > minutes * 60 * 0.6
        sink = CountingSink()
        p = player(session, sink)
        tracemalloc.start()
        try:
            p.start(0)
            blocks = sink.handles[0].feed.blocks
            for _ in range(200):  # a few minutes of the take pulled, as the callback pulls it
                next(blocks)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    ten, two_hours = peak(10), peak(120)
    assert two_hours < 2_000_000  # bytes; two hours of samples at this rate would be 115 MB
    assert two_hours < ten * 1.5 + 200_000


# -- through a real audio stack ------------------------------------------------------------

LACKING = missing()
needs_audio = pytest.mark.skipif(bool(LACKING) and os.environ.get("CI") != "true", reason=f"needs {', '.join(LACKING)}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if LACKING:
        pytest.fail(f"the audio tests need {', '.join(LACKING)} (CI=true: they may not be skipped)")
    saved = dict(os.environ)
    with NullSink(tmp_path_factory.mktemp("pulse")) as null:
        os.environ.update(null.env)  # PortAudio reads the ALSA setup of this process
        try:
            yield null
        finally:
            os.environ.clear()
            os.environ.update(saved)


def beep(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16)


@pytest.mark.audio
@needs_audio
def test_a_take_is_heard_at_once_and_a_stopped_one_falls_silent_at_once(stack):
    """Not a device buffer (stream.LATENCY) later: what the device held is dropped both times."""
    rate = 22050
    sink = StreamSink()
    sound = beep(1.5, rate)
    with Recorder(stack.env) as recorder:
        sink.open(rate)
        time.sleep(0.5)
        started = time.monotonic()
        handle = sink.start(sound, rate)
        time.sleep(0.8)
        assert handle.is_playing()
        position = handle.played() / rate
        stopped = time.monotonic()
        handle.stop()
        time.sleep(0.6)
        assert sink.running()  # the device stays open between takes
        sink.close()
        time.sleep(0.2)
    rec = recorder.recording()
    loud = np.flatnonzero(np.abs(rec.samples.astype(int)) > 64)
    onset = loud[0]
    # the device's buffer (0.1 s) would be heard before the take and after the stop without the
    # flush; what is left is the sound server's own few milliseconds, and a busy machine
    assert rec.time_of(onset) - started < 0.06
    assert rec.time_of(loud[-1]) - stopped < 0.06
    # where it said it was, against where the recording shows it was (to the recording's 10 ms)
    assert abs(position - (stopped - rec.time_of(onset))) < 0.03


@pytest.mark.audio
@needs_audio
def test_a_take_started_right_after_a_stop_is_heard_from_its_first_sample(stack):
    """Pause and its word, a skip: a stop at once followed by a start. The new take's first
    samples (here a tenth of a second of silence, then a beep) are all played, none dropped
    with what the device held of the take before."""
    rate = 22050
    silence = round(0.15 * rate)
    take = np.concatenate([np.zeros(silence, np.int16), beep(0.5, rate)])
    sink = StreamSink()
    starts = []
    with Recorder(stack.env) as recorder:
        sink.open(rate)
        time.sleep(0.3)
        handle = sink.start(take, rate)
        for _ in range(3):
            time.sleep(0.4)  # the beep sounding
            handle.stop()
            starts.append(time.monotonic())
            handle = sink.start(take, rate)
        time.sleep(0.8)
        sink.close()
    rec = recorder.recording()
    for started in starts:
        at = rec.sample_at(started)
        loud = np.flatnonzero(np.abs(rec.samples[at : at + rate].astype(int)) > 64)
        # the silence is heard whole: the beep 0.15 s after the start, not a buffer sooner
        assert 0.13 < loud[0] / rate < 0.2, loud[0] / rate


@pytest.mark.audio
@needs_audio
def test_keep_alive_through_a_device_plays_the_quiet_tone_when_idle_and_nothing_when_off(stack):
    rate = 22050
    for keep_alive in (False, True):
        sink = StreamSink(keep_alive=keep_alive)
        with Recorder(stack.env) as recorder:
            sink.open(rate)
            time.sleep(1.0)
            sink.close()
        idle = recorder.recording().samples[rate // 2 : rate]
        if keep_alive:
            assert 200 < np.abs(idle.astype(int)).max() < 500
        else:
            assert not idle.any()


@pytest.mark.audio
@needs_audio
def test_a_feed_with_slow_blocks_plays_without_a_gap_and_only_its_feeder_pulls_it(stack):
    """Blocks that stall as a read from an SD card can (0.2 s now and then, and once a whole
    second) are not heard: the feeder is seconds ahead. The callback, on PortAudio's
    thread, never runs the feed."""
    rate = 22050
    block = rate // 10
    seconds = 8
    sound = beep(seconds, rate)
    stalls = {**{b: 0.2 for b in range(10, 80, 10)}, 55: 1.0}
    pulled: set[int] = set()

    def slow():
        for b, at in enumerate(range(0, len(sound), block)):
            pulled.add(threading.get_ident())
            time.sleep(stalls.get(b, 0))
            yield sound[at : at + block]

    class Watched(StreamSink):
        callbacks: set[int] = set()

        def _callback(self, *args):
            self.callbacks.add(threading.get_ident())
            super()._callback(*args)

    sink = Watched()
    with Recorder(stack.env) as recorder:
        sink.open(rate)
        time.sleep(0.3)
        handle = sink.stream(Feed(len(sound), slow()), rate)
        time.sleep(seconds + 0.5)
        assert not handle.is_playing() and handle.played() == len(sound)
        sink.close()
    assert sink.starved == 0
    assert pulled == {handle._thread.ident} and sink.callbacks and not (sink.callbacks & pulled)
    samples = recorder.recording().samples.astype(np.float64)
    loud = np.flatnonzero(np.abs(samples) > 64)
    heard = samples[loud[0] : loud[-1] + 1]
    assert abs(len(heard) / rate - seconds) < 0.01  # no silence put in
    frame = rate // 200
    rms = np.sqrt(np.mean(heard[: len(heard) // frame * frame].reshape(-1, frame) ** 2, axis=1))
    assert rms.min() > 0.5 * 12000 / np.sqrt(2)  # and no gap anywhere in it


@pytest.mark.audio
@needs_audio
def test_a_stop_silences_the_take_within_50_ms_however_far_ahead_its_feeder_is(stack):
    """Pause: the take stops (what its feeder queued, seconds of it, dropped with what the
    device holds), its confirmation is heard, then silence."""
    rate = 22050
    take = beep(6.0, rate)  # peaks at 12000
    words = beep(0.4, rate) // 4  # peaks at 3000: told apart by level
    sink = StreamSink()
    with Recorder(stack.env) as recorder:
        sink.open(rate)
        time.sleep(0.3)
        handle = sink.start(take, rate)
        time.sleep(1.5)  # the feeder is AHEAD seconds ahead
        assert handle._put - handle._taken > rate
        stopped = time.monotonic()
        handle.stop()
        said = sink.start(words, rate)
        time.sleep(1.0)
        assert not said.is_playing()
        quiet_from = time.monotonic()
        time.sleep(0.5)
        sink.close()
    rec = recorder.recording()
    s = np.abs(rec.samples.astype(int))
    take_heard = np.flatnonzero(s > 6000)
    assert rec.time_of(take_heard[-1]) - stopped < 0.05
    after = take_heard[-1] + rate // 100  # past the last half-cycle of the take, below 6000
    words_heard = np.flatnonzero((s > 64) & (np.arange(len(s)) > after))
    assert len(words_heard) and s[words_heard].max() <= 3100
    # said whole; the monitor may miss the first ~10 ms: PulseAudio rewinds its sink for the
    # new take over what the monitor has already passed on
    assert 0.37 < (words_heard[-1] - words_heard[0]) / rate < 0.41
    assert not s[rec.sample_at(quiet_from) :].any()  # then silence


@pytest.mark.audio
@needs_audio
@pytest.mark.parametrize("stop", [KeyboardInterrupt(), Terminated(15)], ids=["ctrl-c", "sigterm"])
def test_no_feeder_is_left_when_play_is_interrupted(stack, monkeypatch, stop):
    """Ctrl-C or SIGTERM while a session plays on the real output: the sound stops, the
    device is let go and the take's feeder has ended by the time play returns."""
    monkeypatch.delenv("HOLDCUE_OUTPUT", raising=False)
    made: list[StreamSink] = []
    real = play.default_sink
    monkeypatch.setattr(play, "default_sink", lambda keep_alive=False: made.append(real(keep_alive)) or made[-1])

    class Interrupting:
        shown = 0

        def show(self, status):
            self.shown += 1
            if self.shown == 4:
                raise stop

        def close(self):
            pass

    with pytest.raises(type(stop)):
        terminal.play(short_session(), display=Interrupting())
    [sink] = made
    assert not sink.running() and not feeder_threads()


# -- choosing the output -------------------------------------------------------------------


def test_the_output_is_the_streaming_one_unless_holdcue_output_says_simpleaudio(monkeypatch):
    monkeypatch.delenv("HOLDCUE_OUTPUT", raising=False)
    assert isinstance(play.default_sink(), StreamSink)
    assert play.default_sink(keep_alive=True).keep_alive
    monkeypatch.setenv("HOLDCUE_OUTPUT", "simpleaudio")
    assert isinstance(play.default_sink(), play.SimpleaudioSink)
    monkeypatch.setenv("HOLDCUE_OUTPUT", "jack")
    with pytest.raises(play.AudioDeviceError, match="stream, simpleaudio"):
        play.default_sink()


def test_a_streaming_sink_is_a_sink_and_a_buffer_sink_is_not_a_streaming_one():
    assert isinstance(StreamSink(), play.StreamingSink)
    assert not isinstance(play.SimpleaudioSink(), play.StreamingSink)
    with pytest.raises(ValueError, match="empty"):
        StreamSink().start(np.zeros(0, np.int16), RATE)


def test_play_makes_its_own_sink_with_the_keep_alive_asked_for_and_plays_the_session_on_it(monkeypatch):
    asked = []

    def made(keep_alive=False):
        asked.append(keep_alive)
        return sink

    clock = FakeClock()
    sink = CountingSink()
    monkeypatch.setattr(play, "default_sink", made)

    class Done:  # the device plays each take to its end at once
        def show(self, status):
            for handle in sink.handles:
                handle.count = handle.feed.length

        def close(self):
            pass

    result = terminal.play(short_session(), clock=clock, display=Done(), keep_alive=True)
    assert asked == [True] and result.finished and len(sink.handles) == 1


@needs_audio
def test_serve_logs_the_device_it_plays_to_and_what_plays_the_sound(stack, tmp_path):
    """The first thing to read in the service's log when nothing is heard."""
    env = {**stack.env, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    serve = subprocess.Popen(
        [sys.executable, "-m", "holdcue", "serve", "--port", "0", "--no-prepare"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert serve.stderr is not None
        for line in serve.stderr:
            lines.append(line)
            if "sound goes to" in line:
                break
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    said = lines[-1]
    # ALSA's default is the test's PulseAudio (the sound server of this session) through ALSA
    assert said.startswith("INFO holdcue.serve: sound goes to PortAudio's 'default' (ALSA) output device; PulseAudio;")
    assert "ALSA sound cards: " in said


def test_without_a_device_the_description_says_so():
    with pytest.raises(AudioDeviceError, match="No sound device could be opened"):
        stream.device_description("no such device holdcue knows")
