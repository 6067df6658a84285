"""The holdcue command and its standard streams, in real subprocesses: a terminal whose
encoding cannot show every character (Latin-1), stdout closed, full or gone, and --start-at
given what is no step."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from holdcue.cli import cli
from holdcue.exitcodes import ExitCode
from test_cli_history import Fakes

EMOJI_ROUTINE = """\
title: "Tennis ball … 🎾 ✓"
tools: ["ball 🎾"]
steps:
  - hold: "Press gently … 🎾."
    time: 20s
"""


@functools.cache
def latin1_locale(folder: str) -> dict[str, str]:
    """A real ISO-8859-1 locale built with localedef where the system can (its locale
    sources are installed); else Python told the same encoding with PYTHONIOENCODING."""
    built = subprocess.run(
        ["localedef", "-i", "en_US", "-f", "ISO-8859-1", f"{folder}/en_US.ISO-8859-1"], capture_output=True
    )
    if built.returncode == 0:
        return {"LOCPATH": folder, "LC_ALL": "en_US.ISO-8859-1"}
    return {"PYTHONIOENCODING": "latin-1"}


def holdcue(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONIOENCODING"}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "holdcue", *args], env=environment, timeout=120, **kw)


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    (tmp_path / "conf" / "routines").mkdir(parents=True)
    (tmp_path / "conf" / "routines" / "emoji.yaml").write_text(EMOJI_ROUTINE)
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "conf"))
    return tmp_path / "conf"


@pytest.fixture(params=["locale", "PYTHONIOENCODING"])
def latin1(request, tmp_path_factory) -> dict[str, str]:
    if request.param == "locale":
        return latin1_locale(str(tmp_path_factory.getbasetemp() / "locales"))
    return {"PYTHONIOENCODING": "latin-1"}


def test_the_latin1_environment_is_what_python_sees(latin1):
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.stdout.encoding)"],
        env={**os.environ, **latin1},
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip().lower().replace("-", "") in ("latin1", "iso88591")


@pytest.mark.parametrize(
    "args",
    [("voices",), ("show", "tennis-ball-release"), ("list",), ("show", "emoji"), ("validate", "EMOJI_FILE")],
)
def test_a_latin1_terminal_gets_what_it_can_show_not_a_crash(args, latin1, config_dir):
    args = tuple(str(config_dir / "routines" / "emoji.yaml") if a == "EMOJI_FILE" else a for a in args)
    result = holdcue(*args, env=latin1, capture_output=True)
    assert result.returncode == 0, result.stderr.decode("latin-1")
    assert b"Traceback" not in result.stderr and b"UnicodeEncodeError" not in result.stderr
    out = result.stdout.decode("latin-1")  # it is Latin-1: every byte decodes
    if args[0] == "show" and args[1] == "emoji":
        assert "Tennis ball ? ? ?" in out  # "…", the ball and the tick replaced, the rest as written
    if args == ("show", "tennis-ball-release"):
        assert "Tennis ball release" in out and out.rstrip().splitlines()[-1].startswith("total ")


def test_json_on_a_latin1_terminal_is_whole_and_exact(latin1, config_dir):
    result = holdcue("list", "--json", env=latin1, capture_output=True)
    assert result.returncode == 0
    result.stdout.decode("ascii")  # every non-ASCII character escaped, none replaced
    [entry] = [entry for entry in json.loads(result.stdout) if entry["id"] == "emoji"]
    assert entry["title"] == "Tennis ball … 🎾 ✓"


def test_stdout_closed_is_an_error_not_lost_output(tmp_path):
    for command in (["list"], ["voices"], ["validate", "nothing.yaml"], ["--version"]):
        result = holdcue(*command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, close_fds=True, **closed(1))
        assert result.returncode == ExitCode.OUTPUT_FAILED
        assert result.stderr == b"holdcue: standard output is closed; nothing could be shown.\n"


def test_stdout_and_stderr_closed_give_only_the_exit_code(tmp_path):
    result = holdcue("list", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **closed(1, 2))
    assert result.returncode == ExitCode.OUTPUT_FAILED


def closed(*fds: int) -> dict:
    """subprocess.run arguments that start the child with these descriptors closed."""

    def close() -> None:
        for fd in fds:
            os.close(fd)

    return {"preexec_fn": close}


def test_stderr_closed_alone_changes_nothing_and_no_file_takes_its_number(tmp_path):
    result = holdcue("list", stdout=subprocess.PIPE, **closed(2))
    assert result.returncode == 0 and b"shoulders-and-chest" in result.stdout


def test_a_full_disk_under_stdout_is_reported():
    with open("/dev/full", "w") as full:
        result = holdcue("list", stdout=full, stderr=subprocess.PIPE)
    assert result.returncode == ExitCode.OUTPUT_FAILED
    assert result.stderr == b"Error: cannot write the output: No space left on device.\n"


def test_a_broken_pipe_exits_141_without_a_traceback():
    for command in (["list"], ["list", "--json"], ["voices"], ["show", "tennis-ball-release"]):
        read, write = os.pipe()
        os.close(read)  # the reader is gone before anything is written: every write fails
        try:
            result = holdcue(*command, stdout=write, stderr=subprocess.PIPE)
        finally:
            os.close(write)
        assert result.returncode == ExitCode.BROKEN_PIPE == 141, (command, result.stderr)
        assert result.stderr == b"", command


def test_a_reader_that_stops_early_ends_it_quietly():
    """`holdcue voices | head -1`: the reader leaves after its line; holdcue, still writing,
    stops without a word (or finishes first when the pipe took everything)."""
    shell = f"{sys.executable} -m holdcue voices | head -1; echo ${{PIPESTATUS[0]}} >&2"
    result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith("id ")
    *said, status = result.stderr.strip().splitlines()
    assert status in ("0", "141") and "Traceback" not in result.stderr
    assert all(line.startswith("Set a routine's voice language") for line in said)  # its closing hint, if it got there


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "give a step's number or words of its title: the steps are 1 "),
        ("   ", "give a step's number or words of its title"),
        ("²", "no step title contains '²': the steps are 1 "),
        ("٣", "no step title contains '٣'"),
        ("99", "there is no step 99: the steps are 1 "),
    ],
)
def test_start_at_what_is_no_step_says_so(given, message, monkeypatch):
    Fakes(monkeypatch.setattr)
    result = CliRunner().invoke(cli, ["play", "shoulders-and-chest", "--start-at", given])
    assert result.exit_code == ExitCode.USAGE
    assert message in " ".join(result.stderr.split()), result.stderr
    assert "invalid literal" not in result.stderr


def test_start_at_a_number_still_starts_there(monkeypatch):
    Fakes(monkeypatch.setattr)
    result = CliRunner().invoke(cli, ["play", "shoulders-and-chest", "--start-at", " 2 "])
    assert result.exit_code == 0, result.output
    assert "Step 1 of" not in result.stdout and "Step 2 of" in result.stdout
