"""A headset's buttons on their way to holdcue on a Pi, with BlueZ's own mpris-proxy between
holdcue's MPRIS player (on the session bus) and bluetoothd (on the system bus). bluetoothd
itself needs a Bluetooth adapter and a headset; its D-Bus side is stood in for by
bluez_standin.py on a second private bus: it takes the players mpris-proxy registers and
calls them as bluetoothd does when a button is pressed. What this cannot show is the
headset's AVRCP and bluetoothd's handling of it (docs/controls.md says how to check that
on a Pi)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bus_support import SessionBus, missing
from mpris_support import Rig
from service_support import wait_until

LACKING = missing() + ([] if shutil.which("mpris-proxy") else ["mpris-proxy (Debian package bluez)"])
STANDIN = Path(__file__).with_name("bluez_standin.py")
pytestmark = pytest.mark.skipif(bool(LACKING) and os.environ.get("CI") != "true", reason=f"needs {', '.join(LACKING)}")


class Lines:
    """A child's stdout, a line at a time, as it comes."""

    def __init__(self, process: subprocess.Popen[str]):
        self.queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.queue.put(line.rstrip("\n"))

    def wait_for(self, found, timeout: float = 10.0):
        """The first line from now on for which ``found`` gives something."""
        while True:
            try:
                line = self.queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"not seen; seen so far: {self.seen}") from None
            self.seen.append(line)
            if (value := found(line)) is not None:
                return value


def event(key: str, **wanted):
    """For Lines.wait_for: the stand-in's JSON event with ``key``, whose fields match ``wanted``."""

    def found(line: str):
        said = json.loads(line)
        if key in said and all(said[key].get(name) == value for name, value in wanted.items()):
            return said
        return None

    return found


@pytest.fixture
def buses():
    if LACKING:
        pytest.fail(f"the headset test needs {', '.join(LACKING)} (CI=true: it may not be skipped)")
    with SessionBus() as user, SessionBus() as system:
        yield user, system


@pytest.fixture
def bluez(buses):
    """The stand-in for bluetoothd on the system bus; its events, and how to press a button."""
    _, system = buses
    process = subprocess.Popen(
        [sys.executable, str(STANDIN), system.address], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    events = Lines(process)
    events.wait_for(lambda line: json.loads(line).get("ready"))

    def press(method: str) -> None:
        assert process.stdin is not None
        process.stdin.write(method + "\n")
        process.stdin.flush()

    yield events, press
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=10)


@pytest.fixture
def proxy(buses):
    user, system = buses
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": user.address, "DBUS_SYSTEM_BUS_ADDRESS": system.address}
    process = subprocess.Popen(["stdbuf", "-oL", "mpris-proxy"], env=env, stdout=subprocess.PIPE, text=True)
    yield Lines(process)
    process.terminate()
    process.wait(timeout=10)


def test_a_headset_s_buttons_reach_holdcue_through_mpris_proxy(buses, bluez, proxy, monkeypatch):
    user, _ = buses
    events, press = bluez
    rig = Rig(user, monkeypatch)
    try:
        user.wait_for_player()
        proxy.wait_for(lambda line: line if "player org.mpris.MediaPlayer2.holdcue" in line else None)
        registered = events.wait_for(event("properties", PlaybackStatus="Stopped", CanControl=True))
        assert registered["properties"]["CanPlay"] is True  # a press plays today's session, as the button does

        press("Play")
        wait_until(lambda: rig.core.state() == "playing", what="today's session playing")
        # the player's state, passed on to bluetoothd, which tells the headset (AVRCP notifications)
        events.wait_for(event("changed", PlaybackStatus="Playing"))
        press("Pause")
        wait_until(lambda: rig.core.state() == "paused", what="the pause")
        events.wait_for(event("changed", PlaybackStatus="Paused"))
        wait_until(lambda: rig.said("Paused."), what="the pause said aloud")
        press("PlayPause")
        wait_until(lambda: rig.core.state() == "playing", what="the resume")
        step = rig.core.status().step
        press("Next")
        wait_until(lambda: rig.core.status().step == step + 1, what="the next step")
        press("Stop")
        wait_until(lambda: rig.core.state() == "idle", what="the stop")
        events.wait_for(event("changed", PlaybackStatus="Stopped"))
        wait_until(lambda: rig.said("Session ended."), what="the stop said aloud")
        assert rig.log[1:] == [
            "mpris: Play: play today's session",
            "mpris: Pause: pause",
            "mpris: PlayPause: resume",
            "mpris: Next: next step",
            "mpris: Stop: stop",
        ]
    finally:
        rig.close()
    # holdcue gone (the service stopped or restarted): the proxy takes its player back from bluetoothd
    events.wait_for(lambda line: json.loads(line) if "unregistered" in json.loads(line) else None)
