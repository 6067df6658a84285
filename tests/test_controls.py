"""Keys that control live playback: what each key (and escape sequence) means, and the
terminal put in cbreak mode and restored."""

from __future__ import annotations

import os
import pty
import sys
import termios
import time

from holdcue import controls
from holdcue.controls import Command


def test_keys_and_escape_sequences_become_commands():
    assert controls.commands(b" npq") == [Command.PAUSE, Command.NEXT, Command.PREVIOUS, Command.QUIT]
    assert controls.commands(b"\x1b[C\x1b[D\x1bOC\x1b[6~\x1b[5~") == [
        Command.NEXT,
        Command.PREVIOUS,
        Command.NEXT,
        Command.NEXT,
        Command.PREVIOUS,
    ]
    assert controls.commands(b"\x1b") == [Command.QUIT]
    assert controls.commands(b"\x1b\x1b[C") == [Command.QUIT, Command.NEXT]
    assert controls.commands(b"xyz\x1b[15~") == []  # other keys, F5: nothing
    assert controls.split_keys(b"a\x1b[1;5Cb") == [b"a", b"\x1b[1;5C", b"b"]


def test_terminal_keys_use_cbreak_and_restore_the_terminal():
    master, slave = pty.openpty()
    try:
        with open(slave, closefd=False) as stream:
            keys = controls.terminal_keys(stream)
        assert keys is not None
        before = termios.tcgetattr(slave)
        keys.open()
        during = termios.tcgetattr(slave)
        assert not during[3] & termios.ICANON and not during[3] & termios.ECHO
        assert during[3] & termios.ISIG  # Ctrl-C still interrupts
        assert keys.read(0.01) == []
        os.write(master, b" \x1b[C")
        assert keys.read(1.0) == [Command.PAUSE, Command.NEXT]
        os.write(master, b"\x1b")  # an arrow whose bytes arrive apart
        began = time.monotonic()
        os.write(master, b"[D")
        assert keys.read(1.0) == [Command.PREVIOUS]
        os.write(master, b"\x1b")  # Esc alone: quit, once nothing follows
        assert keys.read(1.0) == [Command.QUIT]
        assert time.monotonic() - began < 2.0  # Esc waits SEQUENCE_WAIT (0.05 s), not read()'s 1 s timeouts
        keys.close()
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_no_keys_for_a_background_job():
    """A background job that changed the terminal's mode would be stopped (SIGTTOU)."""
    from audio_stack import PtyChild

    script = (
        "import os, sys\n"
        "from holdcue import controls\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.setpgid(0, 0)\n"
        "    print('background keys:', controls.terminal_keys(sys.stdin) is not None, flush=True)\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print('foreground keys:', controls.terminal_keys(sys.stdin) is not None, flush=True)\n"
    )
    child = PtyChild([sys.executable, "-c", script], dict(os.environ))
    try:
        assert child.wait(30) == 0
        assert "background keys: False" in child.text() and "foreground keys: True" in child.text()
    finally:
        child.close()


def test_volume_keys():
    assert controls.commands(b"+=-_") == [Command.LOUDER, Command.LOUDER, Command.QUIETER, Command.QUIETER]
    assert controls.commands(b"\x1bOk\x1bOm") == [Command.LOUDER, Command.QUIETER]  # the keypad's + and -
    assert controls.commands(b"\x1b[A\x1b[B") == [Command.PREVIOUS, Command.NEXT]  # the arrows stay steps


def test_closing_keys_on_a_terminal_that_hung_up_is_no_error():
    master, slave = pty.openpty()
    with open(slave, closefd=False) as stream:
        keys = controls.terminal_keys(stream)
    assert keys is not None
    keys.open()
    os.close(master)
    os.close(slave)  # gone: tcsetattr would fail
    keys.close()
    assert keys.saved is None
