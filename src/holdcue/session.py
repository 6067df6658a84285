"""A routine made ready to hear: its clips synthesized (or read from the cache), its tones
loaded and its timeline compiled. show, play and export all start here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from holdcue import compiler
from holdcue.routine import Routine
from holdcue.timeline import Timeline

if TYPE_CHECKING:
    import numpy

    from holdcue.speech import ClipCache, Engine


@dataclass(frozen=True)
class Session:
    routine: Routine
    timeline: Timeline
    clips: dict[str, numpy.ndarray]  # speech text -> int16 samples
    tones: dict[str, numpy.ndarray]  # tone name -> int16 samples


def build(
    routine: Routine,
    *,
    cache: ClipCache | None = None,
    engine_factory: Callable[[], Engine] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Session:
    """Synthesize what is not cached, load the tones, compile the timeline."""
    from holdcue import speech, tones

    rate = speech.SAMPLE_RATE
    clips = speech.synthesize_all(
        compiler.spoken_texts(routine),
        routine.voice,
        cache=cache,
        engine_factory=engine_factory,
        progress=progress,
    )
    sounds = tones.load_tones(rate, routine.cues.tones)
    timeline = compiler.compile(
        routine,
        clip_length=lambda text: len(clips[text]),
        tone_length=lambda name: len(sounds[name]),
        rate=rate,
    )
    return Session(routine, timeline, clips, sounds)
