"""What live playback shows: a status block redrawn on a terminal, or one plain line per
change when the output is a file or a pipe."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from typing import TextIO

KEYS_HELP = "Keys: space pause/resume · n next step · p restart step (twice: previous) · q quit"


@dataclass(frozen=True)
class Status:
    """Where a session is, as the player sees it."""

    state: str  # "playing", "paused", "finished" or "stopped"
    position: float  # seconds into the session
    duration: float  # seconds
    segment: int  # index into the timeline's segments
    phase: str  # the segment's phase (timeline.PHASES)
    title: str  # the step's title, or "Introduction" / "Session complete"
    step: int  # 1-based step number; 0 in the introduction and at the end
    steps: int  # how many steps the routine has
    side: str  # "left", "right" or ""
    round: int  # 1-based round of a repeated step; 0 when not repeated
    rounds: int
    left: float  # seconds left in this segment: in a hold, the hold's time left
    next: str  # what comes after this part: "right side", "step 3: Calf roll", "the end"


def clock_text(seconds: float) -> str:
    """0:05, 12:40, 1:02:03."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def heading(status: Status) -> str:
    """ "Step 2 of 5 · Chest ball · left side · round 1 of 2", or the title of the intro or end."""
    if status.step == 0:
        return status.title
    parts = [f"Step {status.step} of {status.steps}", status.title]
    if status.side:
        parts.append(f"{status.side} side")
    if status.rounds:
        parts.append(f"round {status.round} of {status.rounds}")
    return " · ".join(parts)


def doing(status: Status) -> str:
    """What the listener is doing now, with the time left in it."""
    left = clock_text(status.left + 0.999)  # a countdown shows 0:01 until the last moment
    return {
        "intro": "introduction",
        "announce": "listen",
        "prepare": f"get into position · hold starts in {left}",
        "hold": f"hold · {left} left",
        "rest": f"rest · {left} left",
        "transition": "switch sides",
        "outro": "end",
    }.get(status.phase, status.phase)


class TerminalDisplay:
    """Two lines redrawn in place a few times a second: what is happening, and what is next."""

    def __init__(self, stream: TextIO, controls: bool = False):
        self.stream = stream
        self.controls = controls
        self.shown: tuple[str, str] | None = None

    def show(self, status: Status) -> None:
        if status.state == "paused":
            second = f"PAUSED at {clock_text(status.position)} · press space to go on"
        else:
            progress = f"{clock_text(status.position)} / {clock_text(status.duration)}"
            percent = round(100 * status.position / status.duration) if status.duration else 100
            second = f"{doing(status)}   next: {status.next}   {progress} ({percent}%)"
        lines = (heading(status), second)
        if lines == self.shown:
            return
        width = max(10, shutil.get_terminal_size().columns - 1)
        first, second = (line[:width] for line in lines)
        if self.shown is None:
            if self.controls:
                self.stream.write(KEYS_HELP[:width] + "\n")
            self.stream.write(f"\x1b[2K{first}\n\x1b[2K{second}")
        else:
            self.stream.write(f"\r\x1b[1A\x1b[2K{first}\n\x1b[2K{second}")
        self.stream.flush()
        self.shown = lines

    def close(self) -> None:
        if self.shown is not None:
            self.stream.write("\n")
            self.stream.flush()


class LineDisplay:
    """One line per segment and per pause, resume or stop: for logs and pipes."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.last: tuple[int, str] | None = None

    def show(self, status: Status) -> None:
        now = (status.segment, status.state)
        last, self.last = self.last, now
        if now == last:
            return
        at = clock_text(status.position)
        if status.state in ("paused", "stopped"):
            self._write(f"{at}  {status.state}")
            return
        if last is not None and last[1] == "paused":
            self._write(f"{at}  resumed")
        if status.state == "playing" and (last is None or last[0] != status.segment):
            self._write(f"{at}  {self.describe(status)}")

    @staticmethod
    def describe(status: Status) -> str:
        if status.step == 0:
            return status.title
        length = clock_text(status.left + 0.999)
        what = {"prepare": f"get into position, {length}", "hold": f"hold {length}", "rest": f"rest {length}"}
        return f"{heading(status)}: {what.get(status.phase, status.phase)}"

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


def for_stream(stream: TextIO | None = None, controls: bool = False) -> TerminalDisplay | LineDisplay:
    """A redrawn status on a terminal, plain lines otherwise."""
    stream = stream or sys.stdout
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError, OSError):
        terminal = False
    return TerminalDisplay(stream, controls) if terminal else LineDisplay(stream)
