"""The tones' legend: each tone played right after the sentence that says what it means, in a
session's intro (cues.legend, play --legend) or alone (holdcue tones)."""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner

from compiler_helpers import RATE, clip_length, shoulders, tone_length
from holdcue import compiler, loader, phrases, session, terminal
from holdcue.cli import cli
from holdcue.errors import RoutineError
from holdcue.routine import Cues, Routine, Step, Voice
from holdcue.speech import choice
from play_helpers import FakeClock, FakeHandle, RecordingDisplay

GAP = round(compiler.GAP_MS * RATE / 1000)
PAUSE = round(compiler.LEGEND_PAUSE_MS * RATE / 1000)


def with_legend(routine: Routine) -> Routine:
    return dataclasses.replace(routine, cues=dataclasses.replace(routine.cues, legend=True))


def legend_of(timeline, words=compiler.ENGLISH) -> list[tuple[str, list]]:
    """(meaning, the tone events that follow it) of each tone in the legend, in order."""
    meanings = {words.legend(name): name for name in compiler.LEGEND_TONES}
    out: list[tuple[str, list]] = []
    for event in timeline.events:
        if event.kind == "speech" and event.text in meanings:
            out.append((event.text, []))
        elif event.kind == "tone" and out and timeline.segments[event.segment].phase == "intro":
            out[-1][1].append(event)
    return out


def test_the_intro_plays_each_tone_the_session_uses_right_after_its_meaning():
    routine = with_legend(shoulders())
    timeline = compiler.compile(routine, clip_length, tone_length, RATE)
    intro = timeline.segments[0]
    said = [e for e in timeline.events if e.kind == "speech" and e.end <= intro.end]
    assert said[0].text.startswith("Shoulders and chest.")
    texts = [e.text for e in said]
    assert texts.index("Start gently.") < texts.index("These are the tones you will hear.")
    legend = legend_of(timeline)
    # the shoulders use every tone: a counted step (no ticks of a countdown there, but the other holds have them)
    assert [name for _, events in legend for name in {e.name for e in events}] == list(compiler.LEGEND_TONES)
    for meaning, events in legend:
        sentence = next(e for e in timeline.events if e.text == meaning)
        assert events[0].start == sentence.end + GAP  # exactly after its sentence
        assert all(e.end <= intro.end for e in events)
        if events[0].name == "tick":
            assert [e.start - events[0].start for e in events] == [k * RATE for k in range(compiler.LEGEND_TICKS)]
        else:
            assert len(events) == 1
    # and then the session goes on as without the legend: the same steps, just later
    plain = compiler.compile(shoulders(), clip_length, tone_length, RATE)
    shift = intro.end - plain.segments[0].end
    assert shift > 0
    assert [(s.phase, s.end - s.start) for s in timeline.segments[1:]] == [
        (s.phase, s.end - s.start) for s in plain.segments[1:]
    ]


def test_the_legend_has_only_the_tones_the_session_plays():
    one_sided = Routine(
        id="r",
        title="R",
        steps=(Step("hold", "Hold still.", 20_000),),
        cues=Cues(halfway=False, countdown=0, legend=True),
    )
    timeline = compiler.compile(one_sided, clip_length, tone_length, RATE)
    assert [events[0].name for _, events in legend_of(timeline)] == ["start", "end"]


def test_the_legend_alone_plays_every_tone_in_the_language():
    words = phrases.for_language("de")
    routine = Routine(id="tones", title=words.legend_title(), steps=(), voice=Voice(language="de"))
    timeline = compiler.legend(routine, clip_length, tone_length, RATE)
    assert [s.title for s in timeline.segments] == ["Die Töne"]
    assert timeline.events[0].text == words.legend_intro()
    legend = legend_of(timeline, words)
    assert [events[0].name for _, events in legend] == list(compiler.LEGEND_TONES)
    for meaning, events in legend:
        sentence = next(e for e in timeline.events if e.text == meaning)
        assert events[0].start == sentence.end + GAP
    last = legend[-1][1][-1]
    assert timeline.length == last.end + PAUSE + round(compiler.TAIL_MS * RATE / 1000)


def test_cues_legend_is_read_and_checked():
    text = "title: T\ncues:\n  legend: true\nsteps:\n  - hold: Hold.\n    time: 20s\n"
    assert loader.load(text).cues.legend is True
    assert loader.load(text.replace("cues:\n  legend: true\n", "")).cues.legend is False
    with pytest.raises(RoutineError) as error:
        loader.load(text.replace("legend: true", "legend: often"))
    assert [str(p) for p in error.value.problems] == ['<routine>:3:11: cues.legend: must be true or false, not "often"']


def test_tones_list_prints_each_meaning_in_the_language():
    english = CliRunner().invoke(cli, ["tones", "--list"])
    assert english.exit_code == 0
    assert english.stdout.splitlines() == [
        "start    This tone starts a hold.",
        "halfway  This tone means you are halfway through a hold.",
        "tick     These ticks count down the last seconds of a hold.",
        "end      This tone ends a hold.",
        "switch   This tone means switch sides.",
    ]
    german = CliRunner().invoke(cli, ["tones", "--language", "de", "--list"])
    assert german.stdout.splitlines()[0] == "start    Dieser Ton beginnt eine Haltung."


class ToneEngine:
    """Stands in for espeak-ng: a clip as long as its text."""

    name = "tone"

    def synthesize(self, text, voice):
        return np.full(2000 + 100 * len(text), 3000, np.int16)


@pytest.fixture
def fake_speech(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setattr(choice, "Pyttsx3Engine", ToneEngine)


def test_tones_plays_the_legend(fake_speech, monkeypatch):
    played = []
    monkeypatch.setattr("holdcue.terminal.play", lambda ready, **kwargs: played.append(ready))
    result = CliRunner().invoke(cli, ["tones"])
    assert result.exit_code == 0, result.output
    (ready,) = played
    assert [events[0].name for _, events in legend_of(ready.timeline)] == list(compiler.LEGEND_TONES)
    assert set(ready.clips) == {e.text for e in ready.timeline.events if e.kind == "speech"}


class Sink:
    """Takes the whole session's samples, at the real rate."""

    def __init__(self, clock):
        self.clock = clock
        self.played: list[np.ndarray] = []

    def start(self, samples, rate):
        self.played.append(samples)
        return FakeHandle(self.clock, len(samples) / rate)


def test_the_legend_session_plays_to_its_end(fake_speech):

    clock = FakeClock()
    sink = Sink(clock)
    shown = RecordingDisplay()
    ready = session.legend("en", engine_factory=ToneEngine)
    result = terminal.play(ready, sink=sink, clock=clock, display=shown, lead_in=0)
    assert result.finished
    assert sum(len(samples) for samples in sink.played) >= ready.timeline.length
    assert shown.shown[0].title == "The tones" and shown.shown[-1].state == "finished"


def test_play_legend_puts_the_legend_in_the_intro(fake_speech, monkeypatch):
    played = []
    monkeypatch.setattr("holdcue.play.output", lambda keep_alive: contextlib.nullcontext("no device"))
    monkeypatch.setattr("holdcue.cli.sessions.play_recorded", lambda ready, sink, **kwargs: played.append(ready))
    assert CliRunner().invoke(cli, ["play", "tennis-ball-release", "--legend"]).exit_code == 0
    assert CliRunner().invoke(cli, ["play", "tennis-ball-release"]).exit_code == 0
    with_it, without = played
    assert with_it.routine.cues.legend and not without.routine.cues.legend
    assert legend_of(with_it.timeline) and not legend_of(without.timeline)


def test_show_legend_shows_the_legend_in_the_intro(fake_speech):
    """show --legend shows the session play --legend plays: each tone after its meaning."""
    words = phrases.for_language("en")
    with_it = CliRunner().invoke(cli, ["show", "tennis-ball-release", "--legend"])
    without = CliRunner().invoke(cli, ["show", "tennis-ball-release"])
    assert with_it.exit_code == 0 and without.exit_code == 0, with_it.output
    meaning = words.legend("start")
    lines = with_it.output.splitlines()
    said = next(i for i, line in enumerate(lines) if line.endswith(meaning))
    assert lines[said + 1].endswith("[start tone]")
    assert meaning not in without.output
