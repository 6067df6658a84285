"""The `holdcue play` command: its options and how it ends (exit codes), with the sound
device and the session replaced by fakes."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys

import pytest
from click.testing import CliRunner

from holdcue import cli, errors, play, session, terminal
from holdcue.exitcodes import ExitCode
from play_helpers import short_session


@pytest.fixture(scope="module")
def short():
    return short_session()


def test_cli_play_turns_a_device_error_into_its_exit_code(monkeypatch, short):
    from click.testing import CliRunner

    from holdcue import cli, session
    from holdcue.exitcodes import ExitCode

    def broken(self, samples, rate):
        raise errors.AudioDeviceError("No sound device could be opened (ALSA: Unknown PCM default): check it.")

    monkeypatch.setattr(session, "build", lambda routine, **kw: dataclasses.replace(short, routine=routine))
    monkeypatch.setattr(play.SimpleaudioSink, "start", broken)
    result = CliRunner().invoke(cli.cli, ["play", "shoulders-and-chest"])
    assert result.exit_code == ExitCode.AUDIO_UNAVAILABLE, result.output
    assert "No sound device could be opened" in result.output
    assert "holdcue export shoulders-and-chest -o shoulders-and-chest.mp3" in result.output
    assert "Traceback" not in result.output


def test_cli_play_refuses_an_unknown_start_step(monkeypatch, short):
    from click.testing import CliRunner

    from holdcue import cli, session
    from holdcue.exitcodes import ExitCode

    monkeypatch.setattr(session, "build", lambda routine, **kw: dataclasses.replace(short, routine=routine))
    result = CliRunner().invoke(cli.cli, ["play", "shoulders-and-chest", "--start-at", "42"])
    assert result.exit_code == ExitCode.USAGE
    assert "--start-at" in result.output and "there is no step 42" in result.output


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "2.5", "-0.1", "loud"])
def test_cli_play_refuses_a_volume_that_is_no_number_from_0_to_2(monkeypatch, short, value):
    monkeypatch.setattr(session, "build", lambda routine, **kw: dataclasses.replace(short, routine=routine))
    monkeypatch.setattr(terminal, "play", lambda *a, **kw: pytest.fail("played"))
    result = CliRunner().invoke(cli.cli, ["play", "shoulders-and-chest", "--volume", value])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "--volume" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("value", ["0", "1.5", "2"])
def test_cli_play_passes_a_volume_up_to_2_and_a_speak_function(monkeypatch, short, value):
    monkeypatch.setattr(session, "build", lambda routine, **kw: dataclasses.replace(short, routine=routine))
    given = {}
    monkeypatch.setattr(terminal, "play", lambda s, **kw: given.update(kw))
    result = CliRunner().invoke(cli.cli, ["play", "shoulders-and-chest", "--volume", value])
    assert result.exit_code == 0, result.output
    assert given["volume"] == float(value) and callable(given["speak"])


@pytest.mark.parametrize(("signum", "code"), [(15, 143), (1, 129)])
def test_cli_play_exits_128_plus_the_signal_on_sigterm_and_sighup(monkeypatch, short, signum, code):
    def stopped(*args, **kwargs):
        raise errors.Terminated(signum)

    monkeypatch.setattr(session, "build", lambda routine, **kw: dataclasses.replace(short, routine=routine))
    monkeypatch.setattr(terminal, "play", stopped)
    result = CliRunner().invoke(cli.cli, ["play", "shoulders-and-chest"])
    assert result.exit_code == code
    assert "Stopped (SIG" in result.output and "Traceback" not in result.output


def test_cli_play_without_a_device_suggests_exporting(monkeypatch, short):
    from test_player import BrokenSink

    monkeypatch.setattr(session, "build", lambda routine, **kw: dataclasses.replace(short, routine=routine))
    monkeypatch.setattr(play, "default_sink", lambda keep_alive=False: BrokenSink())
    result = CliRunner().invoke(cli.cli, ["play", "shoulders-and-chest"])
    assert result.exit_code == ExitCode.AUDIO_UNAVAILABLE == 5
    assert result.output.endswith(
        "Error: No sound device could be opened (ALSA: Unknown PCM default).\n"
        "To listen anyway, export the session to a file and play that: "
        "holdcue export shoulders-and-chest -o shoulders-and-chest.mp3\n"
    )


def test_cli_play_opens_the_output_before_it_makes_the_session_ready(monkeypatch, short):
    """The device settles while the session is made ready (the lead-in counts from its open)."""
    order = []

    @contextlib.contextmanager
    def output(keep_alive):
        order.append(("opened", keep_alive))
        yield "the sink"
        order.append("closed")

    def build(routine, **kw):
        order.append("built")
        return dataclasses.replace(short, routine=routine)

    monkeypatch.setattr(play, "output", output)
    monkeypatch.setattr(session, "build", build)
    monkeypatch.setattr(terminal, "play", lambda ready, **kw: order.append(("played", kw["sink"])))
    result = CliRunner().invoke(cli.cli, ["play", "shoulders-and-chest", "--keep-alive"])
    assert result.exit_code == 0, result.output
    assert order == [("opened", True), "built", ("played", "the sink"), "closed"]


ENTRY = """
import sys
from holdcue import stream
light = not {"click", "yaml", "numpy"} & set(sys.modules)  # holdcue.stream imports none of them
def open_early(keep_alive=False):
    print("opened early", keep_alive, "click" in sys.modules, "yaml" in sys.modules, flush=True)
stream.open_early = open_early
sys.argv = ["holdcue", *sys.argv[1:]]
print("light", light, flush=True)
from holdcue.__main__ import main
main()
"""


def test_holdcue_play_opens_its_device_before_click_and_the_loader_are_imported(tmp_path):
    """The `holdcue` entry opens the device first, so its lead-in runs while the rest starts."""
    import subprocess

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-c", ENTRY, *args]
        env = os.environ | {"HOLDCUE_CONFIG_DIR": str(tmp_path)}
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)

    played = run("play", "no-such-routine", "--keep-alive")
    assert played.stdout.splitlines()[:2] == ["light True", "opened early True False False"]
    assert played.returncode == ExitCode.INVALID_ROUTINE and "no-such-routine" in played.stderr
    for args in (("play", "--help"), ("list",), ("play",), ("show", "x")):
        assert "opened early" not in run(*args).stdout, args
