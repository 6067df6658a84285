"""Live playback: the session as one continuous stream, so every cue sounds exactly where
the timeline puts it (docs/playback.md).

Cues started one by one drift by milliseconds and now and then by half a second; one
pre-mixed stream is exact to the sample. So each *take* is one stream: silence to lead
in (a device's first moments may be lost), then the session mixed from a position to its
end. The scheduler (``Player``) decides positions; the sink only plays takes.

Two kinds of sink play them. A streaming sink (``StreamingSink``, e.g. stream.StreamSink)
is given the take as a ``Feed``, blocks rendered as the device asks for them, so memory
does not grow with the session, and it says how much of the take the device has played:
that is the position. A buffer sink (``Sink``: simpleaudio) is given the whole take as
one buffer and cannot pause, seek or tell its position, so the position is the time
elapsed on a monotonic clock since the take started. Either way, pausing stops the take
and remembers the position; resuming, skipping or going back starts a new take.
"""

from __future__ import annotations

import bisect
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from holdcue import phrases
from holdcue.controls import Command
from holdcue.display import Status
from holdcue.errors import AudioDeviceError, MusicError
from holdcue.phrases import Phrases
from holdcue.stream import OUTPUTS as OUTPUTS  # HOLDCUE_OUTPUT's values
from holdcue.stream import Feed, alsa_messages, output_name, take_early
from holdcue.stream import StreamSink as StreamSink  # the sink the service and the CLI use
from holdcue.text import clock
from holdcue.timeline import SAMPLE_RATE, Event, Segment, Timeline

if TYPE_CHECKING:
    import numpy

    from holdcue.routine import Routine
    from holdcue.timeline import Session

# Seconds of silence a streamed take starts with, at least: a sound server may drop the first
# milliseconds of a stream that starts again (9.3 ms through PulseAudio's ALSA plugin, measured),
# and they should be silence, not a tone's attack.
LANDING = 0.015
LEAD_IN = 0.15  # seconds a device plays after it opens before the first sound: 5x what one was seen to swallow
RECAP_GAP = 0.5  # seconds between a repeated instruction and the rest of the hold
TICK = 0.2  # seconds between status refreshes (and the longest wait for a key)
AT_START = 2.5  # "previous" within this many seconds of a step's start (as heard) goes a step back
WORD_GAP = 0.3  # seconds between words said before a take ("Resuming." and the time left)
WORDS_WAIT = 5.0  # longest wait for "Session ended." to be heard before the program ends
SHORT_LEFT = 15.0  # seconds: time left below this is said to the second, above it to five
VOLUME_STEP_DB = 3.0  # one press of + or -
MAX_VOLUME = 2.0  # twice as loud as mixed (+6 dB): the limiter keeps its peaks below full scale
MIN_VOLUME = 10 ** (-30 / 20)  # the quietest the keys go, -30 dB
RELEASE_WAIT = 1.0  # longest wait for a stopped take to let go of the device
EARLY_END = 1.0  # a take that ends this many seconds early lost its device, allowing
CLOCK_SLACK = 0.005  # for a sound card clock this much faster than the system's (it is far less)
LEAD_UP = ("announce", "transition")  # phases that introduce a hold, before its "prepare"

# Said when a key is pressed; session building can synthesize them with the routine's clips.


def own_words(routine: Routine) -> tuple[str, ...]:
    """What the player says by itself (on pause, resume and quit) in the routine's language:
    the session should have clips for these (session.build's ``also``)."""
    words = phrases.for_language(routine.voice.language)
    return words.paused(), words.resuming(), words.session_ended()


Speak = Callable[[str], "numpy.ndarray"]  # a clip (mono int16 at the timeline's rate) for any text


class Handle(Protocol):
    """A take being played."""

    def stop(self) -> None: ...

    def is_playing(self) -> bool: ...


class Sink(Protocol):
    """Plays buffers of mono int16 samples; raises AudioDeviceError when it cannot."""

    def start(self, samples: numpy.ndarray, rate: int) -> Handle: ...


class CountedHandle(Handle, Protocol):
    """A take whose sink can tell how far it is."""

    def played(self) -> int: ...  # samples of the take the device has played


@runtime_checkable
class StreamingSink(Protocol):
    """Plays takes given as Feeds, pulling their blocks as the device needs them (and
    buffers, as every Sink); raises AudioDeviceError when it cannot."""

    def start(self, samples: numpy.ndarray, rate: int) -> Handle: ...

    def stream(self, feed: Feed, rate: int) -> CountedHandle: ...

    def running_for(self) -> float: ...  # seconds the device has played since it opened (0: not open)


class Clock(Protocol):
    def now(self) -> float: ...  # monotonic seconds

    def sleep(self, seconds: float) -> None: ...


class Keys(Protocol):
    def open(self) -> None: ...

    def read(self, timeout: float) -> list[Command]: ...  # waits up to timeout for keys

    def close(self) -> None: ...


class Display(Protocol):
    def show(self, status: Status) -> None: ...

    def note(self, text: str) -> None: ...  # a line said once, above the status

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
        with alsa_messages() as said:
            try:
                return simpleaudio.play_buffer(samples, 1, 2, rate)
            except SimpleaudioError as error:
                failure = error
        detail = said[-1] if said else str(failure)
        busy = "busy" in f"{failure} {detail}".lower()
        what = "The sound device is busy" if busy else "No sound device could be opened"
        hint = "close the program that is using it" if busy else "check that one is connected and switched on"
        raise AudioDeviceError(f"{what} (ALSA: {detail}): {hint}.") from failure


@dataclass(frozen=True)
class PlayResult:
    finished: bool  # played to the end (False: ended early with q or Esc)
    position: int  # the timeline sample where playback ended


@dataclass(frozen=True)
class Levels:
    """What the renderer is given: the master volume (0..2, 1 as mixed) and the routine's
    speech volume."""

    volume: float = 1.0
    speech_volume: float = 1.0


Word = tuple[str, str]  # ("speech", text) or ("tone", name): one sound said before a take's timeline


@dataclass(frozen=True)
class Held:
    """A hold that lasts until a press, as it ended: pressed, or at its full time."""

    step: int  # 1-based
    side: str  # "left", "right" or ""
    round: int  # 1-based round of a repeated step; 0 when not repeated
    seconds: float  # how long it was held (pauses left out)
    longest: float  # seconds: its full time, the most it could last
    pressed: bool  # False: it ran its full time


@dataclass
class _Take:
    """One buffer being played: ``prefix`` samples (lead-in, perhaps words and a tone),
    then the timeline from ``origin`` to its end."""

    origin: int
    prefix: int
    length: int
    started: float  # clock time just before the sink started it
    handle: Handle
    words: tuple[Word, ...] = ()  # what the prefix says, to build it again at another volume
    keep_from: int | None = None  # the segment whose sounds it keeps from origin on (Player.take_timeline)
    played: Callable[[], int] | None = None  # samples played, by the device (streaming sinks)


class Player:
    """The scheduler: knows the timeline, the position and the play state, and turns
    commands and clock ticks into takes started and stopped on the sink."""

    def __init__(
        self,
        session: Session,
        *,
        sink: Sink,
        clock: Clock,
        lead_in: float = LEAD_IN,
        volume: float = 1.0,
        speak: Speak | None = None,
    ):
        """Plays ``session`` (its timeline, clips and tones, its music under them, its own
        words in its language, its voice's volume) on ``sink``."""
        timeline = session.timeline
        self.music = session.music  # under the whole take, ducked under its cues (render.py)
        self.music_lost: MusicError | None = None  # why the music stopped part-way: the session goes on without it
        self.timeline = timeline
        self.words = session.words  # what it says by itself
        self.clips = session.clips
        self.tones = session.tones
        self.sink = sink
        self.clock = clock
        self.speak = speak
        self.spoken: dict[str, numpy.ndarray] = {}  # what speak made, by text
        self.lead_in = round(lead_in * timeline.rate)
        self.levels = Levels(volume, session.routine.voice.volume)
        self.state = "stopped"  # "playing", "paused", "finished" or "stopped"
        self.take: _Take | None = None
        self.aside: Handle | None = None  # words said outside the session: "Paused.", "Session ended."
        self.held = 0  # the position while no take plays
        self.releasing: Handle | None = None  # a stopped take that may still hold the device
        segments = timeline.segments
        self.starts = [s.start for s in segments]
        # Steps as the controls see them (runs of segments of one step, the intro, the end),
        # each from where it is first heard.
        self.parts = [
            first_heard(timeline, i) for i, s in enumerate(segments) if i == 0 or s.step != segments[i - 1].step
        ]
        self.steps = max((s.step for s in segments), default=-1) + 1
        self.waiting: int | None = None  # the hold that lasts until a press being heard (segment index)
        self.ended: list[Held] = []  # such holds ended since the last ``take_ended``

    # -- where we are ---------------------------------------------------------------------

    def position(self) -> int:
        take = self.take
        if self.state != "playing" or take is None:
            return self.held
        return min(take.origin + max(0, self._elapsed(take) - take.prefix), self.timeline.length)

    def _elapsed(self, take: _Take) -> int:
        """Samples of the take played so far: by the device when the sink can tell, else
        by the clock."""
        if take.played is not None:
            return take.played()
        return round((self.clock.now() - take.started) * self.timeline.rate)

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
            volume=self.levels.volume,
            until=segment.until,
        )

    def next_label(self, index: int) -> str:
        """What follows this part of the session: the other side, the next round, or the next step."""
        here = self.timeline.segments[index]
        for later in self.timeline.segments[index + 1 :]:
            if later.phase == "rest" and later.step == here.step:
                continue  # the rest between rounds leads to the next round
            words = self.words
            if later.step < 0:
                return words.label_the_end()
            if later.step != here.step:
                return words.label_next_step(later.step + 1, later.title)
            if (later.side, later.round) != (here.side, here.round):
                if later.round != here.round:
                    side = f", {words.label_side(later.side)}" if later.side else ""
                    return f"{words.label_round_of(later.round, later.rounds)}{side}"
                return words.label_side(later.side)
        return self.words.label_the_end()

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
        elif command is Command.LOUDER:
            self.set_volume(louder(self.levels.volume))
        elif command is Command.QUIETER:
            self.set_volume(quieter(self.levels.volume))
        elif command is Command.QUIT:
            self.quit()

    def pause(self) -> None:
        """Stop the session and say "Paused."; the words for going on are made ready now,
        while nothing needs the time."""
        if self.state == "playing":
            self.held = self.position()
            self._stop()
            self.state = "paused"
            self._say_aside(self.words.paused())
            for kind, text in self.resume_words(self.held):
                if kind == "speech":
                    self.sound(text)

    def resume(self) -> None:
        """Go on from where it paused, after "Resuming.": in a hold, the time it has left is
        said, then the start tone, and the hold goes on from the very sample where it
        paused; otherwise the part leading to the next hold (announcement, change of side)
        starts again."""
        if self.state != "paused":
            return
        self._stop()
        self._begin(self.resume_point(self.held), self.resume_words(self.held))

    def next(self) -> None:
        """On to the next step; in a part that lasts until a press (a hold, or getting into
        position), that part ends as it would at its full time (the press)."""
        position = self.position()
        index = self.segment_at(position)
        if self.timeline.segments[index].until and position < self.timeline.segments[index].end:
            self.press(index, position)
            return
        part = bisect.bisect_right(self.parts, position) - 1
        if part + 1 < len(self.parts):
            self.start(self.parts[part + 1])

    def press(self, index: int, position: int) -> None:
        """End segment ``index`` at ``position``: the session goes on from the segment's end
        with its end tone (a hold's), as when its time runs out; the position jumps there,
        so the timeline after it is heard exactly as compiled."""
        segment = self.timeline.segments[index]
        if segment.phase == "hold":
            self._ended_hold(index, position - segment.start, pressed=True)
        self._stop()
        self._begin(segment.end, keep_from=index)

    def take_ended(self) -> list[Held]:
        """The holds that last until a press which ended since the last call (for the journal)."""
        self._watch()
        ended, self.ended = self.ended, []
        return ended

    def _watch(self) -> None:
        """Notice a hold that lasts until a press being reached, and its full time running out."""
        position = self.position()
        if self.waiting is not None and position >= self.timeline.segments[self.waiting].end:
            segment = self.timeline.segments[self.waiting]
            self._ended_hold(self.waiting, segment.end - segment.start, pressed=False)
        if self.state != "playing":
            return
        index = self.segment_at(position)
        here = self.timeline.segments[index]
        if here.until and here.phase == "hold" and here.start <= position < here.end:
            self.waiting = index
        elif index != self.waiting:
            self.waiting = None  # left it another way (back, or a step skipped): not held to an end

    def _ended_hold(self, index: int, samples: int, pressed: bool) -> None:
        segment = self.timeline.segments[index]
        rate = self.timeline.rate
        held = Held(
            segment.step + 1, segment.side, segment.round, samples / rate, (segment.end - segment.start) / rate, pressed
        )
        self.ended.append(held)
        self.waiting = None

    def previous(self) -> None:
        """Back to the start of this step, as a media player goes back to the start of a
        track; within its first AT_START seconds (as heard), to the step before."""
        position = self.position()
        part = bisect.bisect_right(self.parts, position) - 1
        if position - self.parts[part] < AT_START * self.timeline.rate:
            part = max(0, part - 1)
        self.start(self.parts[part])

    def set_volume(self, volume: float) -> None:
        """Change the master volume; a playing session is heard at the new level within a
        lead-in, from the very sample it had reached."""
        if volume == self.levels.volume:
            return
        self.levels = replace(self.levels, volume=volume)
        take = self.take
        if self.state != "playing" or take is None:
            return
        if self._elapsed(take) < take.prefix:  # still in its lead-in or words: all of it again
            self._stop()
            self._begin(take.origin, take.words, keep_from=take.keep_from)
        else:
            position = self.position()
            self._stop()
            self._begin(position, under_way=True)

    def quit(self) -> None:
        """Stop the session and say "Session ended." (``wait_for_words`` lets it finish)."""
        self.held = self.position()
        self._stop()
        self.state = "stopped"
        self._say_aside(self.words.session_ended())

    def wait_for_words(self) -> None:
        """Let the words said outside the session ("Session ended.") play out."""
        handle = self.aside
        if handle is None:
            return
        deadline = self.clock.now() + WORDS_WAIT
        while handle.is_playing() and self.clock.now() < deadline:
            self.clock.sleep(TICK / 4)

    def tick(self) -> None:
        """Notice the end of the take (or the loss of the device)."""
        take = self.take
        if self.state != "playing" or take is None or take.handle.is_playing():
            return
        if self._ended_early(take):
            at = self.position()
            self.held, self.take, self.state = at, None, "stopped"
            failure = getattr(take.handle, "failure", None)  # what the take's feed raised (stream.py)
            why = f"{failure}" if failure is not None else "the sound device stopped playing (was it unplugged?)."
            raise AudioDeviceError(f"Playback stopped at {clock(at / self.timeline.rate)}: {why}") from failure
        self.held, self.take, self.state = self.timeline.length, None, "finished"

    def _ended_early(self, take: _Take) -> bool:
        """Whether a take that is no longer playing lost its device before its end."""
        if take.played is not None:
            return take.played() < take.length - EARLY_END * self.timeline.rate
        seconds = take.length / self.timeline.rate
        return self.clock.now() < take.started + seconds * (1 - CLOCK_SLACK) - EARLY_END

    def close(self) -> None:
        """Silence at once (on quit, Ctrl-C or an error)."""
        if self.take is not None:
            self.held = self.position()
            self.take.handle.stop()
            self.take = None
        if self.aside is not None:
            self.aside.stop()
            self.aside = None

    # -- takes ----------------------------------------------------------------------------

    def resume_point(self, position: int) -> int:
        """Where a paused session goes on: in a hold, where it paused; else where the part
        leading to the next hold is first heard."""
        index = self.segment_at(position)
        segments = self.timeline.segments
        if segments[index].phase == "hold":
            return position
        here = segments[index]
        if here.phase == "prepare" and index > 0:
            before = segments[index - 1]
            if before.phase in LEAD_UP and before.step == here.step:
                index -= 1
        return first_heard(self.timeline, index)

    def resume_words(self, position: int) -> tuple[Word, ...]:
        """What is said before the session goes on from ``position``: "Resuming.", and in a
        hold the time it has left and the start tone."""
        words: tuple[Word, ...] = (("speech", self.words.resuming()),)
        segment = self.timeline.segments[self.segment_at(position)]
        if segment.phase == "hold" and "start" in self.tones:
            left = time_left_words((segment.end - position) / self.timeline.rate, self.words)
            words += (("speech", left), ("tone", "start"))
        return words

    def sound(self, text: str) -> numpy.ndarray | None:
        """The clip for ``text``: the session's own, else made by ``speak`` (once); None
        when there is neither (the words are then left out)."""
        if text in self.clips:
            return self.clips[text]
        if text not in self.spoken and self.speak is not None:
            self.spoken[text] = self.speak(text)
        return self.spoken.get(text)

    def words_timeline(self, words: tuple[Word, ...]) -> tuple[Timeline, dict[str, numpy.ndarray]]:
        """``words`` one after the other, WORD_GAP apart, as a timeline of their own, and
        the clips it needs. Words without a clip are left out."""
        rate = self.timeline.rate
        clips: dict[str, numpy.ndarray] = {}
        events: list[Event] = []
        at = 0
        for kind, key in words:
            sound = self.tones.get(key) if kind == "tone" else self.sound(key)
            if sound is None or len(sound) == 0:
                continue
            if events:
                at += round(WORD_GAP * rate)
            if kind == "speech":
                clips[key] = sound
                events.append(Event(at, at + len(sound), "speech", text=key, segment=0))
            else:
                events.append(Event(at, at + len(sound), "tone", name=key, segment=0))
            at += len(sound)
        alone = Timeline(self.timeline.title, rate, at, tuple(events), (Segment("", "hold", 0, at),))
        return alone, clips

    def take_timeline(self, origin: int, under_way: bool = False, keep_from: int | None = None) -> Timeline:
        """The timeline as a take from ``origin`` plays it: sounds already under way there,
        or belonging to an earlier part (the end tone of the hold before), are left out,
        unless ``under_way`` (the same place at another volume: nothing is cut).
        ``keep_from``: the segment whose sounds from ``origin`` on are kept (a hold ended
        by a press: its end tone, which sounds at its end)."""
        if under_way:
            events = tuple(e for e in self.timeline.events if e.end > origin)
        else:
            first = self.segment_at(origin) if keep_from is None else keep_from
            events = tuple(e for e in self.timeline.events if e.start >= origin and e.segment >= first)
        return replace(self.timeline, events=events)

    def feed(
        self, origin: int, words: tuple[Word, ...] = (), under_way: bool = False, keep_from: int | None = None
    ) -> tuple[Feed, int]:
        """A take from ``origin`` as blocks made when they are asked for, and its prefix
        length (samples before origin): the lead-in, then ``words`` and, after spoken
        words, RECAP_GAP (after a tone, none: the session goes on as it ends, as a hold's
        time counts from its tone). Only the prefix is made now (a few seconds at most);
        a missing or mismatched sound raises HoldcueError here, not in the audio thread."""
        import numpy as np

        from holdcue.render import render, render_blocks

        rate = self.timeline.rate
        alone, clips = self.words_timeline(words)
        gap = round(RECAP_GAP * rate) if alone.events and alone.events[-1].kind == "speech" else 0
        lead_in = self._lead_in()
        prefix = np.zeros(lead_in + alone.length + gap, np.int16)
        if alone.events:
            prefix[lead_in : lead_in + alone.length] = render(
                alone, clips, self.tones, volume=self.levels.volume, speech_volume=self.levels.speech_volume
            )
        rest = render_blocks(
            self.take_timeline(origin, under_way, keep_from),
            self.clips,
            self.tones,
            start=origin,
            volume=self.levels.volume,
            speech_volume=self.levels.speech_volume,
            music=self.music,
            music_lost=self._lose_music,
        )
        return Feed(len(prefix) + self.timeline.length - origin, _chained(prefix, rest)), len(prefix)

    def _lose_music(self, error: MusicError) -> None:
        """The music failed part-way (told from a take's feeder thread): this take goes on
        without it, and so do the takes after it (a pause, a skip)."""
        self.music, self.music_lost = None, error

    def _lead_in(self) -> int:
        """Samples of silence before a take's first sound: the lead-in, less what a streaming
        sink has played since it opened. The lead-in is for a device settling after it opens;
        one opened while the session was made ready (as `holdcue play` does) has settled
        meanwhile, and one kept open (the service's, or this session's for its later takes)
        has long since. A streamed take starts with LANDING at least, for what the sound server
        may drop as the stream starts again."""
        if isinstance(self.sink, StreamingSink):
            landing = round(LANDING * self.timeline.rate)
            return max(landing, self.lead_in - round(self.sink.running_for() * self.timeline.rate))
        return self.lead_in

    def buffer(self, origin: int, words: tuple[Word, ...] = (), under_way: bool = False) -> tuple[numpy.ndarray, int]:
        """The samples of a take from ``origin`` as one buffer (for buffer sinks), and its
        prefix length (see ``feed``)."""
        feed, prefix = self.feed(origin, words, under_way)
        return whole(feed), prefix

    def _play(self, feed: Feed) -> tuple[Handle, Callable[[], int] | None]:
        """Start ``feed`` on the sink: streamed to a streaming sink, as one buffer otherwise."""
        self._wait_for_release()
        if isinstance(self.sink, StreamingSink):
            handle = self.sink.stream(feed, self.timeline.rate)
            return handle, handle.played
        return self.sink.start(whole(feed), self.timeline.rate), None

    def _begin(
        self, origin: int, words: tuple[Word, ...] = (), under_way: bool = False, keep_from: int | None = None
    ) -> None:
        feed, prefix = self.feed(origin, words, under_way, keep_from)
        if feed.length == 0:
            self.held, self.state = self.timeline.length, "finished"
            return
        started = self.clock.now()
        handle, played = self._play(feed)
        self.take = _Take(origin, prefix, feed.length, started, handle, words, keep_from, played)
        self.state = "playing"

    def _say_aside(self, text: str) -> None:
        """Say ``text`` alone, after a lead-in (the session's take is stopped)."""
        clip = self.sound(text)
        if clip is None or len(clip) == 0:
            return
        feed, _ = self.feed(self.timeline.length, (("speech", text),))
        self.aside, _ = self._play(feed)

    def _stop(self) -> None:
        for handle in (self.take.handle if self.take else None, self.aside):
            if handle is not None:
                handle.stop()
                self.releasing = handle
        self.take = self.aside = None

    def _wait_for_release(self) -> None:
        """A stopped take plays out what the device already holds (a tenth of a second or
        so); a device without mixing is busy until then."""
        handle, self.releasing = self.releasing, None
        if handle is None:
            return
        deadline = self.clock.now() + RELEASE_WAIT
        while handle.is_playing() and self.clock.now() < deadline:
            self.clock.sleep(0.01)


def _chained(first: numpy.ndarray, rest: Iterator[numpy.ndarray]) -> Iterator[numpy.ndarray]:
    """``first``, then ``rest``'s blocks: a generator, so that closing it closes ``rest``
    (the renderer's music) where it is closed: the sink's feeder of a stopped take closes
    it at once, in its own thread."""
    yield first
    yield from rest


def whole(feed: Feed) -> numpy.ndarray:
    """All of ``feed`` in one buffer, for a sink that plays buffers."""
    import numpy as np

    samples = np.zeros(feed.length, np.int16)
    at = 0
    for block in feed.blocks:
        if block.any():  # pages of silence are never touched: a long session stays small
            samples[at : at + len(block)] = block
        at += len(block)
    return samples


def louder(volume: float) -> float:
    """One step (VOLUME_STEP_DB) up, at most MAX_VOLUME; from silence or nearly, the lowest step."""
    return min(MAX_VOLUME, max(MIN_VOLUME, volume * 10 ** (VOLUME_STEP_DB / 20)))


def quieter(volume: float) -> float:
    """One step down, not below MIN_VOLUME (silence only by asking for it with --volume 0)."""
    return max(min(volume, MIN_VOLUME), volume / 10 ** (VOLUME_STEP_DB / 20))


def time_left_words(seconds: float, words: Phrases) -> str:
    """ "Thirty-five seconds left.": to the second under SHORT_LEFT seconds, to five above."""
    whole = max(1, int(seconds + 0.5)) if seconds < SHORT_LEFT else 5 * int(seconds / 5 + 0.5)
    return words.time_left(whole * 1000)


def first_heard(timeline: Timeline, index: int) -> int:
    """Where segment ``index`` is first heard: its first own sound (not the end tone of the
    hold before it, which sounds at its start), or its start when it has none."""
    segment = timeline.segments[index]
    for event in timeline.events:
        if event.start >= segment.start and event.segment >= index:
            return event.start if event.start < segment.end else segment.start
    return segment.start


@dataclass(frozen=True)
class StepSpan:
    """One step of a session as the controls see it: from where it is first heard to the
    end of its last part (samples of the timeline)."""

    number: int  # 1 is the first
    title: str
    start: int
    end: int


def step_spans(timeline: Timeline) -> list[StepSpan]:
    """The session's steps in order (the introduction and the end are not steps)."""
    spans: dict[int, StepSpan] = {}
    for index, segment in enumerate(timeline.segments):
        if segment.step < 0:
            continue
        if segment.step not in spans:
            start = first_heard(timeline, index)
            spans[segment.step] = StepSpan(segment.step + 1, segment.title, start, segment.end)
        else:
            spans[segment.step] = replace(spans[segment.step], end=segment.end)
    return [spans[step] for step in sorted(spans)]


def start_position(timeline: Timeline, step: str) -> int:
    """Where a step is first heard: ``step`` is its 1-based number or words of its title.
    Raises ValueError with the steps there are when none matches."""
    spans = step_spans(timeline)
    listing = "; ".join(f"{span.number} {span.title}" for span in spans)
    wanted = step.strip()
    if not wanted:
        raise ValueError(f"give a step's number or words of its title: the steps are {listing}")
    if wanted.isascii() and wanted.isdigit():  # "²" and "٣" are digits to isdigit(), not to int()
        number = int(wanted)
        for span in spans:
            if span.number == number:
                return span.start
        raise ValueError(f"there is no step {number}: the steps are {listing}")
    words = wanted.casefold()
    for exact in (True, False):
        for span in spans:
            title = span.title.casefold()
            if (title == words) if exact else (words in title):
                return span.start
    raise ValueError(f"no step title contains {wanted!r}: the steps are {listing}")


def default_sink(keep_alive: bool = False) -> Sink:
    """The sink ``$HOLDCUE_OUTPUT`` names: "stream" (StreamSink, the default) or
    "simpleaudio" (SimpleaudioSink). Raises AudioDeviceError for any other name."""
    if output_name() == "stream":
        return StreamSink(keep_alive=keep_alive)
    return SimpleaudioSink()


@contextlib.contextmanager
def output(keep_alive: bool = False) -> Iterator[Sink]:
    """The sink ``$HOLDCUE_OUTPUT`` names (default_sink), closed on the way out. A stream
    is opened now (or was, by open_early), so that its device settles while the session is
    made ready: the lead-in is counted from the open (Player._lead_in), and `holdcue play`
    is heard that much sooner. A device that cannot be opened now is left for the first
    take, which tries again and raises AudioDeviceError."""
    sink: Sink | None = take_early(keep_alive)
    if sink is None:
        sink = default_sink(keep_alive)
    if isinstance(sink, StreamSink):
        with contextlib.suppress(AudioDeviceError):
            sink.open(SAMPLE_RATE)  # nothing to do when it is open already
    try:
        yield sink
    finally:
        if isinstance(sink, StreamSink):
            sink.close()
