"""Worker processes: many texts said side by side, one engine in each process, none
outliving the process that started them. Export uses the same pool (batch.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

from holdcue.errors import SpeechError
from holdcue.speech.engine import Engine, make_clip

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    import numpy

    from holdcue.routine import Voice
    from holdcue.speech.cache import ClipCache


def in_workers(items, factory, cache, workers) -> Generator[tuple[str, Voice, numpy.ndarray | None], None, None]:
    """(text, voice, what the worker sent) as worker processes make the clips of ``items``
    ((text, voice) pairs); each process has one engine, and sends None for a clip it has put
    in the cache (``_worker_clip``).

    The workers never outlive this process: the kernel kills them when it ends, however it
    ends (``_start_worker``), and when anything stops the work early (an error, Ctrl-C, or
    the generator being closed) they are terminated at once instead of finishing their texts.
    """
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    pool = worker_pool(workers, _start_worker, (factory, cache, os.getpid()))
    finished = False
    try:
        # Ctrl-C is for this process to handle: the workers, started by the first submits, inherit
        # a signal mask that blocks SIGINT, so they neither stop half-way nor print tracebacks.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            futures = {pool.submit(_worker_clip, text, voice): (text, voice) for text, voice in items}
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for future in as_completed(futures):
            text, voice = futures[future]
            yield text, voice, future.result()
        finished = True
    except BrokenProcessPool as error:
        raise SpeechError("A speech worker process stopped unexpectedly; try again.") from error
    finally:
        if not finished:  # workers send only tiny results, so stopping them mid-text is safe
            terminate_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)


def worker_pool(workers: int, initializer: Callable, initargs: tuple) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes started with "spawn" (a forked child would inherit a
    parent's espeak-ng, or any lock another thread holds, without its threads).

    The pool needs multiprocessing's resource tracker, a process of its own that lives as long
    as this one; it is started here, unless it runs already, with SIGHUP blocked as well as
    the SIGINT and SIGTERM it blocks itself: a terminal's hangup goes to every process of the
    command, and a tracker killed by it is started again as the pool shuts down, only to
    print a traceback about what it does not know."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import resource_tracker

    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        resource_tracker.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, context, initializer=initializer, initargs=initargs)


def terminate_workers(pool) -> None:
    """SIGTERM to every worker of the pool: shutdown would otherwise wait for the texts they
    are saying, up to DEFAULT_TIMEOUT each. Python 3.14 has a method for it; before, the
    pool's processes are only reachable through its private ``_processes``."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError):  # already ended, or already closed
            process.terminate()


def cores() -> int:
    """The cores this process may run on (its affinity: a container or taskset may allow
    fewer than the machine has): how many worker processes to start by default."""
    count = getattr(os, "process_cpu_count", None)  # Python 3.13
    if count is not None:
        return count() or 1
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_worker: tuple[Engine, ClipCache] | None = None


def _start_worker(factory: Callable[[], Engine], cache: ClipCache, parent: int) -> None:
    """In a worker process: first make sure it ends with its ``parent``, then one engine for all its texts."""
    die_with(parent)
    global _worker
    _worker = (factory(), cache)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with(parent: int, signum: int = signal.SIGKILL) -> None:
    """Have the kernel send ``signum`` to this process when its parent ends, even by SIGKILL,
    so no worker is left saying texts nobody waits for (holding the parent's output pipe
    open). SIGKILL for speech workers, as a worker may be inside espeak-ng, where no Python
    signal handler runs; a cache file it was writing is unnamed until complete, so nothing
    is left half-written. (Export workers ask for SIGTERM: batch.py.)
    The parent may have ended before prctl: then it is no longer this process's parent."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            import logging

            logging.getLogger(__name__).warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    if os.getppid() != parent:
        os._exit(1)


def _worker_clip(text: str, voice: Voice) -> numpy.ndarray | None:
    """In a worker: the clip goes to the cache (or, when another process stored one first,
    that one stays there), and only None (a few bytes) goes back to the parent. A result
    that small is written to the pool's pipe in one atomic write, so a worker terminated at
    any moment never leaves half a result for the pool to wait on. Only a clip the cache
    could not keep comes back whole."""
    if _worker is None:  # only _start_worker's processes are given texts
        raise SpeechError("A speech worker was given a text before it started.")
    engine, cache = _worker
    clip = make_clip(engine, text, voice)
    return None if cache.put(engine.name, voice, text, clip) is not None else clip
