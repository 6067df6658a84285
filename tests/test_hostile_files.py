"""The other files holdcue reads are as hostile as routines can be: config.yaml, plan.yaml and
the systemd unit. A FIFO at their name is refused at once (never waited on), a tag, a huge
value or a control character gets a message with line and column, and nothing they hold
reaches the terminal raw."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner

from holdcue import config, plan, systemd
from holdcue.cli import cli
from holdcue.errors import ConfigError, PlanError
from test_systemd import COMMAND, Recorder

RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def at_once(call, seconds: float = 10.0):
    """``call()``'s result or exception; fails (instead of hanging the suite) when it blocks."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # handed to the test below
            outcome["error"] = error

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "blocked: it waited on a FIFO"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# -- config.yaml -------------------------------------------------------------------------------


def test_a_config_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as error:
        at_once(lambda: config.load_config(fifo))
    assert [str(p) for p in error.value.problems] == [
        f"{fifo}: is not a regular file (a folder, FIFO or device); give a config file"
    ]


def test_a_config_that_is_a_folder_or_too_large(tmp_path):
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(ConfigError, match="is not a regular file"):
        config.load_config(tmp_path / "dir.yaml")
    big = tmp_path / "big.yaml"
    with open(big, "wb") as out:
        out.truncate(2 * 1024**3)  # sparse: 2 GB that take no room, and must not be read
    with pytest.raises(ConfigError, match="over 100 kB"):
        config.load_config(big)


def test_a_control_character_in_the_config_is_placed_by_line_and_column(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("button:\n  pin: 1\x1b7\n")
    with pytest.raises(ConfigError) as error:
        config.load_config(path)
    problems = [str(p) for p in error.value.problems]
    assert problems == [f"{path}:2:9: character U+001B is not allowed in a config file; remove it"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("button: {pin: !!binary aGk=}\n", "1:15: button.pin:"),
        ("button: {pin: " + "9" * 5000 + "}\n", "1:15: button.pin:"),
        ("button: {pin: -99999999999999999999}\n", "1:15: button.pin:"),
        ("button: {pin: .nan}\n", "1:15: button.pin:"),
        ("button: !!python/object:os.system {pin: 17}\n", ""),
        ("!!python/name:os.system button: {pin: 17}\n", "1:1:"),
        ('"b\\e[2Jutton\\u202e": {pin: 17}\n', "1:1: b\\e[2Jutton\\u202e: unknown key"),
        ("button: [" * 40 + "]" * 40 + "\n", "nested too deeply"),
        ("button: &b {pin: 17}\nmusic: *b\n", "2:8: YAML aliases (*name) are not supported in holdcue's files"),
    ],
)
def test_tags_huge_values_and_control_characters_in_the_config(tmp_path, text, where):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    try:
        loaded = config.load_config(path)
    except ConfigError as error:
        shown = "\n".join(str(p) for p in error.problems)
        assert not RAW.search(shown) and where in shown, shown
        assert "routine" not in shown, shown  # it is the config file
        assert all(p.line > 0 for p in error.problems)
    else:  # a tag on a mapping changes nothing: the values are read by their own tags
        assert where == "" and loaded.button_pin == 17


# -- plan.yaml --------------------------------------------------------------------------------


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    (tmp_path / "conf" / "routines").mkdir(parents=True)
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "conf"))
    return tmp_path / "conf"


def test_a_plan_that_is_a_fifo_is_refused_not_passed_over_or_waited_on(config_dir):
    os.mkfifo(config_dir / "plan.yaml")
    with pytest.raises(PlanError) as error:
        at_once(plan.current)
    assert [str(p) for p in error.value.problems] == [
        f"{config_dir / 'plan.yaml'}: is not a regular file (a folder, FIFO or device); give a plan file"
    ]
    for command in (["plan"], ["today", "--show"]):  # in a process of its own: signals need the main thread
        result = subprocess.run([sys.executable, "-m", "holdcue", *command], capture_output=True, text=True, timeout=30)
        assert result.returncode == 3 and "plan.yaml: is not a regular file" in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monday: !!binary aGk=\n", "plan.yaml:1:9: monday:"),
        ("!!int monday: rest\n", "plan.yaml:1:1:"),
        ("monday: " + "x" * 5000 + "\n", "plan.yaml:1:9: monday:"),
        ("monday: 99999999999999999999999\n", "plan.yaml:1:9: monday:"),
        ('"mon\\e[2Jday\\u202e": rest\n', "plan.yaml:1:1: mon\\e[2Jday\\u202e: unknown weekday"),
        ('monday: "neck\\e]52;c;eA==\\a"\n', 'no routine called "neck\\e]52;c;eA==\\x07"'),
        ("monday: [" * 40 + "]" * 40 + "\n", "nested too deeply"),
        ("- " * 30000 + "\n", "plan.yaml:1:"),
        ("monday: &x rest\ntuesday: *x\n", "plan.yaml:2:10: YAML aliases (*name) are not supported in holdcue's files"),
    ],
)
def test_tags_huge_values_and_control_characters_in_the_plan(config_dir, text, expected):
    with pytest.raises(PlanError) as error:
        plan.load(text, "plan.yaml")
    shown = "\n".join(str(p) for p in error.value.problems)
    assert expected in shown and not RAW.search(shown), shown
    assert all(p.line > 0 for p in error.value.problems)
    (config_dir / "plan.yaml").write_text(text)
    result = CliRunner().invoke(cli, ["plan"])
    assert result.exit_code == 3 and not RAW.search(result.stderr) and not RAW.search(result.stdout)


# -- the systemd unit -------------------------------------------------------------------------


def test_service_status_with_a_fifo_as_the_unit_does_not_hang(tmp_path):
    unit = tmp_path / "holdcue.service"
    os.mkfifo(unit)
    state = at_once(lambda: systemd.status(COMMAND, runner=Recorder(), path=unit))
    assert state.installed and not state.current  # there, and not what holdcue writes
