"""Which engine a voice speaks with: chosen from the command line, the routine and the
config, with the fallback to espeak-ng when Piper or its model is missing; the engine's
factory and the name its clips are cached under."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from holdcue.errors import SpeechError
from holdcue.speech.engine import ENGINES, ESPEAK, PIPER, Engine
from holdcue.speech.espeak import Pyttsx3Engine

if TYPE_CHECKING:
    from holdcue.routine import Voice


def factory_for(voice: Voice) -> Callable[[], Engine]:
    """A picklable factory of the engine the voice names ("" is espeak-ng); SpeechError with
    how to install it when that engine or its model is missing."""
    if voice.engine in ("", ESPEAK):
        return Pyttsx3Engine
    if voice.engine == PIPER:
        from holdcue.speech.piper import PiperEngine, find_model, require

        require()
        find_model(voice.model)
        return functools.partial(PiperEngine, voice.model)
    raise SpeechError(f"There is no speech engine {voice.engine!r}: use one of {', '.join(ENGINES)}.")


def engine_name(voice: Voice) -> str | None:
    """The name the cache keeps the voice's clips under (its engine's, with the model for
    Piper), found without starting the engine; None when the engine or model is missing."""
    if voice.engine in ("", ESPEAK):
        return Pyttsx3Engine.name
    try:
        return str(factory_for(voice)().name)
    except SpeechError:
        return None


@dataclasses.dataclass(frozen=True)
class Choice:
    """The engine and model to speak with, when the command line or the config names them."""

    engine: str = ""  # "" : the routine's, else ESPEAK
    model: str = ""  # a Piper model's name
    fallback: bool = False  # espeak-ng when the chosen engine or model is missing


def choose(voice: Voice, command: Choice = Choice(), config: Choice = Choice()) -> tuple[Voice, str]:
    """The voice to speak with: the command line's engine and model before the routine's,
    the routine's before the config's, espeak-ng when none names one. Returns it and, when
    it fell back to espeak-ng (``fallback`` of the command line or the config), why; raises
    SpeechError with the install command when the engine or model is missing otherwise."""
    if command.engine or command.model:
        engine, model = command.engine or (PIPER if command.model else ""), command.model
    elif voice.engine:
        engine, model = voice.engine, voice.model
    else:
        engine, model = config.engine, config.model
    if engine == PIPER and not model:
        model = voice.model or config.model
        if not model:
            raise SpeechError(
                "Piper needs a model: name one with --model, the routine's voice.model or the config's "
                "voice.model (holdcue voices --engine piper lists them)."
            )
    if engine not in ("", *ENGINES):
        raise SpeechError(f"There is no speech engine {engine!r}: use one of {', '.join(ENGINES)}.")
    chosen = dataclasses.replace(
        voice, engine=engine if engine != ESPEAK else "", model=model if engine == PIPER else ""
    )
    try:
        factory_for(chosen)
    except SpeechError as error:
        if not (command.fallback or config.fallback):
            raise
        return dataclasses.replace(chosen, engine="", model=""), f"{error} Speaking with espeak-ng instead (fallback)."
    return chosen, ""


def live_voice(voice: Voice) -> Voice:
    """The voice for words made during a session: espeak-ng's (instant) for a Piper voice,
    which is only for speech prepared ahead of time; levelling makes them equally loud."""
    return dataclasses.replace(voice, engine="", model="") if voice.engine == PIPER else voice
