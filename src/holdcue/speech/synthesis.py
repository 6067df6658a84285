"""Clips for many texts: read from the cache, or synthesized (here, or by worker processes)
and stored."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING

from holdcue.speech.cache import ClipCache
from holdcue.speech.choice import factory_for, live_voice
from holdcue.speech.engine import Engine, close, make_clip

if TYPE_CHECKING:
    import numpy

    from holdcue.routine import Voice

SMALL_BATCH = 40  # up to this many texts are said in this process: workers take longer to start


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
    the voice names, ``factory_for(voice)``) must be picklable: worker processes call it to
    make their own engine. ``workers``: processes for cold synthesis (default: one per core
    this process may use, ``workers.cores()``; 1: none, all in this process).
    ``progress(done, total)`` counts distinct texts, cached ones first.
    Workers are started with "spawn", which imports the program's main module again: a
    script that calls this must guard its main code with ``if __name__ == "__main__":``.
    """
    cache = cache if cache is not None else ClipCache()
    factory = engine_factory or factory_for(voice)
    engine = factory()
    try:
        if not stored:
            return _synthesize_all(texts, voice, cache, factory, engine, workers, progress)
        from holdcue.speech.stored import StoredClips

        kept = StoredClips(cache, engine.name, voice)
        _synthesize_all(texts, voice, cache, factory, engine, workers, progress, kept.add)
        return kept
    finally:
        close(engine)


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
                close(engine)
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
            close(engine)


def _made(items, factory, engine, cache, workers) -> Generator[tuple[str, Voice, numpy.ndarray | None], None, None]:
    """(text, voice, clip) for every (text, voice) of ``items``, each clip synthesized and put in the
    cache: here, or by worker processes when there are enough texts to be worth their start;
    a worker sends None for a clip it has put in the cache."""
    from holdcue.speech.workers import cores, in_workers

    count = min(workers or cores(), len(items))
    # an engine may say how many texts are worth a worker's start (Piper's takes ~1 s, as 3 texts do)
    if count == 1 or len(items) <= getattr(engine, "small_batch", SMALL_BATCH):
        return ((text, voice, _stored_clip(engine, cache, text, voice)) for text, voice in items)
    return in_workers(items, factory, cache, count)


def _stored_clip(engine: Engine, cache: ClipCache, text: str, voice: Voice) -> numpy.ndarray:
    """Synthesize one text, trim it and store it in the cache; the clip the cache holds
    then (another process's, when it stored one first), else this one."""
    clip = make_clip(engine, text, voice)
    kept = cache.put(engine.name, voice, text, clip)
    return kept if kept is not None else clip


def _clip_of(result: numpy.ndarray | None, text: str, voice: Voice, engine: Engine, cache: ClipCache) -> numpy.ndarray:
    """A worker's clip: the one it sent, or the one it put in the cache (made here again in
    the rare case that the entry is gone or damaged by now)."""
    if result is not None:
        return result
    clip = cache.get(engine.name, voice, text)
    return clip if clip is not None else _stored_clip(engine, cache, text, voice)


def live_speaker(voice: Voice) -> Callable[[str], numpy.ndarray]:
    """What a player says that the session has no clip for (the time left, on resume):
    made at once, in this process, by espeak-ng (live_voice)."""
    live = live_voice(voice)
    return lambda text: synthesize_all([text], live, workers=1)[text]
