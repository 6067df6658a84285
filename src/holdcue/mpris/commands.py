"""The MPRIS methods as the core's commands, as the button's presses are (button.Remote):
each one acts through the core, so it is confirmed aloud and journaled like a key press.
A method that does not fit what is playing (Pause while paused, Next with nothing under
way) does nothing, as the specification asks; a command the core refuses (a rest day, no
sound device) is logged and raised as Refused, for the caller to answer with an error."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from holdcue.core.errors import NothingToResume, RestDay, WrongState
from holdcue.errors import HoldcueError

if TYPE_CHECKING:
    from holdcue.core import Core

Log = Callable[[str], None]
UNSTEERED = "media keys and headset buttons cannot steer holdcue"  # said when there is no player
VOLUME_RANGE = (0.0, 2.0)  # the core's; MPRIS asks that a value out of range be brought into it


class Refused(Exception):
    """The core would not carry out the command; the message says why."""


class Commands:
    """``play_when_idle``: Play and PlayPause with nothing under way play today's session (the
    service, as its button does); ``can_quit``: Quit ends the session (holdcue play, which
    then exits, as with q)."""

    def __init__(self, core: Core, log: Log, *, play_when_idle: bool, can_quit: bool):
        self.core = core
        self.log = log
        self.play_when_idle = play_when_idle
        self.can_quit = can_quit

    def play_pause(self) -> None:
        if self.core.state() == "playing":
            self._do("PlayPause", "pause", self.core.pause)
        else:
            self.play("PlayPause")

    def play(self, method: str = "Play") -> None:
        state = self.core.state()
        if state == "paused":
            self._do(method, "resume", self.core.resume)
        elif state in ("idle", "finished") and self.play_when_idle:
            self._do(method, "play today's session", self.core.play_today)
        else:
            self._ignored(method, state)

    def pause(self) -> None:
        self._when(("playing",), "Pause", "pause", self.core.pause)

    def stop(self) -> None:
        self._when(("playing", "paused"), "Stop", "stop", self.core.stop)

    def next(self) -> None:
        self._when(("playing", "paused"), "Next", "next step", self.core.next)

    def previous(self) -> None:
        self._when(("playing", "paused"), "Previous", "previous step", self.core.previous)

    def quit(self) -> None:
        if self.can_quit:
            self._when(("playing", "paused"), "Quit", "stop", self.core.stop)
        else:
            self.log("mpris: Quit ignored: the service keeps running")

    def set_volume(self, volume: float) -> None:
        low, high = VOLUME_RANGE
        value = self.core.volume if math.isnan(volume) else min(max(volume, low), high)  # NaN: left as it is
        self._do("Volume", f"volume {value:g}", lambda: self.core.set_volume(value))

    def _when(self, states: tuple[str, ...], method: str, what: str, action: Callable[[], object]) -> None:
        state = self.core.state()
        if state in states:
            self._do(method, what, action)
        else:
            self._ignored(method, state)

    def _ignored(self, method: str, state: str) -> None:
        self.log(f"mpris: {method} ignored while {state}")

    def _do(self, method: str, what: str, action: Callable[[], object]) -> None:
        self.log(f"mpris: {method}: {what}")
        try:
            action()
        except (RestDay, NothingToResume) as error:
            self.log(f"mpris: {method}: {error}")
            raise Refused(str(error)) from error
        except WrongState as error:  # the state changed in between (the session just ended)
            self.log(f"mpris: {method} ignored: {error}")
        except HoldcueError as error:
            self.log(f"mpris: {method} failed: {error}")
            raise Refused(str(error)) from error
