"""holdcue's own words per language: the catalogues are complete and compiled, numbers and
durations are spelled in the language, and a wheel carries the catalogues."""

from __future__ import annotations

import gettext
import io
import re
import string
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from holdcue import phrases

ROOT = Path(__file__).parent.parent
SOURCES = [ROOT / "src" / "holdcue" / name for name in ("phrases.py", "compiler.py")]
LANGUAGES = ("de", "es", "fr", "it", "nl")
TEMPLATE = phrases.LOCALE_DIR / "holdcue.pot"


def po_path(language: str) -> Path:
    return phrases.LOCALE_DIR / language / "LC_MESSAGES" / "holdcue.po"


def extracted() -> set[tuple[str | None, str]]:
    """(context, msgid) of every message the code asks for, found by Babel's extractor."""
    found = set()
    for source in SOURCES:
        for _, message, _, context in extract_from_file("python", str(source)):
            found.add((context, message[0] if isinstance(message, tuple) else message))
    return found


def catalogue(path: Path):
    with open(path, "rb") as file:
        return read_po(file)


def keys(catalog) -> set[tuple[str | None, str]]:
    return {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id) for m in catalog if m.id}


def test_the_code_asks_for_its_phrases_through_gettext():
    found = extracted()
    assert len(found) >= 50
    # the phrases a listener hears most, and the labels for the screen
    for message in ("Next: {instruction}", "Switch to your right side.", "Session complete. Well done.", "and"):
        assert (None, message) in found
    assert ("label", "Step {step} of {steps}") in found and ("side", "left") in found


def test_the_template_lists_exactly_the_messages_the_code_uses():
    assert keys(catalogue(TEMPLATE)) == extracted(), "run the pybabel extract and update commands (docs/languages.md)"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_in_every_catalogue(language):
    catalog = catalogue(po_path(language))
    assert str(catalog.locale) == language
    assert keys(catalog) == extracted()
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert "fuzzy" not in message.flags, message.id
        assert len(strings) == (catalog.num_plurals if message.pluralizable else 1), message.id
        assert all(s.strip() for s in strings), message.id


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_use_only_the_placeholders_their_message_fills(language):
    for message in catalogue(po_path(language)):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        allowed = {name for text in ids for _, name, _, _ in string.Formatter().parse(text) if name}
        if isinstance(message.id, tuple):
            allowed |= {"number", "number_m", "number_f"}  # a counted noun's forms of its number
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            used = {name for _, name, _, _ in string.Formatter().parse(text) if name}
            assert used <= allowed, (message.id, text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_compiled_catalogue_is_up_to_date_with_its_po_file(language):
    compiled = io.BytesIO()
    write_mo(compiled, catalogue(po_path(language)))
    compiled.seek(0)
    with open(po_path(language).with_suffix(".mo"), "rb") as file:
        committed = gettext.GNUTranslations(file)
    fresh = gettext.GNUTranslations(compiled)
    assert messages(committed) == messages(fresh), "run pybabel compile (docs/languages.md)"
    assert [committed.plural(n) for n in range(30)] == [fresh.plural(n) for n in range(30)]


def messages(translations: gettext.GNUTranslations) -> dict:
    """What a listener hears: every message and its translation. The header entry ("") is left
    out: it names the Babel version that compiled the file, which says nothing about the words."""
    return {key: text for key, text in translations._catalog.items() if key != ""}


@pytest.mark.parametrize(
    "voice, language",
    [
        ("en", "en"),
        ("en-us", "en"),
        ("EN-GB", "en"),
        ("de", "de"),
        ("de-DE", "de"),
        ("gmw/de", "de"),
        ("de+f3", "de"),
        ("de_AT", "de"),
        ("fr-fr", "fr"),
        ("roa/fr-BE", "fr"),
        ("es-419", "es"),
        ("it", "it"),
        ("nl", "nl"),
        ("ru", None),
        ("zh-yue", None),
        ("pt-br", None),
    ],
)
def test_voice_names_map_to_the_catalogue_language(voice, language):
    assert phrases.catalogue_language(voice) == language


def test_the_languages_are_english_and_each_catalogue():
    assert phrases.languages() == ("en", "de", "es", "fr", "it", "nl")


def test_a_language_without_a_catalogue_falls_back_to_english():
    assert phrases.for_language("ru").language == "en"
    assert phrases.for_language("ru").next("x") == "Next: x"


@pytest.mark.parametrize(
    "language, ms, words",
    [
        ("de", 45_000, "fünfundvierzig Sekunden"),
        ("de", 1_000, "eine Sekunde"),
        ("de", 21_000, "einundzwanzig Sekunden"),
        ("de", 60_000, "eine Minute"),
        ("de", 90_000, "eine Minute dreißig"),
        ("de", 1_500, "eineinhalb Sekunden"),
        ("de", 2_500, "zweieinhalb Sekunden"),
        ("de", 400, "eine halbe Sekunde"),
        ("fr", 21_000, "vingt et une secondes"),
        ("fr", 60_000, "une minute"),
        ("fr", 150_000, "deux minutes trente"),
        ("fr", 2_500, "deux secondes et demie"),
        ("es", 21_000, "veintiún segundos"),
        ("es", 31_000, "treinta y un segundos"),
        ("es", 90_000, "un minuto y treinta"),
        ("es", 1_500, "un segundo y medio"),
        ("it", 45_000, "quarantacinque secondi"),
        ("it", 90_000, "un minuto e trenta"),
        ("nl", 60_000, "één minuut"),
        ("nl", 1_500, "anderhalve seconde"),
        ("nl", 600_000, "tien minuten"),
    ],
)
def test_durations_are_said_in_the_language(language, ms, words):
    assert phrases.for_language(language).duration(ms) == words


@pytest.mark.parametrize(
    "language, n, words",
    [("de", 21, "einundzwanzig Runden"), ("fr", 21, "vingt et un tours"), ("es", 21, "veintiuna rondas")],
)
def test_counted_nouns_take_their_number_in_the_right_gender(language, n, words):
    assert phrases.for_language(language).rounds(n) == words


def test_phrases_keep_the_capitals_of_the_language():
    german = phrases.for_language("de")
    assert german.time_left(30_000) == "Noch dreißig Sekunden."
    assert german.count(1) == "Eins"
    assert german.intro("Nacken", 12) == "Nacken. Etwa zwölf Minuten."
    assert german.tools(["Ball", "Wand", "Matte"]) == "Du brauchst: Ball, Wand und Matte."


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalogue_has_its_own_short_reminder(language):
    """The line that stands for the tools and safety reminders once a routine was played today."""
    english = phrases.for_language("en").drill()
    assert english == "You know the drill: press lightly, stop if it hurts sharply."
    said = phrases.for_language(language).drill()
    assert said != english and said.endswith(".") and len(said.split()) >= 6


def test_english_says_each_tool_with_its_article():
    english = phrases.for_language("en")
    assert english.tools(["foam roller"]) == "You will need a foam roller."
    assert english.tools(["tennis ball", "wall"]) == "You will need a tennis ball and a wall."
    assert english.tools(["your hands", "massage ball"]) == "You will need your hands and a massage ball."
    assert english.tools(["exercise band", "yoga blocks"]) == "You will need an exercise band and yoga blocks."


@pytest.mark.parametrize(
    "language, said",
    [
        ("de", "Du brauchst: Faszienrolle."),
        ("es", "Necesitarás: rodillo."),
        ("fr", "Il te faut : rouleau."),
        ("it", "Ecco cosa ti serve: rullo."),
        ("nl", "Je hebt nodig: foamroller."),
    ],
)
def test_the_catalogues_list_bare_tool_names_after_a_colon(language, said):
    """A routine names a tool as a bare noun: after a colon, as a list, that reads right in
    every catalogue (and Italian's "ti serve" agrees with one tool as with several)."""
    words = phrases.for_language(language)
    assert words.tools([said.split(": ")[1].rstrip(".")]) == said


def test_the_catalogue_says_its_own_switch_with_its_own_agreement():
    assert phrases.for_language("de").switch("right") == "Wechsle zur rechten Seite."
    assert phrases.for_language("fr").switch("right") == "Passe au côté droit."
    assert phrases.for_language("de").side_word("left") == "linken"


@pytest.mark.parametrize("language", ("en", *LANGUAGES))
def test_every_phrase_and_label_is_complete_text(language):
    """Every method fills every placeholder of its message in every language."""
    words = phrases.for_language(language)
    said = [
        words.intro("T", 7),
        words.tools(["a", "b", "c"]),
        words.drill(),
        words.next("x"),
        words.each_side(),
        words.rounds(3),
        words.get_into_position(),
        words.switch("left"),
        words.switch("right"),
        words.round_of(2, 3),
        words.rest(5000),
        words.time_left(90_000),
        words.session_complete(),
        words.end_of_session(),
        words.introduction_title(),
        words.session_complete_title(),
        *words.breathing(),
        *words.title_breaks(),
        *words.title_weak_endings(),
        words.legend_intro(),
        *(words.legend(tone) for tone in ("start", "halfway", "tick", "end", "switch")),
        words.legend_title(),
        *(words.duration(ms) for ms in (400, 1000, 1500, 2500, 21_000, 60_000, 61_000, 125_000, 3_600_000)),
        *(f(side) for side in ("left", "right") for f in (words.side_word, words.label_side, words.label_side_short)),
        words.label_step_of(2, 5),
        words.label_round_of(1, 2),
        words.label_next_step(3, "Calf"),
        words.label_the_end(),
        *(words.label_phase(phase, "0:30") for phase in ("intro", "announce", "prepare", "hold", "rest")),
        *(words.label_phase(phase, "0:30") for phase in ("transition", "outro")),
        *(words.label_line(phase, "0:30") for phase in ("prepare", "hold", "rest", "intro")),
        words.label_next("the end"),
        words.label_paused("1:05"),
        *(words.label_state(state) for state in ("paused", "stopped", "resumed")),
        *words.label_keys(),
        words.label_step_short(2, 5),
        words.label_round_short(1, 2),
        words.label_go_on(),
        words.label_ended("3:10", "12:04"),
        words.label_ended_line(),
        words.label_volume(141),
    ]
    for text in said:
        assert text.strip() and not re.search(r"[{}]", text), text
    assert len(set(said)) > 40  # distinct messages, not one fallback text


def test_a_built_wheel_carries_the_catalogues_and_speaks_german_from_them(tmp_path, built_wheel):
    with zipfile.ZipFile(built_wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    assert {f"holdcue/locale/{lang}/LC_MESSAGES/holdcue.mo" for lang in LANGUAGES} <= names
    assert "holdcue/locale/numbers.json" in names
    probe = "from holdcue import phrases; print(phrases.__file__); print(phrases.for_language('de').switch('right'))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(tmp_path / "site")},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    where, said = result.stdout.splitlines()
    assert where.startswith(str(tmp_path / "site")) and said == "Wechsle zur rechten Seite."


def test_the_numbers_table_is_num2words_own_spelling_in_every_language():
    """numbers.json stands in for num2words below NUMBERS; regenerate it with
    scripts/make_numbers.py when this fails (a new language, a new num2words)."""
    from num2words import num2words

    table = phrases._numbers()
    assert sorted(table) == sorted(phrases.languages())
    for language in phrases.languages():
        expected = [num2words(n, lang=language) for n in range(phrases.NUMBERS)]
        assert table[language] == expected, language


@pytest.mark.parametrize("n", [0, 21, phrases.NUMBERS - 1, phrases.NUMBERS, 1234])
@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_numbers_are_spelled_as_num2words_spells_them_in_and_past_the_table(language, n):
    from num2words import num2words

    assert phrases.for_language(language).number(n) == num2words(n, lang=language)


def test_an_unreadable_numbers_table_leaves_the_spelling_to_num2words(tmp_path, monkeypatch):
    from num2words import num2words

    broken = tmp_path / "numbers.json"
    broken.write_text('{"de": ["falsch"', encoding="utf-8")
    monkeypatch.setattr(phrases, "NUMBERS_PATH", broken)
    phrases._numbers.cache_clear()
    phrases._spelled.cache_clear()
    try:
        assert phrases._numbers() == {}
        assert phrases.for_language("de").number(0) == num2words(0, lang="de")
    finally:
        phrases._numbers.cache_clear()
        phrases._spelled.cache_clear()
