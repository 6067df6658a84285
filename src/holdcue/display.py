"""What live playback shows: a status block redrawn on a terminal, or one plain line per
change when the output is a file or a pipe."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from holdcue import phrases
from holdcue.phrases import Phrases
from holdcue.text import clock, printable

ENGLISH = phrases.for_language(phrases.FALLBACK)
KEYS_HELP, *KEYS_SHORT = ENGLISH.label_keys()  # the help line, then shorter ones for narrower widths
GAP = "   "  # between the parts of the second status line


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
    volume: float = 1.0  # the master volume (1.0 as mixed)
    until: str = ""  # "press": the segment lasts until Next is pressed (``left`` is then the most)


def shown(status: Status) -> Status:
    """The status with its texts from the routine file (the step's title, what is next) safe
    for a terminal: a control character in them is shown as an escape, never acted on."""
    return dataclasses.replace(status, title=printable(status.title), next=printable(status.next))


def heading(status: Status, words: Phrases = ENGLISH) -> str:
    """ "Step 2 of 5 · Chest ball · left side · round 1 of 2", or the title of the intro or end;
    in the routine's language (``words``)."""
    if status.step == 0:
        return status.title
    parts = [words.label_step_of(status.step, status.steps), status.title]
    if status.side:
        parts.append(words.label_side(status.side))
    if status.rounds:
        parts.append(words.label_round_of(status.round, status.rounds))
    return " · ".join(parts)


def doing(status: Status, words: Phrases = ENGLISH) -> str:
    """What the listener is doing now, with the time left in it."""
    left = clock(status.left + 0.999)  # a countdown shows 0:01 until the last moment
    return words.label_phase(status.phase, left, status.until)


def volume_text(volume: float, words: Phrases = ENGLISH) -> str:
    """ "vol 100%": the master volume as a percentage of the level it was mixed at."""
    return words.label_volume(round(volume * 100))


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def first_that_fits(candidates: list[str], width: int) -> str:
    """The first of ``candidates`` (most complete first) that fits, else the last cut to fit."""
    return next((c for c in candidates if len(c) <= width), fit(candidates[-1], width))


def short_heading(status: Status, width: int, words: Phrases = ENGLISH) -> str:
    """The heading in ``width`` characters: the step, side and round first; the title,
    cut, in what room is left."""
    if status.step == 0:
        return fit(status.title, width)
    full = heading(status, words)
    if len(full) <= width:
        return full
    where = [words.label_step_short(status.step, status.steps)]
    if status.side:
        where.append(words.label_side_short(status.side))
    if status.rounds:
        where.append(words.label_round_short(status.round, status.rounds))
    head = " · ".join(where)
    room = width - len(head) - 3
    return f"{head} · {fit(status.title, room)}" if room >= 4 else fit(head, width)


def detail(status: Status, width: int, words: Phrases = ENGLISH) -> str:
    """The second line in ``width`` characters: its parts in their order, the least
    important left out first (for playing: the progress, then what is next)."""
    if status.state == "stopped":
        parts = [words.label_ended(clock(status.position), clock(status.duration))]
    elif status.state == "paused":
        parts = [words.label_paused(clock(status.position)), words.label_go_on(), volume_text(status.volume, words)]
        drop = [1, 2]
    else:
        progress = f"{clock(status.position)} / {clock(status.duration)}"
        percent = round(100 * status.position / status.duration) if status.duration else 100
        parts = [
            doing(status, words),
            words.label_next(status.next),
            f"{progress} ({percent}%)",
            volume_text(status.volume, words),
        ]
        drop = [2, 1, 3]
    if status.state == "stopped":
        return fit(parts[0], width)
    kept = list(range(len(parts)))
    while len(GAP.join(parts[i] for i in kept)) > width and drop:
        kept.remove(drop.pop(0))
    return fit(GAP.join(parts[i] for i in kept), width)


def terminal_columns(stream: TextIO) -> int:
    """The width of the terminal ``stream`` writes to, asked each time (it may be resized)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return shutil.get_terminal_size().columns


class TerminalDisplay:
    """Two lines redrawn in place a few times a second: what is happening, and what is
    next; under the keys' help when there are keys. Every line fits the terminal's width
    (it never wraps); after a resize the whole block is drawn again."""

    def __init__(
        self,
        stream: TextIO,
        controls: bool = False,
        columns: Callable[[], int] | None = None,
        words: Phrases = ENGLISH,
    ):
        self.stream = stream
        self.controls = controls
        self.words = words  # the routine's language
        self.columns = columns or (lambda: terminal_columns(stream))
        self.shown: tuple[str, ...] | None = None  # the lines on screen, help first when shown
        self.width = 0  # the terminal's width when they were drawn
        self.gone = False  # the terminal went away (hung up): nothing more is written

    def show(self, status: Status) -> None:
        status = shown(status)
        columns = self.columns()
        width = max(10, columns - 1)  # the last column is left free: some terminals wrap there
        block = (short_heading(status, width, self.words), detail(status, width, self.words))
        help_line = (first_that_fits(list(self.words.label_keys()), width),) if self.controls else ()
        if self.shown is None:
            self._write("".join(f"{line}\n" for line in help_line) + f"\x1b[2K{block[0]}\n\x1b[2K{block[1]}")
            self.shown, self.width = help_line + block, columns
        elif columns != self.width:
            # Lines drawn at the old width may have been wrapped onto more rows (terminals
            # that reflow): go up over all of them, clear to the end of the screen, redraw.
            rows = sum(max(1, math.ceil(len(line) / columns)) for line in self.shown) - 1
            up = f"\x1b[{rows}A" if rows else ""
            self._write(f"\r{up}\x1b[J" + "\n".join(help_line + block))
            self.shown, self.width = help_line + block, columns
        elif block != self.shown[-2:]:
            self._write(f"\r\x1b[1A\x1b[2K{block[0]}\n\x1b[2K{block[1]}")
            self.shown = self.shown[:-2] + block

    def note(self, text: str) -> None:
        """``text`` on a line of its own where the status was; the status is drawn again
        under it at the next show."""
        if self.shown is None:
            self._write(f"{text}\n")
            return
        rows = len(self.shown) - 1
        self._write("\r" + (f"\x1b[{rows}A" if rows else "") + f"\x1b[J{text}\n")
        self.shown = None

    def _write(self, text: str) -> None:
        if self.gone:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:  # the terminal hung up
            self.gone = True

    def close(self) -> None:
        if self.shown is not None:
            self._write("\n")


class LineDisplay:
    """One line per segment and per pause, resume or stop: for logs and pipes."""

    def __init__(self, stream: TextIO, words: Phrases = ENGLISH):
        self.stream = stream
        self.words = words  # the routine's language
        self.last: tuple[int, str] | None = None

    def show(self, status: Status) -> None:
        status = shown(status)
        now = (status.segment, status.state)
        last, self.last = self.last, now
        if now == last:
            return
        at = clock(status.position)
        words = self.words
        if status.state == "stopped":
            self._write(f"{at}  {words.label_ended_line()}: {heading(status, words)}")
            return
        if status.state == "paused":
            self._write(f"{at}  {words.label_state('paused')}")
            return
        if last is not None and last[1] == "paused":
            self._write(f"{at}  {words.label_state('resumed')}")
        if status.state == "playing" and (last is None or last[0] != status.segment):
            self._write(f"{at}  {self.describe(status)}")

    def describe(self, status: Status) -> str:
        if status.step == 0:
            return status.title
        length = clock(status.left + 0.999)
        return f"{heading(status, self.words)}: {self.words.label_line(status.phase, length, status.until)}"

    def note(self, text: str) -> None:
        self._write(text)

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


def for_stream(
    stream: TextIO | None = None, controls: bool = False, words: Phrases = ENGLISH
) -> TerminalDisplay | LineDisplay:
    """A redrawn status on a terminal, plain lines otherwise; in the language of ``words``."""
    stream = stream or sys.stdout
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError, OSError):
        terminal = False
    return TerminalDisplay(stream, controls, words=words) if terminal else LineDisplay(stream, words)
