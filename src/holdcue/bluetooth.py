"""What a Bluetooth speaker needs on Raspberry Pi OS Lite, set up for the service: PipeWire
with WirePlumber and its Bluetooth plugin, and BlueZ (``machine.BLUETOOTH_PACKAGES``,
installed with apt-get), PipeWire's user units started, and lingering on, so that the
user's manager, and PipeWire with it, runs from boot without a login (docs/service.md says
why PipeWire rather than bluez-alsa).

The programs (dpkg-query, apt-get, sudo, systemctl, loginctl) are the ones on PATH. apt-get
and sudo run with the terminal's input and output: sudo may ask for a password, and apt-get's
progress is shown as it comes.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from os import getuid  # looked up at call time: tests stand in for a user who is not root

from holdcue import machine, systemd
from holdcue.errors import ServiceManagerError

PAIRING = """\
Pair the speaker once: put it in pairing mode, then (AA:BB:CC:DD:EE:FF is its address as
`scan on` lists it)
    bluetoothctl
    power on
    agent on
    scan on
    pair AA:BB:CC:DD:EE:FF
    trust AA:BB:CC:DD:EE:FF      # it reconnects by itself after a reboot
    connect AA:BB:CC:DD:EE:FF
    quit
Test it: wpctl status lists the speaker among the Sinks, marked * as the default
(else wpctl set-default ID), and speaker-test -c 2 -t wav -l 1 says "front left", "front right"."""


def missing_packages(packages: Sequence[str] = machine.BLUETOOTH_PACKAGES) -> list[str]:
    """Those of ``packages`` that dpkg does not have installed."""
    if shutil.which("dpkg-query") is None:
        raise ServiceManagerError("dpkg-query is not installed: installing PipeWire needs Debian or Raspberry Pi OS.")
    missing = []
    for package in packages:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
        )
        if "install ok installed" not in result.stdout:
            missing.append(package)
    return missing


def as_root(args: Sequence[str], what: str) -> list[str]:
    """``args`` to run as root: as they are for root, through sudo for anyone else. Raises
    ServiceManagerError, with the command to run as root, where there is no sudo."""
    if getuid() == 0:
        return list(args)
    if shutil.which("sudo") is None:
        raise ServiceManagerError(
            f"{what} needs root, and sudo is not installed: as root (su -), run\n    {' '.join(args)}\n"
            "and then this command again."
        )
    return ["sudo", *args]


def install_packages(packages: Sequence[str]) -> None:
    """apt-get update, then apt-get install ``packages`` (as root). Raises ServiceManagerError
    naming the command to run when apt-get fails."""
    line = f"apt-get update && apt-get install -y --no-install-recommends {' '.join(packages)}"
    steps = (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *packages])
    for step in steps:
        command = as_root(["env", "DEBIAN_FRONTEND=noninteractive", *step], f"installing {' '.join(packages)}")
        if subprocess.run(command, check=False).returncode != 0:
            raise ServiceManagerError(f"apt-get failed (its messages are above); as root, run\n    {line}")


def start_pipewire(runner: systemd.Runner | None = None) -> None:
    """Enables and starts PipeWire's user units for this user (Debian enables them for every
    user; started now, not at the next login)."""
    systemd.Manager(runner).systemctl("enable", "--now", *machine.PIPEWIRE_UNITS)


def enable_lingering(user: str) -> None:
    """loginctl enable-linger ``user`` (as root). Raises ServiceManagerError when it fails."""
    command = as_root(["loginctl", "enable-linger", user], "turning lingering on")
    if subprocess.run(command, check=False).returncode != 0:
        raise ServiceManagerError(f"loginctl could not turn lingering on; run\n    sudo loginctl enable-linger {user}")
