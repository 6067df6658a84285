"""Offline speech: each spoken cue made into a clip by a speech engine, kept in an on-disk
cache shared by every holdcue process, many made at once by worker processes.

A file a job, imports running one way, down this list (tests/test_layout.py checks it):

- ``synthesis.py``: clips for many texts (``synthesize_all``, ``cache_all``): read from the
  cache, or synthesized and stored; ``live_speaker`` for words made during a session.
- ``workers.py``: the worker processes that say many texts side by side, one engine each,
  none outliving the process that started them (export's workers use them too).
- ``stored.py``: a session's clips left in the cache and read as they sound (``StoredClips``).
- ``choice.py``: which engine a voice speaks with (``choose``: the command line, the routine,
  the config, the fallback to espeak-ng) and the name its clips are cached under.
- ``cache.py``: the cache (``ClipCache``): a WAV file a clip, its key, its check chunk;
  the first clip stored under a key stays.
- ``espeak.py``: espeak-ng through pyttsx3, the default engine, and its voices.
- ``piper.py``: Piper, the optional neural engine, run as a separate process (never imported
  by holdcue's other modules: only when a voice names it).
- ``engine.py``: what an engine is (``Engine``: text to samples), the engines' names, and
  the clip made of what one says (trimmed to its onset and a short tail).

Below are the names the rest of holdcue uses most; the others are read from the file that
defines them (``holdcue.speech.espeak.list_voices``, ``holdcue.speech.workers.cores``).
Importing this package starts nothing and loads neither numpy nor an engine.
"""

from holdcue.speech.cache import ClipCache
from holdcue.speech.choice import Choice, choose, engine_name, factory_for
from holdcue.speech.engine import Engine
from holdcue.speech.synthesis import cache_all, live_speaker, synthesize_all

__all__ = [
    "Choice",
    "ClipCache",
    "Engine",
    "cache_all",
    "choose",
    "engine_name",
    "factory_for",
    "live_speaker",
    "synthesize_all",
]
