"""Worker processes (speech's, and export's side by side) never outlive the process that
started them, however it ends, and leave no partial file; what they send back arrives whole."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from holdcue import errors
from holdcue.routine import Voice
from holdcue.speech import ClipCache, espeak, synthesis, synthesize_all
from holdcue.timeline import SAMPLE_RATE
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
    texts = [f"text {n}" for n in range(synthesis.SMALL_BATCH + 4)]
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
        "from holdcue.speech import workers\n"
        f"workers.die_with({'os.getppid() + 1000000' if parent == 'dead' else 'os.getppid()'})\n"
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


# export workers (batch.py): holdcue export with several routines, side by side

LONG = ["full-body-check-in", "glutes-and-calves-lacrosse-ball", "foam-rolling", "chest-and-shoulders-massage-ball"]
OLD = b"last week's export"

# Run as a program, this is holdcue on a system without O_TMPFILE: every file is a hidden
# .NAME.xxxxxxxx.part while it is written. Its workers run this file again (spawn), so they too.
WITHOUT_TMPFILE = textwrap.dedent(
    """
    import os
    del os.O_TMPFILE
    if __name__ == "__main__":
        from holdcue.cli import main
        main()
    """
)


def made_up_clip(text: str) -> np.ndarray:
    n = int(SAMPLE_RATE * (0.3 + 0.06 * len(text)))
    pitch = 110 + zlib.crc32(text.encode()) % 60
    return (8000 * np.sin(2 * np.pi * pitch * np.arange(n) / SAMPLE_RATE)).astype(np.int16)


def export_env(folder: Path) -> dict[str, str]:
    """A cache holding made-up speech for the LONG routines, and no user routines."""
    from holdcue import library, session  # not at the top: speech workers import this module, and start sooner

    cache = ClipCache(folder / "cache" / "speech")
    if not cache.directory.exists():
        for rid in LONG:
            routine = library.load_routine(rid)
            for said in session.said_texts(routine).values():
                cache.put(espeak.Pyttsx3Engine.name, routine.voice, said, made_up_clip(said))
    return dict(os.environ, HOLDCUE_CACHE_DIR=str(folder / "cache"), HOLDCUE_CONFIG_DIR=str(folder / "config"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The LONG routines exported one at a time, uninterrupted: what a finished file holds."""
    folder = tmp_path_factory.mktemp("reference")
    command = [sys.executable, "-m", "holdcue", "export", *LONG, "-o", str(folder / "out"), "--jobs", "1"]
    subprocess.run(command, env=export_env(folder), check=True, capture_output=True, timeout=300)
    return folder / "out"


def export_workers(pid: int) -> set[int]:
    found = set()
    for child in children(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as command:
                if b"resource_tracker" not in command.read():
                    found.add(child)
        except OSError:
            pass
    return found


def writing_into(pid: int, folder: Path) -> bool:
    """Whether a process has a file open in ``folder`` (an unnamed one shows as "#inode (deleted)")."""
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False
    return any(link.startswith(f"{folder}/") for link in links)


def exporting_side_by_side(tmp_path: Path, hidden: bool) -> tuple[subprocess.Popen, set[int], Path]:
    """`holdcue export` of the LONG routines, three at a time (one by the command itself, two
    by workers), over old files of theirs, in a session of its own (as a terminal's); returns
    once all three are writing a file."""
    out = tmp_path / "out"
    out.mkdir()
    for rid in LONG:
        (out / f"{rid}.mp3").write_bytes(OLD)
    if hidden:
        program = tmp_path / "holdcue_without_tmpfile.py"
        program.write_text(WITHOUT_TMPFILE)
        command = [sys.executable, str(program)]
    else:
        command = [sys.executable, "-m", "holdcue"]
    process = subprocess.Popen(
        [*command, "export", *LONG, "-o", str(out), "--jobs", "3"],
        env=export_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        workers = export_workers(process.pid)
        if len(workers) == 2 and all(writing_into(pid, out) for pid in {process.pid, *workers}):
            break
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the export's command and two workers never wrote at once: {process.communicate()}")
        time.sleep(0.02)
    if hidden:  # the files being written are there to be seen: the run tests what it should
        assert len([name for name in os.listdir(out) if name.endswith(".part")]) >= 3
    return process, workers, out


STOPS = {  # how the export is stopped: (signal, to its whole process group?), exit code, last words
    "Ctrl-C": ((signal.SIGINT, True), 130, "Interrupted."),
    "SIGTERM": ((signal.SIGTERM, False), 143, "Stopped (SIGTERM)."),
    "hangup": ((signal.SIGHUP, True), 129, "Stopped (SIGHUP)."),
    "kill -9": ((signal.SIGKILL, False), -signal.SIGKILL, ""),
}


@pytest.mark.parametrize(
    "how, hidden",
    [(how, True) for how in STOPS] + [("Ctrl-C", False), ("kill -9", False)],
    ids=lambda value: {True: "hidden part files", False: "unnamed files"}.get(value, value),
)
def test_an_export_side_by_side_stopped_leaves_no_worker_and_no_partial_file(tmp_path, reference, how, hidden):
    process, workers, out = exporting_side_by_side(tmp_path, hidden)
    (signum, group), code, words = STOPS[how]
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    left = wait_until_gone(workers, 15)
    kill_all(left)
    assert process.returncode == code, stderr
    assert not left, f"{len(left)} export workers outlived the command"
    assert "Traceback" not in stderr and stderr.rstrip().endswith(words)
    # every file is the old one or the whole new one; nothing else is there, hidden or not,
    # but for the command's own file after kill -9 where O_TMPFILE is missing (as one at a
    # time leaves it: docs/export.md, "Safe writes"); the workers remove theirs
    names = os.listdir(out)
    parts = [name for name in names if name.startswith(".") and name.endswith(".part")]
    assert len(parts) <= (1 if how == "kill -9" and hidden else 0), parts
    assert sorted(set(names) - set(parts)) == sorted(f"{rid}.mp3" for rid in LONG)
    new = {rid for rid in LONG if (out / f"{rid}.mp3").read_bytes() != OLD}
    for rid in new:
        assert (out / f"{rid}.mp3").read_bytes() == (reference / f"{rid}.mp3").read_bytes(), rid
    assert new != set(LONG)  # it was stopped part way
    said = {Path(line.split("  ")[0]).stem for line in stdout.splitlines()}
    assert said <= new


def test_an_export_worker_killed_is_an_output_error(tmp_path, reference):
    """A worker that dies (the kernel's out-of-memory killer, kill -9): the command stops the
    others and says so, exit code 6; nothing partial is left (unnamed files)."""
    process, workers, out = exporting_side_by_side(tmp_path, hidden=False)
    os.kill(min(workers), signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=60)
    left = wait_until_gone(workers, 15)
    kill_all(left)
    assert process.returncode == 6, stderr
    assert not left
    assert "an export worker process stopped unexpectedly; try again" in stderr and "Traceback" not in stderr
    assert sorted(os.listdir(out)) == sorted(f"{rid}.mp3" for rid in LONG)
    for rid in LONG:
        assert (out / f"{rid}.mp3").read_bytes() in (OLD, (reference / f"{rid}.mp3").read_bytes()), rid


def _say_all(folder: str, texts: list[str]) -> dict[str, int]:
    """In a process of its own: the texts said and put in the cache in ``folder``, each clip's CRC."""
    clips = synthesize_all(texts, Voice(), cache=ClipCache(Path(folder)), workers=1)
    return {text: zlib.crc32(clip.tobytes()) for text, clip in clips.items()}


@espeak_test
def test_two_processes_saying_the_same_texts_share_one_cache(tmp_path):
    """Two export workers may make the same clip at once (one the cache gave neither): the
    cache then holds one of the two, whole, and nothing else."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    texts = [f"Press the ball into your calf for {n} breaths." for n in range(2, 14)]
    with ProcessPoolExecutor(2, get_context("spawn")) as pool:
        made = list(pool.map(_say_all, [str(tmp_path)] * 2, [texts] * 2))
    cache = ClipCache(tmp_path)
    names = {cache.path(espeak.Pyttsx3Engine.name, Voice(), text).name: text for text in texts}
    assert sorted(os.listdir(tmp_path)) == sorted(names)
    for text in texts:
        clip = cache.get(espeak.Pyttsx3Engine.name, Voice(), text)
        assert clip is not None and zlib.crc32(clip.tobytes()) in {made[0][text], made[1][text]}
