"""A private D-Bus session bus for a test (dbus-daemon, as a desktop session runs it) and
playerctl, the MPRIS client of the command line, pointed at it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

PROGRAMS = ("dbus-daemon", "dbus-send", "playerctl")


def missing() -> list[str]:
    """What this machine lacks for the MPRIS tests (Debian packages dbus-daemon, which brings
    dbus-send, and playerctl)."""
    return [program for program in PROGRAMS if shutil.which(program) is None]


class SessionBus:
    """``dbus-daemon --session`` of the test's own; ``address`` is its DBUS_SESSION_BUS_ADDRESS.
    ``socket``: listen there (as a systemd user session's bus does, at $XDG_RUNTIME_DIR/bus)."""

    def __init__(self, socket: str | None = None):
        self.socket = socket

    def __enter__(self) -> SessionBus:
        where = [f"--address=unix:path={self.socket}"] if self.socket else []
        self.process = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1", *where],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # as root it warns that it cannot raise its file limit
            text=True,
        )
        assert self.process.stdout is not None
        self.address = self.process.stdout.readline().strip()
        assert self.address.startswith("unix:"), f"dbus-daemon said {self.address!r}"
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def __exit__(self, *exc) -> None:
        self.stop()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        return {**(os.environ if base is None else base), "DBUS_SESSION_BUS_ADDRESS": self.address}

    def playerctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["playerctl", *args], env=self.env(), capture_output=True, text=True, timeout=20)
        if check:
            assert done.returncode == 0, f"playerctl {' '.join(args)}: {done.stderr}"
        return done

    def players(self) -> list[str]:
        return self.playerctl("-l", check=False).stdout.split()

    def wait_for_player(self, name: str = "holdcue", timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while name not in self.players():
            assert time.monotonic() < deadline, f"no player {name!r} on the bus: {self.players()}"
            time.sleep(0.05)

    def ask(self, player: str, *args: str) -> str:
        """What playerctl prints for ``player`` (status, metadata, volume...), stripped."""
        return self.playerctl("--player", player, *args).stdout.strip()

    def get(self, player: str, interface: str, name: str) -> str:
        """A property as dbus-send prints it ("variant       boolean false")."""
        done = subprocess.run(
            [
                "dbus-send",
                "--print-reply",
                f"--dest=org.mpris.MediaPlayer2.{player}",
                "/org/mpris/MediaPlayer2",
                "org.freedesktop.DBus.Properties.Get",
                f"string:{interface}",
                f"string:{name}",
            ],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert done.returncode == 0, done.stderr
        return " ".join(done.stdout.split("\n", 1)[1].split())

    def call(self, player: str, method: str, *args: str) -> subprocess.CompletedProcess[str]:
        """A method of the Player interface, called with dbus-send."""
        return subprocess.run(
            [
                "dbus-send",
                "--print-reply",
                f"--dest=org.mpris.MediaPlayer2.{player}",
                "/org/mpris/MediaPlayer2",
                f"org.mpris.MediaPlayer2.Player.{method}",
                *args,
            ],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=20,
        )

    def metadata(self, player: str) -> dict[str, str]:
        """The track's metadata as playerctl gives it, by key (absent keys: "")."""
        keys = ("mpris:trackid", "xesam:title", "xesam:album", "mpris:length", "xesam:trackNumber")
        shown = self.ask(player, "metadata", "--format", "|||".join("{{" + key + "}}" for key in keys))
        found = dict(zip(keys, shown.split("|||"), strict=True))
        found["mpris:trackid"] = found["mpris:trackid"].strip("'")  # playerctl quotes an object path
        return found

    def wait_for(self, player: str, args: tuple[str, ...], expected: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while (said := self.ask(player, *args)) != expected:
            assert time.monotonic() < deadline, f"playerctl {' '.join(args)}: {said!r}, not {expected!r}"
            time.sleep(0.05)
