"""espeak-ng through pyttsx3, the default engine: instant, small, every language.

pyttsx3's espeak driver needs care (pyttsx3 2.99): ``runAndWait`` may return before the
audio is written, a later call cancels unfinished work, only the last queued utterance is
kept, it prints "Audio saved to ..." from espeak's thread, and espeak-ng allows one engine
per process. So each process has one engine, used by one utterance at a time, each one
awaited (``finished-utterance``) within a timeout; many texts are spread over processes
(workers.py).
"""

from __future__ import annotations

import io
import threading
import wave
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from holdcue.errors import SpeechError
from holdcue.speech.engine import DEFAULT_LANGUAGE
from holdcue.timeline import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy

    from holdcue.routine import Voice

DEFAULT_TIMEOUT = 30.0  # seconds for one utterance
INSTALL_HINT = "Install it with `sudo apt-get install espeak-ng` (Debian, Raspberry Pi OS)."


@dataclass(frozen=True)
class VoiceInfo:
    id: str  # what voice.language may be set to, e.g. "gmw/en-us"
    name: str  # e.g. "English (America)"
    languages: tuple[str, ...]  # e.g. ("en-us",)


class Pyttsx3Engine:
    """espeak-ng through pyttsx3, the default engine.

    Nothing starts until the first ``synthesize``; then the process's one espeak-ng engine
    starts and stays for later texts. Instances are cheap and share that engine.
    """

    name = "pyttsx3-espeak-ng"

    def __init__(self, timeout: float = DEFAULT_TIMEOUT):
        self.timeout = timeout  # seconds allowed for one utterance

    def synthesize(self, text: str, voice: Voice) -> numpy.ndarray:
        import numpy as np

        if not text.strip():
            raise SpeechError("Nothing to say: a spoken cue is empty.")
        data = _speaker().say(text, voice, self.timeout)
        with wave.open(io.BytesIO(data)) as clip:
            shape = (clip.getnchannels(), clip.getsampwidth(), clip.getframerate())
            if shape != (1, 2, SAMPLE_RATE):
                raise SpeechError(f"espeak-ng gave audio in an unexpected format {shape} for {text!r}.")
            return np.frombuffer(clip.readframes(clip.getnframes()), "<i2").astype(np.int16)


def list_voices(language: str | None = None) -> list[VoiceInfo]:
    """The espeak-ng voices, in espeak-ng's order; with a language ("en"), only the voices
    for it and its variants ("en-us", "en-gb-scotland", ...), the language spelled as
    find_voice reads it ("de_AT": those of "de", as espeak-ng has none for Austria)."""
    voices = list(_speaker().voices)
    if not language:
        return voices
    for wanted in _spellings(language):
        found = [
            voice
            for voice in voices
            if any(n == wanted or n.startswith(wanted + "-") for kind in _names(voice) for n in kind)
        ]
        if found:
            return found
    return []


def find_voice(language: str, voices: Iterable[VoiceInfo]) -> VoiceInfo:
    """The voice for a language: a voice id ("gmw/en-us"), the last part of one ("en-us"),
    or a language a voice lists ("en-gb"). Matched exactly, ignoring case; "" means English.
    A name no voice has is tried again as a locale is spelled ("de_AT" as "de-at"), without
    its "+variant", then without its last "-part" one at a time ("de-at", then "de"), so
    that a region or variant espeak-ng has no voice for speaks with the nearest voice that
    exists (docs/languages.md: "de-DE", "de_AT" and "de+f3" are German)."""
    voices = list(voices)
    names = [_names(voice) for voice in voices]
    for wanted in _spellings(language):
        for kind in range(3):
            for voice, known in zip(voices, names, strict=True):
                if wanted in known[kind]:
                    return voice
    raise SpeechError(
        f"No espeak-ng voice for the language {language!r}. Run `holdcue voices` to see the "
        "voices, then set the routine's voice language to one of the ids or languages shown."
    )


def _names(voice: VoiceInfo) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """A voice's names, lowercase, in the order find_voice matches them: its id, the id's
    last part, the languages it lists."""
    voice_id = voice.id.lower()
    return (voice_id,), (voice_id.rsplit("/", 1)[-1],), tuple(lang.lower() for lang in voice.languages)


def _spellings(language: str) -> Iterator[str]:
    """The names find_voice tries for a language, the one written first: "de_AT+f3" gives
    "de_at+f3", "de-at", "de"."""
    wanted = (language.strip() or DEFAULT_LANGUAGE).lower()
    yield wanted
    name = wanted.split("+", 1)[0].replace("_", "-")
    while name:
        yield name
        name = name.rpartition("-")[0]


def cannot_speak(language: str) -> str | None:
    """Why espeak-ng cannot speak a routine's voice language (find_voice finds no voice for
    it), for ``holdcue validate``; None when it can, and when espeak-ng itself is missing
    (speaking then says what to install)."""
    try:
        voices = _speaker().voices
    except SpeechError:
        return None
    try:
        find_voice(language, voices)
    except SpeechError:
        return (
            "espeak-ng has no voice for this language; use an id or a language that `holdcue voices` "
            'lists, like "en", "en-us" or "de"'
        )
    return None


# The process's one pyttsx3 engine.

_speaker_lock = threading.Lock()

_the_speaker: _Speaker | None = None


def _speaker() -> _Speaker:
    global _the_speaker
    with _speaker_lock:
        if _the_speaker is None:
            _the_speaker = _Speaker()
        return _the_speaker


def _driver_print(*args, **kwargs) -> None:
    """Stands in for print in pyttsx3's espeak driver: its "Audio saved to" line is noise,
    anything else it has to say goes to the log, never to the user's terminal."""
    if args and not str(args[0]).startswith("Audio saved to "):
        import logging

        logging.getLogger(__name__).warning(" ".join(str(arg) for arg in args))


class _Speaker:
    """pyttsx3's espeak engine, driven one awaited utterance at a time."""

    def __init__(self):
        try:
            import pyttsx3
            import pyttsx3.drivers.espeak as driver
            from pyttsx3.drivers import _espeak

            driver.print = _driver_print  # it prints from espeak's thread: redirecting stdout can't catch it
            self._engine = pyttsx3.init("espeak")
        except (ImportError, OSError, RuntimeError) as error:
            raise SpeechError(f"espeak-ng could not be started ({error}). {INSTALL_HINT}") from error
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._completed = False
        self._errors: list[BaseException] = []
        self._settings: tuple[str, int, float] | None = None
        self._loop: threading.Thread | None = None  # runs pyttsx3's loop for the latest utterance
        # runAndWait starts by cancelling whatever espeak-ng is doing, queued rate and volume
        # changes included: it may only start once espeak-ng is idle.
        self._wait_idle = _espeak.Synchronize
        self._engine.connect("finished-utterance", self._on_finished)
        self._engine.connect("error", self._on_error)
        # pyttsx3 queues commands until its loop has run once; from then on they apply at once.
        self._wait_idle()
        self._engine.runAndWait()
        self.voices = tuple(
            VoiceInfo(v.id, v.name or v.id, tuple(v.languages)) for v in self._engine.getProperty("voices")
        )

    def _on_finished(self, name, completed) -> None:
        self._completed = completed
        self._finished.set()

    def _on_error(self, name, exception) -> None:
        self._errors.append(exception)

    def _run_loop(self) -> None:
        try:
            self._engine.runAndWait()
        except Exception as error:  # reported by say(), in the waiting thread
            self._errors.append(error)

    def say(self, text: str, voice: Voice, timeout: float) -> bytes:
        """The WAV bytes of one utterance, once espeak-ng has finished it.

        An utterance that takes longer than ``timeout`` is left to finish on its own (stopping
        it can deadlock espeak-ng 1.51); the next one waits for it, up to its own timeout.
        """
        with self._lock:
            if self._loop is not None:
                self._loop.join(timeout)
                if self._loop.is_alive():
                    raise SpeechError("espeak-ng is still busy with an earlier text; start holdcue again.")
            self._errors.clear()
            self._apply(voice)
            self._finished.clear()
            out = io.BytesIO()
            self._engine.save_to_file(text, out)
            self._wait_idle()
            self._loop = threading.Thread(target=self._run_loop, name="holdcue-speech", daemon=True)
            self._loop.start()
            self._loop.join(timeout)
            if self._loop.is_alive():
                raise SpeechError(f"espeak-ng took more than {timeout:g} s to say {text!r}.")
            if self._errors:
                raise SpeechError(f"espeak-ng failed to say {text!r}: {self._errors[0]}")
            if not (self._finished.is_set() and self._completed):
                raise SpeechError(f"espeak-ng stopped before it finished saying {text!r}.")
            return out.getvalue()

    def _apply(self, voice: Voice) -> None:
        """Set voice, rate and volume when they change; check the voice took."""
        if not 0 <= voice.volume <= 1 or voice.rate <= 0:
            raise SpeechError(
                f"Speech rate must be above 0 and volume between 0 and 1 (got {voice.rate}, {voice.volume})."
            )
        voice_id = find_voice(voice.language, self.voices).id
        settings = (voice_id, voice.rate, voice.volume)
        if settings == self._settings:
            return
        self._settings = None
        self._engine.setProperty("voice", voice_id)
        self._engine.setProperty("rate", voice.rate)
        self._engine.setProperty("volume", voice.volume)
        if self._errors:
            raise SpeechError(f"espeak-ng refused the voice {voice_id!r}: {self._errors[0]}")
        current = self._engine.getProperty("voice")
        if current != voice_id:
            raise SpeechError(f"espeak-ng uses the voice {current!r} instead of {voice_id!r}.")
        self._settings = settings
