"""A session's clips read from the speech cache as they sound."""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from holdcue.timeline import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy

    from holdcue.routine import Voice
    from holdcue.speech.cache import ClipCache


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
            import logging

            import numpy as np

            logging.getLogger(__name__).warning("the clip of %r is gone from the speech cache: silence", key)
            clip = np.zeros(self._frames[key], np.int16)
        with self._lock:
            self._recent[key] = clip
            while len(self._recent) > self.KEPT:
                self._recent.popitem(last=False)
        return clip
