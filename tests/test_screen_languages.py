"""The screen and the chapters of a routine in another language are in that language: the
status lines, the keys' help, what comes next, and the chapters' side and round labels."""

from __future__ import annotations

import io

from holdcue import display, export, phrases
from holdcue.display import Status
from holdcue.timeline import SAMPLE_RATE, Segment, Timeline

GERMAN = phrases.for_language("de")


def hold(**changes) -> Status:
    values = dict(
        state="playing", position=70.0, duration=600.0, segment=3, phase="hold", title="Nacken", step=2,
        steps=5, side="left", round=1, rounds=2, left=29.5, next="rechte Seite", volume=1.0,
    )  # fmt: skip
    values.update(changes)
    return Status(**values)


def test_a_german_status_block_is_german():
    screen = io.StringIO()
    display.TerminalDisplay(screen, controls=True, columns=lambda: 200, words=GERMAN).show(hold())
    text = screen.getvalue()
    assert "Schritt 2 von 5 · Nacken · linke Seite" in text
    assert GERMAN.label_phase("hold", "0:30") in text and "Lautst. 100%" in text
    assert text.startswith("Tasten: ")
    for english in ("Step", "side", "round", "hold ·", "next:", "Keys", "vol "):
        assert english not in text, english


def test_german_when_narrow_paused_and_ended():
    narrow = display.short_heading(hold(), 30, GERMAN)
    assert narrow.startswith("Schritt 2/5 · ") and len(narrow) <= 30
    paused = display.detail(hold(state="paused"), 80, GERMAN)
    assert paused.startswith("PAUSE bei 1:10") and "Leertaste" in paused
    ended = display.detail(hold(state="stopped"), 80, GERMAN)
    assert ended == "Sitzung beendet bei 1:10 von 10:00"


def test_german_plain_lines():
    out = io.StringIO()
    lines = display.LineDisplay(out, GERMAN)
    lines.show(hold())
    lines.show(hold(state="paused"))
    lines.show(hold(state="playing"))
    assert out.getvalue().splitlines() == [
        f"1:10  Schritt 2 von 5 · Nacken · linke Seite · {GERMAN.label_round_of(1, 2)}: "
        + GERMAN.label_line("hold", "0:30"),
        "1:10  " + GERMAN.label_state("paused"),
        "1:10  " + GERMAN.label_state("resumed"),
    ]


def test_english_is_what_it_was():
    screen = io.StringIO()
    display.TerminalDisplay(screen, controls=True, columns=lambda: 200).show(hold(next="right side"))
    assert "Step 2 of 5 · Nacken · left side · round 1 of 2" in screen.getvalue()
    assert "hold · 0:30 left" in screen.getvalue() and "next: right side" in screen.getvalue()


def test_chapters_of_a_german_session_are_german():
    s = SAMPLE_RATE
    segments = (
        Segment("Einführung", "intro", 0, 4 * s),
        Segment("Nacken", "hold", 4 * s, 10 * s, step=0, side="left", round=1, rounds=2),
        Segment("Nacken", "hold", 10 * s, 16 * s, step=0, side="right", round=1, rounds=2),
    )
    titles = [c.title for c in export.chapters(Timeline("T", s, 16 * s, (), segments), GERMAN)]
    assert titles == ["Einführung", "Nacken (links, Runde 1 von 2)", "Nacken (rechts, Runde 1 von 2)"]
