"""The command line as a whole: help, version, documentation, exit codes."""

import os
import re
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from holdcue import __version__
from holdcue.cli import cli
from holdcue.exitcodes import ExitCode

README = (Path(__file__).parents[1] / "README.md").read_text()
COMMANDS = sorted(cli.commands)


def test_every_pipeline_command_exists():
    assert set(COMMANDS) == {
        "list",
        "validate",
        "show",
        "prepare",
        "voices",
        "export",
        "play",
        "compose",
        "tones",
        "history",
        "resume",
        "today",
        "plan",
        "service",
        "serve",
        "pair",
    }


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_examples_and_is_in_the_readme(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert f"holdcue {name}" in result.output  # an example
    assert re.search(rf"holdcue {name}\b", README)


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_usage_errors_exit_2():
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == ExitCode.USAGE == 2


def test_every_exit_code_is_documented():
    for code in ExitCode:
        assert re.search(rf"^\| {int(code)} \|", README, re.M), code


def test_module_runs_as_python_dash_m():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "holdcue", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and __version__ in done.stdout


def test_the_installed_version_is_the_package_version():
    from importlib.metadata import version

    assert version("holdcue") == __version__


def _broken_library(monkeypatch):
    from holdcue import library

    def entries():
        raise RuntimeError("the library broke")

    monkeypatch.setattr(library, "entries", entries)


def test_an_unexpected_error_is_one_line_and_exit_1(monkeypatch):
    _broken_library(monkeypatch)
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == ExitCode.ERROR == 1
    assert result.output == (
        "Error: unexpected error: RuntimeError: the library broke. "
        "Run it again with --debug to see where, for a bug report.\n"
    )


@pytest.mark.parametrize("how", [["--debug", "list"], ["list"]])
def test_debug_shows_the_traceback(monkeypatch, how):
    _broken_library(monkeypatch)
    env = {"HOLDCUE_DEBUG": "1"} if how == ["list"] else {"HOLDCUE_DEBUG": ""}
    result = CliRunner().invoke(cli, how, env=env)
    assert result.exit_code == 1
    assert (
        "Traceback (most recent call last)" in result.output
        and 'raise RuntimeError("the library broke")' in result.output
    )
    assert result.output.rstrip().endswith("Error: unexpected error: RuntimeError: the library broke.")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_any_command_like_ctrl_c(monkeypatch, signum, code):
    from holdcue import library

    before = signal.getsignal(signum)

    def entries():
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler raises long before this is over
        raise AssertionError("the signal did not stop the command")

    monkeypatch.setattr(library, "entries", entries)
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == code == ExitCode(code)
    assert result.output == f"\nStopped ({signal.Signals(signum).name}).\n"
    assert signal.getsignal(signum) == before  # the handler is put back
