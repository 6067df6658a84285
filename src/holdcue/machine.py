"""Which machine holdcue runs on, as far as sound is concerned: the release (Raspberry Pi OS
bookworm or trixie, or another), whether it is a Raspberry Pi, and what plays the sound.

Raspberry Pi OS comes as a desktop image, where PipeWire (with WirePlumber) runs in the
user's session, and as Lite, with no sound server at all: programs play straight to ALSA.
A USB speaker or the headphone jack works either way; a Bluetooth speaker needs PipeWire
and its Bluetooth plugin (``BLUETOOTH_PACKAGES``), which Lite does not have.

``detect`` reads files only (os-release, /proc, the device tree), each path a parameter so
that tests can give it a made-up machine. It never fails: what it cannot read is unknown.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

OS_RELEASE = Path("/etc/os-release")
PROC = Path("/proc")
MODEL = Path("/proc/device-tree/model")
ALSA_CARDS = Path("/proc/asound/cards")
PIPEWIRE = Path("/usr/bin/pipewire")

# The releases holdcue is checked on (scripts/check-arm64) and their Python.
RELEASES = {"bookworm": "3.11", "trixie": "3.13"}

# What a Bluetooth speaker needs on Lite, by Debian's names, the same in bookworm and trixie
# (and in Raspberry Pi OS, which takes them from Debian): PipeWire, its PulseAudio server
# (pactl, and the applications that speak PulseAudio), its ALSA plugin (ALSA's "default",
# which PortAudio and simpleaudio play to, goes through PipeWire), WirePlumber (which makes
# the devices appear, Bluetooth ones too), PipeWire's Bluetooth plugin, BlueZ, and the user's
# D-Bus session bus, which WirePlumber needs (Debian only recommends it on bookworm; a setup
# without recommends would lack it).
BLUETOOTH_PACKAGES = (
    "pipewire",
    "pipewire-pulse",
    "pipewire-alsa",
    "wireplumber",
    "libspa-0.2-bluetooth",
    "bluez",
    "dbus-user-session",
)
# Their user units, which Debian enables for every user; started now rather than at the next login.
PIPEWIRE_UNITS = ("pipewire.socket", "pipewire-pulse.socket", "wireplumber.service")

_SERVERS = {"pipewire": "PipeWire", "pipewire-pulse": "PipeWire", "pulseaudio": "PulseAudio"}


@dataclass(frozen=True)
class Machine:
    system: str  # os-release's PRETTY_NAME: "Debian GNU/Linux 13 (trixie)"; "" when unknown
    codename: str  # "bookworm", "trixie"...; "" when unknown
    model: str  # "Raspberry Pi 4 Model B Rev 1.4"; "" off a Pi
    sound_server: str  # "PipeWire" or "PulseAudio" when one runs for the user; "" when none does
    pipewire_installed: bool
    cards: tuple[str, ...]  # ALSA's sound cards: "0 Headphones: bcm2835 Headphones"

    @property
    def lite(self) -> bool:
        """No sound server runs and PipeWire is not installed: Raspberry Pi OS Lite, or a
        minimal Debian. Programs play to ALSA."""
        return not self.sound_server and not self.pipewire_installed

    def describe(self) -> str:
        """What was found, in a few lines, and what it means for the sound."""
        where = ", ".join(part for part in (self.model, self.system or "an unknown release") if part)
        if self.codename and self.codename not in RELEASES:
            where += f" (holdcue is checked on {' and '.join(RELEASES)})"
        if self.sound_server:
            sound = (
                f"{self.sound_server} runs in this session (as on a desktop image): holdcue plays through it, "
                "Bluetooth speakers too."
            )
        elif self.pipewire_installed:
            sound = (
                "PipeWire is installed but not running for this user: it starts with the session "
                f"(systemctl --user start {' '.join(PIPEWIRE_UNITS)})."
            )
        else:
            sound = (
                "no sound server, ALSA only (as on Raspberry Pi OS Lite): a USB speaker or the headphone "
                "jack plays as it is; a Bluetooth speaker needs PipeWire: holdcue service install --bluetooth."
            )
        cards = "; ".join(self.cards) if self.cards else "none found (aplay -l lists them)"
        return f"Machine: {where}.\nSound: {sound}\nALSA sound cards: {cards}."


def detect(
    *,
    os_release: Path = OS_RELEASE,
    proc: Path = PROC,
    model: Path = MODEL,
    alsa_cards: Path = ALSA_CARDS,
    pipewire: Path = PIPEWIRE,
    uid: int | None = None,
) -> Machine:
    """This machine. ``uid``: whose sound server counts (None: any user's, for root, who has
    none of its own; by default the user running this)."""
    release = _os_release(os_release)
    owner = os.getuid() if uid is None else uid
    servers = _running(proc, None if owner == 0 else owner)
    server = next((_SERVERS[name] for name in ("pipewire", "pipewire-pulse", "pulseaudio") if name in servers), "")
    return Machine(
        system=release.get("PRETTY_NAME", ""),
        codename=release.get("VERSION_CODENAME", ""),
        model=_text(model).rstrip("\x00").strip(),
        sound_server=server,
        pipewire_installed=pipewire.exists(),
        cards=_cards(alsa_cards),
    )


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _os_release(path: Path) -> dict[str, str]:
    """os-release's KEY=value lines, values unquoted as a shell would."""
    values = {}
    for line in _text(path).splitlines():
        key, sep, value = line.partition("=")
        if not sep or not key.strip() or key.lstrip().startswith("#"):
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            continue
        values[key.strip()] = " ".join(words)
    return values


def _running(proc: Path, uid: int | None) -> set[str]:
    """The names of the sound servers among the processes of ``uid`` (None: of anyone)."""
    found: set[str] = set()
    try:
        entries = list(proc.iterdir())
    except OSError:
        return found
    for entry in entries:
        if not entry.name.isdigit():
            continue
        name = _text(entry / "comm").strip()
        if name not in _SERVERS:
            continue
        try:
            if uid is not None and entry.stat().st_uid != uid:
                continue
        except OSError:
            continue  # ended meanwhile
        found.add(name)
    return found


def _cards(path: Path) -> tuple[str, ...]:
    """ALSA's cards from /proc/asound/cards: its lines " 0 [Headphones     ]: bcm2835 - bcm2835 Headphones"."""
    cards = []
    for line in _text(path).splitlines():
        number, sep, rest = line.strip().partition(" [")
        if not sep or not number.isdigit():
            continue
        card_id, _, description = rest.partition("]")
        description = description.strip().lstrip(":").strip()
        cards.append(f"{number} {card_id.strip()}: {description.split(' - ', 1)[-1]}")
    return tuple(cards)
