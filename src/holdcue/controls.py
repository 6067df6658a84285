"""Keys that control live playback, from a keyboard or from a presenter remote or foot
pedal that types keys. Read only when stdin is a terminal, which is put in cbreak mode
(keys arrive at once, unechoed; Ctrl-C still interrupts) and restored afterwards."""

from __future__ import annotations

import os
import select
from enum import Enum
from typing import TextIO


class Command(Enum):
    PAUSE = "pause"  # pause, or resume when paused
    NEXT = "next"  # the next step
    PREVIOUS = "previous"  # the start of this step; within its first seconds: the one before
    LOUDER = "louder"  # master volume up a step (3 dB)
    QUIETER = "quieter"  # master volume down a step
    QUIT = "quit"  # end the session


ESC = b"\x1b"

KEYS: dict[bytes, Command] = {
    b" ": Command.PAUSE,
    b"b": Command.PAUSE,  # presenter remotes: the "blank screen" button
    b".": Command.PAUSE,  # the same on some remotes
    b"n": Command.NEXT,
    b"N": Command.NEXT,
    b"\x1b[C": Command.NEXT,  # right arrow
    b"\x1bOC": Command.NEXT,  # right arrow, application mode
    b"\x1b[B": Command.NEXT,  # down arrow
    b"\x1bOB": Command.NEXT,
    b"\x1b[6~": Command.NEXT,  # Page Down: what most remotes and pedals send for "next"
    b"p": Command.PREVIOUS,
    b"P": Command.PREVIOUS,
    b"\x1b[D": Command.PREVIOUS,  # left arrow
    b"\x1bOD": Command.PREVIOUS,
    b"\x1b[A": Command.PREVIOUS,  # up arrow
    b"\x1bOA": Command.PREVIOUS,
    b"\x1b[5~": Command.PREVIOUS,  # Page Up
    # Volume: the up and down arrows already move between steps, and a remote's own volume
    # buttons send media keys that the desktop takes, never the terminal; a pedal or
    # remote that can be programmed can send these.
    b"+": Command.LOUDER,
    b"=": Command.LOUDER,  # + without shift, on US and UK keyboards
    b"\x1bOk": Command.LOUDER,  # keypad +, application keypad mode
    b"-": Command.QUIETER,
    b"_": Command.QUIETER,
    b"\x1bOm": Command.QUIETER,  # keypad -
    b"q": Command.QUIT,
    b"Q": Command.QUIT,
    ESC: Command.QUIT,
}

SEQUENCE_WAIT = 0.05  # seconds to wait for the rest of an escape sequence


def split_keys(data: bytes) -> list[bytes]:
    """Bytes read from a terminal, one key each: escape sequences (ESC [ ... final byte,
    ESC O x) stay whole; an ESC that starts no sequence is the Esc key."""
    keys = []
    i = 0
    while i < len(data):
        if data[i : i + 1] == ESC and data[i + 1 : i + 2] in (b"[", b"O"):
            j = i + 2
            while j < len(data) and not 0x40 <= data[j] <= 0x7E:
                j += 1
            keys.append(data[i : j + 1])
            i = j + 1
        else:
            keys.append(data[i : i + 1])
            i += 1
    return keys


def commands(data: bytes) -> list[Command]:
    """The commands that keys typed as ``data`` give; other keys are ignored."""
    return [KEYS[key] for key in split_keys(data) if key in KEYS]


def _unfinished(data: bytes) -> bool:
    """Whether ``data`` ends in the middle of an escape sequence (or on a lone ESC)."""
    last = split_keys(data)[-1] if data else b""
    if last[:1] != ESC:
        return False
    return len(last) < 3 or not 0x40 <= last[-1] <= 0x7E


class TerminalKeys:
    """Commands typed on a terminal. ``open`` sets cbreak mode; ``close`` restores it."""

    def __init__(self, stream: TextIO):
        self.fd = stream.fileno()
        self.saved: list | None = None
        self.ended = False

    def open(self) -> None:
        import termios
        import tty

        self.saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd, termios.TCSANOW)

    def close(self) -> None:
        import termios

        saved, self.saved = self.saved, None
        if saved is not None:
            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)
            except (termios.error, OSError):  # the terminal hung up: nothing left to restore
                pass

    def read(self, timeout: float) -> list[Command]:
        """The commands typed within ``timeout`` seconds (returns as soon as there are any)."""
        if self.ended:
            select.select([], [], [], timeout)
            return []
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        data = os.read(self.fd, 64)
        if not data:  # the terminal went away: play on without controls
            self.ended = True
            return []
        while _unfinished(data) and select.select([self.fd], [], [], SEQUENCE_WAIT)[0]:
            more = os.read(self.fd, 64)
            if not more:
                break
            data += more
        return commands(data)


def terminal_keys(stream: TextIO) -> TerminalKeys | None:
    """Keys from ``stream`` when it is a terminal we may read (not from a background job,
    which would be stopped for it); None (no controls) otherwise."""
    try:
        if stream is None or not stream.isatty():
            return None
        fd = stream.fileno()
    except (AttributeError, ValueError, OSError):
        return None
    try:
        if os.tcgetpgrp(fd) != os.getpgrp():
            return None
    except OSError:  # not our controlling terminal: no job control to fear
        pass
    return TerminalKeys(stream)
