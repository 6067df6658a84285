"""Orchestration: what the commands do with routines, one function each. It loads routines
from the library, makes them ready to hear (clips synthesized or read from the cache, tones
loaded, timeline compiled), prepares the cache for many routines at once, and exports.
show, play and export all start from ``build``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from holdcue import compiler, library
from holdcue.config import Config
from holdcue.errors import Problem
from holdcue.routine import Music, Routine, Voice
from holdcue.timeline import SAMPLE_RATE, Session, Timeline

if TYPE_CHECKING:
    import numpy

    from holdcue.speech import ClipCache, Engine

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Library:
    """Every routine by id, loaded: the good ones, and the problems of those that are not."""

    routines: tuple[Routine, ...]
    broken: tuple[library.Entry, ...]  # each with its problems

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(problem for entry in self.broken for problem in entry.problems)


def load_all() -> Library:
    """Load every built-in and user routine; one that cannot be loaded is kept with its problems."""
    entries = library.entries()
    return Library(
        routines=tuple(entry.routine for entry in entries if entry.routine is not None),
        broken=tuple(entry for entry in entries if entry.routine is None),
    )


def build(
    routine: Routine,
    *,
    also: Iterable[str] = (),
    cache: ClipCache | None = None,
    engine_factory: Callable[[], Engine] | None = None,
    progress: Progress | None = None,
    stored: bool = False,
    workers: int | None = None,
) -> Session:
    """Synthesize what is not cached, load the tones, compile the timeline. ``routine`` is
    as it will be heard (choices.resolve): its voice speaks, its ``music`` plays under it
    (decoded as it plays, not here). ``also``: more texts to have clips for in the same
    voice (the player's "Paused.", for one). Each clip is keyed by its written text and
    synthesized from what is said (pronounce.py). ``stored``: the clips stay in the cache,
    read as they sound (speech.stored.StoredClips), rather than held in memory.
    ``workers``: speech.synthesize_all's (1: synthesized in this process)."""
    return _ready(routine, compiler.compile, also, cache, engine_factory, progress, routine.music, stored, workers)


def legend(
    language: str = "en",
    *,
    cache: ClipCache | None = None,
    engine_factory: Callable[[], Engine] | None = None,
    progress: Progress | None = None,
) -> Session:
    """The tones' legend ready to hear (holdcue tones): every tone right after what it means,
    in the language of ``language`` (a voice name, as a routine's voice.language)."""
    from holdcue import phrases

    words = phrases.for_language(language)
    routine = Routine(id="tones", title=words.legend_title(), steps=(), voice=Voice(language=language))
    return _ready(routine, compiler.legend, (), cache, engine_factory, progress, None)


def _ready(
    routine: Routine,
    make: Callable[..., Timeline],
    also: Iterable[str],
    cache: ClipCache | None,
    engine_factory: Callable[[], Engine] | None,
    progress: Progress | None,
    music: Music | None,
    stored: bool = False,
    workers: int | None = None,
) -> Session:
    """The session of ``make(routine, ...)`` (compiler.compile or compiler.legend)."""
    from holdcue import speech, tones
    from holdcue.speech.stored import StoredClips

    texts = said_texts(routine, [*compiler.spoken_texts(routine, make), *also])
    made = speech.synthesize_all(
        texts.values(),
        routine.voice,
        cache=cache,
        engine_factory=engine_factory,
        workers=workers,
        progress=progress,
        stored=stored,
    )
    clips: Mapping[str, numpy.ndarray]
    if isinstance(made, StoredClips):
        clips = made.renamed(texts)
        clip_length: Callable[[str], int] = clips.frames  # not read from the cache for that
    else:
        clips = {text: made[said] for text, said in texts.items()}
        clip_length = lambda text: len(clips[text])  # noqa: E731
    sounds = tones.load_tones(SAMPLE_RATE, routine.cues.tones)
    timeline = make(
        routine,
        clip_length=clip_length,
        tone_length=lambda name: len(sounds[name]),
        rate=SAMPLE_RATE,
    )
    return Session(routine, timeline, clips, sounds, music)


class _NotCached(Exception):
    """A clip the session needs is not in the cache: its length is not known."""


def exact_seconds(routine: Routine, *, cache: ClipCache | None = None, engine_name: str | None = None) -> float | None:
    """The session's length as ``build`` will make it, when every clip it speaks is in the
    cache of the engine its voice names (lengths read from the cache files' headers, nothing
    synthesized or decoded); None when one is missing, or the engine or its model is.
    ``engine_name``: another engine's clips (by the name its cache entries carry)."""
    from holdcue import pronounce, speech, tones

    cache = cache if cache is not None else speech.ClipCache()
    engine = engine_name or speech.engine_name(routine.voice)
    if engine is None:
        return None
    words = pronounce.lexicon(routine)
    try:
        tone_length = tones.tone_lengths(SAMPLE_RATE, routine.cues.tones)
    except ValueError:  # a tone file that cannot be used: build will say why
        return None

    known: dict[str, int] = {}  # the compiler asks for a text's length many times

    def clip_length(text: str) -> int:
        if text not in known:
            frames = cache.frames(engine, routine.voice, pronounce.said(text, words))
            if frames is None:
                raise _NotCached(text)  # no need to compile further: the length is not exact
            known[text] = frames
        return known[text]

    try:
        return compiler.length(routine, clip_length, tone_length.__getitem__, SAMPLE_RATE) / SAMPLE_RATE
    except _NotCached:
        return None


def heard_length(routine: Routine, settings: Config | None = None) -> tuple[float, bool]:
    """(seconds, exact) of ``routine`` as it is heard with config.yaml's ``settings`` (its
    voice and music: choices.resolve): exact when all its speech in that voice is cached,
    else estimated from the words. What holdcue list, the page and the API all show."""
    from holdcue import choices
    from holdcue.errors import ConfigError, SpeechError

    try:
        routine = choices.resolve(routine, settings or Config()).routine
    except (ConfigError, SpeechError):
        pass  # the length of its own voice's speech; play and validate say what is wrong
    exact = exact_seconds(routine)
    return (exact, True) if exact is not None else (compiler.estimate_seconds(routine), False)


def spoken_seconds(
    routine: Routine,
    *,
    cache: ClipCache | None = None,
    engine_factory: Callable[[], Engine] | None = None,
    progress: Progress | None = None,
) -> float:
    """The session's length with its real speech: the clips not in the cache are synthesized
    into it first (as ``prepare`` does), then measured as ``exact_seconds``; the estimate from
    the words when the cache cannot hold them (a cache folder that cannot be written).
    Raises SpeechError when speech cannot be synthesized."""
    from holdcue import speech

    cache = cache if cache is not None else speech.ClipCache()
    said = {routine.voice: said_texts(routine).values()}
    speech.cache_all(said, cache=cache, engine_factory=engine_factory, progress=progress)
    exact = exact_seconds(routine, cache=cache, engine_name=engine_factory().name if engine_factory else None)
    return exact if exact is not None else compiler.estimate_seconds(routine)


def said_texts(routine: Routine, texts: Iterable[str] | None = None) -> dict[str, str]:
    """What the voice says for each written text (default: every text the routine speaks):
    the routine's lexicon applied (pronounce.py). The speech cache keeps clips by these."""
    from holdcue import pronounce

    words = pronounce.lexicon(routine)
    return {text: pronounce.said(text, words) for text in (compiler.spoken_texts(routine) if texts is None else texts)}


def prepare(
    routines: Iterable[Routine],
    *,
    cache: ClipCache | None = None,
    engine_factory: Callable[[], Engine] | None = None,
    progress: Progress | None = None,
    also: Callable[[Routine], Iterable[str]] | None = None,
    workers: int | None = None,
) -> tuple[int, int]:
    """Put every clip the routines speak in the cache. The texts of all routines go to
    speech.cache_all together, so that many texts, of every voice, share the worker processes.
    Each routine's music (as resolved: choices.resolve) is decoded into the music cache now
    as well (music.prepare), so that the first play or export does not decode it.
    ``also(routine)``: more texts to cache in each routine's voice (build's ``also``).
    ``workers``: processes that synthesize (speech.synthesize_all's; default one per core).

    Returns (distinct clips the routines need, how many of them were synthesized now).
    ``progress(done, total)`` counts clips over all the routines. Raises MusicError when a
    routine's music cannot be played.
    """
    from holdcue import speech

    routines = list(routines)  # gone through twice: speech, then music
    texts: dict[Voice, dict[str, None]] = {}
    for routine in routines:
        extra = also(routine) if also is not None else ()
        said = said_texts(routine, [*compiler.spoken_texts(routine), *extra]).values()
        texts.setdefault(routine.voice, {}).update(dict.fromkeys(said))
    total = sum(len(group) for group in texts.values())
    made = speech.cache_all(texts, cache=cache, engine_factory=engine_factory, workers=workers, progress=progress)
    for routine in routines:
        _prepare_music(routine, cache)
    return total, made


def _prepare_music(routine: Routine, cache: ClipCache | None) -> None:
    """Decode the routine's music for as long as its session lasts (its clips are cached by now)."""
    if routine.music is None:
        return
    from holdcue import music

    seconds = exact_seconds(routine, cache=cache) or compiler.estimate_seconds(routine)
    music.prepare(routine.music, SAMPLE_RATE, round(seconds * SAMPLE_RATE))
