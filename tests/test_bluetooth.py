"""holdcue service install --bluetooth on a made-up Raspberry Pi OS Lite: the command runs for
real (CliRunner), with a PATH on which dpkg-query, apt-get, sudo, systemctl and loginctl are
stand-ins that answer as Lite would and record how they were called; env and bash are the
real ones, and nothing else is there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from holdcue import bluetooth, machine, systemd
from holdcue.cli import cli
from holdcue.exitcodes import ExitCode

STUBS = {
    "dpkg-query": """
pkg="${@: -1}"
while read -r line; do
    [ "$line" = "$pkg" ] && { printf 'install ok installed'; exit 0; }
done < "$STUB_STATE/installed"
echo "dpkg-query: no packages found matching $pkg" >&2; exit 1
""",
    "apt-get": """
echo "apt-get DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-} $*" >> "$STUB_STATE/calls"
[ "${STUB_APT_RC:-0}" = 0 ] || { echo "E: Unable to locate package" >&2; exit "$STUB_APT_RC"; }
if [ "$1" = install ]; then
    for a in "$@"; do case $a in install | -*) ;; *) echo "$a" >> "$STUB_STATE/installed" ;; esac; done
fi
""",
    "sudo": """
echo "sudo $*" >> "$STUB_STATE/calls"
exec "$@"
""",
    "systemctl": """
echo "systemctl $*" >> "$STUB_STATE/calls"
if [ "${STUB_BUS:-yes}" != yes ]; then
    # as in a chroot: enable makes its links, then --now finds no manager
    [ "$2" = enable ] && echo "Created symlink /root/.config/systemd/user/sockets.target.wants/$4 → /usr/lib/x." >&2
    echo "Failed to connect to bus: No medium found" >&2
    exit 1
fi
""",
    "loginctl": """
echo "loginctl $*" >> "$STUB_STATE/calls"
[ "$1" = show-user ] && echo "${STUB_LINGER:-no}"
exit 0
""",
}


class Lite:
    def __init__(self, state: Path, bin_dir: Path):
        self.state, self.bin = state, bin_dir

    def calls(self) -> list[str]:
        path = self.state / "calls"
        return path.read_text().splitlines() if path.exists() else []

    def installed(self) -> list[str]:
        return (self.state / "installed").read_text().split()


@pytest.fixture
def lite(tmp_path, monkeypatch) -> Lite:
    """A user (uid 1000) with sudo on Lite: none of the Bluetooth packages, lingering off."""
    stubs, state = tmp_path / "bin", tmp_path / "state"
    stubs.mkdir()
    state.mkdir()
    for name, body in STUBS.items():
        (stubs / name).write_text("#!/bin/bash\n" + body.lstrip("\n"))
        (stubs / name).chmod(0o755)
    for tool in ("bash", "env"):
        (stubs / tool).symlink_to(shutil.which(tool))
    (state / "installed").write_text("")
    monkeypatch.setenv("PATH", str(stubs))
    monkeypatch.setenv("STUB_STATE", str(state))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(bluetooth, "getuid", lambda: 1000)
    return Lite(state, stubs)


def install(*args: str):
    return CliRunner().invoke(cli, ["service", "install", "--bluetooth", *args])


def test_on_lite_it_installs_pipewire_starts_it_turns_lingering_on_then_says_how_to_pair(lite):
    result = install("--keep-alive")
    assert result.exit_code == 0, result.output
    user = systemd.user_name()
    packages = " ".join(machine.BLUETOOTH_PACKAGES)
    calls = lite.calls()
    assert calls[:4] == [
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get update",
        "apt-get DEBIAN_FRONTEND=noninteractive update",
        f"sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {packages}",
        f"apt-get DEBIAN_FRONTEND=noninteractive install -y --no-install-recommends {packages}",
    ]
    assert calls[4:8] == [
        "systemctl --user enable --now pipewire.socket pipewire-pulse.socket wireplumber.service",
        f"loginctl show-user {user} --property=Linger --value",
        f"sudo loginctl enable-linger {user}",
        f"loginctl enable-linger {user}",
    ]
    # then holdcue's own unit, as without the option
    assert "systemctl --user enable --now holdcue.service" in calls[8:]
    assert lite.installed() == list(machine.BLUETOOTH_PACKAGES)
    out = result.stdout
    assert out.startswith("Machine: ")
    assert f"Installing {packages} with apt-get (for a Bluetooth speaker):" in out
    assert "Started pipewire.socket pipewire-pulse.socket wireplumber.service" in out
    assert f"Turned lingering on for {user}" in out
    assert out.endswith(bluetooth.PAIRING + "\n")
    assert "bluetoothctl\n" in out and "pair AA:BB:CC:DD:EE:FF" in out and "wpctl status" in out
    unit = Path(lite.state.parent / "config/systemd/user/holdcue.service").read_text()
    assert " serve --keep-alive\n" in unit


def test_what_is_there_is_not_installed_again_nor_lingering_turned_on_again(lite, monkeypatch):
    (lite.state / "installed").write_text("\n".join(machine.BLUETOOTH_PACKAGES) + "\n")
    monkeypatch.setenv("STUB_LINGER", "yes")
    result = install()
    assert result.exit_code == 0, result.output
    calls = lite.calls()
    assert not [c for c in calls if c.startswith(("apt-get", "sudo"))]
    assert "loginctl enable-linger" not in "\n".join(calls)
    assert f"For a Bluetooth speaker: {', '.join(machine.BLUETOOTH_PACKAGES)} are installed." in result.stdout


def test_only_the_missing_packages_are_installed(lite):
    (lite.state / "installed").write_text("bluez\npipewire\n")
    assert install().exit_code == 0
    wanted = [p for p in machine.BLUETOOTH_PACKAGES if p not in ("bluez", "pipewire")]
    line = f"apt-get DEBIAN_FRONTEND=noninteractive install -y --no-install-recommends {' '.join(wanted)}"
    assert line in lite.calls()


def test_root_needs_no_sudo(lite, monkeypatch):
    monkeypatch.setattr(bluetooth, "getuid", lambda: 0)
    assert install().exit_code == 0
    assert not [c for c in lite.calls() if c.startswith("sudo")]
    assert "apt-get DEBIAN_FRONTEND=noninteractive update" in lite.calls()


def test_without_sudo_it_says_what_to_run_as_root_and_installs_nothing(lite):
    (lite.bin / "sudo").unlink()
    result = install()
    assert result.exit_code == ExitCode.SERVICE_UNAVAILABLE
    assert "needs root, and sudo is not installed: as root (su -), run\n" in result.stderr
    assert "env DEBIAN_FRONTEND=noninteractive apt-get update" in result.stderr
    assert lite.calls() == [] and lite.installed() == []
    assert not (lite.state.parent / "config/systemd/user/holdcue.service").exists()


def test_apt_get_failing_stops_before_the_unit_and_names_the_line_to_run(lite, monkeypatch):
    monkeypatch.setenv("STUB_APT_RC", "100")
    result = install()
    assert result.exit_code == ExitCode.SERVICE_UNAVAILABLE
    line = f"apt-get update && apt-get install -y --no-install-recommends {' '.join(machine.BLUETOOTH_PACKAGES)}"
    assert f"apt-get failed (its messages are above); as root, run\n    {line}" in result.stderr
    assert not [c for c in lite.calls() if c.startswith("systemctl")]
    assert not (lite.state.parent / "config/systemd/user/holdcue.service").exists()


def test_without_a_user_manager_the_packages_stay_and_it_says_why(lite, monkeypatch):
    """As in a chroot, or through sudo: the packages are installed, the units cannot be started."""
    monkeypatch.setenv("STUB_BUS", "no")
    result = install()
    assert result.exit_code == ExitCode.SERVICE_UNAVAILABLE
    assert "there is no systemd user manager to talk to (Failed to connect to bus: No medium found)." in result.stderr
    assert lite.installed() == list(machine.BLUETOOTH_PACKAGES)
    assert not (lite.state.parent / "config/systemd/user/holdcue.service").exists()


def test_without_the_option_nothing_is_installed(lite):
    result = CliRunner().invoke(cli, ["service", "install"])
    assert result.exit_code == 0, result.output
    assert not [c for c in lite.calls() if c.startswith(("apt-get", "sudo"))]
    assert "pipewire" not in "\n".join(lite.calls())
    assert "bluetoothctl" not in result.stdout and result.stdout.startswith("Machine: ")
