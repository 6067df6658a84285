"""What a speech engine is: the protocol every engine follows, the engines' names, and the
shape of the clip made of what one says.

A clip is the speech of one text: int16 mono samples at ``SAMPLE_RATE``, starting at the
onset of the speech and ending at most ``TAIL_MS`` after it, so a cue sounds exactly where
the timeline puts it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from holdcue.errors import SpeechError
from holdcue.timeline import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy

    from holdcue.routine import Voice

TAIL_MS = 50  # silence kept after the last sound of a clip
ONSET_FRACTION = 1 / 256  # a sample is sound when it reaches this fraction of the peak (-48 dB)
DEFAULT_LANGUAGE = "en"  # a voice's language when it names none
ESPEAK, PIPER = "espeak", "piper"
ENGINES = (ESPEAK, PIPER)  # what voice.engine, the config and --engine may name


class Engine(Protocol):
    """Turns text into speech: int16 mono samples at SAMPLE_RATE."""

    name: str  # part of the cache key: clips of different engines never mix

    def synthesize(self, text: str, voice: Voice) -> numpy.ndarray: ...


def make_clip(engine: Engine, text: str, voice: Voice) -> numpy.ndarray:
    """The clip of one text: synthesized by ``engine`` and trimmed (trim_silence); SpeechError
    when the engine made only silence."""
    samples = engine.synthesize(text, voice)
    clip = trim_silence(samples) if samples.ndim == 1 else samples[:0]
    if clip.size == 0:
        raise SpeechError(f"The speech engine produced only silence for {text!r}: give it words to say.")
    return clip


def trim_silence(samples: numpy.ndarray) -> numpy.ndarray:
    """Cut the silence before the onset of the speech and all but TAIL_MS after its end
    (nothing is left of a clip that is all silence)."""
    import numpy as np

    level = np.abs(samples.astype(np.int32))
    peak = int(level.max()) if level.size else 0
    if peak == 0:
        return samples[:0]
    sound = np.flatnonzero(level >= max(1, round(peak * ONSET_FRACTION)))
    end = min(len(samples), int(sound[-1]) + 1 + SAMPLE_RATE * TAIL_MS // 1000)
    return samples[int(sound[0]) : end]


def close(engine: Engine) -> None:
    """End what the engine runs (a process of its own, as Piper's), when it runs anything."""
    end = getattr(engine, "close", None)
    if end is not None:
        end()
