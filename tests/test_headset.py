"""Headset buttons: `holdcue service install` has BlueZ's mpris-proxy run in the user's
session where bluez is installed, says what it did, and `uninstall` undoes that and nothing
else. The decision is checked with systemctl recorded, and through the command line with
stand-in programs on PATH (systemctl and loginctl that record their calls, and an
mpris-proxy or none); the unit holdcue writes is checked by systemd's own verifier."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from holdcue import headset
from systemd_support import Recorder

ANALYZE = shutil.which("systemd-analyze")
PROXY = "/usr/bin/mpris-proxy"


def bluez(program: str | None = PROXY):
    """shutil.which as on a machine with bluez (its mpris-proxy at ``program``) or without (None)."""
    return lambda name: program if name == "mpris-proxy" else None


@pytest.fixture
def units(tmp_path) -> Path:
    return tmp_path / "config" / "systemd" / "user"


def test_without_bluez_nothing_is_done(units):
    runner = Recorder()
    assert headset.set_up(runner=runner, find=bluez(None), units=units) == headset.Setup("no-bluez")
    assert runner.calls == [] and not units.exists()
    assert headset.undo(runner=runner, units=units) is None and runner.calls == []


@pytest.mark.parametrize("state", ["enabled", "static", "masked", "enabled-runtime"])
def test_a_proxy_enabled_already_or_masked_is_left_as_it_is(units, state):
    runner = Recorder(is_enabled=(0 if state != "masked" else 1, f"{state}\n"))
    done = headset.set_up(runner=runner, find=bluez(), units=units)
    assert (done.done, done.state, done.path) == ("left", state, None)
    assert runner.systemctl() == [["is-enabled", "mpris-proxy.service"]]
    assert not units.exists()
    assert headset.undo(runner=Recorder(), units=units) is None  # holdcue did nothing: nothing to undo


def test_bluez_s_own_unit_disabled_is_enabled_with_a_note_and_disabled_again_on_undo(units):
    runner = Recorder(is_enabled=(1, "disabled\n"))
    done = headset.set_up(runner=runner, find=bluez(), units=units)
    note = units / "mpris-proxy.service.d" / "holdcue.conf"
    assert (done.done, done.state, done.path) == ("enabled", "disabled", note)
    assert note.read_text() == headset.NOTE_TEXT
    assert all(line.startswith("#") for line in note.read_text().splitlines())  # nothing for systemd in it
    assert not (units / "mpris-proxy.service").exists()  # bluez's unit is used as it is
    assert runner.systemctl() == [
        ["is-enabled", "mpris-proxy.service"],
        ["daemon-reload"],
        ["enable", "--now", "mpris-proxy.service"],
    ]
    state = headset.state(
        runner=Recorder(is_enabled=(0, "enabled\n"), is_active=(0, "active\n")), find=bluez(), units=units
    )
    assert state == headset.State(PROXY, "enabled", "active", "note")
    undoing = Recorder()
    assert headset.undo(runner=undoing, units=units) == headset.Setup("enabled", path=note)
    assert undoing.systemctl() == [["disable", "--now", "mpris-proxy.service"], ["daemon-reload"]]
    assert not note.parent.exists()
    assert headset.undo(runner=Recorder(), units=units) is None


@pytest.mark.parametrize("said", ["", "not-found\n"])  # systemd 252 says nothing on stdout, later ones "not-found"
def test_without_a_unit_for_the_proxy_holdcue_writes_its_own_and_removes_it_on_undo(units, said):
    runner = Recorder(is_enabled=(1, said))
    done = headset.set_up(runner=runner, find=bluez(), units=units)
    unit = units / "mpris-proxy.service"
    assert (done.done, done.state, done.path) == ("written", "not-found", unit)
    assert unit.read_text() == headset.unit_text(PROXY)
    assert "ExecStart=/usr/bin/mpris-proxy\n" in unit.read_text() and "WantedBy=default.target\n" in unit.read_text()
    assert runner.systemctl()[-2:] == [["daemon-reload"], ["enable", "--now", "mpris-proxy.service"]]
    # again: holdcue's unit is known as its own, kept as it is, and enabled (not "left" as if it were bluez's)
    written = unit.stat().st_mtime_ns
    again = headset.set_up(runner=Recorder(is_enabled=(0, "enabled\n")), find=bluez(), units=units)
    assert again.done == "written" and unit.stat().st_mtime_ns == written
    undoing = Recorder()
    assert headset.undo(runner=undoing, units=units) == headset.Setup("written", path=unit)
    assert undoing.systemctl() == [["disable", "--now", "mpris-proxy.service"], ["daemon-reload"]]
    assert not unit.exists()


def test_a_unit_of_the_user_s_own_is_never_removed(units):
    units.mkdir(parents=True)
    (units / "mpris-proxy.service").write_text("[Service]\nExecStart=/usr/bin/mpris-proxy\n")
    done = headset.set_up(runner=Recorder(is_enabled=(0, "enabled\n")), find=bluez(), units=units)
    assert done.done == "left"
    assert headset.undo(runner=Recorder(), units=units) is None
    assert (units / "mpris-proxy.service").read_text() == "[Service]\nExecStart=/usr/bin/mpris-proxy\n"


@pytest.mark.skipif(ANALYZE is None and os.environ.get("CI") != "true", reason="needs systemd-analyze")
def test_systemd_verifies_the_unit_holdcue_writes_for_the_proxy(tmp_path):
    program = tmp_path / "bin" / "mpris-proxy"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    unit = tmp_path / "mpris-proxy.service"
    unit.write_text(headset.unit_text(str(program)))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_COLOR": "0"}
    assert ANALYZE is not None, "systemd-analyze is missing (sudo apt-get install systemd)"
    result = subprocess.run(
        [ANALYZE, "--user", "verify", str(unit)], capture_output=True, text=True, env=env, timeout=60
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


# The command line, with stand-ins on PATH: what a person sees, and what systemctl is asked

SYSTEMCTL = """#!/bin/sh
# systemctl --user as holdcue service uses it: every call recorded; mpris-proxy's state kept in a file
echo "$*" >> "$STANDIN/calls"
case "$*" in
  "--user show --property=Version") echo Version=252 ;;
  "--user is-enabled mpris-proxy.service")
    if [ -f "$STANDIN/proxy" ]; then read -r state < "$STANDIN/proxy"; echo "$state"; [ "$state" = enabled ]; exit; fi
    echo "Failed to get unit file state for mpris-proxy.service: No such file or directory" >&2; exit 1 ;;
  "--user is-active mpris-proxy.service")
    if [ -f "$STANDIN/proxy" ]; then read -r state < "$STANDIN/proxy"; fi
    if [ "$state" = enabled ]; then echo active; else echo inactive; exit 3; fi ;;
  "--user enable --now mpris-proxy.service") echo enabled > "$STANDIN/proxy" ;;
  "--user disable --now mpris-proxy.service") echo disabled > "$STANDIN/proxy" ;;
  "--user is-enabled holdcue.service") echo enabled ;;
  "--user is-active holdcue.service") echo active ;;
esac
exit 0
"""
LOGINCTL = '#!/bin/sh\necho "loginctl $*" >> "$STANDIN/calls"\necho yes\n'


class Machine:
    """A PATH of stand-ins, a config folder of its own; ``proxy``: mpris-proxy's unit state
    ("disabled", "enabled"), or None for no unit; ``bluez``: whether mpris-proxy is there."""

    def __init__(self, tmp_path: Path, bluez: bool, proxy: str | None):
        self.root = tmp_path
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for name, text in (("systemctl", SYSTEMCTL), ("loginctl", LOGINCTL)) + (
            (("mpris-proxy", "#!/bin/sh\nexit 0\n"),) if bluez else ()
        ):
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        if proxy is not None:
            (tmp_path / "proxy").write_text(proxy + "\n")
        self.units = tmp_path / "config" / "systemd" / "user"
        self.env = {
            **os.environ,
            "PATH": str(self.bin),
            "STANDIN": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }

    def holdcue(self, *args: str) -> subprocess.CompletedProcess[str]:
        (self.root / "calls").write_text("")
        return subprocess.run(
            [sys.executable, "-m", "holdcue", *args], capture_output=True, text=True, env=self.env, timeout=120
        )

    def calls(self) -> list[str]:
        return [line for line in (self.root / "calls").read_text().splitlines() if "mpris-proxy" in line]


def test_install_status_uninstall_with_bluez_s_unit_disabled(tmp_path):
    machine = Machine(tmp_path, bluez=True, proxy="disabled")
    note = machine.units / "mpris-proxy.service.d" / "holdcue.conf"
    installed = machine.holdcue("service", "install")
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.splitlines()[-1] == (
        "Headset buttons: enabled mpris-proxy.service (bluez's), which passes a Bluetooth headset's buttons to "
        f"holdcue; the note {note} says holdcue did. To undo it: holdcue service uninstall "
        "(or systemctl --user disable --now mpris-proxy.service, and remove the note)."
    )
    assert machine.calls() == ["--user is-enabled mpris-proxy.service", "--user enable --now mpris-proxy.service"]
    status = machine.holdcue("service", "status")
    assert "headset:   mpris-proxy.service enabled, active (enabled by holdcue)\n" in status.stdout
    removed = machine.holdcue("service", "uninstall")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines()[-1] == (
        "Stopped and disabled mpris-proxy.service again (holdcue service install had enabled it); "
        f"removed the note {note}."
    )
    assert machine.calls() == ["--user disable --now mpris-proxy.service"]
    assert not note.exists() and (tmp_path / "proxy").read_text() == "disabled\n"


def test_install_status_uninstall_where_bluez_ships_no_unit(tmp_path):
    machine = Machine(tmp_path, bluez=True, proxy=None)
    unit = machine.units / "mpris-proxy.service"
    installed = machine.holdcue("service", "install")
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.splitlines()[-1] == (
        f"Headset buttons: wrote {unit} (bluez ships no unit for mpris-proxy here) and enabled it: "
        "it passes a Bluetooth headset's buttons to holdcue. To undo it: holdcue service uninstall "
        "(or systemctl --user disable --now mpris-proxy.service, and remove the file)."
    )
    assert unit.read_text() == headset.unit_text(str(machine.bin / "mpris-proxy"))
    status = machine.holdcue("service", "status")
    assert "headset:   mpris-proxy.service enabled, active (holdcue's unit)\n" in status.stdout
    removed = machine.holdcue("service", "uninstall")
    assert removed.stdout.splitlines()[-1] == (
        f"Stopped and disabled mpris-proxy.service; removed {unit}, which holdcue service install wrote."
    )
    assert not unit.exists()


def test_install_with_the_proxy_enabled_already_leaves_it_and_uninstall_too(tmp_path):
    machine = Machine(tmp_path, bluez=True, proxy="enabled")
    installed = machine.holdcue("service", "install")
    assert installed.stdout.splitlines()[-1] == (
        "Headset buttons: mpris-proxy.service was enabled already (enabled), so it was left as it is."
    )
    assert machine.calls() == ["--user is-enabled mpris-proxy.service"]
    removed = machine.holdcue("service", "uninstall")
    assert "mpris-proxy" not in removed.stdout and machine.calls() == []
    assert (tmp_path / "proxy").read_text() == "enabled\n"


def test_install_without_bluez_says_what_to_install(tmp_path):
    machine = Machine(tmp_path, bluez=False, proxy=None)
    installed = machine.holdcue("service", "install")
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.splitlines()[-1] == (
        "Headset buttons: bluez is not installed (no mpris-proxy), so nothing was set up for them. "
        "For a Bluetooth headset: sudo apt install bluez, then holdcue service install again."
    )
    assert machine.calls() == []
    status = machine.holdcue("service", "status")
    assert (
        "headset:   no mpris-proxy (bluez is not installed): a Bluetooth headset's buttons cannot reach holdcue\n"
        in status.stdout
    )


def test_no_headset_buttons_leaves_the_proxy_alone(tmp_path):
    machine = Machine(tmp_path, bluez=True, proxy="disabled")
    installed = machine.holdcue("service", "install", "--no-headset-buttons")
    assert installed.returncode == 0, installed.stderr
    assert "Headset buttons" not in installed.stdout and machine.calls() == []
    assert not machine.units.joinpath("mpris-proxy.service.d").exists()


def test_a_failing_enable_says_holdcue_itself_is_installed(tmp_path):
    machine = Machine(tmp_path, bluez=True, proxy="disabled")
    (machine.bin / "systemctl").write_text(
        SYSTEMCTL.replace(
            '"--user enable --now mpris-proxy.service") echo enabled > "$STANDIN/proxy" ;;',
            '"--user enable --now mpris-proxy.service") echo "Failed to enable unit: Access denied" >&2; exit 1 ;;',
        )
    )
    installed = machine.holdcue("service", "install")
    assert installed.returncode == 8
    assert installed.stderr.startswith(
        "Error: holdcue.service is installed, but headset buttons are not set up: "
        "systemctl --user enable --now mpris-proxy.service failed: Failed to enable unit: Access denied"
    )
    assert "Traceback" not in installed.stderr
