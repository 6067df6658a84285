"""holdcue prepare and holdcue voices, through the real command line."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from holdcue import compiler, library, play, session, speech
from holdcue.cli import cli
from holdcue.exitcodes import ExitCode
from holdcue.speech import choice, espeak
from speech_support import WITHOUT_ESPEAK, espeak_test


class ToneEngine:
    """Stands in for espeak-ng where only the command's bookkeeping is tested."""

    name = "tone"

    def synthesize(self, text, voice):
        return np.full(200 + len(text), 3000, np.int16)


@pytest.fixture(autouse=True)
def _folders(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "config"))


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@espeak_test
def test_prepare_fills_the_cache_once(tmp_path):
    rid = "neck-and-upper-trapezius"
    routine = library.load_routine(rid)
    # the routine's cues, and what play says by itself ("Paused." and the like): nothing left to make at play
    needed = len({*compiler.spoken_texts(routine), *play.own_words(routine)})

    first = run("prepare", rid)
    assert first.exit_code == 0, first.output
    assert f"1 routine ready: {needed} spoken cues, {needed} synthesized now, 0 already in the cache." in first.stdout
    assert len(list((tmp_path / "cache" / "speech").glob("*.wav"))) == needed
    assert speech.ClipCache().get(espeak.Pyttsx3Engine.name, routine.voice, "Paused.") is not None

    again = run("prepare", rid)
    assert again.exit_code == 0
    assert f"0 synthesized now, {needed} already in the cache." in again.stdout


def test_prepare_all_prepares_the_good_routines_and_reports_the_broken_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(choice, "Pyttsx3Engine", ToneEngine)
    routines = tmp_path / "config" / "routines"
    routines.mkdir(parents=True)
    (routines / "broken.yaml").write_text("title: Broken\nsteps: []\n")
    loaded = [library.load_routine(rid) for rid in library.builtin_ids()]
    texts = {
        (routine.voice, said)
        for routine in loaded
        for said in session.said_texts(routine, [*compiler.spoken_texts(routine), *play.own_words(routine)]).values()
    }

    result = run("prepare", "--all")
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert "broken.yaml" in result.stderr
    assert f"{len(library.builtin_ids())} routines ready: {len(texts)} spoken cues" in result.stdout
    assert len(list((tmp_path / "cache" / "speech").glob("*.wav"))) == len(texts)


@pytest.mark.parametrize("args", [["prepare"], ["prepare", "--all", "neck-and-upper-trapezius"]])
def test_prepare_needs_routines_or_all(args):
    result = run(*args)
    assert result.exit_code == ExitCode.USAGE
    assert "--all" in result.output


def test_prepare_an_unknown_routine():
    result = run("prepare", "no-such-routine")
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert "holdcue list" in result.stderr


@espeak_test
def test_voices_lists_ids_languages_and_names():
    result = run("voices", "--engine", "espeak")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "languages", "name"]
    assert any(line.split()[:2] == ["gmw/en-us", "en-us"] for line in lines)
    assert len(lines) == len(espeak.list_voices()) + 1
    both = run("voices")  # then Piper's models, after a blank line (or how to get Piper, on stderr)
    assert both.stdout.startswith(result.stdout)
    assert both.stdout == result.stdout or both.stdout[len(result.stdout) :].startswith("\npiper model")


@espeak_test
def test_voices_for_a_language_and_the_voice_it_gets():
    result = run("voices", "--language", "en", "--engine", "espeak")
    assert result.exit_code == 0
    ids = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert "gmw/en" in ids and "gmw/en-us" in ids
    assert all(voice_id.split("/")[-1].startswith("en") for voice_id in ids)  # no vi-vn-x-central
    assert '"language: en" speaks with gmw/en.' in result.stderr


@espeak_test
def test_voices_for_a_region_espeak_has_no_voice_for_lists_its_language():
    result = run("voices", "--language", "de_AT", "--engine", "espeak")
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == ["gmw/de"]
    assert '"language: de_AT" speaks with gmw/de.' in result.stderr


@espeak_test
def test_voices_for_an_unknown_language():
    result = run("voices", "--language", "xx")
    assert result.exit_code == ExitCode.SPEECH_UNAVAILABLE
    assert "holdcue voices" in result.stderr


def test_without_espeak_the_commands_say_what_to_install():
    program = (
        WITHOUT_ESPEAK
        + """
import sys
from holdcue.cli import main
sys.argv = ["holdcue", "voices"]
main()
"""
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.returncode == ExitCode.SPEECH_UNAVAILABLE
    assert "sudo apt-get install espeak-ng" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_espeak_validate_checks_the_rest_of_the_file(tmp_path):
    """Whether espeak-ng has a voice for the language cannot be known without it: validate
    checks the file (play then says what to install)."""
    path = tmp_path / "r.yaml"
    path.write_text('title: R\nvoice: {language: "xx"}\nsteps:\n  - rest: Breathe.\n    time: 5s\n')
    program = (
        WITHOUT_ESPEAK
        + f"import sys\nfrom holdcue.cli import main\nsys.argv = ['holdcue', 'validate', {str(path)!r}]\nmain()\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.returncode == ExitCode.OK, result.stderr
    assert result.stdout == f"{path}: ok, 1 steps, 1 warning\n"
    assert "Traceback" not in result.stderr


@espeak_test
def test_ctrl_c_during_prepare_stops_cleanly(tmp_path):
    import signal
    import time

    folder = tmp_path / "cache" / "speech"
    command = [sys.executable, "-m", "holdcue", "prepare", "--all"]
    # A new process group, like a terminal's: Ctrl-C reaches the command and its workers.
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=os.environ | {"HOLDCUE_CACHE_DIR": str(tmp_path / "cache")},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while not (folder.is_dir() and any(folder.glob("*.wav"))) and time.monotonic() < deadline:
        time.sleep(0.01)  # until the workers are synthesizing
    os.killpg(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=30)

    assert child.returncode == ExitCode.INTERRUPTED
    assert err.strip().endswith("Interrupted.") and "Traceback" not in err
    assert not list(folder.glob(".*.tmp"))
    cache = speech.ClipCache(folder)
    loaded = [library.load_routine(rid) for rid in library.builtin_ids()]
    wanted = {
        cache.path(espeak.Pyttsx3Engine.name, r.voice, said): (r.voice, said)
        for r in loaded
        for said in session.said_texts(r).values()
    }
    written = list(folder.glob("*.wav"))
    assert written and all(cache.get(espeak.Pyttsx3Engine.name, *wanted[path]) is not None for path in written)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_shows_only_when_speech_is_synthesized(monkeypatch):
    from holdcue import cli as cli_module

    all_cached = Terminal()
    monkeypatch.setattr(sys, "stderr", all_cached)
    update, finish = cli_module.progress_bar("Preparing speech for neck")
    update(12, 12)  # synthesize_all's first report: every clip was in the cache
    finish()
    assert all_cached.getvalue() == ""

    some_made = Terminal()
    monkeypatch.setattr(sys, "stderr", some_made)
    update, finish = cli_module.progress_bar("Preparing speech for neck")
    update(10, 12)
    update(12, 12)
    finish()
    assert "Preparing speech for neck" in some_made.getvalue()
    assert "100%" in some_made.getvalue()
