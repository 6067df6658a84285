"""The timeline: what the compiler makes of a routine, and what render, play and export use;
and a Session: a timeline with the sounds it plays, ready to hear.

Times are sample indices at ``Timeline.rate``; ``end`` is exclusive.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy

    from holdcue.phrases import Phrases
    from holdcue.routine import Music, Routine

SAMPLE_RATE = 22050  # samples per second of speech clips, tones and every timeline
PHASES = ("intro", "announce", "prepare", "hold", "rest", "transition", "outro")


@dataclass(frozen=True)
class Event:
    """One sound: a spoken cue (``kind == "speech"``, ``text``) or a tone (``name``)."""

    start: int
    end: int
    kind: str  # "speech" or "tone"
    text: str = ""  # speech: the words, also the key of its clip
    name: str = ""  # tone: start, end, halfway, tick, switch
    step: str = ""  # title of the step it belongs to ("" for intro and outro)
    segment: int = -1  # index into Timeline.segments


@dataclass(frozen=True)
class Segment:
    """A stretch of the session: one phase of one side of one round of one step."""

    title: str
    phase: str  # one of PHASES
    start: int
    end: int
    step: int = -1  # index of the step in Routine.steps (-1 for intro and outro)
    side: str = ""  # "left", "right" or ""
    round: int = 0  # 1-based round of a repeated step (0 when not repeated)
    rounds: int = 0
    until: str = ""  # "press": live, the segment ends at a press of Next, at most at ``end``


@dataclass(frozen=True)
class Timeline:
    title: str
    rate: int  # samples per second
    length: int  # samples
    events: tuple[Event, ...]  # sorted by start
    segments: tuple[Segment, ...]  # contiguous, covering 0..length

    @property
    def duration(self) -> float:
        return self.length / self.rate

    def seconds(self, sample: int) -> float:
        return sample / self.rate

    def step_span(self, segment: int) -> tuple[int, int]:
        """(start, end) in samples of the step that segment ``segment`` is part of: the run
        of segments of that step (every side and round), or the introduction, or the end."""
        segments = self.segments
        first = last = segment
        while first > 0 and segments[first - 1].step == segments[segment].step:
            first -= 1
        while last + 1 < len(segments) and segments[last + 1].step == segments[segment].step:
            last += 1
        return segments[first].start, segments[last].end

    def to_json(self) -> dict:
        """The documented JSON form (docs/timeline.md): times in seconds rounded to the
        millisecond, and exactly in samples (``start_sample``, ``end_sample``)."""

        def s(sample: int) -> float:
            return round(self.seconds(sample), 3)

        segments = self.segments
        return {
            "title": self.title,
            "rate": self.rate,
            "duration": s(self.length),
            "length": self.length,
            "events": [
                {
                    "start": s(e.start),
                    "end": s(e.end),
                    "start_sample": e.start,
                    "end_sample": e.end,
                    "kind": e.kind,
                    **({"text": e.text} if e.kind == "speech" else {"name": e.name}),
                    "step": e.step,
                    "phase": segments[e.segment].phase if e.segment >= 0 else "",
                }
                for e in self.events
            ],
            "segments": [
                {
                    "title": g.title,
                    "phase": g.phase,
                    "side": g.side or None,
                    "round": g.round or None,
                    "rounds": g.rounds or None,
                    "step": g.step if g.step >= 0 else None,
                    "start": s(g.start),
                    "end": s(g.end),
                    "start_sample": g.start,
                    "end_sample": g.end,
                    "until": g.until or None,
                }
                for g in segments
            ],
        }


@dataclass(frozen=True)
class Session:
    """A routine made ready to hear (session.build): its timeline and every sound in it."""

    routine: Routine
    timeline: Timeline
    clips: Mapping[str, numpy.ndarray]  # speech text -> int16 samples (in memory, or speech.stored.StoredClips)
    tones: dict[str, numpy.ndarray]  # tone name -> int16 samples
    music: Music | None = None  # music under the voice, decoded as it plays (music/)

    @functools.cached_property
    def words(self) -> Phrases:
        """holdcue's own words in the routine's language (phrases.py), found once."""
        from holdcue import phrases

        return phrases.for_language(self.routine.voice.language)
