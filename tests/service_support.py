"""Fakes for the service's tests: a clock the test moves, a sink that plays nothing (on
that clock or on the real one), and sessions with made-up speech, so sessions of the
real library start in milliseconds without espeak-ng."""

from __future__ import annotations

import threading
import time

import numpy as np

import play_helpers
from holdcue.routine import Routine
from holdcue.timeline import Session

RATE = 8000  # low: a ten-minute session renders in a few milliseconds


class FakeClock:
    def __init__(self):
        self.t = 1000.0
        self.lock = threading.Lock()

    def now(self) -> float:
        with self.lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.t += seconds


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Handle:
    def __init__(self, clock, seconds: float):
        self.clock = clock
        self.until = clock.now() + seconds
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    def is_playing(self) -> bool:
        return not self.stopped and self.clock.now() < self.until


class Take:
    def __init__(self, started: float, samples: np.ndarray, handle: Handle):
        self.started, self.samples, self.handle = started, samples, handle


class Sink:
    """Keeps every take it is given; plays nothing. ``fail`` makes the next start fail."""

    def __init__(self, clock):
        self.clock = clock
        self.takes: list[Take] = []
        self.fail: Exception | None = None

    def start(self, samples: np.ndarray, rate: int) -> Handle:
        if self.fail is not None:
            raise self.fail
        assert samples.dtype == np.int16 and len(samples) > 0
        handle = Handle(self.clock, len(samples) / rate)
        self.takes.append(Take(self.clock.now(), samples, handle))
        return handle

    def playing(self) -> list[Take]:
        return [take for take in self.takes if take.handle.is_playing()]


def make_session(routine: Routine, rate: int = RATE) -> Session:
    """The routine with made-up speech and the player's own words ("Paused.", "Resuming.",
    "Session ended."), as the service builds it (play_helpers.make_session)."""
    return play_helpers.make_session(routine, rate)


def wait_until(condition, timeout: float = 5.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def says(take, text: str, rate: int = RATE) -> bool:
    """Whether ``take`` is ``text`` said alone, as the player says its own words: a lead-in,
    the words, and the pause after spoken words (play.RECAP_GAP)."""
    from holdcue import play

    expected = round(play.LEAD_IN * rate) + len(play_helpers.fake_clip(text, rate)) + round(play.RECAP_GAP * rate)
    return len(take.samples) == expected and bool(take.samples.any())
