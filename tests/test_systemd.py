"""Start at boot: the systemd user unit (checked by systemd's own verifier), the systemctl and
loginctl calls that install it (recorded), and `holdcue service` through the command line."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from holdcue import systemd
from holdcue.cli import cli
from holdcue.errors import OutputError, ServiceManagerError, UnitConflict
from holdcue.exitcodes import ExitCode
from systemd_support import Recorder

USER = systemd.user_name()
ANALYZE = shutil.which("systemd-analyze")
SYSTEMCTL = shutil.which("systemctl")
IN_CI = os.environ.get("CI") == "true"


def needs(program: str | None, package: str):
    """Skipped where the program is missing, except under CI=true, where it must be there."""
    return pytest.mark.skipif(
        program is None and not IN_CI, reason=f"not installed here (sudo apt-get install {package})"
    )


COMMAND = ["/home/pi/my apps/holdcue/.venv/bin/holdcue"]


@pytest.fixture
def unit(tmp_path) -> Path:
    return tmp_path / "config" / "systemd" / "user" / "holdcue.service"


def test_the_unit_runs_serve_from_a_path_with_spaces():
    text = systemd.unit_text(COMMAND)
    assert 'ExecStart="/home/pi/my apps/holdcue/.venv/bin/holdcue" serve\n' in text
    assert "Restart=on-failure\n" in text
    assert "Environment=PYTHONUNBUFFERED=1\n" in text
    assert "After=pipewire.service pipewire-pulse.service wireplumber.service\n" in text
    assert "Wants=pipewire.service pipewire-pulse.service wireplumber.service\n" in text
    assert "StandardError=journal\n" in text and "WantedBy=default.target\n" in text


@pytest.mark.parametrize(
    ("word", "written"),
    [
        ("/usr/bin/holdcue", "/usr/bin/holdcue"),
        ("/a b/holdcue", '"/a b/holdcue"'),
        ('/say "hi"/x', '"/say \\"hi\\"/x"'),
        ("100% $HOME", '"100%% $$HOME"'),
        ("/back\\slash", '"/back\\\\slash"'),
        ("/tab\there", '"/tab\\x09here"'),
    ],
)
def test_words_are_quoted_for_exec_start(word, written):
    assert systemd.quote(word) == written


def test_the_programs_path_keeps_its_dollars():
    """systemd expands $VARIABLES in the arguments, not in the program's path (checked below
    by the verifier): a $ there stays as it is."""
    assert systemd.quote("/opt/100% $HOME/holdcue", program=True) == '"/opt/100%% $HOME/holdcue"'


@pytest.mark.parametrize("folder", ["it's", 'say "hi"', "back\\slash", "new\nline"])
def test_a_path_systemd_cannot_run_is_refused_with_what_to_do(folder):
    with pytest.raises(OutputError, match="Put holdcue in a folder without them"):
        systemd.unit_text([f"/home/pi/{folder}/holdcue"])


def test_the_unit_goes_under_xdg_config_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert systemd.unit_path() == tmp_path / "systemd" / "user" / "holdcue.service"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    assert systemd.unit_path() == Path.home() / ".config" / "systemd" / "user" / "holdcue.service"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert systemd.unit_path() == Path.home() / ".config" / "systemd" / "user" / "holdcue.service"


def test_the_command_is_the_holdcue_script_that_was_started(monkeypatch, tmp_path):
    script = tmp_path / "my venv" / "bin" / "holdcue"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["my venv/bin/holdcue", "service", "install"])
    assert systemd.holdcue_command() == [str(script)]
    # python -m holdcue: the script beside the interpreter, in the same virtual environment
    monkeypatch.setattr(sys, "argv", ["/somewhere/holdcue/__main__.py"])
    monkeypatch.setattr(sys, "executable", str(script.parent / "python3"))
    assert systemd.holdcue_command() == [str(script)]


def test_install_writes_the_unit_and_enables_it(unit):
    runner = Recorder(linger="yes")
    done = systemd.install(COMMAND, runner=runner, path=unit)
    assert unit.read_text() == systemd.unit_text(COMMAND)
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert sorted(p.name for p in unit.parent.iterdir()) == ["holdcue.service"]  # no temporary file left
    assert runner.calls == [
        ["systemctl", "--user", "show", "--property=Version"],
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", "holdcue.service"],
        ["loginctl", "show-user", USER, "--property=Linger", "--value"],
    ]
    assert (done.changed, done.replaced, done.lingering, done.user) == (True, False, True, USER)


def test_installing_again_leaves_the_same_unit_as_it_is(unit):
    systemd.install(COMMAND, runner=Recorder(), path=unit)
    before = unit.stat().st_mtime_ns
    again = Recorder()
    done = systemd.install(COMMAND, runner=again, path=unit)
    assert not done.changed and unit.stat().st_mtime_ns == before
    assert ["enable", "--now", "holdcue.service"] in again.systemctl()


def test_a_different_unit_is_left_alone_without_force(unit):
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/usr/bin/someone-elses\n")
    runner = Recorder()
    with pytest.raises(UnitConflict, match="--force"):
        systemd.install(COMMAND, runner=runner, path=unit)
    assert unit.read_text() == "[Service]\nExecStart=/usr/bin/someone-elses\n"
    assert runner.systemctl() == [["show", "--property=Version"]]


def test_force_replaces_a_different_unit_and_restarts_it(unit):
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/old/holdcue serve\n")
    runner = Recorder()
    done = systemd.install(COMMAND, force=True, runner=runner, path=unit)
    assert done.replaced and unit.read_text() == systemd.unit_text(COMMAND)
    assert runner.systemctl()[-1] == ["try-restart", "holdcue.service"]


def test_lingering_off_gives_the_exact_advice(unit):
    done = systemd.install(COMMAND, runner=Recorder(linger="no"), path=unit)
    assert done.lingering is False
    assert systemd.linger_advice(USER) == (
        f"Lingering is off for {USER}: holdcue starts only when {USER} logs in, and stops at logout. "
        f"For a Pi without a screen, turn it on with:\n    sudo loginctl enable-linger {USER}"
    )


def test_without_a_user_bus_nothing_is_written(unit):
    runner = Recorder(bus=False)
    with pytest.raises(ServiceManagerError, match="no systemd user manager.*No medium found"):
        systemd.install(COMMAND, runner=runner, path=unit)
    assert not unit.parent.exists() and len(runner.calls) == 1


def test_a_failing_enable_is_an_error_with_systemctls_words(unit):
    runner = Recorder(enable=(1, "Failed to enable unit: Access denied"))
    with pytest.raises(ServiceManagerError, match="enable --now holdcue.service failed: Failed to enable unit"):
        systemd.install(COMMAND, runner=runner, path=unit)


def test_uninstall_disables_removes_and_reloads(unit):
    systemd.install(COMMAND, runner=Recorder(), path=unit)
    runner = Recorder()
    assert systemd.uninstall(runner=runner, path=unit) is True
    assert not unit.exists()
    assert runner.systemctl() == [
        ["show", "--property=Version"],
        ["disable", "--now", "holdcue.service"],
        ["daemon-reload"],
    ]
    assert systemd.uninstall(runner=Recorder(), path=unit) is False


def test_status_reports_file_manager_and_lingering(unit):
    systemd.install(COMMAND, runner=Recorder(), path=unit)
    runner = Recorder(
        linger="no", is_enabled=(0, "enabled\n"), is_active=(3, "failed\n"), status=(3, "× holdcue.service\n")
    )
    state = systemd.status(COMMAND, runner=runner, path=unit)
    assert (state.installed, state.current, state.enabled, state.active) == (True, True, "enabled", "failed")
    assert (state.lingering, state.summary, state.problem) == (False, "× holdcue.service", "")
    other = systemd.status(["/elsewhere/holdcue"], runner=Recorder(bus=False), path=unit)
    assert (other.installed, other.current, other.enabled) == (True, False, "unknown")
    assert "no systemd user manager" in other.problem


# systemd's own verifier. As root in a container it needs a runtime directory for the user
# manager it simulates ($XDG_RUNTIME_DIR) and the ExecStart program to exist and be executable.


def verify(unit_file: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if ANALYZE is None:
        pytest.fail("systemd-analyze is missing (sudo apt-get install systemd)")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_COLOR": "0"}
    return subprocess.run(
        [ANALYZE, "--user", "verify", str(unit_file)], capture_output=True, text=True, env=env, timeout=60
    )


ODD_FOLDER = "my apps/100% $HOME ü;x"


@needs(ANALYZE, "systemd")
def test_systemd_verifies_the_unit_for_an_odd_path(tmp_path):
    program = tmp_path / ODD_FOLDER / "holdcue"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    unit_file = tmp_path / "holdcue.service"
    unit_file.write_text(systemd.unit_text([str(program)]))
    result = verify(unit_file, tmp_path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@needs(ANALYZE, "systemd")
def test_systemds_verifier_finds_a_program_that_is_not_there(tmp_path):
    """The check above is a real one: the verifier reads the quoted path and looks for it."""
    (tmp_path / ODD_FOLDER).mkdir(parents=True)
    unit_file = tmp_path / "holdcue.service"
    unit_file.write_text(systemd.unit_text([str(tmp_path / ODD_FOLDER / "holdcue")]))
    result = verify(unit_file, tmp_path)
    assert result.returncode != 0
    assert f"{tmp_path / ODD_FOLDER / 'holdcue'} is not executable" in result.stderr


# The command line


def holdcue(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "holdcue", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture
def no_user_bus(tmp_path) -> dict[str, str]:
    """An environment whose user bus is an empty runtime folder: systemctl --user finds no
    manager there, on any machine, and the unit would go to a temporary config folder."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    return {**env, "XDG_RUNTIME_DIR": str(runtime), "XDG_CONFIG_HOME": str(tmp_path / "config")}


@needs(SYSTEMCTL, "systemd")
@pytest.mark.parametrize("command", ["install", "uninstall", "status"])
def test_without_a_user_manager_a_message_and_exit_7(no_user_bus, tmp_path, command):
    result = holdcue("service", command, env=no_user_bus)
    assert result.returncode == ExitCode.SERVICE_UNAVAILABLE == 8
    assert "Error: there is no systemd user manager to talk to (Failed to connect to bus" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "config").exists()


def test_without_systemctl_a_message_and_exit_7(no_user_bus, tmp_path):
    result = holdcue("service", "install", env={**no_user_bus, "PATH": str(tmp_path)})
    assert result.returncode == ExitCode.SERVICE_UNAVAILABLE
    assert result.stderr == (
        "Error: systemctl is not installed: starting at boot needs systemd (Raspberry Pi OS and Debian have it).\n"
    )


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    """holdcue service through CliRunner, with systemctl and loginctl recorded, on a machine
    without bluez (test_headset.py has it)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))

    def use(runner: Recorder) -> Recorder:
        monkeypatch.setattr(systemd, "run", runner)
        return runner

    return use


def test_install_prints_what_it_did_and_the_lingering_advice(recorded, tmp_path):
    recorded(Recorder(linger="no"))
    result = CliRunner().invoke(cli, ["service", "install"])
    assert result.exit_code == 0, result.output
    assert f"Wrote {tmp_path / 'config/systemd/user/holdcue.service'}." in result.stdout
    assert "holdcue.service is enabled and started: it runs " in result.stdout
    assert result.stderr == systemd.linger_advice(USER) + "\n"


def test_install_over_a_different_unit_exits_6_and_says_force(recorded, tmp_path):
    recorded(Recorder())
    unit = tmp_path / "config/systemd/user/holdcue.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/bin/other\n")
    result = CliRunner().invoke(cli, ["service", "install"])
    assert result.exit_code == ExitCode.OUTPUT_FAILED
    assert "exists and differs" in result.stderr and "--force" in result.stderr
    assert unit.read_text() == "[Service]\nExecStart=/bin/other\n"
    assert CliRunner().invoke(cli, ["service", "install", "--force"]).exit_code == 0
    assert "ExecStart=" in unit.read_text() and "/bin/other" not in unit.read_text()


def test_status_and_uninstall_through_the_command_line(recorded, tmp_path):
    recorded(Recorder(linger="yes", is_enabled=(0, "enabled\n"), is_active=(0, "active\n"), status=(0, "● running\n")))
    assert CliRunner().invoke(cli, ["service", "install"]).exit_code == 0
    result = CliRunner().invoke(cli, ["service", "status"])
    assert result.exit_code == 0
    unit = tmp_path / "config/systemd/user/holdcue.service"
    assert result.stdout == (
        f"unit file: {unit}\nenabled:   enabled\nactive:    active\nlingering: yes\n"
        "headset:   no mpris-proxy (bluez is not installed): a Bluetooth headset's buttons cannot reach holdcue\n"
        "● running\n"
    )
    result = CliRunner().invoke(cli, ["service", "uninstall"])
    assert result.exit_code == 0 and not unit.exists()
    assert CliRunner().invoke(cli, ["service", "uninstall"]).stdout == f"Not installed: there is no {unit}.\n"


def test_install_passes_its_serve_options_to_the_unit(recorded, tmp_path):
    recorded(Recorder(linger="yes"))
    args = ["service", "install", "--host", "0.0.0.0", "--port", "9000", "--lead-in", "0.5", "--keep-alive"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    unit = (tmp_path / "config/systemd/user/holdcue.service").read_text()
    (exec_start,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert exec_start.endswith(" serve --host 0.0.0.0 --port 9000 --lead-in 0.5 --keep-alive")
    state = systemd.status(
        systemd.holdcue_command(), runner=Recorder(), path=tmp_path / "config/systemd/user/holdcue.service"
    )
    assert state.current  # holdcue's unit, whatever options it gives serve


@needs(ANALYZE, "systemd")
def test_systemd_verifies_a_unit_with_serve_options(tmp_path):
    program = tmp_path / "holdcue"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    unit_file = tmp_path / "holdcue.service"
    unit_file.write_text(systemd.unit_text([str(program)], ["--host", "0.0.0.0", "--keep-alive"]))
    result = verify(unit_file, tmp_path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
