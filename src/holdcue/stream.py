"""The streaming output: one sound device kept open, fed by an audio callback that only
copies samples made ready ahead of it by a thread of the take's own (docs/playback.md).

``StreamSink`` opens the device once (sounddevice, over PortAudio) and keeps it open
across takes, pauses and sessions. A take is a ``Feed``: its length and an iterator of
int16 blocks (the renderer's). A feeder thread pulls them and copies them into a ring of
AHEAD seconds made for the take; the callback copies from that ring into the device's
buffer and does nothing else: no mixing, no decoding, no file reading, no lock, so a slow
read from an SD card or a pause of the feeder (up to AHEAD seconds) is not heard, as
sounddevice's own ``play_long_file`` example does it. A two-hour take never exists in
memory as a whole.

Starting a take primes it (its first PRIME seconds ready), then swaps it in and drops
what the device still holds (the stream is aborted and started again, about a
millisecond): the take is heard at once, with no device to open. Stopping one silences it
the same way, whatever its feeder had queued: that is dropped with it, and its feeder
ends.

Where a take is comes from the device: every callback says when its first sample will
leave the device (PortAudio's output DAC time, from ALSA's count of frames still queued),
so the samples heard are the samples delivered less those still queued, between two
callbacks (tens of milliseconds) moved on by the stream's clock. Silence played while a
late feeder has nothing ready is not counted.

Speakers that sleep on silence (Bluetooth, some USB ones) lose the first moments of a
sound after a quiet while, and digital zero does not keep them awake. With
``keep_alive``, a very low, very quiet tone (KEEP_ALIVE_HZ at KEEP_ALIVE_LEVEL of full
scale: below what small speakers reproduce and far below the cues) is added to
everything the device plays, idle, paused and in the silences of a session alike.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING, Any

from holdcue.errors import AudioDeviceError
from holdcue.timeline import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy

OUTPUTS = ("stream", "simpleaudio")  # HOLDCUE_OUTPUT's values; the first is the default
LATENCY = 0.1  # seconds of sound the device holds: what a start or stop waits for; enough for a Pi's callback
AHEAD = 3.0  # seconds of a take its feeder keeps ready ahead of the device: a slow read or a pause goes unheard
PRIME = 0.2  # seconds of a take ready before it is swapped in (twice the device's buffer): no gap as it starts
PRIME_WAIT = 5.0  # longest wait for them; a take slower than that starts anyway, in silence until its first samples
FEED_POLL = 0.05  # seconds a feeder waits for room once the take's queue is full
FEEDER_JOIN = 2.0  # seconds close() waits for a feeder to finish the block it is making
KEEP_ALIVE_HZ = 30.0  # below what small speakers reproduce: felt, if at all, not heard
KEEP_ALIVE_LEVEL = 0.01  # of full scale (-40 dBFS): enough to count as sound for a speaker's silence detector


@dataclass
class Feed:
    """A take as the sink pulls it: ``length`` mono int16 samples, in ``blocks`` (any
    sizes; together exactly ``length`` samples)."""

    length: int
    blocks: Iterator[numpy.ndarray]


class StreamHandle:
    """One feed being played. ``played()`` is the number of its samples the device has
    played so far (by the device's count, not a wall clock).

    A feeder thread of its own (``prime`` starts it) pulls the feed's blocks and copies
    them into a queue of AHEAD seconds, made when the take is: a ring of int16 samples that
    the audio callback reads (``fill``) and the feeder writes, each keeping its own count,
    so neither waits for the other. The feeder ends at the feed's end, when the take is
    stopped (``halt``), or when the feed raises (``failure``, once the samples before it
    have been played)."""

    def __init__(self, feed: Feed, rate: int, sink: StreamSink):
        import numpy as np

        self.feed = feed
        self.rate = rate
        self.sink = sink
        self.stopped = False
        self.exhausted = False  # the device was given the feed's last sample
        self.failure: BaseException | None = None  # what the feed raised, once the samples before it were given
        self.starved = 0  # callbacks that found the queue empty before the feed's end (the feeder was late)
        # (DAC time of the last callback's first sample, samples delivered before it, after it)
        self._mark: tuple[float, int, int] | None = None
        self._queue = np.empty(max(1, min(feed.length, round(AHEAD * rate))), np.int16)
        self._put = 0  # samples the feeder has copied into the queue, in all (only it writes this)
        self._taken = 0  # samples the callback has taken out of it, in all (only it writes this)
        self._ended = False  # the feeder has put its last sample: the feed's end, its failure or a stop
        self._error: BaseException | None = None  # what the feed raised, after its last sample put
        self._ready = threading.Event()  # PRIME seconds are in the queue (or all there is)
        self._wake = threading.Event()  # set by halt: the feeder stops waiting for room
        self._thread: threading.Thread | None = None

    def stop(self) -> None:
        self.halt()
        self.sink.drop(self)

    def halt(self) -> None:
        """No more of this take: its feeder ends (after the block it may be making)."""
        self.stopped = True
        self._wake.set()

    def is_playing(self) -> bool:
        if self.stopped or self.failure is not None or not self.sink.running():
            return False
        return not self.exhausted or self.played() < self.delivered()

    def delivered(self) -> int:
        mark = self._mark
        return 0 if mark is None else mark[2]

    def played(self) -> int:
        mark = self._mark
        if mark is None:
            return 0
        dac, before, after = mark
        heard = before + int((self.sink.time() - dac) * self.rate)
        return max(0, min(heard, after))

    # -- the feeder -------------------------------------------------------------------------

    def prime(self, timeout: float = PRIME_WAIT) -> None:
        """Start the feeder and wait (at most ``timeout``) until the take's first PRIME
        seconds are ready, or all of it, or the feed has failed."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._feed, name="holdcue-feeder", daemon=True)
            self._thread.start()
        self._ready.wait(timeout)

    def feeding(self) -> bool:
        """Whether its feeder is to run or runs still."""
        return self._thread is None or self._thread.is_alive()

    def join(self, timeout: float) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _feed(self) -> None:
        """The feeder thread: the feed's blocks into the queue as room is made, until the
        feed's end, a stop, or the feed raises. The feed is closed here (a generator's
        ``finally``, the renderer's music, runs in this thread, never in the callback)."""
        queue = self._queue
        size = len(queue)
        primed = min(size, round(PRIME * self.rate))
        blocks = self.feed.blocks
        try:
            for block in blocks:
                at, count = 0, len(block)
                while at < count:
                    if self.stopped:
                        return
                    room = size - (self._put - self._taken)
                    if room <= 0:
                        self._wake.wait(FEED_POLL)
                        continue
                    n = min(room, count - at)
                    start = self._put % size
                    first = min(n, size - start)
                    queue[start : start + first] = block[at : at + first]
                    queue[: n - first] = block[at + first : at + n]
                    at += n
                    self._put += n  # after the copy: the callback reads only what is counted
                    if self._put >= primed and not self._ready.is_set():
                        self._ready.set()
                if self.stopped:
                    return
        except BaseException as error:  # any failure of the feed ends its take, not the device
            self._error = error
        finally:
            self._ended = True
            self._ready.set()
            close = getattr(blocks, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    # -- the callback's side ----------------------------------------------------------------

    def fill(self, out: numpy.ndarray, dac: float) -> int:
        """Copy the next samples ready in the queue into ``out`` (called from the audio
        callback: it only copies; nothing is mixed, decoded or read here, and no lock is
        taken) and mark when they leave the device; how many were written: fewer than
        ``len(out)`` once the feed has run out, or when the feeder is late (the rest is then
        silence, not counted)."""
        ended = self._ended  # read before the count: once ended, the count is the last one
        taken = self._taken
        count = min(len(out), self._put - taken)
        if count:
            queue = self._queue
            size = len(queue)
            start = taken % size
            first = min(count, size - start)
            out[:first] = queue[start : start + first]
            if count > first:
                out[first:count] = queue[: count - first]
            self._taken = taken + count
            before = self.delivered()  # once the feed has run out, the last mark still says when its end is heard
            self._mark = (dac, before, before + count)
        if count < len(out):
            if not ended:
                self.starved += 1
            elif self._error is not None:
                self.failure = self._error
            else:
                self.exhausted = True
        return count


class _KeepAlive:
    """The keep-alive tone, made when the device opens: added in the callback from a loop
    of it and a scratch buffer, both made here."""

    def __init__(self, rate: int):
        import numpy as np

        tone = keep_alive_tone(rate)
        self.period = len(tone)
        self.loop = np.concatenate((tone, tone))  # any stretch of up to a period, without wrapping
        self.scratch = np.empty(self.period, np.int32)
        self.phase = 0  # where in the tone the next callback goes on

    def add(self, out: numpy.ndarray) -> None:
        """Add the next ``len(out)`` samples of the tone. The session's peaks stay below
        -1 dBFS (the renderer's ceiling), far from where a 1 % tone could overflow; a plain
        buffer that does is clipped."""
        import numpy as np

        done = 0
        while done < len(out):
            n = min(len(out) - done, self.period)
            part, acc = out[done : done + n], self.scratch[:n]
            np.add(part, self.loop[self.phase : self.phase + n], out=acc, dtype=np.int32)
            np.clip(acc, -32768, 32767, out=acc)
            np.copyto(part, acc, casting="unsafe")
            self.phase = (self.phase + n) % self.period
            done += n


class StreamSink:
    """The default sound device (PortAudio's, ALSA's ``default`` on Linux), open from the
    first take until ``close()``, fed by a callback. ``keep_alive`` adds the keep-alive
    tone to everything it plays (see the module's docstring); ``latency`` is the seconds
    of sound the device holds; ``device`` is a PortAudio device name or number (None: the
    default). Also plays plain buffers (``start``), as every sink does. Raises
    AudioDeviceError when the device cannot be opened."""

    def __init__(self, *, keep_alive: bool = False, latency: float = LATENCY, device: str | int | None = None):
        self.keep_alive = keep_alive
        self.latency = latency
        self.device = device
        self.underflows = 0  # callbacks that found the device already starved (for benchmarks)
        self.starved = 0  # callbacks that found a take's queue empty before its end (for benchmarks)
        self._stream: Any = None
        self._rate = 0
        self._current: StreamHandle | None = None
        self._keep: _KeepAlive | None = None  # the keep-alive tone, when it is on
        self._zeros = b""  # one callback's silence, made without NumPy (see _callback)
        self._opened_at = 0.0  # monotonic time the device started
        self._lock = threading.Lock()  # opening and closing, from any thread
        self._feeders: list[StreamHandle] = []  # takes whose feeder may still run: close() ends them
        self._feeders_lock = threading.Lock()

    # -- the device -------------------------------------------------------------------------

    def open(self, rate: int) -> None:
        """Open the device at ``rate`` (when it is not open at that rate already) and start
        it: idle, it plays silence (or the keep-alive tone)."""
        with self._lock:
            if self._stream is not None and self._rate == rate and self._stream.active:
                return
            self._close_stream()
            if self.keep_alive:
                self._keep = _KeepAlive(rate)
            failure: Exception | None = None
            with alsa_messages() as said:  # PortAudio's probing of ALSA talks on stderr
                sd = _sounddevice()
                for attempt in (1, 2):
                    try:
                        stream = sd.RawOutputStream(  # raw: the callback makes its own view, no per-call array
                            samplerate=rate,
                            channels=1,
                            dtype="int16",
                            latency=self.latency,
                            device=self.device,
                            callback=self._callback,
                        )
                        stream.start()
                        failure = None
                        break
                    except (sd.PortAudioError, ValueError) as error:
                        failure = error
                        if attempt == 1:
                            # PortAudio lists the devices once, when it starts: a sound server that
                            # came up since (or a speaker plugged in) is seen only after a restart
                            sd._terminate()
                            sd._initialize()
            if failure is not None:
                raise AudioDeviceError(_explain(failure, said)) from failure
            self._stream, self._rate, self._opened_at = stream, rate, monotonic()

    def close(self) -> None:
        """Stop at once and let the device go; every take's feeder ends (waited for)."""
        with self._lock:
            self._close_stream()
        with self._feeders_lock:
            feeders, self._feeders = self._feeders, []
        for handle in feeders:
            handle.halt()
        for handle in feeders:
            handle.join(FEEDER_JOIN)

    def _close_stream(self) -> None:
        stream, self._stream, current, self._current = self._stream, None, self._current, None
        if current is not None:  # its device is gone: nothing more of it will be played
            current.halt()
        if stream is not None:
            stream.abort()  # drops what the device holds: silence now, not after the buffer
            stream.close()

    def running(self) -> bool:
        stream = self._stream
        return stream is not None and stream.active

    def running_for(self) -> float:
        """Seconds the device has played since it was opened (0 when it is not open): what
        it has had to settle (play.Player counts them against the lead-in)."""
        return monotonic() - self._opened_at if self.running() else 0.0

    def time(self) -> float:
        """The stream's clock (seconds), the one the callbacks' DAC times are on."""
        stream = self._stream
        return 0.0 if stream is None else stream.time

    # -- takes ------------------------------------------------------------------------------

    def stream(self, feed: Feed, rate: int) -> StreamHandle:
        """Play ``feed`` from its first sample, in place of whatever plays now: at once, not
        after what the device still holds. Its first PRIME seconds are made ready (by its
        feeder) before it is swapped in, so that it starts without a gap."""
        self.open(rate)
        handle = StreamHandle(feed, rate, self)
        with self._feeders_lock:
            self._feeders = [h for h in self._feeders if h.feeding()] + [handle]
        try:
            handle.prime()
            with self._lock:
                previous = self._current
                if previous is not None:
                    previous.halt()
                self._switch(handle)
        except BaseException:  # Ctrl-C while it primed, a device gone: its feeder ends
            handle.halt()
            raise
        return handle

    def drop(self, handle: StreamHandle) -> None:
        """Silence at once where ``handle`` was playing (its ``stop``): what the device holds of it is dropped."""
        with self._lock:
            if self._current is handle:
                self._switch(None)

    def _switch(self, handle: StreamHandle | None) -> None:
        """Play ``handle`` (None: silence) in place of what plays now, dropping what the device
        holds of it (up to ``latency`` seconds, already written by the callback): the stream
        is stopped, the feed swapped while no callback runs, and the stream started again,
        which takes about a millisecond. Without it a start or a stop is heard a buffer late.
        Swapped before the stream stops, the new take's first blocks could go into the buffer
        that is then dropped. What the take's feeder has queued beyond that is dropped with
        the take: a stop is heard at once, however far ahead the feeder is."""
        stream = self._stream
        if stream is None or not stream.active:
            self._current = handle
            return
        sd = _sounddevice()
        try:
            stream.abort()
            self._current = handle
            stream.start()
        except sd.PortAudioError as error:  # the device went away: the next take opens it again
            self._close_stream()
            raise AudioDeviceError(_explain(error, [])) from error

    def start(self, samples: numpy.ndarray, rate: int) -> StreamHandle:
        """Play a buffer (a Feed of one block)."""
        if len(samples) == 0:
            raise ValueError("an empty buffer cannot be played")
        return self.stream(Feed(len(samples), iter((samples,))), rate)

    def _callback(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        """PortAudio's callback: ``outdata`` is the device's buffer, ``frames`` int16 samples.
        It only copies what the take's feeder has made ready (StreamHandle.fill) and adds
        the keep-alive tone: no mixing, no reading, no waiting on a lock. Idle, it writes
        silence without NumPy: a device opened early (before the session is made ready)
        does not wait in its first callbacks for the main thread's import of it."""
        if status.output_underflow:
            self.underflows += 1
        handle = self._current
        if handle is not None and handle.stopped:
            handle = None
        keep = self._keep if self.keep_alive else None
        if handle is None and keep is None:
            if len(self._zeros) != len(outdata):
                self._zeros = bytes(len(outdata))
            outdata[:] = self._zeros
            return
        import numpy as np

        out = np.frombuffer(outdata, np.int16, frames)
        written = 0
        if handle is not None:
            # PortAudio leaves the DAC time 0 where the host cannot tell: the buffer's length then.
            dac = time.outputBufferDacTime or time.currentTime + self.latency
            written = handle.fill(out, dac)
            if written < frames and not (handle.exhausted or handle.failure is not None):
                self.starved += 1
        if written < frames:
            out[written:] = 0
        if keep is not None:
            keep.add(out)


def keep_alive_tone(rate: int) -> numpy.ndarray:
    """The keep-alive tone: a whole number of its periods, about a second, so that it loops
    without a seam."""
    import numpy as np

    period = round(rate / KEEP_ALIVE_HZ)
    cycles = max(1, rate // period)
    phase = np.arange(cycles * period) * (2 * np.pi / period)
    return np.rint(np.sin(phase) * KEEP_ALIVE_LEVEL * 32767).astype(np.int16)


def _sounddevice() -> Any:
    """The sounddevice module; AudioDeviceError when it or PortAudio is missing."""
    try:
        import sounddevice
    except ImportError as error:
        raise AudioDeviceError(f"The audio library could not be loaded ({error}): reinstall holdcue.") from error
    except OSError as error:  # sounddevice's Linux wheel uses the system's PortAudio
        raise AudioDeviceError(
            f"PortAudio could not be loaded ({error}): install it (apt-get install libportaudio2)."
        ) from error
    return sounddevice


def _explain(error: Exception, said: list[str]) -> str:
    text = f"{error}; ALSA: {said[-1]}" if said else str(error)
    busy = "busy" in text.lower()
    what = "The sound device is busy" if busy else "No sound device could be opened"
    hint = "close the program that is using it" if busy else "check that one is connected and switched on"
    return f"{what} (PortAudio: {text}): {hint}."


@contextlib.contextmanager
def alsa_messages() -> Iterator[list[str]]:
    """What ALSA writes to stderr while a device opens, kept for the error message rather
    than left to clutter the terminal: a list of its messages, filled on exit."""
    said: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to redirect
        yield said
        return
    with tempfile.TemporaryFile() as caught:
        sys.stderr.flush()
        os.dup2(caught.fileno(), 2)
        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            said.extend(line.split(") ", 1)[-1] for line in caught.read().decode(errors="replace").splitlines())


def device_description(device: str | int | None = None) -> str:
    """The PortAudio output device ``device`` names (None: the default one), for a log: its
    name and host API, "'default' (ALSA)" say. AudioDeviceError when there is none."""
    with alsa_messages() as said:  # PortAudio's probing of ALSA talks on stderr
        sd = _sounddevice()
        try:
            info = sd.query_devices(device, kind="output") if device is None else sd.query_devices(device)
            api = sd.query_hostapis(info["hostapi"])["name"]
        except (sd.PortAudioError, ValueError) as error:
            raise AudioDeviceError(_explain(error, said)) from error
    return f"{info['name']!r} ({api})"


def output_name() -> str:
    """The output ``$HOLDCUE_OUTPUT`` names (default: the stream); AudioDeviceError for a
    name holdcue has no output for."""
    name = os.environ.get("HOLDCUE_OUTPUT", "").strip().lower() or OUTPUTS[0]
    if name not in OUTPUTS:
        raise AudioDeviceError(f"HOLDCUE_OUTPUT={name!r} is no output holdcue has: use one of {', '.join(OUTPUTS)}.")
    return name


_early: StreamSink | None = None  # opened by open_early, for take_early


def open_early(keep_alive: bool = False) -> None:
    """Open the stream that play.output(keep_alive) will give, now: `holdcue play` calls
    this before it imports anything else, so that the device's lead-in (counted from its
    open) runs while the rest of the program starts. Nothing happens when the output is not
    the stream or cannot be opened (output() then says why); one never taken is closed at exit."""
    import atexit

    global _early
    with contextlib.suppress(AudioDeviceError):
        if output_name() == "stream":
            sink = StreamSink(keep_alive=keep_alive)
            sink.open(SAMPLE_RATE)
            _early = sink
            atexit.register(_close_early)


def take_early(keep_alive: bool) -> StreamSink | None:
    """The stream open_early opened, when it was for these options (once); one for other
    options is closed."""
    global _early
    sink, _early = _early, None
    if sink is not None and sink.keep_alive != keep_alive:
        sink.close()
        return None
    return sink


def _close_early() -> None:
    global _early
    if _early is not None:
        _early.close()
        _early = None
