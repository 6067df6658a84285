"""ALSA's own lines kept out of the terminal and the service's log, and counted.

alsa-lib writes its messages (``ALSA lib pcm.c:8570:(snd_pcm_recover) underrun occurred``)
straight to the process's stderr, from the audio thread, by the hundred when the machine is
busy. ``divert()`` makes file descriptor 2 a pipe that a thread reads: ALSA's lines are
counted by message, every other line (a worker's, a library's) goes on to the real stderr
as it came. Python's own ``sys.stderr`` is pointed at the real stderr directly. The pipe's
writing end never blocks: were the reader ever behind, a line would be lost, never the audio
thread held up. ``summary()`` says what was counted, in one line.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable

PREFIX = b"ALSA lib "
KNOWN = {  # what a person should make of ALSA's most common line
    "underrun occurred": "the sound device ran short of sound: is the machine busy?",
}

Report = Callable[[str], None]


class _Diverted:
    def __init__(self, real: int, reading: int, report: Report | None):
        self.real = real  # the real stderr, duplicated
        self.reading = reading
        self.report = report  # told at once of the 1st, 10th, 100th, ... line of each message
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, name="holdcue-alsa-lines", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                data = os.read(self.reading, 65536)
            except OSError:
                return
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            self._lines(lines)
        if pending:
            self._lines([pending])
        os.close(self.reading)

    def _lines(self, lines: list[bytes]) -> None:
        passed = []
        for line in lines:
            if not line.startswith(PREFIX):
                passed.append(line + b"\n")
                continue
            message = line.decode(errors="replace").split(") ", 1)[-1].strip()
            with self.lock:
                self.counts[message] += 1
                count = self.counts[message]
            if self.report is not None and _round(count):
                self.report(_describe(message, count))
        if passed:
            with contextlib.suppress(OSError):
                os.write(self.real, b"".join(passed))


_diverted: _Diverted | None = None


def divert(report: Report | None = None) -> None:
    """From now on, ALSA's lines on stderr are counted, not shown (once per process; where
    stderr cannot be diverted, nothing changes). ``report``: told at once of the first line
    of each message, and of the 10th, 100th, ... (the service logs them)."""
    global _diverted
    if _diverted is not None:
        return
    try:
        real = os.dup(2)
    except OSError:  # no stderr
        return
    reading, writing = os.pipe()
    fcntl.fcntl(writing, fcntl.F_SETFL, fcntl.fcntl(writing, fcntl.F_GETFL) | os.O_NONBLOCK)
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    os.dup2(writing, 2)
    os.close(writing)
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    sys.stderr = io.TextIOWrapper(
        os.fdopen(os.dup(real), "wb", buffering=0), encoding=encoding, errors="backslashreplace", line_buffering=True
    )
    _diverted = _Diverted(real, reading, report)


def restore(timeout: float = 0.5) -> None:
    """Stderr as it was; the lines still in the pipe are read first (within ``timeout``)."""
    global _diverted
    diverted, _diverted = _diverted, None
    if diverted is None:
        return
    with contextlib.suppress(OSError):
        os.dup2(diverted.real, 2)  # the pipe's last writer here: its reader sees the end
    diverted.thread.join(timeout)


def counts() -> dict[str, int]:
    """ALSA's messages so far, and how many times each was written."""
    if _diverted is None:
        return {}
    with _diverted.lock:
        return dict(_diverted.counts)


def summary() -> str:
    """One line on what ALSA said, "" when it said nothing."""
    return "; ".join(_describe(message, count) for message, count in sorted(counts().items()))


def _describe(message: str, count: int) -> str:
    times = "once" if count == 1 else f"{count} times"
    meaning = KNOWN.get(message)
    return f"ALSA said {message!r} {times}" + (f" ({meaning})" if meaning else "")


def _round(count: int) -> bool:
    """1, 10, 100, ...: how often a message is reported as it repeats."""
    while count % 10 == 0:
        count //= 10
    return count == 1
