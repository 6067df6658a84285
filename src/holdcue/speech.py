"""Offline speech: espeak-ng through pyttsx3, an on-disk cache of clips, worker processes.

Engines are chosen by name (``ENGINES``): "espeak", the default (espeak-ng through pyttsx3:
instant, small, every language), or "piper", the optional neural one (``piper.py``: a model
by name, run as a separate process, for speech prepared ahead of time). ``choose`` settles a
voice's engine from the routine, the config and the command line, with the fallback to
espeak-ng when Piper or its model is missing.

A clip is the speech of one text: int16 mono samples at ``SAMPLE_RATE``, starting at the
onset of the speech and ending at most ``TAIL_MS`` after it, so a cue sounds exactly where
the timeline puts it.

pyttsx3's espeak driver needs care (pyttsx3 2.99): ``runAndWait`` may return before the
audio is written, a later call cancels unfinished work, only the last queued utterance is
kept, it prints "Audio saved to ..." from espeak's thread, and espeak-ng allows one engine
per process. So each process has one engine, used by one utterance at a time, each one
awaited (``finished-utterance``) within a timeout; many texts are spread over processes.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import os
import signal
import stat
import struct
import sys
import threading
import wave
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from holdcue.errors import SpeechError
from holdcue.timeline import SAMPLE_RATE

if TYPE_CHECKING:
    import logging
    from concurrent.futures import ProcessPoolExecutor

    import numpy

    from holdcue.routine import Voice

TAIL_MS = 50  # silence kept after the last sound of a clip
ONSET_FRACTION = 1 / 256  # a sample is sound when it reaches this fraction of the peak (-48 dB)
DEFAULT_LANGUAGE = "en"
DEFAULT_TIMEOUT = 30.0  # seconds for one utterance
SMALL_BATCH = 40  # up to this many texts are said in this process: workers take longer to start
# The largest cache file read: 16 MiB is 380 s of speech at 22050 Hz, far longer than any cue
# (a larger clip is still used, just synthesized again each time instead of read back).
MAX_ENTRY_BYTES = 16 * 1024 * 1024
INSTALL_HINT = "Install it with `sudo apt-get install espeak-ng` (Debian, Raspberry Pi OS)."
ESPEAK, PIPER = "espeak", "piper"
ENGINES = (ESPEAK, PIPER)  # what voice.engine, the config and --engine may name


@dataclass(frozen=True)
class VoiceInfo:
    id: str  # what voice.language may be set to, e.g. "gmw/en-us"
    name: str  # e.g. "English (America)"
    languages: tuple[str, ...]  # e.g. ("en-us",)


class Engine(Protocol):
    """Turns text into speech: int16 mono samples at SAMPLE_RATE."""

    name: str  # part of the cache key: clips of different engines never mix

    def synthesize(self, text: str, voice: Voice) -> numpy.ndarray: ...


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


def factory_for(voice: Voice) -> Callable[[], Engine]:
    """A picklable factory of the engine the voice names ("" is espeak-ng); SpeechError with
    how to install it when that engine or its model is missing."""
    if voice.engine in ("", ESPEAK):
        return Pyttsx3Engine
    if voice.engine == PIPER:
        from holdcue import piper

        piper.require()
        piper.find_model(voice.model)
        return functools.partial(piper.PiperEngine, voice.model)
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


def live_speaker(voice: Voice) -> Callable[[str], numpy.ndarray]:
    """What a player says that the session has no clip for (the time left, on resume):
    made at once, in this process, by espeak-ng (live_voice)."""
    live = live_voice(voice)
    return lambda text: synthesize_all([text], live, workers=1)[text]


def live_voice(voice: Voice) -> Voice:
    """The voice for words made during a session: espeak-ng's (instant) for a Piper voice,
    which is only for speech prepared ahead of time; levelling makes them equally loud."""
    return dataclasses.replace(voice, engine="", model="") if voice.engine == PIPER else voice


def list_voices(language: str | None = None) -> list[VoiceInfo]:
    """The espeak-ng voices, in espeak-ng's order; with a language ("en"), only the voices
    for it and its variants ("en-us", "en-gb-scotland", ...)."""
    voices = list(_speaker().voices)
    if not language:
        return voices
    wanted = language.strip().lower()

    def names(voice: VoiceInfo) -> list[str]:
        return [voice.id.lower(), voice.id.lower().rsplit("/", 1)[-1], *(lang.lower() for lang in voice.languages)]

    return [v for v in voices if any(n == wanted or n.startswith(wanted + "-") for n in names(v))]


def find_voice(language: str, voices: Iterable[VoiceInfo]) -> VoiceInfo:
    """The voice for a language: a voice id ("gmw/en-us"), the last part of one ("en-us"),
    or a language a voice lists ("en-gb"). Matched exactly, ignoring case; "" means English."""
    wanted = (language.strip() or DEFAULT_LANGUAGE).lower()
    voices = list(voices)
    for matches in (
        lambda v: v.id.lower() == wanted,
        lambda v: v.id.lower().rsplit("/", 1)[-1] == wanted,
        lambda v: wanted in (lang.lower() for lang in v.languages),
    ):
        for voice in voices:
            if matches(voice):
                return voice
    raise SpeechError(
        f"No espeak-ng voice for the language {language!r}. Run `holdcue voices` to see the "
        "voices, then set the routine's voice language to one of the ids or languages shown."
    )


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


class ClipCache:
    """Clips on disk, one WAV file each (mono, 16-bit, 22050 Hz: any player can play them).

    A file is named by the hash of (engine, voice language, rate, volume, text). After its
    data it has a small ``hcck`` chunk (CRC-32 and frame count of the samples), so a damaged
    or cut-short file is noticed and synthesized again. Files are written to a temporary
    name and renamed into place, so several processes can share the cache.
    """

    FORMAT = 1  # part of every key: bump when clips are made differently

    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def path(self, engine_name: str, voice: Voice, text: str) -> Path:
        language = (voice.language.strip() or DEFAULT_LANGUAGE).lower()
        key = json.dumps([self.FORMAT, engine_name, language, voice.rate, voice.volume, text])
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()}.wav"

    def get(self, engine_name: str, voice: Voice, text: str) -> numpy.ndarray | None:
        """The cached clip, or None when there is none or it is damaged. Only an ordinary file
        of at most MAX_ENTRY_BYTES is read: anything else in its place (a named pipe, a link,
        a folder, a huge file) is a miss, replaced by the next ``put``."""
        data = _read_entry(self.path(engine_name, voice, text))
        return _decode(data) if data is not None else None

    def frames(self, engine_name: str, voice: Voice, text: str) -> int | None:
        """How many samples the cached clip has, read from its header and check chunk alone
        (not decoded, no CRC: cheap enough for ``holdcue list``); None when there is no clip
        or it is not one of ours. ``get`` still checks the whole clip before it is played."""
        return _entry_frames(self.path(engine_name, voice, text))

    def put(self, engine_name: str, voice: Voice, text: str, samples: numpy.ndarray) -> bool:
        """Store a clip, replacing in one step whatever was there (see ``get``): an empty
        folder in its place is removed first; a folder with files in it is left, uncached
        (then this returns False)."""
        target = self.path(engine_name, voice, text)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISDIR(target.lstat().st_mode):
                    try:
                        target.rmdir()
                    except OSError:  # not empty: not ours to delete
                        _log().warning("%s is a folder: the clip is not cached", target)
                        return False
            from holdcue import atomic

            with atomic.replacing(target, 0o600) as file:  # private, as the cache always was
                file.write(_encode(samples))
            return True
        except OSError as error:
            raise SpeechError(
                f"Could not write to the speech cache {self.directory}: {error.strerror or error}. "
                "Make it writable, or set HOLDCUE_CACHE_DIR to another folder."
            ) from error


class StoredClips(Mapping[str, "numpy.ndarray"]):
    """A session's clips left in the cache and read as they sound, so that a long session
    does not hold its speech in memory (the service's: memory flat whatever the length).
    Each clip's length and level are known without reading it (render.Measured); the last
    KEPT clips read are kept, as a cue often comes back soon ("Thirty seconds left").
    A clip the cache could not keep stays in memory. One that is gone from the cache when it
    is due (the cache cleared mid-session) sounds as silence, with a warning in the log:
    the session goes on, its timing untouched."""

    KEPT = 16

    def __init__(self, cache: ClipCache, engine_name: str, voice: Voice):
        self._cache, self._engine, self._voice = cache, engine_name, voice
        self._said: dict[str, str] = {}  # key -> the text the clip speaks (the cache's key)
        self._frames: dict[str, int] = {}
        self._levels: dict[str, tuple[float, float]] = {}
        self._held: dict[str, numpy.ndarray] = {}
        self._recent: collections.OrderedDict[str, numpy.ndarray] = collections.OrderedDict()
        self._lock = threading.Lock()  # read from a take's feeder thread and the player's alike

    def add(self, text: str, clip: numpy.ndarray, cached: bool) -> None:
        """Note the clip of ``text``: its length and level; the clip itself only when it is not ``cached``."""
        from holdcue import render

        self._said[text] = text
        self._frames[text] = len(clip)
        self._levels[text] = render.level(clip, SAMPLE_RATE)
        if not cached:
            self._held[text] = clip

    def renamed(self, said: Mapping[str, str]) -> StoredClips:
        """The same clips under other keys: ``said`` maps each new key to one of these keys."""
        view = StoredClips(self._cache, self._engine, self._voice)
        view._said = {key: self._said[old] for key, old in said.items()}
        view._frames = {key: self._frames[old] for key, old in said.items()}
        view._levels = {key: self._levels[old] for key, old in said.items()}
        view._held = {key: self._held[old] for key, old in said.items() if old in self._held}
        return view

    def frames(self, key: str) -> int:
        return self._frames[key]

    def level(self, key: str) -> tuple[float, float]:
        return self._levels[key]

    def __len__(self) -> int:
        return len(self._said)

    def __iter__(self) -> Iterator[str]:
        return iter(self._said)

    def __contains__(self, key: object) -> bool:
        return key in self._said

    def __getitem__(self, key: str) -> numpy.ndarray:
        spoken = self._said[key]
        if key in self._held:
            return self._held[key]
        with self._lock:
            if key in self._recent:
                self._recent.move_to_end(key)
                return self._recent[key]
        clip = self._cache.get(self._engine, self._voice, spoken)
        if clip is None or len(clip) != self._frames[key]:
            import numpy as np

            _log().warning("the clip of %r is gone from the speech cache: silence", key)
            clip = np.zeros(self._frames[key], np.int16)
        with self._lock:
            self._recent[key] = clip
            while len(self._recent) > self.KEPT:
                self._recent.popitem(last=False)
        return clip


def _log() -> logging.Logger:
    """This module's logger (logging is imported only when there is something to say: holdcue
    list reads the cache and should start quickly)."""
    import logging

    return logging.getLogger(__name__)


def _read_entry(path: Path) -> bytes | None:
    """The bytes of a cache file, or None unless it is an ordinary file of at most
    MAX_ENTRY_BYTES. O_NOFOLLOW: a symbolic link is not followed (to /dev/zero, say);
    O_NONBLOCK: opening a named pipe does not wait for a writer."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY_BYTES:
            return None
        with open(fd, "rb", closefd=False) as file:
            # as much as fstat said (read(n) allocates n bytes first), and one more to see if it grew
            data = file.read(info.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == info.st_size else None  # a file changing as it is read is a miss


_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")  # the 44-byte header _encode writes: RIFF, WAVE, fmt, data


def _entry_frames(path: Path) -> int | None:
    """The frame count of a cache file from its first 44 and last 16 bytes (see _encode)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        if not stat.S_ISREG(os.fstat(fd).st_mode) or not _HEADER.size + _CHECK.size < size <= MAX_ENTRY_BYTES:
            return None
        header = os.pread(fd, _HEADER.size, 0)
        check = os.pread(fd, _CHECK.size, size - _CHECK.size)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(header) != _HEADER.size or len(check) != _CHECK.size:
        return None
    riff, riff_size, wave_id, fmt, _, _, channels, rate, _, _, width, data, data_size = _HEADER.unpack(header)
    chunk, chunk_size, _, frames = _CHECK.unpack(check)
    ours = (riff, wave_id, fmt, data, chunk, chunk_size) == (b"RIFF", b"WAVE", b"fmt ", b"data", b"hcck", 8)
    shape = (riff_size, channels, rate, width, data_size) == (size - 8, 1, SAMPLE_RATE, 16, 2 * frames)
    return frames if ours and shape and frames > 0 else None


def default_cache_dir() -> Path:
    """speech/ in the cache folder (folders.py)."""
    from holdcue import folders

    return folders.cache_dir() / "speech"


def synthesize_all(
    texts: Iterable[str],
    voice: Voice,
    *,
    cache: ClipCache | None = None,
    engine_factory: Callable[[], Engine] | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    stored: bool = False,
) -> Mapping[str, numpy.ndarray]:
    """A clip for every distinct text: read from the cache, or synthesized and stored.
    With ``stored``, the clips are left in the cache and read as they sound (StoredClips).

    ``cache``: None uses the default cache folder. ``engine_factory`` (default: the engine
    the voice names, ``factory_for(voice)``) must be picklable: worker processes call it to make their own engine.
    ``workers``: processes for cold synthesis (default: one per core this process may use,
    ``cores()``; 1: none, all in this process). ``progress(done, total)`` counts distinct texts, cached ones first.
    Workers are started with "spawn", which imports the program's main module again: a
    script that calls this must guard its main code with ``if __name__ == "__main__":``.
    """
    cache = cache if cache is not None else ClipCache()
    factory = engine_factory or factory_for(voice)
    engine = factory()
    try:
        if not stored:
            return _synthesize_all(texts, voice, cache, factory, engine, workers, progress)
        kept = StoredClips(cache, engine.name, voice)
        _synthesize_all(texts, voice, cache, factory, engine, workers, progress, kept.add)
        return kept
    finally:
        _close(engine)


def _synthesize_all(texts, voice, cache, factory, engine, workers, progress, keep=None) -> dict[str, numpy.ndarray]:
    """The clips by text; with ``keep``, each clip goes to ``keep(text, clip, cached)`` as it
    comes instead, one at a time (none are returned), so that no more than one is in memory."""
    distinct = list(dict.fromkeys(texts))
    clips: dict[str, numpy.ndarray] = {}
    done: set[str] = set()

    def take(text: str, clip: numpy.ndarray, cached: bool) -> None:
        done.add(text)
        if keep is None:
            clips[text] = clip
        else:
            keep(text, clip, cached)

    for text in distinct:
        clip = cache.get(engine.name, voice, text)
        if clip is not None:
            take(text, clip, True)
    missing = [text for text in distinct if text not in done]
    if progress:
        progress(len(done), len(distinct))
    if not missing:
        return clips
    made = _made([(text, voice) for text in missing], factory, engine, cache, workers)
    # closing: when progress raises (Ctrl-C), the workers stop now, not when the traceback is freed
    with contextlib.closing(made):
        for text, _, result in made:
            clip = _clip_of(result, text, voice, engine, cache)
            take(text, clip, keep is None or cache.frames(engine.name, voice, text) == len(clip))
            if progress:
                progress(len(done), len(distinct))
    return {text: clips[text] for text in distinct} if keep is None else clips


def cache_all(
    texts: Mapping[Voice, Iterable[str]],
    *,
    cache: ClipCache | None = None,
    engine_factory: Callable[[], Engine] | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Put a clip of every text of every voice (``texts[voice]``) in the cache, none kept
    in memory: what the cache holds is checked (read whole), the rest synthesized, the texts
    of every voice that one engine speaks by one set of worker processes (as synthesize_all's
    ``workers``). Returns how many clips were synthesized; ``progress(done, total)`` counts
    distinct texts of each voice over all the voices, those cached first."""
    cache = cache if cache is not None else ClipCache()
    engines: dict[str, tuple[Engine, Callable[[], Engine]]] = {}  # by name: one per engine and model
    missing: dict[str, list[tuple[str, Voice]]] = {}
    total = done = 0
    try:
        for voice, said in texts.items():
            factory = engine_factory or factory_for(voice)
            engine = factory()
            if engine.name in engines:
                _close(engine)
            else:
                engines[engine.name] = (engine, factory)
            for text in dict.fromkeys(said):
                total += 1
                if cache.get(engine.name, voice, text) is not None:
                    done += 1
                else:
                    missing.setdefault(engine.name, []).append((text, voice))
        if progress:
            progress(done, total)
        for name, items in missing.items():
            engine, factory = engines[name]
            made = _made(items, factory, engine, cache, workers)
            with contextlib.closing(made):
                for _ in made:
                    done += 1
                    if progress:
                        progress(done, total)
        return sum(len(items) for items in missing.values())
    finally:
        for engine, _ in engines.values():
            _close(engine)


def _close(engine: Engine) -> None:
    close = getattr(engine, "close", None)  # an engine with a process of its own (Piper) ends it
    if close is not None:
        close()


def _made(items, factory, engine, cache, workers) -> Generator[tuple[str, Voice, numpy.ndarray | None], None, None]:
    """(text, voice, clip) for every (text, voice) of ``items``, each clip synthesized and put in the
    cache: here, or by worker processes when there are enough texts to be worth their start;
    a worker sends None for a clip it has put in the cache."""
    count = min(workers or cores(), len(items))
    # an engine may say how many texts are worth a worker's start (Piper's takes ~1 s, as 3 texts do)
    if count == 1 or len(items) <= getattr(engine, "small_batch", SMALL_BATCH):
        return ((text, voice, _make_clip(engine, cache, text, voice)) for text, voice in items)
    return _in_workers(items, factory, cache, count)


def _in_workers(items, factory, cache, workers) -> Generator[tuple[str, Voice, numpy.ndarray | None], None, None]:
    """(text, voice, what the worker sent) as worker processes make the clips of ``items``
    ((text, voice) pairs); each process has one engine, and sends None for a clip it has put
    in the cache (``_worker_clip``).

    The workers never outlive this process: the kernel kills them when it ends, however it
    ends (``_start_worker``), and when anything stops the work early (an error, Ctrl-C, or
    the generator being closed) they are terminated at once instead of finishing their texts.
    """
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    pool = worker_pool(workers, _start_worker, (factory, cache, os.getpid()))
    finished = False
    try:
        # Ctrl-C is for this process to handle: the workers, started by the first submits, inherit
        # a signal mask that blocks SIGINT, so they neither stop half-way nor print tracebacks.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            futures = {pool.submit(_worker_clip, text, voice): (text, voice) for text, voice in items}
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for future in as_completed(futures):
            text, voice = futures[future]
            yield text, voice, future.result()
        finished = True
    except BrokenProcessPool as error:
        raise SpeechError("A speech worker process stopped unexpectedly; try again.") from error
    finally:
        if not finished:  # workers send only tiny results, so stopping them mid-text is safe
            terminate_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)


def worker_pool(workers: int, initializer: Callable, initargs: tuple) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes started with "spawn" (a forked child would inherit a
    parent's espeak-ng, or any lock another thread holds, without its threads).

    The pool needs multiprocessing's resource tracker, a process of its own that lives as long
    as this one; it is started here, unless it runs already, with SIGHUP blocked as well as
    the SIGINT and SIGTERM it blocks itself: a terminal's hangup goes to every process of the
    command, and a tracker killed by it is started again as the pool shuts down, only to
    print a traceback about what it does not know."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import resource_tracker

    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        resource_tracker.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, context, initializer=initializer, initargs=initargs)


def terminate_workers(pool) -> None:
    """SIGTERM to every worker of the pool: shutdown would otherwise wait for the texts they
    are saying, up to DEFAULT_TIMEOUT each. Python 3.14 has a method for it; before, the
    pool's processes are only reachable through its private ``_processes``."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError):  # already ended, or already closed
            process.terminate()


def _make_clip(engine: Engine, cache: ClipCache, text: str, voice: Voice) -> numpy.ndarray:
    """Synthesize one text, trim it and store it in the cache."""
    clip = _trimmed(engine.synthesize(text, voice), text)
    cache.put(engine.name, voice, text, clip)
    return clip


def _trimmed(samples: numpy.ndarray, text: str) -> numpy.ndarray:
    clip = trim_silence(samples) if samples.ndim == 1 else samples[:0]
    if clip.size == 0:
        raise SpeechError(f"The speech engine produced only silence for {text!r}: give it words to say.")
    return clip


_worker: tuple[Engine, ClipCache] | None = None


def cores() -> int:
    """The cores this process may run on (its affinity: a container or taskset may allow
    fewer than the machine has): how many worker processes to start by default."""
    count = getattr(os, "process_cpu_count", None)  # Python 3.13
    if count is not None:
        return count() or 1
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _start_worker(factory: Callable[[], Engine], cache: ClipCache, parent: int) -> None:
    """In a worker process: first make sure it ends with its ``parent``, then one engine for all its texts."""
    die_with(parent)
    global _worker
    _worker = (factory(), cache)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with(parent: int, signum: int = signal.SIGKILL) -> None:
    """Have the kernel send ``signum`` to this process when its parent ends, even by SIGKILL,
    so no worker is left saying texts nobody waits for (holding the parent's output pipe
    open). SIGKILL for speech workers, as a worker may be inside espeak-ng, where no Python
    signal handler runs; a cache file it was writing is unnamed until complete, so nothing
    is left half-written. (Export workers ask for SIGTERM: batch.py.)
    The parent may have ended before prctl: then it is no longer this process's parent."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            _log().warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    if os.getppid() != parent:
        os._exit(1)


def _worker_clip(text: str, voice: Voice) -> numpy.ndarray | None:
    """In a worker: the clip goes to the cache, and only None (a few bytes) goes back to the
    parent. A result that small is written to the pool's pipe in one atomic write, so a worker
    terminated at any moment never leaves half a result for the pool to wait on. Only a clip
    the cache could not keep comes back whole."""
    if _worker is None:  # only _start_worker's processes are given texts
        raise SpeechError("A speech worker was given a text before it started.")
    engine, cache = _worker
    samples = engine.synthesize(text, voice)
    clip = _trimmed(samples, text)
    return None if cache.put(engine.name, voice, text, clip) else clip


def _clip_of(result: numpy.ndarray | None, text: str, voice: Voice, engine: Engine, cache: ClipCache) -> numpy.ndarray:
    """A worker's clip: the one it sent, or the one it put in the cache (made here again in
    the rare case that the entry is gone or damaged by now)."""
    if result is not None:
        return result
    clip = cache.get(engine.name, voice, text)
    return clip if clip is not None else _make_clip(engine, cache, text, voice)


# The cache's file format.

_CHECK = struct.Struct("<4sIII")  # chunk id, chunk size, CRC-32 of the samples, frame count


def _encode(samples: numpy.ndarray) -> bytes:
    pcm = samples.astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(SAMPLE_RATE)
        clip.writeframes(pcm)
    data = bytearray(out.getvalue())
    data += _CHECK.pack(b"hcck", _CHECK.size - 8, zlib.crc32(pcm), len(samples))
    struct.pack_into("<I", data, 4, len(data) - 8)  # the RIFF size now includes the check
    return bytes(data)


def _decode(data: bytes) -> numpy.ndarray | None:
    import numpy as np

    if len(data) < 44 + _CHECK.size or data[:4] != b"RIFF":
        return None
    if struct.unpack_from("<I", data, 4)[0] != len(data) - 8:
        return None
    chunk, size, crc, frames = _CHECK.unpack_from(data, len(data) - _CHECK.size)
    if (chunk, size) != (b"hcck", _CHECK.size - 8):
        return None
    try:
        with wave.open(io.BytesIO(data)) as clip:
            if (clip.getnchannels(), clip.getsampwidth(), clip.getframerate()) != (1, 2, SAMPLE_RATE):
                return None
            pcm = clip.readframes(clip.getnframes())
    except (wave.Error, EOFError):
        return None
    if len(pcm) != 2 * frames or frames == 0 or zlib.crc32(pcm) != crc:
        return None
    return np.frombuffer(pcm, "<i2").astype(np.int16)


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
        _log().warning(" ".join(str(arg) for arg in args))


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
