"""Words said right: the pronunciation lexicons (built-in and a routine's pronounce:) change
what is synthesized, never what is shown; espeak-ng's own phonemes prove the respellings."""

from __future__ import annotations

import dataclasses
import subprocess

import numpy as np
import pytest

from holdcue import compiler, library, loader, pronounce, session, speech
from holdcue.errors import RoutineError
from holdcue.routine import Voice
from speech_support import espeak_test

ROUTINE = """\
title: Hips
tools: [lacrosse ball]
pronounce:
  gluteus medius: glue-tee-us mee-dee-us
  Piriformis: peer-i-form-is
steps:
  - compress: Sit on the lacrosse ball under your piriformis, then your gluteus medius.
    time: 20s
"""


def test_whole_words_and_phrases_are_replaced_keeping_a_capital():
    words = {"piriformis": "pirih-formiss", "glutes": "glute muscles", "peanut ball": "pea-nut ball"}
    assert (
        pronounce.said("Piriformis, then the piriformis again.", words)
        == "Pirih-formiss, then the pirih-formiss again."
    )
    assert (
        pronounce.said("Lie on the peanut  ball; your glutes.", words) == "Lie on the pea-nut ball; your glute muscles."
    )
    # only whole words: not inside another word, nor a hyphenated one
    assert pronounce.said("The gluteus, glutes-only, subglutes.", words) == "The gluteus, glutes-only, subglutes."
    assert pronounce.said("Nothing to change.", {}) == "Nothing to change."


def test_the_longest_phrase_wins():
    words = {"lacrosse": "la-crosse", "lacrosse ball": "small hard ball"}
    assert pronounce.said("A lacrosse ball, or a lacrosse stick.", words) == "A small hard ball, or a la-crosse stick."


def test_the_routines_words_win_over_the_builtin_ones_and_only_english_gets_the_english_lexicon():
    routine = loader.load(ROUTINE)
    words = pronounce.lexicon(routine)
    assert words["piriformis"] == "peer-i-form-is"  # the routine's own
    assert words["lacrosse"] == dict(pronounce.builtin("en"))["lacrosse"]
    german = dataclasses.replace(routine, voice=Voice(language="de"), pronounce=())
    assert pronounce.lexicon(german) == {}


def respelled(word: str) -> str:
    return dict(pronounce.builtin("en"))[word]


def ipa(text: str) -> str:
    return subprocess.run(["espeak-ng", "-q", "--ipa", "-v", "en", text], capture_output=True, text=True).stdout.strip()


@espeak_test
@pytest.mark.parametrize(
    "word, wrong, right",
    [
        ("piriformis", "fˌɔːmɪs", "pˈɪɹɪfˈɔːmɪs"),  # the stress on "for": not "and be reformist"
        ("lacrosse", "lˈakɹɒs", "kɹˈɒs"),  # the stress on "crosse": not "lacrosse oil"
        ("peanut ball", "pˈiːnʌt", "pˈiːnˈʌt bˈɔːl"),  # both syllables of peanut: not "be a ball"
        ("infraspinatus", "spˈɪnatəs", "spˈaɪneɪtəs"),
        ("glutes", "", "ɡlˈuːt mˈʌsəlz"),
    ],
)
def test_espeak_says_each_respelling_as_intended(word, wrong, right):
    assert wrong in ipa(word)  # what espeak-ng makes of the written word
    assert right in ipa(respelled(word))
    assert wrong == "" or wrong not in ipa(respelled(word))


@espeak_test
def test_every_builtin_respelling_is_read_as_words():
    for word, said in pronounce.builtin("en"):
        phonemes = ipa(said)
        assert phonemes and phonemes != ipa(word), (word, said, phonemes)


def test_pronounce_is_read_with_line_and_column():
    assert loader.load(ROUTINE).pronounce == (
        ("gluteus medius", "glue-tee-us mee-dee-us"),
        ("piriformis", "peer-i-form-is"),
    )
    bad = """\
title: T
pronounce:
  psoas: ""
  2nd: second
  Psoas muscle: so-as
  PSOAS MUSCLE: again
  psoas_major: so-as
  long: %s
steps:
  - hold: Hold.
    time: 20s
""" % ("x" * 61)
    with pytest.raises(RoutineError) as error:
        loader.load(bad)
    assert [str(p) for p in error.value.problems] == [
        "<routine>:3:10: pronounce.psoas: is empty; write how to say it, or leave the word out",
        '<routine>:4:3: pronounce.2nd: "2nd" is not a word to pronounce; give a word or a few words of letters, '
        "at most 60 characters, like {piriformis: pirih-formiss}",
        "<routine>:6:3: pronounce.PSOAS MUSCLE: appears twice (whatever its capitals); keep only one",
        '<routine>:7:3: pronounce.psoas_major: "psoas_major" is not a word to pronounce; give a word or a few words '
        "of letters, at most 60 characters, like {piriformis: pirih-formiss}",
        "<routine>:8:9: pronounce.long: is 61 characters long; keep it to 60 at most",
    ]
    with pytest.raises(RoutineError, match="pronounce: must be a mapping of words"):
        loader.load("title: T\npronounce: [a, b]\nsteps:\n  - hold: Hold.\n    time: 20s\n")
    many = "".join(f"  w{chr(97 + i // 26)}{chr(97 + i % 26)}: x\n" for i in range(loader.MAX_PRONOUNCE + 1))
    with pytest.raises(RoutineError, match="has 101 words; keep it to 100 at most"):
        loader.load(f"title: T\npronounce:\n{many}steps:\n  - hold: Hold.\n    time: 20s\n")


class RecordingEngine:
    name = "recording"

    def __init__(self):
        self.said: list[str] = []

    def synthesize(self, text, voice):
        self.said.append(text)
        return np.full(3000 + 50 * len(text), 2000, np.int16)


def test_the_session_shows_the_written_words_and_synthesizes_the_said_ones(tmp_path):
    engine = RecordingEngine()
    cache = speech.ClipCache(tmp_path)
    routine = loader.load(ROUTINE)
    ready = session.build(routine, cache=cache, engine_factory=lambda: engine)
    texts = [e.text for e in ready.timeline.events if e.kind == "speech"]
    step = next(text for text in texts if text.startswith("Next:"))
    assert "Sit on the lacrosse ball under your piriformis, then your gluteus medius." in step  # as written
    assert set(ready.clips) == set(texts)
    said = next(text for text in engine.said if text.startswith("Next:"))
    assert "Sit on the la-crosse ball under your peer-i-form-is, then your glue-tee-us mee-dee-us." in said
    assert "You will need a la-crosse ball." in engine.said
    # the cache keys on what is said: the written text is not in it, the said one is
    assert cache.get(engine.name, routine.voice, said) is not None
    assert cache.get(engine.name, routine.voice, step) is None
    assert len(ready.clips[step]) == 3000 + 50 * len(said)
    # preparing fills the same entries: nothing is made twice
    needed, made = session.prepare([routine], cache=cache, engine_factory=lambda: engine)
    assert (needed, made) == (len(set(texts)), 0)


def test_the_library_speaks_no_phrase_that_is_misheard():
    misheard = ("Rest,", "roll off", "round your back up", "checked by a professional")
    for rid in library.builtin_ids():
        routine = library.load_routine(rid)
        assert not routine.warnings, rid
        for text in compiler.spoken_texts(routine):
            assert not any(phrase.lower() in text.lower() for phrase in misheard), (rid, text)


def test_the_builtin_words_reach_the_library_routines():
    routine = library.load_routine("glutes-and-piriformis")
    words = pronounce.lexicon(routine)
    said = [pronounce.said(text, words) for text in compiler.spoken_texts(routine)]
    assert any("pirih-formiss" in text for text in said)
    assert not any("piriformis" in text.lower() for text in said)
