"""The drawing of a session (drawing.py): SVG that parses, a block per stretch in proportion
to its time, a tick per cue, every word of a routine file escaped; and holdcue show --svg,
which writes it."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from compiler_helpers import RATE, clip_length, shoulders, tone_length
from holdcue import compiler, drawing, library
from holdcue import play as playback
from holdcue.cli import cli
from holdcue.routine import Step
from holdcue.timeline import PHASES
from speech_support import espeak_test

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(\'x\')</script> & "quoted" <a href="http://evil.example/">\x07'


def timeline(routine=None):
    return compiler.compile(routine or shoulders(), clip_length, tone_length, RATE)


def parsed(text: str) -> ET.Element:
    return ET.fromstring(text)


def test_a_block_per_segment_in_proportion_to_its_time():
    made = timeline()
    root = parsed(drawing.draw(made))
    blocks = root.findall(f".//{SVG}rect[@data-phase]")
    assert len(blocks) == len(made.segments)
    per_second = drawing.TRACK / made.duration
    for block, segment in zip(blocks, made.segments, strict=True):
        assert block.get("data-phase") == segment.phase and block.get("data-side") == segment.side
        seconds = made.seconds(segment.end - segment.start)
        assert abs(float(block.get("width")) - seconds * per_second) < 1.0, segment
        assert abs(float(block.get("x")) - drawing.MARGIN - made.seconds(segment.start) * per_second) < 1.0
    # the blocks of a session fill the track: the last one ends at its right end
    last = blocks[-1]
    assert abs(float(last.get("x")) + float(last.get("width")) - (drawing.MARGIN + drawing.TRACK)) < 1.0


def test_a_tick_per_cue_speech_and_tones_told_apart():
    made = timeline()
    root = parsed(drawing.draw(made))
    ticks = root.findall(f".//{SVG}line[@class]")
    kinds = [tick.get("class") for tick in ticks]
    assert kinds == [f"tick {event.kind}" for event in made.events]
    assert {"tick speech", "tick tone"} <= set(kinds)
    for tick, event in zip(ticks, made.events, strict=True):
        assert abs(float(tick.get("x1")) - drawing.MARGIN - event.start * drawing.scale(made)) < 1.0


def test_a_row_per_step_with_its_title_and_the_sides_labelled():
    made = timeline()
    root = parsed(drawing.draw(made))
    rows = root.findall(f"{SVG}g[@class='row']")
    numbers = [int(row.get("data-step")) for row in rows]
    assert numbers == [0, 1, 2, 3, 4, 5, 6, 0]  # the introduction, the six steps, the end
    titles = [row.find(f"{SVG}text").text for row in rows[1:-1]]
    assert titles == [f"{span.number}. {span.title}" for span in playback.step_spans(made)]
    sides = [t.text for t in root.findall(f".//{SVG}text[@class='side']")]
    assert sides.count("L") >= 1 and sides.count("R") >= 1
    summary = root.find(f"{SVG}title").text
    assert root.get("role") == "img" and root.get("aria-label") == summary
    assert summary.startswith("Timeline of Shoulders and chest: 6 steps, ")


def test_every_word_of_a_routine_file_is_escaped():
    base = shoulders()
    hostile = dataclasses.replace(
        base,
        title=HOSTILE,
        steps=(dataclasses.replace(base.steps[0], title=HOSTILE, text=HOSTILE.replace("{", "")), *base.steps[1:]),
    )
    text = drawing.draw(timeline(hostile))
    root = parsed(text)  # well-formed, with the control character replaced
    tags = {element.tag for element in root.iter()}
    assert tags <= {f"{SVG}{tag}" for tag in ("svg", "title", "rect", "g", "text", "line")}
    assert "<script" not in text and "<a " not in text and "\x07" not in text
    attributes = [(k, v) for element in root.iter() for k, v in element.attrib.items() if k != "aria-label"]
    assert not [a for a in attributes if "href" in a[0] or "http" in a[1] or "url(" in a[1] or "<" in a[1]]
    step_title = root.findall(f"{SVG}g[@class='row']")[1].find(f"{SVG}text").text
    assert step_title.startswith("1. <script>alert('x')</script> & \"quoted\"")
    assert root.find(f"{SVG}title").text.startswith("Timeline of <script>")
    spoken = [t.text for t in root.findall(f".//{SVG}line/{SVG}title") if "alert" in t.text]
    assert spoken and all("<script>" in said for said in spoken)


def test_a_long_title_is_cut_to_the_width():
    base = shoulders()
    long = dataclasses.replace(base, steps=(dataclasses.replace(base.steps[0], title="Roll " * 30), *base.steps[1:]))
    root = parsed(drawing.draw(timeline(long)))
    label = root.findall(f"{SVG}g[@class='row']")[1].find(f"{SVG}text").text
    assert len(label) <= drawing.TITLE_CHARS + 3 and label.endswith("…")


def test_a_one_step_routine_still_draws():
    one = dataclasses.replace(shoulders(), steps=(Step("rest", "Breathe.", 5_000),))
    root = parsed(drawing.draw(timeline(one)))
    assert ": 1 step, 0:" in root.find(f"{SVG}title").text
    assert len(root.findall(f".//{SVG}rect[@data-phase]")) == len(timeline(one).segments)


@espeak_test
def test_show_svg_writes_the_drawing_of_the_timeline_show_json_gives(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "config"))
    out = tmp_path / "session.svg"
    result = CliRunner().invoke(cli, ["show", "shoulders-and-chest", "--svg", str(out)])
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output and str(out) in result.output
    root = parsed(out.read_text(encoding="utf-8"))
    shown = CliRunner().invoke(cli, ["show", "shoulders-and-chest", "--json"])
    segments = json.loads(shown.output)["segments"]
    assert [b.get("data-phase") for b in root.findall(f".//{SVG}rect[@data-phase]")] == [s["phase"] for s in segments]
    assert [int(b.get("data-end")) for b in root.findall(f".//{SVG}rect[@data-phase]")] == [
        s["end_sample"] for s in segments
    ]
    assert len(library.load_routine("shoulders-and-chest").steps) == sum(
        1 for row in root.findall(f"{SVG}g[@class='row']") if row.get("data-step") != "0"
    )
    # written again over the old one; nothing left beside it
    assert CliRunner().invoke(cli, ["show", "shoulders-and-chest", "--svg", str(out)]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["session.svg"]


@espeak_test
def test_show_svg_into_a_missing_folder_says_so_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(cli, ["show", "shoulders-and-chest", "--svg", str(tmp_path / "no" / "d.svg")])
    assert result.exit_code != 0 and "cannot write" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "no").exists()


def test_every_phase_has_a_colour_of_its_own_kind():
    assert set(PHASES) <= set(drawing.COLOURS)
    assert drawing.COLOURS["hold"] != drawing.COLOURS["rest"]
