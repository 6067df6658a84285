"""Live playback: the session as one continuous stream, so every cue sounds exactly where
the timeline puts it (docs/playback.md).

Cues started one by one drift by milliseconds and now and then by half a second; one
pre-mixed stream is exact to the sample. So each *take* is one buffer: silence to lead in
(a device's first moments may be lost), then the session mixed from a position to its
end, played with one call. The audio library cannot pause, seek or tell its position, so
the position is the time elapsed on a monotonic clock since the take started; pausing
stops the take and remembers the position; resuming, skipping or going back starts a new
take. The scheduler (``Player``) decides positions; the sink only plays buffers.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from holdcue.controls import Command
from holdcue.display import Status, for_stream
from holdcue.errors import AudioDeviceError
from holdcue.timeline import Event, Segment, Timeline

if TYPE_CHECKING:
    import numpy

    from holdcue.timeline import Session

LEAD_IN = 0.15  # seconds of silence that start every take: 5x what a device was seen to swallow
RECAP_GAP = 0.5  # seconds between a repeated instruction and the rest of the hold
TICK = 0.2  # seconds between status refreshes (and the longest wait for a key)
AT_START = 2.0  # "previous" within this many seconds of a step's start goes a step back
DOUBLE_PRESS = 1.5  # so does a second "previous" within this many seconds of the first
RELEASE_WAIT = 1.0  # longest wait for a stopped take to let go of the device
EARLY_END = 1.0  # a take that ends this many seconds early lost its device, allowing
CLOCK_SLACK = 0.005  # for a sound card clock this much faster than the system's (it is far less)
LEAD_UP = ("announce", "transition")  # phases that introduce a hold, before its "prepare"


class Handle(Protocol):
    """A take being played."""

    def stop(self) -> None: ...

    def is_playing(self) -> bool: ...


class Sink(Protocol):
    """Plays buffers of mono int16 samples; raises AudioDeviceError when it cannot."""

    def start(self, samples: numpy.ndarray, rate: int) -> Handle: ...


class Clock(Protocol):
    def now(self) -> float: ...  # monotonic seconds

    def sleep(self, seconds: float) -> None: ...


class Keys(Protocol):
    def open(self) -> None: ...

    def read(self, timeout: float) -> list[Command]: ...  # waits up to timeout for keys

    def close(self) -> None: ...


class Display(Protocol):
    def show(self, status: Status) -> None: ...

    def close(self) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class SimpleaudioSink:
    """The default sound device (ALSA's ``default``) through simpleaudio."""

    def start(self, samples: numpy.ndarray, rate: int) -> Handle:
        if len(samples) == 0:
            raise ValueError("an empty buffer cannot be played")
        try:
            import simpleaudio
            from simpleaudio._simpleaudio import SimpleaudioError
        except ImportError as error:
            raise AudioDeviceError(f"The audio library could not be loaded ({error}).") from error
        with _alsa_messages() as said:
            try:
                return simpleaudio.play_buffer(samples, 1, 2, rate)
            except SimpleaudioError as error:
                failure = error
        detail = said[-1] if said else str(failure)
        busy = "busy" in f"{failure} {detail}".lower()
        what = "The sound device is busy" if busy else "No sound device could be opened"
        hint = "close the program that is using it" if busy else "check that one is connected and switched on"
        raise AudioDeviceError(f"{what} (ALSA: {detail}): {hint}.") from failure


@contextlib.contextmanager
def _alsa_messages() -> Iterator[list[str]]:
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


@dataclass(frozen=True)
class PlayResult:
    finished: bool  # played to the end (False: ended early with q or Esc)
    position: int  # the timeline sample where playback ended


@dataclass
class _Take:
    """One buffer being played: ``prefix`` samples (lead-in, perhaps a repeated
    instruction), then the timeline from ``origin`` to its end."""

    origin: int
    prefix: int
    length: int
    started: float  # clock time just before the sink started it
    handle: Handle


class Player:
    """The scheduler: knows the timeline, the position and the play state, and turns
    commands and clock ticks into takes started and stopped on the sink."""

    def __init__(
        self,
        timeline: Timeline,
        clips: Mapping[str, numpy.ndarray],
        tones: Mapping[str, numpy.ndarray],
        *,
        sink: Sink,
        clock: Clock,
        lead_in: float = LEAD_IN,
        volume: float = 1.0,
        speech_volume: float = 1.0,
    ):
        self.timeline = timeline
        self.clips = clips
        self.tones = tones
        self.sink = sink
        self.clock = clock
        self.lead_in = round(lead_in * timeline.rate)
        self.levels = {"volume": volume, "speech_volume": speech_volume}  # for the renderer
        self.state = "stopped"  # "playing", "paused", "finished" or "stopped"
        self.take: _Take | None = None
        self.held = 0  # the position while no take plays
        self.releasing: Handle | None = None  # a stopped take that may still hold the device
        self.last_previous = float("-inf")
        segments = timeline.segments
        self.starts = [s.start for s in segments]
        # Steps as the controls see them (runs of segments of one step, the intro, the end),
        # each from where it is first heard.
        self.parts = [
            first_heard(timeline, i) for i, s in enumerate(segments) if i == 0 or s.step != segments[i - 1].step
        ]
        self.steps = max((s.step for s in segments), default=-1) + 1

    # -- where we are ---------------------------------------------------------------------

    def position(self) -> int:
        take = self.take
        if self.state != "playing" or take is None:
            return self.held
        elapsed = round((self.clock.now() - take.started) * self.timeline.rate) - take.prefix
        return min(take.origin + max(0, elapsed), self.timeline.length)

    def segment_at(self, position: int) -> int:
        return max(0, bisect.bisect_right(self.starts, position) - 1)

    def status(self) -> Status:
        position = self.position()
        index = self.segment_at(min(position, self.timeline.length - 1))
        segment = self.timeline.segments[index]
        rate = self.timeline.rate
        return Status(
            state=self.state,
            position=position / rate,
            duration=self.timeline.duration,
            segment=index,
            phase=segment.phase,
            title=segment.title,
            step=segment.step + 1,
            steps=self.steps,
            side=segment.side,
            round=segment.round,
            rounds=segment.rounds,
            left=max(0, segment.end - position) / rate,
            next=self.next_label(index),
        )

    def next_label(self, index: int) -> str:
        """What follows this part of the session: the other side, the next round, or the next step."""
        here = self.timeline.segments[index]
        for later in self.timeline.segments[index + 1 :]:
            if later.phase == "rest" and later.step == here.step:
                continue  # the rest between rounds leads to the next round
            if later.step < 0:
                return "the end"
            if later.step != here.step:
                return f"step {later.step + 1}: {later.title}"
            if (later.side, later.round) != (here.side, here.round):
                if later.round != here.round:
                    side = f", {later.side} side" if later.side else ""
                    return f"round {later.round} of {later.rounds}{side}"
                return f"{later.side} side"
        return "the end"

    # -- commands -------------------------------------------------------------------------

    def start(self, position: int) -> None:
        """Play from ``position`` (a sample of the timeline)."""
        self._stop()
        self._begin(position)

    def command(self, command: Command) -> None:
        if self.state not in ("playing", "paused"):
            return
        if command is Command.PAUSE:
            self.resume() if self.state == "paused" else self.pause()
        elif command is Command.NEXT:
            self.next()
        elif command is Command.PREVIOUS:
            self.previous()
        elif command is Command.QUIT:
            self.quit()

    def pause(self) -> None:
        if self.state == "playing":
            self.held = self.position()
            self._stop()
            self.state = "paused"

    def resume(self) -> None:
        """Go on from where it paused: in a hold, the step's instruction is said again and
        the hold goes on with exactly the time it had left; otherwise the part leading to
        the next hold (announcement, change of side) starts again."""
        if self.state != "paused":
            return
        origin, instruction = self.resume_point(self.held)
        self._begin(origin, instruction)

    def next(self) -> None:
        part = bisect.bisect_right(self.parts, self.position()) - 1
        if part + 1 < len(self.parts):
            self.start(self.parts[part + 1])

    def previous(self) -> None:
        """Back to the start of this step; at its start, or pressed twice quickly, the one before."""
        now = self.clock.now()
        position = self.position()
        part = bisect.bisect_right(self.parts, position) - 1
        rate = self.timeline.rate
        if position - self.parts[part] < AT_START * rate or now - self.last_previous < DOUBLE_PRESS:
            part = max(0, part - 1)
        self.last_previous = now
        self.start(self.parts[part])

    def quit(self) -> None:
        self.held = self.position()
        self._stop()
        self.state = "stopped"

    def tick(self) -> None:
        """Notice the end of the take (or the loss of the device)."""
        take = self.take
        if self.state != "playing" or take is None or take.handle.is_playing():
            return
        seconds = take.length / self.timeline.rate
        if self.clock.now() < take.started + seconds * (1 - CLOCK_SLACK) - EARLY_END:
            at = self.position()
            self.held, self.take, self.state = at, None, "stopped"
            raise AudioDeviceError(
                f"Playback stopped at {at // self.timeline.rate // 60}:{at // self.timeline.rate % 60:02d}: "
                "the sound device stopped playing (was it unplugged?)."
            )
        self.held, self.take, self.state = self.timeline.length, None, "finished"

    def close(self) -> None:
        """Silence at once (on quit, Ctrl-C or an error)."""
        if self.take is not None:
            self.held = self.position()
            self.take.handle.stop()
            self.take = None

    # -- takes ----------------------------------------------------------------------------

    def resume_point(self, position: int) -> tuple[int, Event | None]:
        """Where a paused session goes on, and the instruction to repeat first (if any)."""
        index = self.segment_at(position)
        segments = self.timeline.segments
        if segments[index].phase == "hold":
            return position, self.instruction(index)
        here = segments[index]
        if here.phase == "prepare" and index > 0:
            before = segments[index - 1]
            if before.phase in LEAD_UP and before.step == here.step:
                index -= 1
        return first_heard(self.timeline, index), None

    def instruction(self, hold: int) -> Event | None:
        """The first thing said in the part that led to this hold: the announcement, the
        change of side or the next round."""
        segments = self.timeline.segments
        first = hold
        while (
            first > 0
            and segments[first - 1].phase in (*LEAD_UP, "prepare")
            and segments[first - 1].step == segments[hold].step
        ):
            first -= 1
            if segments[first].phase in LEAD_UP:
                break
        return next(
            (e for e in self.timeline.events if e.kind == "speech" and first <= e.segment < hold),
            None,
        )

    def take_timeline(self, origin: int) -> Timeline:
        """The timeline as a take from ``origin`` plays it: sounds already under way there,
        or belonging to an earlier part (the end tone of the hold before), are left out."""
        first = self.segment_at(origin)
        events = tuple(e for e in self.timeline.events if e.start >= origin and e.segment >= first)
        return replace(self.timeline, events=events)

    def buffer(self, origin: int, instruction: Event | None = None) -> tuple[numpy.ndarray, int]:
        """The samples of a take from ``origin``, and its prefix length (samples before origin)."""
        import numpy as np

        from holdcue.render import render, render_blocks

        said = None
        if instruction is not None:
            length = instruction.end - instruction.start
            alone = Timeline(
                self.timeline.title,
                self.timeline.rate,
                length,
                (replace(instruction, start=0, end=length, segment=0),),
                (Segment("", "hold", 0, length),),
            )
            said = render(alone, self.clips, self.tones, **self.levels)
        prefix = self.lead_in + (0 if said is None else len(said) + round(RECAP_GAP * self.timeline.rate))
        samples = np.zeros(prefix + self.timeline.length - origin, np.int16)
        if said is not None:
            samples[self.lead_in : self.lead_in + len(said)] = said
        at = prefix
        for block in render_blocks(self.take_timeline(origin), self.clips, self.tones, start=origin, **self.levels):
            if block.any():  # pages of silence are never touched: a long session stays small
                samples[at : at + len(block)] = block
            at += len(block)
        return samples, prefix

    def _begin(self, origin: int, instruction: Event | None = None) -> None:
        samples, prefix = self.buffer(origin, instruction)
        if len(samples) == 0:
            self.held, self.state = self.timeline.length, "finished"
            return
        self._wait_for_release()
        started = self.clock.now()
        handle = self.sink.start(samples, self.timeline.rate)
        self.take = _Take(origin, prefix, len(samples), started, handle)
        self.state = "playing"

    def _stop(self) -> None:
        if self.take is not None:
            self.take.handle.stop()
            self.releasing = self.take.handle
            self.take = None

    def _wait_for_release(self) -> None:
        """A stopped take plays out what the device already holds (a tenth of a second or
        so); a device without mixing is busy until then."""
        handle, self.releasing = self.releasing, None
        if handle is None:
            return
        deadline = self.clock.now() + RELEASE_WAIT
        while handle.is_playing() and self.clock.now() < deadline:
            self.clock.sleep(0.01)


def first_heard(timeline: Timeline, index: int) -> int:
    """Where segment ``index`` is first heard: its first own sound (not the end tone of the
    hold before it, which sounds at its start), or its start when it has none."""
    segment = timeline.segments[index]
    for event in timeline.events:
        if event.start >= segment.start and event.segment >= index:
            return event.start if event.start < segment.end else segment.start
    return segment.start


def start_position(timeline: Timeline, step: str) -> int:
    """Where a step is first heard: ``step`` is its 1-based number or words of its title.
    Raises ValueError with the steps there are when none matches."""
    firsts: dict[int, Segment] = {}
    for index, segment in enumerate(timeline.segments):
        if segment.step >= 0 and segment.step not in firsts:
            firsts[segment.step] = replace(segment, start=first_heard(timeline, index))
    listing = "; ".join(f"{n + 1} {s.title}" for n, s in sorted(firsts.items()))
    wanted = step.strip()
    if wanted.isdigit():
        number = int(wanted)
        if number - 1 in firsts:
            return firsts[number - 1].start
        raise ValueError(f"there is no step {number}: the steps are {listing}")
    words = wanted.casefold()
    for exact in (True, False):
        for segment in firsts.values():
            title = segment.title.casefold()
            if (title == words) if exact else (words in title):
                return segment.start
    raise ValueError(f"no step title contains {wanted!r}: the steps are {listing}")


def play(
    session: Session,
    *,
    sink: Sink | None = None,
    clock: Clock | None = None,
    keys: Keys | None = None,
    display: Display | None = None,
    start_at: str | None = None,
    lead_in: float = LEAD_IN,
    volume: float = 1.0,
) -> PlayResult:
    """Play a session from the start (or from the step ``start_at``) to its end, or until
    the keys say quit. No keys (None): hands-free. No display: the status goes to stdout
    (redrawn on a terminal, plain lines otherwise). Raises AudioDeviceError when no sound
    device can be used; Ctrl-C silences it at once and goes on as KeyboardInterrupt."""
    timeline = session.timeline
    origin = 0 if start_at is None else start_position(timeline, start_at)
    player = Player(
        timeline,
        session.clips,
        session.tones,
        sink=sink or SimpleaudioSink(),
        clock=clock or SystemClock(),
        lead_in=lead_in,
        volume=volume,
        speech_volume=session.routine.voice.volume,
    )
    display = display or for_stream(sys.stdout, controls=keys is not None)
    if keys is not None:
        keys.open()
    try:
        player.start(origin)
        while True:
            player.tick()
            display.show(player.status())
            if player.state in ("finished", "stopped"):
                break
            if keys is None:
                player.clock.sleep(TICK)
                continue
            for command in keys.read(TICK):
                player.command(command)
    except AudioDeviceError as error:
        raise AudioDeviceError(f"{error}\n{_export_hint(session)}") from error
    finally:
        player.close()
        if keys is not None:
            keys.close()
        display.close()
    return PlayResult(player.state == "finished", player.held)


def _export_hint(session: Session) -> str:
    routine = session.routine
    ref = routine.id if routine.source.startswith("builtin:") or not routine.source else routine.source
    return f"To listen anyway, export the session to a file and play that: holdcue export {ref} -o {routine.id}.mp3"
