"""The terminal front end of the core: ``holdcue play`` (and resume, today) as keys and a
status line. It drives a core.Core like every other front end does, from its own loop: it
ticks the core, shows the player's status, and turns each key into the core's command.

Keys (optional; a presenter remote or foot pedal that sends keys works too, controls.py):
space pause/resume, n or right arrow next step, p or left arrow restart the step (in its
first seconds: the step before), + and - volume, q or Esc end.
"""

from __future__ import annotations

import contextlib
import queue
import sys
from collections.abc import Callable
from typing import Protocol

from holdcue import play as playback
from holdcue.core import Core, JournalWriter
from holdcue.display import for_stream
from holdcue.play import TICK, Clock, Display, Keys, PlayResult, Sink, Speak
from holdcue.text import printable
from holdcue.timeline import Session


class Remote(Protocol):
    """Another front end steering the same core while it plays (MPRIS): ``close()`` ends it."""

    def close(self) -> None: ...


# Starts a Remote on the core once the session is heard; it says what the listener should
# know (that it is off, and why) through the callable it is given, from any thread.
RemoteStarter = Callable[[Core, Callable[[str], None]], Remote]


def play(
    session: Session,
    *,
    sink: Sink | None = None,
    clock: Clock | None = None,
    keys: Keys | None = None,
    display: Display | None = None,
    start_at: str | None = None,
    lead_in: float = playback.LEAD_IN,
    volume: float = 1.0,
    speak: Speak | None = None,
    keep_alive: bool = False,
    recorder: JournalWriter | None = None,
    resumed_from: int | None = None,
    remote: RemoteStarter | None = None,
) -> PlayResult:
    """Play a session from the start (or from the step ``start_at``) to its end, or until
    the keys say quit. No keys (None): hands-free. No display: the status goes to stdout
    (redrawn on a terminal, plain lines otherwise). ``speak`` makes a clip for words the
    session has none for (the time left, said on resume); without it they are left out.
    ``keep_alive``: the sink made here (no ``sink`` given) plays the keep-alive tone.
    ``recorder``: the journal's writer (core.JournalWriter, writing as it is told);
    ``resumed_from``: the journal row this session goes on from. Raises AudioDeviceError
    when no sound device can be used; Ctrl-C (KeyboardInterrupt) or errors.Terminated (the
    CLI's SIGTERM and SIGHUP) silence it at once on their way out, and the journal records
    the session as interrupted. ``remote``: another front end (mpris.start) started once the
    first sound has begun, so that it never delays it; its notes are shown beside the status."""
    origin = 0 if start_at is None else playback.start_position(session.timeline, start_at)
    clock = clock or playback.SystemClock()
    with contextlib.nullcontext(sink) if sink is not None else playback.output(keep_alive) as chosen:
        core = Core(
            sink=chosen,
            clock=clock,
            volume=volume,
            lead_in=lead_in,
            speaker=(lambda voice: speak) if speak is not None else None,
            recorder=recorder,
            owns_sink=False,
        )
        display = display or for_stream(sys.stdout, controls=keys is not None, words=session.words)
        notes: queue.SimpleQueue[str] = queue.SimpleQueue()
        started: Remote | None = None
        try:
            if keys is not None:
                keys.open()
            core.play_ready(session, origin, resumed_from=resumed_from)
            if remote is not None:
                started = remote(core, notes.put)
            _run(core, keys, display, clock, notes)
            core.wait_for_words()  # "Session ended.", after q
        finally:
            if started is not None:
                started.close()  # no command comes in while the session is closed
            core.close("interrupted")  # silent at once; a session not ended is recorded as interrupted
            if keys is not None:
                keys.close()
            display.close()
        status = core.player_status()
        assert status is not None
        return PlayResult(status.state == "finished", round(status.position * session.timeline.rate))


def _run(core: Core, keys: Keys | None, display: Display, clock: Clock, notes: queue.SimpleQueue[str]) -> None:
    """Show the status and follow the keys until the session ends or is stopped."""
    noted = ""
    while True:
        while not notes.empty():
            display.note(notes.get())
        core.tick()
        if core.failure is not None:
            raise core.failure
        if core.notice != noted:
            noted = core.notice
            display.note(printable(noted))
        status = core.player_status()
        assert status is not None
        display.show(status)
        if status.state in ("finished", "stopped"):
            return
        if keys is None:
            clock.sleep(TICK)
            continue
        for command in keys.read(TICK):
            core.command(command)
