"""Headset buttons: a Bluetooth headset's play, pause, next and previous buttons reach
holdcue's MPRIS player (mpris/) through BlueZ's ``mpris-proxy``, which registers the
session's MPRIS players with bluetoothd. BlueZ passes the buttons (AVRCP) only to a
registered player, and registers none by itself: without the proxy running in the user's
session, the buttons do nothing. ``holdcue service install`` sets it up here
(docs/controls.md), ``holdcue service uninstall`` undoes what it did.

What is set up depends on the machine:

- no ``mpris-proxy`` (bluez is not installed): nothing;
- ``mpris-proxy.service`` enabled already (newer bluez enables its own unit for every user),
  or masked by the user: left as it is;
- bluez's own unit there but disabled: enabled, and a note left beside it (a drop-in holding
  only comments) that says holdcue did it, so that uninstall disables it again, and only then;
- no unit for it (bluez 5.66 of Debian and Raspberry Pi OS bookworm ships none): holdcue
  writes one, marked as its own, and enables it; uninstall removes it.

systemctl is reached through systemd.Manager (recorded in tests), and the program is found
with ``find`` (shutil.which by default).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from holdcue import systemd

PROGRAM = "mpris-proxy"
UNIT_NAME = "mpris-proxy.service"
MARK = '# Written by "holdcue service install"'  # the first line of every file holdcue writes here
NOTE_NAME = "holdcue.conf"  # the note beside bluez's unit: <folder>/mpris-proxy.service.d/holdcue.conf
LEFT_ALONE = ("enabled", "enabled-runtime", "static", "indirect", "generated", "alias", "linked", "linked-runtime")
UNDO = f"systemctl --user disable --now {UNIT_NAME}"

Finder = Callable[[str], "str | None"]


def unit_text(program: str) -> str:
    """holdcue's own unit for mpris-proxy, where bluez ships none."""
    return f"""\
{MARK} (bluez ships no unit for mpris-proxy here); "holdcue service uninstall" removes it.
[Unit]
Description=Bluetooth headset buttons to the session's media players (mpris-proxy, for holdcue)
Documentation=man:mpris-proxy(1)

[Service]
ExecStart={systemd.quote(program, program=True)}
Restart=on-failure
RestartSec=5s

[Install]
WantedBy=default.target
"""


NOTE_TEXT = f"""\
{MARK}, which enabled {UNIT_NAME} (it was disabled) so that a Bluetooth
# headset's buttons reach holdcue. "holdcue service uninstall" disables it again and removes this
# note. It holds nothing for systemd to read.
"""


@dataclass(frozen=True)
class Setup:
    """What ``set_up`` did: ``done`` is "no-bluez", "left" (enabled already, or masked: ``state``
    says which), "enabled" (bluez's unit, ``path`` the note) or "written" (holdcue's unit at ``path``)."""

    done: str
    state: str = ""  # systemctl is-enabled, before
    path: Path | None = None
    program: str | None = None


@dataclass(frozen=True)
class State:
    program: str | None  # None: bluez is not installed (and systemctl was not asked)
    enabled: str  # systemctl is-enabled: "enabled", "disabled", "not-found"...
    active: str  # systemctl is-active: "active", "inactive"...
    ours: str  # "unit" (holdcue wrote it), "note" (holdcue enabled bluez's), or ""


def folder() -> Path:
    """Where user units go (beside holdcue.service)."""
    return systemd.unit_path().parent


def _paths(units: Path | None) -> tuple[Path, Path]:
    units = units or folder()
    return units / UNIT_NAME, units / f"{UNIT_NAME}.d" / NOTE_NAME


def _marked(path: Path) -> bool:
    text = systemd.read_text(path)
    return text is not None and text.startswith(MARK)


def _is_enabled(manager: systemd.Manager) -> str:
    # systemd 252 says nothing on stdout for a unit it cannot find; later ones say "not-found"
    return manager.systemctl("is-enabled", UNIT_NAME, check=False).stdout.strip() or "not-found"


def set_up(*, runner: systemd.Runner | None = None, find: Finder = shutil.which, units: Path | None = None) -> Setup:
    """Have mpris-proxy run in the user's session (see the module's docstring). Raises
    ServiceManagerError when systemctl fails, OutputError when the unit cannot be written."""
    program = find(PROGRAM)
    if program is None:
        return Setup("no-bluez")
    manager = systemd.Manager(runner)
    unit, note = _paths(units)
    if not _marked(unit):
        state = _is_enabled(manager)
        if state in LEFT_ALONE or state.startswith("masked"):
            return Setup("left", state, program=program)
        if state != "not-found":  # bluez's unit, disabled
            systemd.write_atomically(note, NOTE_TEXT)
            manager.systemctl("daemon-reload")
            manager.systemctl("enable", "--now", UNIT_NAME)
            return Setup("enabled", state, note, program)
    else:
        state = "holdcue's"
    text = unit_text(program)
    if systemd.read_text(unit) != text:
        systemd.write_atomically(unit, text)
    manager.systemctl("daemon-reload")
    manager.systemctl("enable", "--now", UNIT_NAME)
    return Setup("written", state, unit, program)


def undo(*, runner: systemd.Runner | None = None, units: Path | None = None) -> Setup | None:
    """Undo what set_up did, and nothing else: disable the proxy holdcue enabled and remove
    its note, or disable and remove holdcue's unit. None: holdcue had set up nothing."""
    manager = systemd.Manager(runner)
    unit, note = _paths(units)
    if _marked(unit):
        manager.systemctl("disable", "--now", UNIT_NAME)
        unit.unlink()
        manager.systemctl("daemon-reload")
        return Setup("written", path=unit)
    if _marked(note):
        manager.systemctl("disable", "--now", UNIT_NAME)
        note.unlink()
        if not any(note.parent.iterdir()):
            note.parent.rmdir()
        manager.systemctl("daemon-reload")
        return Setup("enabled", path=note)
    return None


def state(*, runner: systemd.Runner | None = None, find: Finder = shutil.which, units: Path | None = None) -> State:
    """Whether the proxy is there, enabled and running, and whether holdcue set it up.
    Raises ServiceManagerError when the user manager cannot be asked."""
    unit, note = _paths(units)
    ours = "unit" if _marked(unit) else "note" if _marked(note) else ""
    program = find(PROGRAM)
    if program is None:
        return State(None, "", "", ours)
    manager = systemd.Manager(runner)
    enabled = _is_enabled(manager)
    active = manager.systemctl("is-active", UNIT_NAME, check=False).stdout.strip() or "unknown"
    return State(program, enabled, active, ours)
