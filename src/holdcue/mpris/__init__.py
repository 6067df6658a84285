"""MPRIS2: holdcue as a media player on the user's D-Bus session bus, so that headset
buttons (through BlueZ's mpris-proxy), media keys, KDE Connect and playerctl steer it, as
org.mpris.MediaPlayer2.holdcue (docs/controls.md). A front end of the core, like the
terminal's keys, the phone page and the button.

    showing.py    what the player shows: the core's status as MPRIS properties (no D-Bus)
    commands.py   the MPRIS methods as the core's commands (no D-Bus)
    service.py    the player on the bus, with dbus-fast (asyncio)

``start`` runs it on a thread of its own, which imports dbus-fast and connects in the
background: no command waits on D-Bus to start, and one that does not use MPRIS (holdcue
list) never imports it.
"""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from typing import TYPE_CHECKING

from holdcue.mpris.commands import UNSTEERED, Commands, Log

if TYPE_CHECKING:
    from holdcue.core import Core

JOIN_SECONDS = 5.0  # the longest close() waits: a command under way finishes first (a play is made ready)


def session_bus_address(environ: dict[str, str] | None = None) -> str | None:
    """Where the session bus is: DBUS_SESSION_BUS_ADDRESS, else the bus of the user's systemd
    session at $XDG_RUNTIME_DIR/bus (where libdbus and sd-bus look too); None: no bus."""
    environ = dict(os.environ) if environ is None else environ
    if environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return environ["DBUS_SESSION_BUS_ADDRESS"]
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime:
        socket = os.path.join(runtime, "bus")
        try:
            if stat.S_ISSOCK(os.stat(socket).st_mode):
                return f"unix:path={socket}"
        except OSError:
            pass
    return None


class Mpris:
    """The player on the bus, on a thread of its own; ``close()`` takes it off and ends the
    thread. ``note`` hears why there is no player (one line), or that the bus went away;
    ``log`` the name it took and a line for each command (the service's log)."""

    def __init__(self, core: Core, *, note: Log, log: Log, play_when_idle: bool, can_quit: bool):
        self.core = core
        self.note = note
        self.commands = Commands(core, log, play_when_idle=play_when_idle, can_quit=can_quit)
        self._lock = threading.Lock()
        self._closing = False
        self._stop: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._thread = threading.Thread(target=self._run, name="holdcue-mpris", daemon=True)

    def start(self) -> Mpris:
        self._thread.start()
        return self

    def close(self) -> None:
        with self._lock:
            self._closing = True
            if self._stop is not None:
                loop, event = self._stop
                loop.call_soon_threadsafe(event.set)
        if self._thread.is_alive():
            self._thread.join(JOIN_SECONDS)

    def _run(self) -> None:
        address = session_bus_address()
        if address is None:
            self.note(f"mpris: off, there is no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set); {UNSTEERED}")
            return
        try:
            from holdcue.mpris import service
        except ImportError as error:  # installed without its dependencies
            self.note(f"mpris: off, dbus-fast cannot be imported ({error})")
            return
        try:
            asyncio.run(self._serve(service, address))
        except Exception as error:  # a fault of holdcue's: the rest of it plays on without MPRIS
            self.note(f"mpris: off after an error ({type(error).__name__}: {error}); {UNSTEERED}")

    async def _serve(self, service, address: str) -> None:
        event = asyncio.Event()
        with self._lock:
            if self._closing:
                return
            self._stop = (asyncio.get_running_loop(), event)
        try:
            await service.serve(self.core, self.commands, address, event, self.note)
        finally:
            with self._lock:
                self._stop = None  # the loop closes: close() has nothing left to wake


def start(core: Core, *, note: Log, log: Log | None = None, play_when_idle: bool, can_quit: bool) -> Mpris:
    """The MPRIS player for ``core``, connecting in the background (see Mpris)."""
    return Mpris(core, note=note, log=log or _quiet, play_when_idle=play_when_idle, can_quit=can_quit).start()


def _quiet(line: str) -> None:
    """holdcue play logs no commands: its terminal shows what they did."""


__all__ = ["Mpris", "session_bus_address", "start"]
