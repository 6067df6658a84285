"""holdcue show: the timeline as a table and as JSON, with real speech."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from holdcue import library, session, speech
from holdcue.cli import cli
from holdcue.exitcodes import ExitCode
from speech_support import espeak_test

ROUTINE = """\
title: Quick check
tools: [tennis ball]
cues: {prep: 2s, countdown: 2}
steps:
  - compress: Press the ball under your {side} foot.
    time: 12s
    sides: both
  - rest: Breathe.
    time: 3s
"""


@pytest.fixture
def routine_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "quick.yaml"
    path.write_text(ROUTINE)
    return path


@espeak_test
def test_show_prints_every_cue_with_its_time_and_the_total(routine_file):
    result = CliRunner().invoke(cli, ["show", str(routine_file)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["time", "step", "side", "cue"]
    assert any("Next: Press the ball under your left foot." in line and line.startswith("0:") for line in lines)
    assert any("right" in line and "Switch to your right side." in line for line in lines)
    assert sum("[start tone]" in line for line in lines) == 2
    assert lines[-1].startswith("total ")


@espeak_test
@pytest.mark.parametrize("language", ["de-DE", "de_AT", "de+f3"])
def test_show_and_export_speak_the_documented_spellings_of_a_language(routine_file, tmp_path, language):
    """docs/languages.md: the region and variant forms are German, and are spoken so."""
    routine_file.write_text(ROUTINE.replace("steps:", f'voice: {{language: "{language}"}}\nsteps:'))
    shown = CliRunner().invoke(cli, ["show", str(routine_file)])
    assert shown.exit_code == ExitCode.OK, shown.output
    assert "Die Sitzung ist beendet. Gut gemacht." in shown.output  # holdcue's own words in German
    exported = CliRunner().invoke(cli, ["export", str(routine_file), "-o", str(tmp_path / "quick.wav")])
    assert exported.exit_code == ExitCode.OK, exported.output
    assert (tmp_path / "quick.wav").stat().st_size > 44


@espeak_test
def test_a_language_no_voice_speaks_is_still_a_speech_error_for_show(routine_file):
    routine_file.write_text(ROUTINE.replace("steps:", 'voice: {language: "xx"}\nsteps:'))
    shown = CliRunner().invoke(cli, ["show", str(routine_file)])
    assert shown.exit_code == ExitCode.SPEECH_UNAVAILABLE
    assert "No espeak-ng voice for the language 'xx'" in shown.output


@espeak_test
def test_show_json_matches_the_compiled_timeline(routine_file):
    result = CliRunner().invoke(cli, ["show", str(routine_file), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)

    routine = library.load_routine(str(routine_file))
    said = session.said_texts(routine)
    clips = speech.synthesize_all(said.values(), routine.voice)  # now all cached
    speech_events = [e for e in data["events"] if e["kind"] == "speech"]
    for event in speech_events:
        assert event["end_sample"] - event["start_sample"] == len(clips[said[event["text"]]])
    holds = [s for s in data["segments"] if s["phase"] == "hold"]
    assert [round(h["end"] - h["start"], 6) for h in holds] == [12.0, 12.0]
    assert [h["side"] for h in holds] == ["left", "right"]
    assert data["duration"] == data["segments"][-1]["end"]
    starts = [e["start"] for e in data["events"] if e.get("name") == "start"]
    assert starts == [h["start"] for h in holds]


def test_show_of_an_invalid_routine_names_the_problem_and_exits_3(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("title: Bad\nsteps:\n  - hold: Hold.\n    time: 45\n")
    result = CliRunner().invoke(cli, ["show", str(path)])
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert 'bad.yaml:4:11: steps[0].time: "45" has no unit; write "45s"' in result.output
    assert "Traceback" not in result.output


def test_show_of_an_unknown_routine_suggests_the_nearest(tmp_path):
    result = CliRunner().invoke(cli, ["show", "shoulders-and-chess"])
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert "shoulders-and-chest" in result.output


@espeak_test
def test_show_and_validate_mark_the_parts_that_last_until_a_press(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "knot.yaml"
    path.write_text(
        "title: Knot\ncues: {prep: press, countdown: 2}\nsteps:\n"
        "  - compress: Press into the knot.\n    time: 40s\n    until: press\n    remind: 15s\n"
    )
    result = CliRunner().invoke(cli, ["show", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    marked = [n for n, line in enumerate(lines) if "until you press Next" in line]
    assert [lines[n].split("  ")[-1].strip() for n in marked] == [
        "(get into position until you press Next, at most 1:00)",
        "(hold until you press Next, at most 0:40)",
    ]
    assert lines[marked[1] + 1].endswith("[start tone]") and lines[marked[1]][:8] == lines[marked[1] + 1][:8]
    assert sum(line.endswith("Breathe. Press when it eases.") for line in lines) == 2
    assert lines[-1].startswith("total ") and lines[-1].endswith(
        " at most (each part that lasts until you press at its full time, as an export plays it)"
    )
    data = json.loads(CliRunner().invoke(cli, ["show", str(path), "--json"]).output)
    assert [(s["phase"], s["until"]) for s in data["segments"] if s["until"]] == [
        ("prepare", "press"),
        ("hold", "press"),
    ]

    checked = CliRunner().invoke(cli, ["validate", str(path)])
    assert checked.exit_code == 0
    assert checked.output == (
        f"{path}: ok, 1 steps; 1 step holds until you press, getting into position waits for a press"
        " (an export plays them at full time)\n"
    )
