"""holdcue's MPRIS2 player on the D-Bus session bus, with dbus-fast (asyncio): the two
interfaces at /org/mpris/MediaPlayer2, the bus name, and the watch on the core that
announces each change of what they show (PropertiesChanged). Everything here runs on the
event loop of the thread that __init__.py starts; the core's commands, which may take a
while (today's session is made ready first), run on a worker of their own so that the bus
is answered meanwhile."""

# No "from __future__ import annotations": dbus-fast reads the signatures from the
# annotations, and would read a postponed "-> None" as a signature.
import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from dbus_fast import DBusError, ErrorType, NameFlag, RequestNameReply, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusDict, DBusDouble, DBusInt64, DBusObjectPath, DBusSignature, DBusStr
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

import holdcue.mpris.showing as showing  # the module, not the package: no import runs back up
from holdcue.core import Core, Snapshot
from holdcue.mpris.commands import UNSTEERED, Commands, Log, Refused

BUS_NAME = "org.mpris.MediaPlayer2.holdcue"
OBJECT_PATH = "/org/mpris/MediaPlayer2"
WATCH_SECONDS = 0.5  # the longest the watch on the core waits at a time: how soon it notices a stop
SEEK_SECONDS = 1.5  # a jump back in the same track by more than this is announced (Seeked)
READ = PropertyAccess.READ
DBusStrings = Annotated[list[str], DBusSignature("as")]


class RootInterface(ServiceInterface):
    """org.mpris.MediaPlayer2: who the player is."""

    def __init__(self, player: "PlayerInterface"):
        super().__init__("org.mpris.MediaPlayer2")
        self.player = player

    @dbus_method()
    def Raise(self) -> None:
        """No window to raise (CanRaise is false)."""

    @dbus_method()
    async def Quit(self) -> None:
        await self.player.run(self.player.commands.quit)

    @dbus_property(access=READ)
    def CanQuit(self) -> DBusBool:
        return self.player.commands.can_quit

    @dbus_property(access=READ)
    def CanRaise(self) -> DBusBool:
        return False

    @dbus_property(access=READ)
    def HasTrackList(self) -> DBusBool:
        return False

    @dbus_property(access=READ)
    def Identity(self) -> DBusStr:
        return "holdcue"

    @dbus_property(access=READ)
    def DesktopEntry(self) -> DBusStr:
        return "holdcue"

    @dbus_property(access=READ)
    def SupportedUriSchemes(self) -> DBusStrings:
        return []

    @dbus_property(access=READ)
    def SupportedMimeTypes(self) -> DBusStrings:
        return []


class PlayerInterface(ServiceInterface):
    """org.mpris.MediaPlayer2.Player: the session under way and its controls."""

    def __init__(self, core: Core, commands: Commands, worker: ThreadPoolExecutor):
        super().__init__("org.mpris.MediaPlayer2.Player")
        self.core = core
        self.commands = commands
        self.worker = worker
        self.status = core.status()
        self.shown = showing.changing(self.status, commands.play_when_idle)

    async def run(self, command: Any, *args: Any) -> None:
        """A command of the core on the worker; what the core refused is the caller's error."""
        try:
            await asyncio.get_running_loop().run_in_executor(self.worker, command, *args)
        except Refused as error:
            raise DBusError(ErrorType.FAILED, str(error)) from None

    def show(self, status: Snapshot) -> None:
        """Announce what changed since the last status shown."""
        before, self.status = self.status, status
        shown = showing.changing(status, self.commands.play_when_idle)
        changed = {name: value for name, value in shown.items() if self.shown.get(name) != value}
        self.shown = shown
        if "Metadata" in changed:
            changed["Metadata"] = _variants(changed["Metadata"])
        if changed:
            self.emit_properties_changed(changed)
        went_back = showing.position(before) - showing.position(status) > SEEK_SECONDS * showing.MICROSECONDS
        if went_back and showing.track_id(before) == showing.track_id(status):
            self.Seeked(showing.position(status))  # the step started again (Previous)

    @dbus_method()
    async def PlayPause(self) -> None:
        await self.run(self.commands.play_pause)

    @dbus_method()
    async def Play(self) -> None:
        await self.run(self.commands.play)

    @dbus_method()
    async def Pause(self) -> None:
        await self.run(self.commands.pause)

    @dbus_method()
    async def Stop(self) -> None:
        await self.run(self.commands.stop)

    @dbus_method()
    async def Next(self) -> None:
        await self.run(self.commands.next)

    @dbus_method()
    async def Previous(self) -> None:
        await self.run(self.commands.previous)

    @dbus_method()
    def Seek(self, offset: DBusInt64) -> None:
        """Not supported (CanSeek is false): a hold is as long as written."""

    @dbus_method()
    def SetPosition(self, track: DBusObjectPath, position: DBusInt64) -> None:
        """Not supported (CanSeek is false)."""

    @dbus_method()
    def OpenUri(self, uri: DBusStr) -> None:
        """Not supported (SupportedUriSchemes is empty)."""

    @dbus_signal()
    def Seeked(self, position: int) -> DBusInt64:
        return position

    @dbus_property(access=READ)
    def PlaybackStatus(self) -> DBusStr:
        return self.shown["PlaybackStatus"]

    @dbus_property(access=READ)
    def Metadata(self) -> DBusDict:
        return _variants(self.shown["Metadata"])

    @dbus_property(access=READ)
    def Position(self) -> DBusInt64:
        # asked for, never announced: read now, from the player itself (to the sample)
        status, exact = self.core.status(), self.core.player_status()
        return showing.position(status, exact.position if exact is not None else None)

    @dbus_property()
    def Volume(self) -> DBusDouble:
        return self.shown["Volume"]

    # a property's setter has its getter's name, as with Python's own properties
    @Volume.setter  # type: ignore[no-redef]
    async def Volume(self, volume: DBusDouble) -> None:
        await self.run(self.commands.set_volume, volume)

    @dbus_property()
    def Rate(self) -> DBusDouble:
        return 1.0

    @Rate.setter  # type: ignore[no-redef]
    def Rate(self, rate: DBusDouble) -> None:
        """Every hold is as long as written: the rate stays 1."""

    @dbus_property(access=READ)
    def MinimumRate(self) -> DBusDouble:
        return 1.0

    @dbus_property(access=READ)
    def MaximumRate(self) -> DBusDouble:
        return 1.0

    @dbus_property(access=READ)
    def CanGoNext(self) -> DBusBool:
        return self.shown["CanGoNext"]

    @dbus_property(access=READ)
    def CanGoPrevious(self) -> DBusBool:
        return self.shown["CanGoPrevious"]

    @dbus_property(access=READ)
    def CanPlay(self) -> DBusBool:
        return self.shown["CanPlay"]

    @dbus_property(access=READ)
    def CanPause(self) -> DBusBool:
        return self.shown["CanPause"]

    @dbus_property(access=READ)
    def CanSeek(self) -> DBusBool:
        return False

    @dbus_property(access=READ)
    def CanControl(self) -> DBusBool:
        return True


def _variants(entries: dict[str, Any]) -> dict[str, Variant]:
    return {key: Variant(showing.METADATA_TYPES[key], value) for key, value in entries.items()}


async def serve(core: Core, commands: Commands, address: str, stop: asyncio.Event, note: Log) -> None:
    """Be the player on the bus at ``address`` until ``stop`` is set (or the bus goes away).
    The log hears the name taken; ``note`` why there is no player, or no longer one."""
    try:
        bus = await MessageBus(bus_address=address).connect()
    except Exception as error:  # refused, no such socket, not a D-Bus address, authentication failed
        note(f"mpris: off, the D-Bus session bus cannot be reached ({_reason(error)}); {UNSTEERED}")
        return
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="holdcue-mpris-command")
    watcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="holdcue-mpris-watch")
    try:
        player = PlayerInterface(core, commands, worker)
        bus.export(OBJECT_PATH, RootInterface(player))
        bus.export(OBJECT_PATH, player)
        name = await _take_name(bus)
        commands.log(f"mpris: on the session bus as {name}: media keys, playerctl and headset buttons steer holdcue")
        watching = asyncio.ensure_future(_watch(core, player, watcher))
        stopped = asyncio.ensure_future(stop.wait())
        lost = asyncio.ensure_future(bus.wait_for_disconnect())
        await asyncio.wait([watching, stopped, lost], return_when=asyncio.FIRST_COMPLETED)
        if lost.done() and not stopped.done():
            note("mpris: the D-Bus session bus went away; media keys and headset buttons no longer steer holdcue")
        for task in (watching, stopped, lost):
            task.cancel()
        await asyncio.gather(watching, stopped, lost, return_exceptions=True)
    finally:
        bus.disconnect()
        worker.shutdown(wait=True, cancel_futures=True)
        watcher.shutdown(wait=True)  # the core's wait returns within WATCH_SECONDS


async def _take_name(bus: MessageBus) -> str:
    """holdcue's name, or, when another holdcue has it, one for this instance."""
    reply = await bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
    if reply in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
        return BUS_NAME
    name = f"{BUS_NAME}.instance{os.getpid()}"  # the specification's way for a second instance
    await bus.request_name(name, NameFlag.DO_NOT_QUEUE)
    return name


async def _watch(core: Core, player: PlayerInterface, watcher: ThreadPoolExecutor) -> None:
    """Each new status of the core, shown as it comes (the core wakes its waiters on every change)."""
    loop = asyncio.get_running_loop()
    version = -1
    while True:
        version, status = await loop.run_in_executor(watcher, core.wait, version, WATCH_SECONDS)
        if status is not player.status:
            player.show(status)
        if core.closed:
            return


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
