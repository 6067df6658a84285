"""The journal's one writer: every session the core plays, whichever front end started it,
recorded from the core's events (``Change``): its row when it starts, the step reached at
each step boundary (committed), how it ended when it ends (journal.py keeps the file).

The service writes on a thread of its own, in order, so neither the controls nor the ticker
wait for the disk; the terminal writes as each event comes (it has one thread, and the
row of a step is committed before that step is shown). A journal that cannot be written
(damaged, locked, read-only) is reported once, until a write works again; the session
plays on without it, and the next session tries again.
"""

from __future__ import annotations

import logging
import queue
import threading
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
        self._step = 0
        self._failing = False
        self._queue: queue.Queue[Change | None] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._run, name="holdcue-journal", daemon=True)
            self._thread.start()

    def __call__(self, change: Change) -> None:
        if self._queue is not None:
            self._queue.put(change)
        else:
            self._record(change)

    def flush(self) -> None:
        """Wait until every change heard so far is written (or failed)."""
        if self._queue is not None:
            self._queue.join()

    def close(self, timeout: float = 5.0) -> None:
        """Write what is left, then stop (bounded: a locked journal waits journal.BUSY_TIMEOUT per write)."""
        if self._queue is not None and self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def to_resume(self) -> journal.Record | None:
        """The session ``holdcue resume`` would go on with (once what was heard is written)."""
        self.flush()
        with journal.Journal.read(self.path) as kept:
            return kept.to_resume()

    def _run(self) -> None:
        assert self._queue is not None
        while True:
            change = self._queue.get()
            try:
                if change is None:
                    return
                self._record(change)
            finally:
                self._queue.task_done()

    def _record(self, change: Change) -> None:
        try:
            if self._write(change) and self._failing:
                self._failing = False
                log.info("the journal %s is written again", self.path)
        except journal.JournalError as error:
            self.error = self.error or error
            if not self._failing:
                self.report(error)
            self._failing = True
            if change.kind == "start":
                self._row = None
        except Exception:
            log.exception("the journal could not record %s", change)

    def _open(self) -> journal.Journal:
        return journal.Journal.open(self.path, timeout=self.timeout)

    def _write(self, change: Change) -> bool:
        """Record the change; False when there was nothing to write."""
        status = change.status
        if change.kind == "start":
            self._row, self._step = None, status.step
            with self._open() as kept:
                self._row = kept.begin(
                    routine_id=change.routine,
                    title=str(status.title),
                    source=journal.routine_source(change.source),
                    steps=status.steps,
                    planned=change.planned or float(status.duration),
                    resumed_from=change.resumed_from,
                )
                if self._step:  # started at a step (resumed): the row says so at once
                    kept.step(self._row, self._step, 0.0)
            return True
        row = self._row
        if row is None:
            return False  # its start was not recorded
        step = status.step
        if change.kind == "step":
            if not step or step == self._step:
                return False  # another side or round of the same step
            self._step = step
            with self._open() as kept:
                kept.step(row, step, change.played)
        elif change.kind == "end":
            self._row = None
            with self._open() as kept:
                kept.end(row, OUTCOMES[change.outcome], step or self._step, change.played)
        return True
