"""How words are said: written words and phrases replaced by what the voice is given to say,
for the words a speech synthesizer says wrongly or a listener mishears ("piriformis",
"lacrosse ball").

Two lexicons: the built-in one for the library's anatomy and tool words
(``pronunciation.yaml``, by language), and a routine's own ``pronounce:`` map, which wins
for a word in both. They change only what is synthesized: the timeline, the screen,
chapters and transcripts keep the written words (session.build keys each clip by its
written text and synthesizes it from the said text; the speech cache keys on what is said).

Matching is by whole words, case-insensitive, longest phrase first; a written word that
starts with a capital gives a respelling that starts with one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from holdcue.phrases import catalogue_language
from holdcue.routine import Routine

BUILTIN_PATH = Path(__file__).with_name("pronunciation.yaml")


@functools.cache
def builtin(language: str) -> tuple[tuple[str, str], ...]:
    """The built-in lexicon of a phrases language ("en"), as (written, said) pairs."""
    with open(BUILTIN_PATH, encoding="utf-8") as file:
        # holdcue's own file, shipped in the package: read by libyaml when PyYAML has it (faster)
        lexicons = yaml.load(file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return tuple((str(word), str(said)) for word, said in (lexicons.get(language) or {}).items())


def lexicon(routine: Routine) -> dict[str, str]:
    """What each word is said as in this routine: the built-in lexicon of its voice's
    language, then its own ``pronounce:`` (keys lowercased: matching ignores case)."""
    language = catalogue_language(routine.voice.language)
    words = {word.lower(): said for word, said in builtin(language)} if language else {}
    words.update((word.lower(), said) for word, said in routine.pronounce)
    return words


def said(text: str, words: Mapping[str, str]) -> str:
    """The text as the voice is to say it: each whole word or phrase of ``words`` replaced."""
    if not words:
        return text
    return _pattern(tuple(sorted(words, key=len, reverse=True))).sub(lambda m: _replace(m[0], words), text)


def _replace(written: str, words: Mapping[str, str]) -> str:
    spoken = words[" ".join(written.lower().split())]
    return spoken[:1].upper() + spoken[1:] if written[:1].isupper() else spoken


@functools.lru_cache(maxsize=64)
def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for every phrase, longest first; a space in a phrase matches any run of
    spaces; (?<!\\w) and (?!\\w) keep to whole words ("glutes" is not in "gluteus")."""
    alternatives = "|".join(r"\s+".join(re.escape(part) for part in phrase.split()) for phrase in phrases)
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)
