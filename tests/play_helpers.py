"""What the live playback tests share: a fake clock, sink, keys and display, sessions with
made-up speech, and what a take must hold, worked out from the timeline on its own."""

from __future__ import annotations

import dataclasses
import functools
import zlib
from pathlib import Path

import numpy as np

from compiler_helpers import shoulders
from holdcue import compiler, display, play, terminal, tones
from holdcue.compiler import ENGLISH
from holdcue.controls import Command
from holdcue.render import render
from holdcue.routine import Routine
from holdcue.timeline import Event, Segment, Session, Timeline

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


class InterruptingClock(FakeClock):
    """Ctrl-C ``at`` seconds into the session, on the fake clock."""

    def __init__(self, at: float):
        super().__init__()
        self.at = self.t + at

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.t >= self.at:
            raise KeyboardInterrupt


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


def fake_clip(text: str, rate: int = RATE) -> np.ndarray:
    """Made-up speech for ``text``: noise whose first sample is loud, so an onset is the
    first non-zero sample after a quiet gap; the same text always sounds the same."""
    seed = zlib.crc32(text.encode())
    n = int(rate * (0.3 + len(text) / 15)) + seed % 300
    clip = np.random.default_rng(seed).normal(0, 3000, n).astype(np.int16)
    clip[0] = 9000
    return clip


class FakeSpeak:
    """A speak function that remembers what it was asked to say."""

    def __init__(self):
        self.said: list[str] = []

    def __call__(self, text: str) -> np.ndarray:
        self.said.append(text)
        return fake_clip(text)


def make_session(routine: Routine, rate: int = RATE, control_phrases: bool = True) -> Session:
    """A session with made-up speech, the control phrases among its clips as session
    building gives them."""
    texts = compiler.spoken_texts(routine) + (list(play.own_words(routine)) if control_phrases else [])
    clips = {text: fake_clip(text, rate) for text in texts}
    sounds = tones.load_tones(rate)
    timeline = compiler.compile(routine, lambda t: len(clips[t]), lambda n: len(sounds[n]), rate)
    return Session(routine, timeline, clips, sounds)


@functools.cache
def short_session() -> Session:
    """The built-in shoulders routine (six steps, sides, rounds), about seven minutes."""
    return make_session(shoulders())


@functools.cache
def long_session() -> Session:
    """The shoulders routine four times over: half an hour."""
    base = shoulders()
    session = make_session(dataclasses.replace(base, steps=base.steps * 4))
    assert 28 * 60 < session.timeline.duration < 40 * 60
    return session


def run(session, script=(), *, start_at=None, lead_in=LEAD, volume=1.0, speak=None):
    clock = FakeClock()
    sink = FakeSink(clock)
    keys = ScriptedKeys(clock, list(script))
    shown = RecordingDisplay()
    result = terminal.play(
        session,
        sink=sink,
        clock=clock,
        keys=keys,
        display=shown,
        start_at=start_at,
        lead_in=lead_in,
        volume=volume,
        speak=speak or FakeSpeak(),
    )
    return result, sink, shown, clock


def segment_index(timeline, position: int) -> int:
    return next(i for i, s in enumerate(timeline.segments) if s.start <= position < s.end)


def said_alone(session, kind: str, key: str, volume: float = 1.0) -> np.ndarray:
    """One word or tone as the player says it outside the timeline: levelled like the session's."""
    sound = session.tones[key] if kind == "tone" else session.clips.get(key, fake_clip(key))
    event = Event(0, len(sound), kind, text=key if kind == "speech" else "", name=key if kind == "tone" else "")
    alone = Timeline("", session.timeline.rate, len(sound), (event,), (Segment("", "hold", 0, len(sound)),))
    voice = session.routine.voice.volume
    return render(alone, {key: sound}, session.tones, volume=volume, speech_volume=voice)


def resume_words(session, position: int) -> list[tuple[str, str]]:
    """What is said on resuming at ``position``: "Resuming.", and in a hold the time left
    (to the second under 15 s, else to 5 s) and the start tone."""
    tl = session.timeline
    segment = tl.segments[segment_index(tl, position)]
    words = [("speech", "Resuming.")]
    if segment.phase == "hold":
        seconds = (segment.end - position) / tl.rate
        whole = max(1, int(seconds + 0.5)) if seconds < 15 else 5 * int(seconds / 5 + 0.5)
        words += [("speech", ENGLISH.time_left(whole * 1000)), ("tone", "start")]
    return words


def prefix_of(session, words=()) -> np.ndarray:
    """The lead-in and ``words`` (WORD_GAP apart; RECAP_GAP after the last when it is
    speech, nothing after a tone: the session goes on as the tone ends)."""
    rate = session.timeline.rate
    parts = [np.zeros(round(LEAD * rate), np.int16)]
    for n, (kind, key) in enumerate(words):
        if n:
            parts.append(np.zeros(round(play.WORD_GAP * rate), np.int16))
        parts.append(said_alone(session, kind, key))
    if words and words[-1][0] == "speech":
        parts.append(np.zeros(round(play.RECAP_GAP * rate), np.int16))
    return np.concatenate(parts)


def expected_take(session, origin: int, words=()) -> np.ndarray:
    """What a take from ``origin`` must hold: lead-in silence, ``words`` (when resuming),
    then the session from ``origin`` without the sounds under way there or belonging to
    an earlier part."""
    tl = session.timeline
    parts = [prefix_of(session, words)]
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
