"""The journal's one writer: every session the core plays, whichever front end started it,
recorded from the core's events (``Change``): its row when it starts, the step reached at
each step boundary (committed), the time each hold that lasts until a press was held, how
it ended when it ends (journal.py keeps the file).

The service writes on a thread of its own, in order, so neither the controls nor the ticker
wait for the disk; the terminal writes as each event comes (it has one thread, and the
row of a step is committed before that step is shown). A journal that cannot be written
(damaged, locked, full, read-only) is reported once, until a write works again; the session
plays on without it. What could not be written is kept, in order, with the time it
happened, and written when the journal can be written again: the service tries every
RETRY seconds, the terminal at each change and once more as it closes. So a session that
ended while the journal was locked is not left "playing" (read as interrupted, and
resumed again).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from holdcue import journal
from holdcue.core.events import Change

log = logging.getLogger("holdcue.core")

OUTCOMES = {  # the core's end outcomes as the journal keeps them
    "finished": "finished",
    "stopped": "stopped",
    "replaced": "stopped",  # another session was asked for: stopped by the listener
    "interrupted": "interrupted",  # holdcue was stopped (Ctrl-C, SIGTERM)
    "failed": "interrupted",  # the sound device failed: resumable, as after a power cut
}

Report = Callable[[journal.JournalError], None]
RETRY = 5.0  # seconds between tries of a journal that could not be written (the service's writer)
KEPT = 10_000  # changes kept for a journal that cannot be written; older steps give way first


def _log_failure(error: journal.JournalError) -> None:
    log.warning("sessions are not recorded in the journal: %s", error)


class JournalWriter:
    """An observer of the core (``writer(change)``) that records what it is told."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        threaded: bool = True,
        timeout: float | None = None,
        report: Report = _log_failure,
    ):
        """``threaded``: write on a thread of its own (else at once, in the caller's).
        ``timeout``: how long a write waits for a journal another program holds locked
        (journal.BUSY_TIMEOUT by default). ``report``: told the first error of a failing run."""
        self.path = path or journal.default_path()
        self.timeout = timeout
        self.report = report
        self.error: journal.JournalError | None = None  # the first error met
        self._row: int | None = None  # the row of the session being played; None: none, or its start failed
        self._begun: Change | None = None  # the start whose row that is
        self._step = 0
        self._failing = False
        self._pending: collections.deque[tuple[Change, float]] = collections.deque()  # not yet written, with when
        self._queue: queue.Queue[tuple[Change, float] | None] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._run, name="holdcue-journal", daemon=True)
            self._thread.start()

    def __call__(self, change: Change) -> None:
        heard = (change, time.time())  # written as of now, however late it is written
        if self._queue is not None:
            self._queue.put(heard)
        else:
            self._record(heard)

    def flush(self) -> None:
        """Wait until every change heard so far is written (or failed)."""
        if self._queue is not None:
            self._queue.join()

    def close(self, timeout: float = 5.0) -> None:
        """Write what is left, then stop (bounded: a locked journal waits journal.BUSY_TIMEOUT per write)."""
        if self._queue is not None and self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        elif self._queue is None:
            self._drain()

    def to_resume(self) -> journal.Record | None:
        """The session ``holdcue resume`` would go on with (once what was heard is written)."""
        self.flush()
        with journal.Journal.read(self.path) as kept:
            return kept.to_resume()

    def _run(self) -> None:
        assert self._queue is not None
        while True:
            try:
                heard = self._queue.get(timeout=RETRY if self._pending else None)
            except queue.Empty:
                self._drain()  # the journal may be free again
                continue
            try:
                if heard is None:
                    self._drain()
                    return
                self._record(heard)
            finally:
                self._queue.task_done()

    def _record(self, heard: tuple[Change, float]) -> None:
        if len(self._pending) >= KEPT:
            steps = [i for i, (kept, _) in enumerate(self._pending) if kept.kind == "step"]
            del self._pending[steps[0] if steps else 0]
        self._pending.append(heard)
        self._drain()

    def _drain(self) -> None:
        """Write what is waiting, in order, until a write fails (kept to try again)."""
        while self._pending:
            change, at = self._pending[0]
            try:
                written = self._write(change, at)
            except journal.JournalError as error:
                self.error = self.error or error
                if not self._failing:
                    self.report(error)
                self._failing = True
                return
            except Exception:
                log.exception("the journal could not record %s", change)
                written = False
            self._pending.popleft()
            if written and self._failing:
                self._failing = False
                log.info("the journal %s is written again", self.path)

    def _open(self) -> journal.Journal:
        return journal.Journal.open(self.path, timeout=self.timeout)

    def _write(self, change: Change, at: float) -> bool:
        """Record the change as of ``at`` (wall time); False when there was nothing to write.
        Raises JournalError, and can then be called again with the same change."""
        status = change.status
        if change.kind == "start":
            with self._open() as kept:
                if self._begun is not change:  # a row made on an earlier try is not made again
                    self._row = kept.begin(
                        routine_id=change.routine,
                        title=str(status.title),
                        source=journal.routine_source(change.source),
                        steps=status.steps,
                        planned=change.planned or float(status.duration),
                        resumed_from=change.resumed_from,
                        at=at,
                    )
                    self._begun, self._step = change, 0
                if status.step and self._row is not None:  # started at a step (resumed): the row says so at once
                    kept.step(self._row, status.step, 0.0, at=at)
                    self._step = status.step
            return True
        row = self._row
        if row is None:
            return False  # no row to write to (the writer started in the middle of a session)
        step = status.step
        if change.kind == "step":
            if not step or step == self._step:
                return False  # another side or round of the same step
            with self._open() as kept:
                kept.step(row, step, change.played, at=at)
            self._step = step
        elif change.kind == "held" and change.held is not None:
            held = change.held
            hold = journal.Hold(held.step, held.side, held.round, held.seconds, held.longest, held.pressed)
            with self._open() as kept:
                kept.hold(row, hold, change.played, at=at)
        elif change.kind == "end":
            with self._open() as kept:
                kept.end(row, OUTCOMES[change.outcome], step or self._step, change.played, at=at)
            self._row = self._begun = None
        return True
