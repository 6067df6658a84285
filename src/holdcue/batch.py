"""Several routines exported side by side (holdcue export with several routines or --all),
as many at a time as there are cores: this process exports one, worker processes the
others, each one routine at a time. Every file is the one an export of one routine at a
time writes, byte for byte: each builds the session and exports it exactly as that does
(session.build, export.export).

Processes, not threads: LAME (lameenc), most of an MP3 export's time, holds Python's GIL
while it encodes, so threads would only take turns (docs/export.md, "Several routines at
once", has the figures). Workers are started with "spawn", as speech workers are: a
forked child would inherit locks held by the parent's other threads (the music decoder's,
espeak-ng's) without the threads.

Speech not yet in the cache is made first, in this process, for all the routines at once
(session.prepare, with speech workers of its own): each text once, as exporting one
routine at a time does, so every file speaks a text with the same clip, the one the cache
keeps (espeak-ng does not say a text twice quite alike). Clips the cache then fails to give
a worker (damaged since) are made by the worker itself, in its own process; were two to
make the same one, the first stored stays and both use it (speech/cache.py), so the cache
holds one of them, whole, and every file speaks it.

Ctrl-C belongs to this process: workers start with SIGINT and SIGHUP blocked, so the
terminal's Ctrl-C (sent to every process of the command) and hangup reach only this one.
When this process stops (KeyboardInterrupt, errors.Terminated, an unexpected error), it
sends SIGTERM to every worker, and a worker ends on it once the file it was writing is
removed (export's own cleanup); the kernel sends it the same SIGTERM when this process
ends any other way, kill -9 included (PR_SET_PDEATHSIG). So no worker and no partial
file outlives the command.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from holdcue import compiler
from holdcue.errors import HoldcueError, OutputError, Terminated
from holdcue.routine import Routine
from holdcue.timeline import SAMPLE_RATE

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

TICK = 0.1  # seconds between two progress reports while the workers export
STOP_WAIT = 10.0  # seconds a worker is given to end on SIGTERM before it is killed


@dataclass(frozen=True)
class Job:
    """One routine, as it will be heard (choices.resolve: its voice and music), to export to ``target``."""

    routine: Routine
    target: Path


def export_all(
    jobs: Sequence[Job],
    *,
    format: str | None = None,
    volume: float = 1.0,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    written: Callable[[int, float], None] | None = None,
    preparing: Callable[[int, int], None] | None = None,
) -> None:
    """Export every job, ``workers`` at a time (default: one per core, speech.workers.cores()): one
    in this process, the others each by a worker process; ``format`` and ``volume`` as
    export.export's. Speech missing from the cache is made first (``preparing(done,
    total)`` counts its clips).

    ``written(index, seconds)`` is called for each file written, in the order of ``jobs``:
    for a job as soon as it and every job before it are done. ``progress(done, total)``,
    called now and then, counts the samples written over all the files (each file's share
    estimated from its routine before it is built; ``done == total`` at the end).

    A job that fails stops the ones after it in ``jobs`` that have not started, as exporting
    one at a time would never reach them; the ones before it are still exported, and those
    after it already under way are finished (and reported). Then the error of the first job
    that failed, in the order of ``jobs``, is raised: the one exporting them one at a time
    raises. Nothing partial is left behind (export.export's atomic files)."""
    from holdcue.speech import workers as speech_workers

    jobs = list(jobs)
    if not jobs:
        return
    if not _speech_cached(jobs):
        from holdcue import session

        session.prepare([job.routine for job in jobs], workers=workers, progress=preparing)
    run = _Run(jobs, format, volume, progress, written)
    helpers = min(workers or speech_workers.cores(), len(jobs)) - 1  # worker processes beside this one
    if helpers:
        run.pool = speech_workers.worker_pool(helpers, _start_worker, (run.shared, os.getpid()))
        run.helpers = helpers
    finished = False
    try:
        run.through()
        finished = True
    finally:
        if run.pool is not None:
            if not finished:
                _stop(run.pool)
            run.pool.shutdown(wait=True, cancel_futures=True)
    run.finish()


class _Run:
    """The jobs of one export_all: handed out longest first, so that no long one is left
    to run alone at the end; this process takes the next itself whenever it is free, and
    gives the worker processes one each (more would be out of reach once one fails)."""

    def __init__(self, jobs: list[Job], format: str | None, volume: float, progress, written):
        import multiprocessing

        self.jobs, self.format, self.volume = jobs, format, volume
        self.progress, self.written = progress, written
        self.shared = multiprocessing.get_context("spawn").RawArray("q", 2 * len(jobs))  # (written, all) a job
        self.shares = [max(1, round(compiler.estimate_seconds(job.routine) * SAMPLE_RATE)) for job in jobs]
        self.queue = sorted(range(len(jobs)), key=lambda i: -self.shares[i])  # next to start, first
        self.pool: ProcessPoolExecutor | None = None
        self.helpers = 0
        self.running: dict[Future, int] = {}  # a worker's job
        self.seconds: dict[int, float] = {}
        self.failures: dict[int, BaseException] = {}
        self.reported = 0  # jobs[:reported] are written and their lines said
        self.tended = 0.0

    def through(self) -> None:
        """Every job done, or failed, or left out after a failure."""
        from concurrent.futures import FIRST_COMPLETED, wait

        while self.queue or self.running:
            if self.queue:
                index = self.queue.pop(0)
                self.hand_out()
                self.export_here(index)
            else:
                wait(self.running, timeout=TICK if self.progress else None, return_when=FIRST_COMPLETED)
            self.tend()

    def hand_out(self) -> None:
        """A job for each idle worker (the first submits start the workers: they inherit a mask
        that blocks SIGINT and SIGHUP, which are this process's to handle)."""
        from concurrent.futures.process import BrokenProcessPool

        while self.pool is not None and self.queue and len(self.running) < self.helpers:
            index = self.queue.pop(0)
            try:
                with _blocked({signal.SIGINT, signal.SIGHUP}):
                    future = self.pool.submit(_export, index, self.jobs[index], self.format, self.volume)
            except BrokenProcessPool as error:  # a worker died, and the pool ended the others
                self.helpers = 0  # the jobs before the first that failed are left to this process
                self.failed(index, error)
                return
            self.running[future] = index

    def export_here(self, index: int) -> None:
        """A job in this process, as exporting one at a time does; the workers are tended
        meanwhile, as it reports its progress."""
        import time

        def report(done: int, total: int) -> None:
            self.shared[2 * index + 1] = total
            self.shared[2 * index] = done
            if time.monotonic() - self.tended >= TICK / 2:
                self.tend()

        try:
            self.seconds[index] = _build_and_export(index, self.jobs[index], self.format, self.volume, report)
        except HoldcueError as error:
            self.failed(index, error)

    def tend(self) -> None:
        """Take the workers' results, give the idle ones the next jobs, say the lines due."""
        import time

        self.tended = time.monotonic()
        for future in [future for future in self.running if future.done()]:
            index = self.running.pop(future)
            error = future.exception()  # the pool's own: a worker died (BrokenProcessPool)
            if error is None:
                result = future.result()
                if not isinstance(result, _Failed):
                    self.seconds[index] = result
                    continue
                error = _raised(result)
            self.failed(index, error)
        self.hand_out()
        while self.reported in self.seconds:  # up to the first job not done, or failed
            if self.written:
                self.written(self.reported, self.seconds[self.reported])
            self.reported += 1
        if self.progress:
            self.progress(_samples(self.shared, self.shares, self.seconds), sum(self.shares))

    def failed(self, index: int, error: BaseException) -> None:
        self.failures[index] = error
        self.queue = [later for later in self.queue if later < index]  # as one at a time never gets to them

    def finish(self) -> None:
        """After a failure: the lines of the jobs after it that were finished; then its error."""
        for index in sorted(self.seconds):
            if index >= self.reported and self.written:
                self.written(index, self.seconds[index])
        if self.failures:
            first = min(self.failures)
            raise _as_reported(self.failures[first], self.jobs[first])


def _speech_cached(jobs: list[Job]) -> bool:
    """Whether the cache has a clip for every text of every job (by the clips' headers: a
    clip damaged since is made again by the worker that finds it so)."""
    from holdcue import session, speech

    cache = speech.ClipCache()
    names: dict = {}  # the engine's name (part of the cache key) for each voice
    for job in jobs:
        voice = job.routine.voice
        if voice not in names:
            names[voice] = speech.factory_for(voice)().name
        for said in session.said_texts(job.routine).values():
            if cache.frames(names[voice], voice, said) is None:
                return False
    return True


def _samples(shared, shares: list[int], seconds: dict[int, float]) -> int:
    """The estimated samples written so far over all the files (each file's ``shares``)."""
    done = 0
    for index, share in enumerate(shares):
        written, total = shared[2 * index], shared[2 * index + 1]
        if index in seconds:
            done += share
        elif total > 0:
            done += share * min(written, total) // total
    return done


def _raised(failed: _Failed) -> BaseException:
    """The worker's error, with its traceback as its cause when it has one."""
    error = failed.error
    if failed.trace:
        error.__cause__ = WorkerTraceback("in the export process:\n" + failed.trace)
    return error


def _as_reported(error: BaseException, job: Job) -> BaseException:
    """The error as the command reports it: a worker that died (killed, out of memory) is an
    OutputError about the file it was to write; nothing of that file is left (atomic.py)."""
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(error, BrokenProcessPool):
        return OutputError(f"cannot write {job.target}: an export worker process stopped unexpectedly; try again")
    return error


@contextlib.contextmanager
def _blocked(signals: set[signal.Signals]) -> Iterator[None]:
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _stop(pool) -> None:
    """SIGTERM to every worker, then wait for each to end (it removes the file it was
    writing first); one still there after STOP_WAIT seconds is killed."""
    from holdcue.speech import workers

    processes = list((getattr(pool, "_processes", None) or {}).values())
    workers.terminate_workers(pool)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.join(STOP_WAIT)
            if process.is_alive():
                process.kill()
                process.join()


# -- in a worker process -----------------------------------------------------------------

_progress = None  # the parent's shared array
_busy = False  # exporting: SIGTERM must let the export remove its file first
_stopping = False


def _start_worker(shared, parent: int) -> None:
    """In a worker: it ends on SIGTERM, from the parent or, when the parent ends, the kernel."""
    from holdcue.speech import workers

    global _progress
    _progress = shared
    signal.signal(signal.SIGTERM, _on_terminate)
    workers.die_with(parent, signal.SIGTERM)


def _on_terminate(signum: int, frame: object) -> None:
    """In an export, raise Terminated so that its file is removed on the way out (only the
    first time: a second signal must not cut that short). Between exports there is nothing
    to remove: the worker ends at once. It may be sending a result then; a result is small
    (``_Failed``), written to the pool's pipe in one atomic write, so never half sent."""
    global _stopping
    if not _busy:
        os._exit(128 + signum)
    if not _stopping:
        _stopping = True
        raise Terminated(signum)


@dataclass(frozen=True)
class _Failed:
    """A job's error, sent back as a result: the error alone pickles small (concurrent.futures
    would add the whole traceback), and the end of the worker's traceback, for --debug."""

    error: BaseException
    trace: str


class WorkerTraceback(Exception):
    """Where in a worker process an error was raised (its cause, shown by --debug)."""


TRACE_CHARS = 1500  # the end of a worker's traceback sent back with an unexpected error


def _export(index: int, job: Job, format: str | None, volume: float) -> float | _Failed:
    """Build the job's session and export it: its length in seconds, or what failed. On
    SIGTERM the worker ends here, its file removed on the way (whatever the moment: the
    outer handler catches a Terminated raised as the inner block ends)."""
    global _busy
    try:
        _busy = True
        try:
            return _build_and_export(index, job, format, volume)
        except Exception as error:
            return _failed(error)
        finally:
            _busy = False
            if _stopping:  # a Terminated that something on its way swallowed: end now all the same
                os._exit(128 + signal.SIGTERM)
    except Terminated as stop:
        os._exit(128 + stop.signum)  # the export's files are removed by now


def _build_and_export(index: int, job: Job, format: str | None, volume: float, report=None) -> float:
    """Build the job's session and export it, as exporting one routine at a time does; its
    length in seconds. ``report(done, total)``: its progress (default: into the shared array)."""
    from holdcue import export, session

    def shared(done: int, total: int) -> None:
        if _progress is not None:
            _progress[2 * index + 1] = total
            _progress[2 * index] = done

    ready = session.build(job.routine, workers=1)
    export.export(ready, job.target, format=format, volume=volume, progress=report or shared)
    return ready.timeline.duration


def _failed(error: Exception) -> _Failed:
    import pickle
    import traceback

    from holdcue.errors import HoldcueError

    trace = "" if isinstance(error, HoldcueError) else "".join(traceback.format_exception(error))[-TRACE_CHARS:]
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # an error of a library that cannot be sent as it is: its type and words
        error = RuntimeError(f"{type(error).__name__}: {error}")
    error.__traceback__ = error.__context__ = error.__cause__ = None
    return _Failed(error, trace)
