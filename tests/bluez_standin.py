"""bluetoothd's side of a headset's buttons, on a private system bus, for test_headset_proxy.py:
it owns org.bluez with one adapter (org.bluez.Adapter1 and org.bluez.Media1 at
/org/bluez/hci0), takes the players mpris-proxy registers (Media1.RegisterPlayer), and
calls them as bluetoothd does when a headset's button is pressed (an AVRCP passthrough:
the MPRIS method by name, no reply expected). It prints one JSON line per thing that
happens ({"registered": path, "properties": {...}}, {"changed": {...}}) and reads one
method name per line from stdin ("PlayPause"), each sent to the player registered last.

    python bluez_standin.py SYSTEM_BUS_ADDRESS
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from dbus_fast import Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusDict, DBusObjectPath, DBusStr
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

ADAPTER = "/org/bluez/hci0"


def plain(value: Any) -> Any:
    if isinstance(value, Variant):
        return plain(value.value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def say(**what: Any) -> None:
    print(json.dumps(plain(what)), flush=True)


class Adapter(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.bluez.Adapter1")

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return "00:11:22:33:44:55"

    @dbus_property(access=PropertyAccess.READ)
    def Powered(self) -> DBusBool:
        return True


class Media(ServiceInterface):
    def __init__(self, players: list[tuple[str, str]]) -> None:
        super().__init__("org.bluez.Media1")
        self.players = players
        self.sender = ""  # of the call being handled (set by the bus's message handler)

    @dbus_method()
    def RegisterPlayer(self, path: DBusObjectPath, properties: DBusDict):
        self.players.append((self.sender, path))
        say(registered=path, properties=properties)

    @dbus_method()
    def UnregisterPlayer(self, path: DBusObjectPath):
        say(unregistered=path)


async def main(address: str) -> None:
    bus = await MessageBus(bus_address=address).connect()
    players: list[tuple[str, str]] = []
    media = Media(players)

    def watch(message: Message) -> None:
        if message.member == "RegisterPlayer":
            media.sender = message.sender or ""
        elif message.message_type == MessageType.SIGNAL and message.member == "PropertiesChanged":
            if message.body and message.body[0] == "org.mpris.MediaPlayer2.Player":
                say(changed=message.body[1])

    bus.add_message_handler(watch)
    bus.export(ADAPTER, Adapter())
    bus.export(ADAPTER, media)
    rule = "type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged'"
    await bus.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="AddMatch",
            signature="s",
            body=[rule],
        )
    )
    await bus.request_name("org.bluez")
    say(ready=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        sender, path = players[-1]
        await bus.send(
            Message(
                destination=sender,
                path=path,
                interface="org.mpris.MediaPlayer2.Player",
                member=line.strip(),
                flags=MessageFlag.NO_REPLY_EXPECTED,
            )
        )
    bus.disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
