"""Routines and length functions for compiler tests, built without the loader or audio."""

import zlib

from holdcue.routine import Cues, Routine, Say, Step
from holdcue.timeline import SAMPLE_RATE

RATE = SAMPLE_RATE


def clip_length(text: str, scale: float = 1.0) -> int:
    """A made-up but deterministic clip length: about 15 characters a second."""
    return int(RATE * scale * (0.3 + len(text) / 15)) + zlib.crc32(text.encode()) % 500


def tone_length(name: str) -> int:
    return {"tick": 1323, "start": 8820, "end": 8820, "halfway": 6615, "switch": 11025}[name]


def shoulders() -> Routine:
    return Routine(
        id="shoulders",
        title="Shoulders and chest",
        tools=("tennis ball", "wall"),
        safety=("Start gently.",),
        steps=(
            Step("warm-up", "Roll your shoulders.", 40_000, count=10),
            Step(
                "compress",
                "Lean into the ball just below your {side} collarbone.",
                60_000,
                sides=("left", "right"),
                say=(Say("Breathe slowly.", at_fraction=0.5),),
            ),
            Step(
                "stretch",
                "Bring your {side} arm across your body.",
                15_000,
                sides=("left", "right"),
                repeat=2,
                rest_ms=5_000,
            ),
            Step("compress", "Press into the knot, {time}.", 120_000, title="Long press"),
            Step("rest", "Relax and breathe. Next: {next}.", 10_000),
            Step("finish", "Lie still.", 20_000),
        ),
        cues=Cues(),
    )
