"""What will be heard: the one place where a routine, config.yaml and the command line's
(or a request's) overrides become the voice and the music of a session.

Every way a session starts (play, resume, today, export, show, prepare, list, and the
service's requests and button) calls ``resolve``, so that config.yaml's ``voice:`` and
``music:`` apply whichever way it starts. The order, for each choice:

    voice (engine, model):  the command line's, else the routine's, else config.yaml's,
                            else espeak-ng; a missing engine or model falls back to
                            espeak-ng only when ``fallback`` is set (command line or config)
    music:                  none with --no-music; else --music's file; else the routine's
                            ``music:``; else config.yaml's; else none

The language follows from the voice (phrases.py), the levels from the music (its level
and duck) and from render.py's fixed targets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from holdcue import speech
from holdcue.config import Config
from holdcue.routine import Music, Routine


@dataclass(frozen=True)
class Overrides:
    """What the command line says over the routine and config.yaml (empty: nothing)."""

    engine: str = ""  # --engine: "espeak" or "piper"
    model: str = ""  # --model: a Piper model's name
    fallback: bool = False  # --fallback: espeak-ng when the engine or model is missing
    music: Music | None = None  # --music FILE, already checked
    no_music: bool = False  # --no-music
    legend: bool = False  # --legend: the tones' legend in the introduction, whatever the routine says


@dataclass(frozen=True)
class Resolved:
    """A routine as it will be heard: its ``voice`` is the one it speaks with, its ``music``
    what plays under it (None: none)."""

    routine: Routine
    note: str = ""  # why the voice fell back to espeak-ng; "" when it did not


def resolve(routine: Routine, settings: Config, overrides: Overrides = Overrides()) -> Resolved:
    """The routine with the voice and music that apply. Raises SpeechError (with what to
    install) when the chosen engine or model is missing and no fallback is allowed."""
    voice, note = speech.choose(
        routine.voice,
        speech.Choice(overrides.engine, overrides.model, overrides.fallback),
        speech.Choice(settings.engine, settings.model, settings.fallback),
    )
    music = None if overrides.no_music else overrides.music or routine.music or settings.music
    cues = dataclasses.replace(routine.cues, legend=True) if overrides.legend else routine.cues
    return Resolved(dataclasses.replace(routine, voice=voice, music=music, cues=cues), note)
