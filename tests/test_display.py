"""What live playback shows: the status block on a terminal (fitted to its width, redrawn
cleanly after a resize) and plain lines otherwise."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest

from holdcue import controls, display, terminal
from holdcue.controls import Command
from holdcue.text import clock
from play_helpers import RATE, FakeClock, FakeSink, first_segment, run, short_session


@pytest.fixture(scope="module")
def short():
    return short_session()


class Screen:
    """Just enough of a terminal for the status block: printable characters wrap at the
    right edge, \\r, \\n, ESC[nA (up), ESC[2K (clear the line), ESC[J (clear to the end of
    the screen). ``resize`` reflows wrapped lines as VTE and kitty do."""

    def __init__(self, columns: int):
        self.columns = columns
        self.rows: list[list[str]] = [[]]
        self.wrapped: list[bool] = [False]  # row i continues row i - 1 (it was wrapped)
        self.row = self.col = 0
        self.wraps = 0  # how many times a line was too long for the screen

    def isatty(self) -> bool:
        return True

    def flush(self) -> None:
        pass

    def write(self, text: str) -> int:
        for token in re.findall(r"\x1b\[\d*[A-Za-z]|.", text, re.S):
            self._put(token)
        return len(text)

    def _put(self, token: str) -> None:
        if token == "\n":
            self._goto(self.row + 1)
            self.col = 0
        elif token == "\r":
            self.col = 0
        elif token.startswith("\x1b["):
            arg, op = token[2:-1], token[-1]
            if op == "A":
                self.row = max(0, self.row - int(arg or 1))
            elif op == "K":
                self.rows[self.row] = []
            elif op == "J":
                del self.rows[self.row][self.col :]
                del self.rows[self.row + 1 :], self.wrapped[self.row + 1 :]
        else:
            if self.col >= self.columns:
                self.wraps += 1
                self._goto(self.row + 1)
                self.wrapped[self.row], self.col = True, 0
            line = self.rows[self.row]
            line.extend(" " * (self.col - len(line)))
            line[self.col : self.col + 1] = [token]
            self.col += 1

    def _goto(self, row: int) -> None:
        while len(self.rows) <= row:
            self.rows.append([])
            self.wrapped.append(False)
        self.row = row

    def resize(self, columns: int) -> None:
        """Rejoin wrapped rows into lines and wrap them again at the new width."""
        lines: list[str] = []
        cursor_line = 0
        for i, row in enumerate(self.rows):
            text = "".join(row)
            if self.wrapped[i] and lines:
                lines[-1] += text
            else:
                lines.append(text)
            if i == self.row:
                cursor_line = len(lines) - 1
        self.columns, self.rows, self.wrapped = columns, [], []
        for n, line in enumerate(lines):
            pieces = [line[i : i + columns] for i in range(0, len(line), columns)] or [""]
            for k, piece in enumerate(pieces):
                self.rows.append(list(piece))
                self.wrapped.append(k > 0)
            if n == cursor_line:
                self.row = len(self.rows) - 1
        self.col = min(self.col, columns - 1)

    def text(self) -> list[str]:
        return ["".join(row).rstrip() for row in self.rows if "".join(row).strip()]


def statuses(session):
    """Statuses as the player gives them (louder from 200 s on)."""
    return run(session, [(200.0, Command.LOUDER)])[2].shown


def drawn(status, columns: int, controls: bool = True) -> list[str]:
    """The block as drawn at once on a fresh screen of ``columns``."""
    screen = Screen(columns)
    display.TerminalDisplay(screen, controls, columns=lambda: columns).show(status)
    return screen.text()


def test_the_status_fits_40_and_80_columns_most_important_first(short):
    status = next(s for s in statuses(short) if s.phase == "hold" and s.step == 2 and s.side == "left")
    for columns in (40, 80):
        screen = Screen(columns)
        shown = display.TerminalDisplay(screen, controls=True, columns=lambda c=columns: c)
        shown.show(status)
        later = dataclasses.replace(status, position=status.position + 1, left=status.left - 1)
        shown.show(later)
        assert screen.wraps == 0, columns  # nothing ever wraps
        help_line, first, second = screen.text()
        assert all(len(line) < columns for line in screen.text())
        # the keys are kept: pause, steps, volume, quit
        assert "space" in help_line and "n" in help_line and "+" in help_line and "q" in help_line
        assert first.startswith("Step 2") and "left" in first  # step and side before the title
        assert second.startswith(f"hold · {clock(later.left + 0.999)} left")
        assert "vol 100%" in second
        assert second.count("/") <= 1 and first.count("/") <= 1 + (columns == 40)  # progress once at most
    assert "next: right side" in drawn(status, 80)[2]


def test_a_resize_between_draws_leaves_nothing_behind(short):
    status = next(s for s in statuses(short) if s.phase == "hold" and s.step == 2 and s.side == "left")
    later = dataclasses.replace(status, position=status.position + 1, left=status.left - 1)
    for before, after in ((120, 40), (80, 40), (40, 80), (40, 120)):
        screen = Screen(before)
        screen.write("Preparing speech for shoulders-and-chest\n")  # what was there before
        width = [before]
        shown = display.TerminalDisplay(screen, controls=True, columns=lambda w=width: w[0])
        shown.show(status)
        screen.resize(after)
        width[0] = after
        shown.show(later)
        assert screen.text() == ["Preparing speech for shoulders-and-chest"] + drawn(later, after), (before, after)


def test_the_status_shows_the_volume_the_pause_and_where_it_ended(short):
    shown = statuses(short)
    assert sorted({round(s.volume, 4) for s in shown}) == [1.0, round(10 ** (3 / 20), 4)]
    loud = next(s for s in shown if s.volume > 1 and s.phase == "hold")
    assert "vol 141%" in drawn(loud, 80)[2]
    paused = drawn(dataclasses.replace(loud, state="paused"), 40)
    assert paused[2].startswith(f"PAUSED at {clock(loud.position)}") and "vol 141%" in paused[2]
    ended = drawn(dataclasses.replace(loud, state="stopped"), 80)
    assert ended[2] == f"Session ended at {clock(loud.position)} of {clock(loud.duration)}"
    assert ended[1].startswith(f"Step {loud.step} of 6")  # where
    out = io.StringIO()
    lines = display.LineDisplay(out)
    lines.show(loud)
    lines.show(dataclasses.replace(loud, state="stopped"))
    assert out.getvalue().splitlines()[-1] == f"{clock(loud.position)}  session ended: {display.heading(loud)}"


def test_a_terminal_that_hung_up_is_no_error():
    class HungUp(Screen):
        def write(self, text):
            raise OSError(5, "Input/output error")

    status = display.Status("playing", 1.0, 60.0, 0, "intro", "Introduction", 0, 3, "", 0, 0, 5.0, "step 1: A")
    shown = display.TerminalDisplay(HungUp(80), controls=True, columns=lambda: 80)
    shown.show(status)
    shown.close()
    assert shown.gone


def test_status_block_on_a_terminal_and_plain_lines_otherwise(short, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    tl = short.timeline
    out = io.StringIO()
    lines = display.LineDisplay(out)
    player_statuses = run(short)[2].shown
    for status in player_statuses:
        lines.show(status)
    printed = out.getvalue().splitlines()
    assert len(printed) == len(tl.segments)  # one line per segment, nothing else
    assert printed[0] == "0:00  Introduction"
    hold = first_segment(tl, 1, "hold", "left")
    assert f"{clock(hold.start / RATE)}  Step 2 of 6 · {hold.title} · left side: hold 1:00" in printed

    class Tty(io.StringIO):
        def isatty(self):
            return True

    term = Tty()
    block = display.for_stream(term, controls=True)
    assert isinstance(block, display.TerminalDisplay)
    status = next(s for s in player_statuses if s.phase == "hold" and s.step == 2)
    block.show(status)
    block.show(status)  # unchanged: nothing more written
    once = term.getvalue()
    assert once.startswith(display.KEYS_HELP)
    assert f"Step 2 of 6 · {status.title} · left side" in once
    assert f"hold · {clock(status.left + 0.999)} left" in once and "next: right side" in once
    block.show(dataclasses.replace(status, state="paused"))
    assert term.getvalue()[len(once) :].startswith("\r\x1b[1A\x1b[2K")
    assert "PAUSED at" in term.getvalue()[len(once) :]
    block.close()
    assert term.getvalue().endswith("\n")


def test_without_a_terminal_the_cli_path_prints_plain_lines_and_reads_no_keys(short, capsys):
    assert controls.terminal_keys(io.StringIO()) is None
    clock = FakeClock()
    sink = FakeSink(clock)
    result = terminal.play(short, sink=sink, clock=clock)  # keys and display as the CLI gives them without a TTY
    assert result.finished
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "0:00  Introduction" and out[-1].endswith("Session complete")
    assert len(out) == len(short.timeline.segments)
    assert not any("\x1b" in line or "\r" in line for line in out)
