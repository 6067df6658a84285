"""A routine in German, French, Spanish, Italian or Dutch is spoken wholly in that language:
holdcue's own words come from its catalogue, numbers are spelled in it, and {side} says the
side words the routine gives (or the language's)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler_helpers import RATE, clip_length, tone_length
from holdcue import compiler, library, loader, phrases
from holdcue.cli import cli
from holdcue.phrases import sentence_start
from holdcue.routine import PRESS_WAIT_MS

# Words of holdcue's English phrases: none may be heard in another language's session.
ENGLISH = {
    *"next second seconds minute minutes hour hours side sides each round rounds switch left right".split(),
    *"rest session complete well done about you will need get into position half and of the end".split(),
    *"breathe breathing breath keep slow easy let out soften muscle your to".split(),
    *"press when it eases up start".split(),
    *"one two three four five six seven eight nine ten eleven twelve twenty thirty forty".split(),
}
# English words that are words of the language too, spelled the same
SAME_WORD = {"de": {"minute", "position"}, "fr": {"minute", "minutes", "six", "muscle"}}

ROUTINE = """\
title: {title}
tools: [{tools}]
safety: ["{safety}"]
voice:
  language: {language}
cues:
  countdown: 5
  countdown_style: spoken
  breathe: 20s
  time_left: 30s
steps:
  - warm-up: {warm}
    count: 12
    each: 2s
  - compress: {press}
    time: 1m30s
    sides: both
    {side_words}
    repeat: 2
    rest: 2.5s
    say:
      - at: half
        text: "{say}"
  - stretch: {stretch}
    time: 20s
    sides: both
    repeat: 3
    rest: 500ms
  - stretch: {hold}
    time: 2m
  - rest: {rest}
    time: 21s
  - finish: "{finish}"
    time: 31s
"""

TEXTS = {
    "de": dict(
        title="Nacken und Schultern",
        tools="Tennisball, Wand",
        safety="Drücke nie auf einen Knochen.",
        warm="Kreise die Schultern.",
        press="Drücke den Ball unter dein {side} Schulterblatt.",
        side_words="side_words: {left: linkes, right: rechtes}",
        say="Atme ruhig, Runde {round} von {rounds}.",
        stretch="Ziehe deinen {side} Arm über die Brust, {time} lang.",
        hold="Halte den Druck auf der Brust.",
        rest="Entspanne dich. Danach kommt {next}.",
        finish="Lege dich hin. Danach: {next}.",
    ),
    "fr": dict(
        title="Nuque et épaules",
        tools="balle de tennis, mur",
        safety="N'appuie jamais sur un os.",
        warm="Fais rouler tes épaules.",
        press="Appuie la balle sous ton omoplate {side}.",
        side_words="side_words: {left: gauche, right: droite}",
        say="Respire calmement, tour {round} sur {rounds}.",
        stretch="Tire ton bras {side} devant la poitrine pendant {time}.",
        hold="Garde la pression sur la poitrine.",
        rest="Détends-toi. Ensuite vient {next}.",
        finish="Allonge-toi. Ensuite : {next}.",
    ),
    "es": dict(
        title="Cuello y hombros",
        tools="pelota de tenis, pared",
        safety="Nunca presiones sobre un hueso.",
        warm="Haz círculos con los hombros.",
        press="Presiona la pelota bajo tu omóplato {side}.",
        side_words="",
        say="Respira con calma, ronda {round} de {rounds}.",
        stretch="Lleva tu brazo {side} sobre el pecho durante {time}.",
        hold="Mantén la presión sobre el pecho.",
        rest="Relájate. Después viene {next}.",
        finish="Túmbate. Después: {next}.",
    ),
    "it": dict(
        title="Collo e spalle",
        tools="pallina da tennis, muro",
        safety="Non premere mai su un osso.",
        warm="Ruota le spalle.",
        press="Premi la pallina sotto la scapola {side}.",
        side_words="side_words: {left: sinistra, right: destra}",
        say="Respira con calma, giro {round} di {rounds}.",
        stretch="Porta il braccio {side} davanti al petto per {time}.",
        hold="Mantieni la pressione sul petto.",
        rest="Rilassati. Poi viene {next}.",
        finish="Sdraiati. Poi: {next}.",
    ),
    "nl": dict(
        title="Nek en schouders",
        tools="tennisbal, muur",
        safety="Druk nooit op een bot.",
        warm="Draai je schouders rond.",
        press="Druk de bal onder je {side} schouderblad.",
        side_words="",
        say="Adem rustig, ronde {round} van {rounds}.",
        stretch="Trek je {side} arm voor je borst, {time} lang.",
        hold="Houd de druk op je borst.",
        rest="Ontspan. Daarna komt {next}.",
        finish="Ga liggen. Daarna: {next}.",
    ),
}
LANGUAGES = tuple(TEXTS)


def routine_in(language: str, voice: str | None = None):
    text = ROUTINE.replace("{language}", voice or language)
    for key, value in TEXTS[language].items():
        text = text.replace("{" + key + "}", value)
    return loader.load(text, f"{language}.yaml")


def english_words(text: str, language: str) -> set[str]:
    words = set(re.findall(r"[^\W\d_]+", text.lower()))
    return (words & ENGLISH) - SAME_WORD.get(language, set())


def test_every_language_has_a_routine_here():
    assert set(LANGUAGES) == set(phrases.languages()) - {"en"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_routine_is_spoken_wholly_in_its_language(language):
    routine = routine_in(language)
    assert routine.warnings == ()
    said = compiler.spoken_texts(routine)
    assert len(said) > 30
    for text in said:
        assert not english_words(text, language), text
        assert not re.search(r"[0-9]", text), text


def test_the_english_word_list_finds_holdcue_s_english_phrases():
    """The same routine with an English voice: holdcue's own words are English again."""
    said = compiler.spoken_texts(routine_in("de", voice="en"))
    found = set().union(*(english_words(text, "de") for text in said))
    assert {"next", "switch", "rest", "seconds", "round", "session", "complete", "breathe", "left"} <= found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_kind_of_phrase_is_heard_from_the_catalogue(language):
    words = phrases.for_language(language)
    said = compiler.spoken_texts(routine_in(language))
    heard = " | ".join(said)
    expected = [
        words.intro(TEXTS[language]["title"], 1).split(".")[0],  # the title, then "About N minutes"
        words.tools(TEXTS[language]["tools"].split(", ")),
        words.next(""),
        words.each_side(),
        words.rounds(3),
        words.get_into_position(),
        words.switch("right"),
        words.rest(2500),
        words.rest(500),
        words.round_of(2, 3),
        words.time_left(60_000),
        words.time_left(90_000),
        *words.breathing(),
        words.count(12),
        words.count(5),
        words.end_of_session(),
        words.session_complete(),
    ]
    for phrase in expected:
        assert phrase in heard, phrase


@pytest.mark.parametrize("language", LANGUAGES)
def test_holds_until_a_press_are_spoken_wholly_in_the_language(language):
    plain = routine_in(language)
    routine = dataclasses.replace(
        plain,
        cues=dataclasses.replace(plain.cues, prep_ms=PRESS_WAIT_MS, prep_press=True),
        steps=tuple(dataclasses.replace(s, until="press") if s.kind == "compress" else s for s in plain.steps),
    )
    words = phrases.for_language(language)
    said = compiler.spoken_texts(routine)
    heard = " | ".join(said)
    for phrase in (words.press_reminder(), words.get_into_position_and_press(), sentence_start(words.up_to(90_000))):
        assert phrase in heard, phrase
    for text in said:
        assert not english_words(text, language), text


@pytest.mark.parametrize("language", LANGUAGES)
def test_spoken_texts_predicts_everything_a_compile_says(language):
    routine = routine_in(language)
    predicted = set(compiler.spoken_texts(routine))
    for scale in (0.5, 1.0, 2.5):
        timeline = compiler.compile(routine, lambda t, s=scale: clip_length(t, s), tone_length, RATE)
        assert {e.text for e in timeline.events if e.kind == "speech"} <= predicted
    again = compiler.compile(routine, clip_length, tone_length, RATE)
    assert again == compiler.compile(routine, clip_length, tone_length, RATE)


def test_segment_titles_and_derived_step_titles_are_in_the_language():
    routine = loader.load(
        "title: T\nvoice: {language: de}\nsteps:\n"
        "  - hold: Lege dich auf die Rolle, dann atme langsam.\n    time: 10s\n"
        "  - rest: Danach kommt {next}.\n    time: 10s\n"
        "  - finish: Bleib liegen und spüre nach.\n    time: 10s\n"
    )
    timeline = compiler.compile(routine, clip_length, tone_length, RATE)
    titles = [s.title for s in timeline.segments]
    assert titles[0] == "Einleitung" and titles[-1] == "Sitzung beendet"
    assert "Lege dich auf die Rolle" in titles  # cut at ", dann" as English is cut at ", then"
    assert "Bleib liegen und spüre nach" in titles  # "und" without a comma does not cut it
    said = [e.text for e in timeline.events if e.kind == "speech"]
    assert "Pause, zehn Sekunden. Danach kommt Bleib liegen und spüre nach." in said


SIDES = """\
title: Seiten
voice: {{language: de}}
{routine_words}
steps:
  - compress: Drücke unter deinen {{side}} Fuß.
    time: 10s
    sides: both
  - compress: Drücke unter dein {{side}} Knie.
    time: 10s
    sides: right
    side_words: {{left: linkes, right: rechtes}}
"""


def test_side_words_come_from_the_step_then_the_routine_then_the_language():
    default = compiler.spoken_texts(loader.load(SIDES.format(routine_words="")))
    assert "Als Nächstes: Drücke unter deinen linken Fuß. Zehn Sekunden, pro Seite. Bring dich in Position." in default
    assert "Wechsle zur rechten Seite. Drücke unter deinen rechten Fuß." in default
    assert "Als Nächstes: Drücke unter dein rechtes Knie. Zehn Sekunden. Bring dich in Position." in default
    own = compiler.spoken_texts(loader.load(SIDES.format(routine_words="side_words: {left: li., right: re.}")))
    assert "Wechsle zur rechten Seite. Drücke unter deinen re. Fuß." in own
    assert "Als Nächstes: Drücke unter dein rechtes Knie. Zehn Sekunden. Bring dich in Position." in own


def test_an_included_routine_keeps_its_own_side_words():
    included = "title: Fuß\nside_words: {left: linken, right: rechten}\nsteps:\n"
    included += "  - compress: Rolle unter deinem {side} Fuß.\n    time: 10s\n    sides: both\n"
    outer = "title: Alles\nvoice: {language: de}\nside_words: {left: linke, right: rechte}\nsteps:\n"
    outer += "  - include: fuss\n  - hold: Halte die {side} Hand.\n    time: 10s\n    sides: left\n"
    routine = loader.load(outer, "alles.yaml", resolve=lambda rid: (included, "fuss.yaml", None))
    said = compiler.spoken_texts(routine)
    assert "Wechsle zur rechten Seite. Rolle unter deinem rechten Fuß." in said
    assert "Als Nächstes: Halte die linke Hand. Zehn Sekunden. Bring dich in Position." in said


def test_english_side_words_are_left_and_right_unless_the_routine_says_otherwise():
    text = "title: T\nsteps:\n  - hold: Your {side} foot.\n    time: 10s\n    sides: both\n"
    assert "Switch to your right side. Your right foot." in compiler.spoken_texts(loader.load(text))
    own = loader.load(text.replace("steps:", "side_words: {left: port, right: starboard}\nsteps:"))
    assert "Switch to your right side. Your starboard foot." in compiler.spoken_texts(own)


def test_a_language_without_phrases_is_spoken_in_english_with_a_warning():
    routine = loader.load("title: T\nvoice: {language: ru}\nsteps:\n  - hold: Держи.\n    time: 10s\n", "ru.yaml")
    (warning,) = routine.warnings
    assert (warning.severity, warning.path, warning.line, warning.column) == ("warning", "voice.language", 2, 19)
    assert "English" in warning.message and "de, es, fr, it and nl" in warning.message
    assert compiler.spoken_texts(routine)[-1] == "Session complete. Well done."


@pytest.mark.parametrize("voice", ["en", "en-us", "gmw/de", "fr-fr", "es", "it", "nl"])
def test_a_language_with_phrases_gets_no_warning(voice):
    assert loader.load(f"title: T\nvoice: {{language: {voice}}}\nsteps:\n  - hold: X.\n    time: 10s\n").warnings == ()


def test_validate_prints_the_language_warning(tmp_path):
    path = tmp_path / "ru.yaml"
    path.write_text("title: T\nvoice: {language: ru}\nsteps:\n  - hold: X.\n    time: 10s\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0
    assert f"{path}:2:19: warning: voice.language:" in result.output


def test_built_in_routines_in_other_languages_load_cleanly_and_are_spoken_wholly_in_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path))  # the built-in ones, not a user's copies
    others = [library.load_routine(f"builtin:{rid}") for rid in library.builtin_ids()]
    others = [r for r in others if phrases.catalogue_language(r.voice.language) != "en"]
    assert "nacken-de" in {r.id for r in others}
    for routine in others:
        language = phrases.catalogue_language(routine.voice.language) or "en"
        assert routine.warnings == ()
        for text in compiler.spoken_texts(routine):
            assert not english_words(text, language) and not re.search(r"[0-9]", text), (routine.id, text)


def test_every_routine_in_the_languages_docs_loads_and_is_spoken_in_its_language():
    docs = (Path(__file__).parents[1] / "docs" / "languages.md").read_text(encoding="utf-8")
    examples = [block.split("```")[0] for block in docs.split("```yaml\n")[1:]]
    examples = [block for block in examples if block.startswith("title: ")]
    assert len(examples) >= 6
    for text in examples:
        routine = loader.load(text, "example.yaml")
        language = phrases.catalogue_language(routine.voice.language)
        assert routine.warnings == () and language in LANGUAGES
        for said in compiler.spoken_texts(routine):
            assert not english_words(said, language) and not re.search(r"[0-9]", said), said
