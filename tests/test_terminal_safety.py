"""Text from routine files, file names, the journal and the speech engine never reaches a
terminal as control sequences: every command that shows it writes ESC, the other C0 and C1
controls, DEL and the bidirectional controls as visible escapes (text.printable), and its
JSON escapes them (text.json_text). Each command is run on a routine whose every text
holds such sequences, and nothing of them may come out raw."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest
from click.testing import CliRunner

from holdcue import display, session
from holdcue.cli import cli
from holdcue.errors import Problem
from holdcue.speech import espeak
from holdcue.text import json_text, printable
from play_helpers import make_session
from test_cli_history import Fakes

# What a terminal acts on: C0 (newlines and tabs are the output's own), DEL, C1, and the
# bidirectional controls (reordering what is shown around them).
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# YAML's double-quoted escapes put the characters in (raw, the YAML reader refuses most)
HOSTILE = """\
title: "Evil \\e]52;c;SGVsbG8=\\a\\e[2J\\e[6n \\x9b31m \\u202eright\\u2066 end"
summary: "Sum \\e[5m \\x85 end"
areas: ["neck \\e[1m"]
tools: ["ball \\e[31m\\x9b\\u202e", "wall\\u061c"]
safety: ["Go slowly \\e[8m\\u200e."]
steps:
  - hold: "Press \\e]8;;http://x\\e\\\\link\\e]8;;\\e\\\\ here \\u200f\\x7f."
    title: "Step \\e[2J\\u202e one"
    time: 20s
    say: [{at: half, text: "Breathe \\e[6n\\x85."}]
  - rest: "Rest \\b\\r\\tok\\x90."
    time: 10s
"""
TITLE = "Evil \x1b]52;c;SGVsbG8=\x07\x1b[2J\x1b[6n \x9b31m \u202eright\u2066 end"
SHOWN_TITLE = "Evil \\e]52;c;SGVsbG8=\\x07\\e[2J\\e[6n \\x9b31m \\u202eright\\u2066 end"
# A file name may hold anything but "/" and NUL
EVIL_NAME = "ev\x1b[2Jil\u202e\x9b.yaml"


def assert_inert(text: str) -> None:
    found = RAW.search(text)
    assert found is None, f"raw {found.group()!r} at {found.start()} in {text[max(0, found.start() - 40) :]!r}"


def run(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert_inert(result.stdout)
    assert_inert(result.stderr)
    return result


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    """A config folder whose own name is hostile, with the hostile routine as "evil"."""
    base = tmp_path / "conf\x1b]0;pwned\x07ig"
    (base / "routines").mkdir(parents=True)
    (base / "routines" / "evil.yaml").write_text(HOSTILE)
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(base))
    return base


@pytest.fixture
def evil_file(tmp_path):
    path = tmp_path / EVIL_NAME
    path.write_text(HOSTILE)
    return path


@pytest.fixture
def fake_speech(monkeypatch):
    """Sessions with made-up speech: what is shown is under test here, not espeak-ng."""
    monkeypatch.setattr(session, "build", lambda routine, **kw: make_session(routine))


# -- the two functions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\e[2J"),
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
        ("\x00\x07\x08\x7f", "\\x00\\x07\\x08\\x7f"),
        ("\x85\x9b\x9d", "\\x85\\x9b\\x9d"),
        ("\u202a\u202b\u202c\u202d\u202e", "\\u202a\\u202b\\u202c\\u202d\\u202e"),
        ("\u2066\u2067\u2068\u2069\u200e\u200f\u061c", "\\u2066\\u2067\\u2068\\u2069\\u200e\\u200f\\u061c"),
        ("Dehnung … Ölung 🎾 \u00a0ok", "Dehnung … Ölung 🎾 \u00a0ok"),  # text people write is left alone
    ],
)
def test_printable_shows_every_control_as_an_escape(raw, shown):
    assert printable(raw) == shown


def test_printable_keeps_newlines_and_tabs_only_when_asked():
    assert printable("a\nb\t\x1bc", keep="\n\t") == "a\nb\t\\ec"


def test_json_text_escapes_what_json_dumps_leaves_raw_and_reads_back_the_same():
    value = {"title": TITLE + "\x7f\x85\u200f\u061c Ölung 🎾", "n": [1, 2]}
    plain = json.dumps(value, ensure_ascii=False)
    assert RAW.search(plain)  # the standard library's output would carry them
    for ascii_only in (False, True):
        dumped = json_text(value, ascii_only=ascii_only)
        assert_inert(dumped)
        assert json.loads(dumped) == value
    assert "Ölung 🎾" in json_text(value) and "\\u00d6lung" in json_text(value, ascii_only=True)


def test_a_problem_shows_its_key_file_and_message_escaped():
    problem = Problem("a\x1b[2J.yaml", 3, 1, "steps[0].k\x9bey", 'unknown key "\u202ex"')
    assert str(problem) == 'a\\e[2J.yaml:3:1: steps[0].k\\x9bey: unknown key "\\u202ex"'


# -- every command that shows routine text ---------------------------------------------------


def test_show_table(evil_file, fake_speech):
    result = run("show", str(evil_file))
    assert result.exit_code == 0, result.output
    assert SHOWN_TITLE in result.stdout
    assert "Step \\e[2J\\u202e one" in result.stdout and "Rest \\x08\\r\\tok\\x90." in result.stdout


def test_show_json(evil_file, fake_speech):
    result = run("show", str(evil_file), "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["title"] == TITLE  # escaped in JSON, the same text read back
    assert any(event.get("text") == "Breathe \x1b[6n\x85." for event in shown["events"])


def test_list_and_list_json(config_dir):
    table = run("list")
    assert table.exit_code == 0, table.output
    [row] = [line for line in table.stdout.splitlines() if line.startswith("evil ")]
    assert SHOWN_TITLE in row and "ball \\e[31m\\x9b\\u202e, wall\\u061c" in row
    listed = run("list", "--json")
    assert listed.exit_code == 0
    [entry] = [entry for entry in json.loads(listed.stdout) if entry["id"] == "evil"]
    assert entry["title"] == TITLE and entry["tools"] == ["ball \x1b[31m\x9b\u202e", "wall\u061c"]
    assert entry["summary"] == "Sum \x1b[5m \x85 end"


def test_list_of_a_broken_user_routine_in_a_hostile_folder(config_dir):
    (config_dir / "routines" / "broken.yaml").write_text('title: "x"\n"k\\e[2Jey\\u202e": 1\nsteps: []\n')
    table = run("list")
    assert "(has errors)" in table.stdout and "conf\\e]0;pwned\\x07ig" in table.stdout
    listed = run("list", "--json")
    [entry] = [entry for entry in json.loads(listed.stdout) if entry["id"] == "broken"]
    assert any("k\\e[2Jey\\u202e: unknown key" in problem for problem in entry["problems"])


def test_validate_quotes_keys_values_and_file_names_escaped(tmp_path, evil_file):
    ok = run("validate", str(evil_file))
    assert ok.exit_code == 0 and "ev\\e[2Jil\\u202e\\x9b.yaml: ok, 2 steps" in ok.stdout
    bad = tmp_path / "bad\x1b[6n.yaml"
    bad.write_text('title: "\\e]52;c;eA==\\a"\n"k\\e[2Jey": 1\nsteps:\n  - hold: x\n    time: "\\e[2J"\n')
    result = run("validate", str(bad), str(tmp_path / "gone\x1b[2J.yaml"))
    assert result.exit_code == 3
    assert "bad\\e[6n.yaml:2:1: k\\e[2Jey: unknown key" in result.stderr
    assert "gone\\e[2J.yaml" in result.stderr
    assert '"\\e[2J"' in result.stderr  # the bad time, quoted as written


def test_play_status_lines_through_the_cli(evil_file, monkeypatch):
    Fakes(monkeypatch.setattr)
    result = run("play", str(evil_file))
    assert result.exit_code == 0, result.output
    assert "Step 1 of 2 · Step \\e[2J\\u202e one" in result.stdout


def test_start_at_messages_quote_titles_escaped(evil_file, monkeypatch):
    Fakes(monkeypatch.setattr)
    result = run("play", str(evil_file), "--start-at", "nothing\x1b[2J")
    assert result.exit_code == 2 and "Step \\e[2J\\u202e one" in result.stderr


STATUS = display.Status(
    state="playing",
    position=12.0,
    duration=60.0,
    segment=3,
    phase="hold",
    title="Step \x1b[2J\u202e one\x9b",
    step=1,
    steps=2,
    side="",
    round=0,
    rounds=0,
    left=8.0,
    next="step 2: Rest \x1b]52;c;eA==\x07",
)


@pytest.mark.parametrize("columns", [200, 40])
def test_the_terminal_status_redraw_sends_only_its_own_sequences(columns):
    stream = io.StringIO()
    shown = display.TerminalDisplay(stream, controls=True, columns=lambda: columns)
    for position in (12.0, 13.0, 14.0):
        shown.show(display.Status(**{**STATUS.__dict__, "position": position}))
    shown.close()
    drawn = stream.getvalue()
    own = re.compile(r"\x1b\[(?:2K|\d+A|J)|\r")  # clear line, cursor up, clear below; nothing else
    assert_inert(own.sub("", drawn))
    assert "\\e[2J\\u202e" in drawn


def test_the_line_status_shows_escapes():
    stream = io.StringIO()
    shown = display.LineDisplay(stream)
    shown.show(STATUS)
    shown.show(display.Status(**{**STATUS.__dict__, "state": "stopped"}))
    assert_inert(stream.getvalue())
    assert "Step \\e[2J\\u202e one\\x9b" in stream.getvalue()


def test_history_and_resume_show_journal_titles_escaped(config_dir, monkeypatch):
    from holdcue.journal import Journal

    with Journal.open() as kept:
        row = kept.begin(routine_id="evil\x1b[2J", title=TITLE, source="", steps=2, planned=60, at=1.7e9)
        kept.end(row, "finished", 2, 60, at=1.7e9 + 60)
    table = run("history")
    assert table.exit_code == 0 and "evil\\e[2J" in table.stdout
    listed = run("history", "--json")
    assert json.loads(listed.stdout)["sessions"][0]["title"] == TITLE
    Fakes(monkeypatch.setattr)
    played = run("play", "evil")  # recorded under its own (hostile) title
    assert played.exit_code == 0
    assert json.loads(run("history", "--json").stdout)["sessions"][0]["title"] == TITLE


def test_plan_and_today_show_titles_and_sources_escaped(config_dir, fake_speech):
    (config_dir / "plan.yaml").write_text("monday: evil\ntuesday: rest\n")
    plan = run("plan")
    assert plan.exit_code == 0, plan.output
    assert "conf\\e]0;pwned\\x07ig" in plan.stdout and SHOWN_TITLE in plan.stdout
    monday = dt.date(2026, 11, 16)
    today = run("today", "--show", "--date", f"{monday}")
    assert today.exit_code == 0 and f"Today: {SHOWN_TITLE} (evil)" in today.stdout
    rest = run("today", "--show", "--date", f"{monday + dt.timedelta(days=1)}")
    assert rest.exit_code == 0 and f"Next: Monday, {SHOWN_TITLE}," in rest.stdout


def test_export_prints_file_names_escaped(tmp_path, evil_file, fake_speech):
    target = tmp_path / "out\x1b[2J\u202e.wav"
    transcript = tmp_path / "cues\x9b.vtt"
    result = run("export", str(evil_file), "-o", str(target), "--transcript", str(transcript))
    assert result.exit_code == 0, result.output
    assert target.stat().st_size > 0 and "\x1b[6n" in transcript.read_text()  # the files hold what was written
    assert "out\\e[2J\\u202e.wav" in result.stdout and "cues\\x9b.vtt" in result.stdout


def test_voices_from_the_engine_are_escaped_too(monkeypatch):
    found = [espeak.VoiceInfo(id="gmw/en\x1b[2J", name="English \u202eevil\x9b", languages=("en\x07",))]
    monkeypatch.setattr(espeak, "list_voices", lambda language=None: found)
    result = run("voices")
    assert result.exit_code == 0 and "gmw/en\\e[2J" in result.stdout and "English \\u202eevil\\x9b" in result.stdout
