"""Worker processes (speech's, and export's side by side) never outlive the process that
started them, however it ends, and leave no partial file; what they send back arrives whole."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from holdcue import errors, speech
from holdcue.routine import Voice
from holdcue.speech import ClipCache, synthesize_all
from speech_support import espeak_test

SLOW = 20.0  # seconds a SlowEngine takes for most texts: far longer than any test waits


class SlowEngine:
    """Says "text 0" at once and every other text in SLOW seconds, so workers are busy
    mid-text when the work is stopped. Top level: workers unpickle it."""

    name = "slow"

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        time.sleep(0 if text == "text 0" else SLOW)
        return (8000 * np.sin(np.arange(800) * 0.3)).astype(np.int16) + 1


def children(pid: int | str = "self") -> set[int]:
    """The pids of a process's children, from every one of its threads."""
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                found |= {int(child) for child in listing.read().split()}
        except OSError:  # the thread ended meanwhile
            pass
    return found


def workers_of_this_process(before: set[int]) -> set[int]:
    """Children started since ``before``, but for multiprocessing's resource tracker, which
    lives as long as this process (a killed parent takes it along: it sees its pipe close)."""
    found = set()
    for pid in children() - before:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as command:
                if b"resource_tracker" not in command.read():
                    found.add(pid)
        except OSError:
            pass
    return found


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as status:
            line = status.read()
    except OSError:
        return False
    return line[line.rindex(")") + 2] != "Z"


def wait_until_gone(pids: set[int], seconds: float) -> set[int]:
    """The pids still running after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while (left := {pid for pid in pids if running(pid)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def kill_all(pids: set[int]) -> None:
    """Tidy up after a failed test: the workers it found must not outlive the test run."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def cold_prepare(tmp_path, **options) -> subprocess.Popen:
    """`holdcue prepare --all` with an empty cache and no user routines, started in the
    background; returns once its speech workers are running."""
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOLDCUE_CACHE_DIR=str(tmp_path / "cache"), HOME=str(home), XDG_CONFIG_HOME=str(home))
    env.pop("XDG_DATA_HOME", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "holdcue", "prepare", "--all"], env=env, stderr=subprocess.DEVNULL, **options
    )
    deadline = time.monotonic() + 60
    # two workers (the machine has at least two cores) and multiprocessing's resource tracker
    while len(children(process.pid)) < 3:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("holdcue prepare --all started no speech workers")
        time.sleep(0.05)
    time.sleep(1.0)  # past the workers' start-up: they are saying texts now
    return process


@espeak_test
def test_kill_9_of_a_cold_prepare_takes_its_workers_with_it(tmp_path):
    process = cold_prepare(tmp_path, stdout=subprocess.DEVNULL)
    workers = children(process.pid)
    process.kill()
    process.wait()
    left = wait_until_gone(workers, 5)
    kill_all(left)
    assert not left, f"{len(left)} of {len(workers)} worker processes outlived their parent"
    assert not list((tmp_path / "cache").rglob(".*"))  # no half-written cache file either


@espeak_test
def test_sigterm_of_a_cold_prepare_closes_its_output_pipe(tmp_path):
    """`holdcue prepare --all | cat` ends when holdcue is terminated: no worker keeps the pipe open."""
    process = cold_prepare(tmp_path, stdout=subprocess.PIPE)
    workers = children(process.pid)
    eof = threading.Event()
    reader = threading.Thread(target=lambda: (process.stdout.read(), eof.set()), daemon=True)
    reader.start()
    process.send_signal(signal.SIGTERM)
    ended = eof.wait(10)
    process.wait()
    left = wait_until_gone(workers, 5)
    kill_all(left)
    assert ended, "the output pipe stayed open after SIGTERM"
    assert not left


def interrupt_by_progress():
    """Ctrl-C arriving while the progress callback runs (between two clips)."""
    calls = []

    def progress(done: int, total: int) -> None:
        calls.append(done)
        if done:  # the first clip is in: both workers are mid-text
            raise KeyboardInterrupt

    return progress


def interrupt_by_signal():
    """SIGTERM handled as the CLI handles it (as Ctrl-C), arriving while waiting for clips."""

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)

    def progress(done: int, total: int) -> None:
        if done:  # a moment later the main thread is waiting for the next clip
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()

    return progress


@pytest.mark.parametrize("interrupt", [interrupt_by_progress, interrupt_by_signal])
def test_an_interrupt_stops_busy_workers_at_once(tmp_path, interrupt):
    texts = [f"text {n}" for n in range(speech.SMALL_BATCH + 4)]
    before = children()
    seen: set[int] = set()
    progress = interrupt()

    def watching(done: int, total: int) -> None:
        seen.update(workers_of_this_process(before))
        progress(done, total)

    started = time.monotonic()
    handler = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(KeyboardInterrupt):
            synthesize_all(
                texts, Voice(), cache=ClipCache(tmp_path), engine_factory=SlowEngine, workers=2, progress=watching
            )
    finally:
        signal.signal(signal.SIGTERM, handler)
    took = time.monotonic() - started
    left = wait_until_gone(seen, 2)
    kill_all(left)
    assert len(seen) >= 2  # the workers were there to be stopped
    assert took < 5, f"stopping took {took:.1f} s: the workers were left to finish their texts"
    assert not left
    assert [p.name for p in tmp_path.iterdir()] == [ClipCache(tmp_path).path("slow", Voice(), "text 0").name]


@pytest.mark.parametrize("parent", ["dead", "alive"])
def test_a_worker_whose_parent_is_already_gone_ends(parent):
    """The race prctl cannot cover: the parent died before the worker asked to die with it
    (the worker was then given to another process)."""
    code = (
        "import os, sys\n"
        "from holdcue import speech\n"
        f"speech.die_with({'os.getppid() + 1000000' if parent == 'dead' else 'os.getppid()'})\n"
        "import ctypes\n"
        "signal = ctypes.c_int()\n"
        "ctypes.CDLL(None).prctl(2, ctypes.byref(signal), 0, 0, 0)  # PR_GET_PDEATHSIG\n"
        "print(signal.value)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    if parent == "dead":
        assert (result.returncode, result.stdout, result.stderr) == (1, "", "")
    else:
        assert (result.returncode, result.stdout.strip()) == (0, str(int(signal.SIGKILL)))


@pytest.mark.parametrize(
    "error",
    [
        errors.RoutineError([errors.Problem("a.yaml", 3, 5, "steps[0].time", '"45" has no unit; write "45s"')]),
        errors.PlanError([errors.Problem("plan.yaml", 1, 0, "", "no days")]),
        errors.ToneError("/tones/start.wav", "not a WAV file"),
        errors.MusicError("/music/a.mp3", "cannot be decoded"),
        errors.Terminated(signal.SIGTERM),
        errors.OutputError("cannot write /out/a.mp3: the disk is full"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_cross_from_a_worker_whole(error):
    """A worker's error is pickled: it must come back as it was raised (type, message, fields)."""
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and str(back) == str(error)
    assert vars(back) == vars(error)
