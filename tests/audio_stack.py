"""A real audio stack with no sound card, for end-to-end playback tests and benchmarks:
a private PulseAudio with a null sink, ALSA's default device pointed at it, and its
monitor recorded in real time with parec. Also finding known sounds in a recording."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from holdcue.timeline import SAMPLE_RATE

RATE = SAMPLE_RATE
PROGRAMS = ("pulseaudio", "pactl", "parec")


def missing() -> list[str]:
    """What this machine lacks for the real audio stack (programs, the ALSA pulse plugin)."""
    lacking = [p for p in PROGRAMS if shutil.which(p) is None]
    plugins = list(Path("/usr/lib").glob("*/alsa-lib/libasound_module_pcm_pulse.so"))
    plugins += list(Path("/usr/lib/alsa-lib").glob("libasound_module_pcm_pulse.so"))
    if not plugins:
        lacking.append("libasound2-plugins (ALSA's pulse plugin)")
    return lacking


class NullSink:
    """A private PulseAudio server whose default sink is a null sink called ``cap``.
    ``env`` is the environment for programs that should play into it through ALSA."""

    def __init__(self, root: Path):
        self.root = root
        self.run = root / "run"
        self.home = root / "home"
        self.env: dict[str, str] = {}

    def __enter__(self) -> NullSink:
        self.run.mkdir(mode=0o700, parents=True)
        self.home.mkdir(parents=True)
        (self.home / ".asoundrc").write_text("pcm.!default { type pulse }\nctl.!default { type pulse }\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "ALSA_"))}
        env.update(XDG_RUNTIME_DIR=str(self.run), HOME=str(self.home))
        self.env = env
        subprocess.run(
            [
                "pulseaudio",
                "--daemonize=yes",
                "--exit-idle-time=-1",
                "--system=no",
                "-n",
                "--load=module-null-sink sink_name=cap",
                "--load=module-native-protocol-unix",
            ],
            env=env,
            check=True,
            capture_output=True,  # as root it warns that it is not meant to run as root
            timeout=30,
        )
        deadline = time.monotonic() + 10
        while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("PulseAudio did not start")
            time.sleep(0.05)
        subprocess.run(["pactl", "set-default-sink", "cap"], env=env, check=True, timeout=10)
        return self

    def __exit__(self, *exc) -> None:
        pid_file = self.run / "pulse" / "pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
        subprocess.run(["pactl", "exit"], env=self.env, capture_output=True, timeout=10)
        if pid is not None:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Recording:
    samples: np.ndarray  # int16 mono at RATE
    start: float  # monotonic time of samples[0] (to within about 10 ms)

    def time_of(self, sample: float) -> float:
        return self.start + sample / RATE

    def sample_at(self, t: float) -> int:
        return round((t - self.start) * RATE)


class Recorder:
    """Records the null sink's monitor in real time; each chunk's arrival time maps
    samples to the monotonic clock."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.chunks: list[bytes] = []
        self.arrivals: list[tuple[float, int]] = []  # (time, samples so far)

    def __enter__(self) -> Recorder:
        self.process = subprocess.Popen(
            [
                "parec",
                "-d",
                "cap.monitor",
                "--format=s16le",
                f"--rate={RATE}",
                "--channels=1",
                "--raw",
                "--latency-msec=10",
            ],
            stdout=subprocess.PIPE,
            env=self.env,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.arrivals:  # the monitor flows once parec is connected
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("parec recorded nothing")
            time.sleep(0.01)
        time.sleep(0.2)
        return self

    def _read(self) -> None:
        total = 0
        while data := self.process.stdout.read1(8192):
            self.chunks.append(data)
            total += len(data)
            self.arrivals.append((time.monotonic(), total // 2))

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.thread.join(timeout=10)

    def recording(self) -> Recording:
        data = b"".join(self.chunks)
        samples = np.frombuffer(data[: len(data) // 2 * 2], np.int16)
        # A chunk's last sample was recorded no later than the chunk arrived.
        start = min(t - n / RATE for t, n in self.arrivals)
        return Recording(samples, start)


def loud(samples: np.ndarray) -> bool:
    """Whether anything is heard in these samples (the null sink's silence is all zeros)."""
    return samples.size > 0 and int(np.abs(samples.astype(np.int32)).max()) > 1000


def between(recorder: Recorder, start: float, stop: float) -> np.ndarray:
    """What was recorded between two monotonic times."""
    recording = recorder.recording()
    return recording.samples[max(0, recording.sample_at(start)) : max(0, recording.sample_at(stop))]


def correlation(signal: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Normalized cross-correlation of ``template`` at every offset of ``signal``: 1.0
    where the signal is the template scaled."""
    x = signal.astype(np.float64)
    t = template.astype(np.float64)
    if len(x) < len(t):
        return np.zeros(0)
    size = 1 << (len(x) + len(t) - 1).bit_length()
    raw = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(t, size)), size)[: len(x) - len(t) + 1]
    energy = np.concatenate(([0.0], np.cumsum(x * x)))
    window = energy[len(t) :] - energy[: -len(t)]
    return raw / np.sqrt(np.maximum(window, 1e-9) * float(np.dot(t, t)))


def find(signal: np.ndarray, template: np.ndarray, threshold: float = 0.9) -> list[int]:
    """Where ``template`` sounds in ``signal``: the best offset of each match above
    ``threshold``, matches at least half the template apart."""
    score = correlation(signal, template)
    above = np.flatnonzero(score > threshold)
    if len(above) == 0:
        return []
    groups = np.split(above, np.flatnonzero(np.diff(above) > len(template) // 2) + 1)
    return [int(g[np.argmax(score[g])]) for g in groups]


def find_tones(signal: np.ndarray, tones: dict[str, np.ndarray], threshold: float = 0.9) -> list[tuple[int, str]]:
    """(onset sample, name) of every tone heard, in time order."""
    return sorted((at, name) for name, tone in tones.items() for at in find(signal, tone, threshold))


# Run in the child's new session: make its terminal the controlling one, let Ctrl-C
# interrupt (a shell's background job has it ignored), then become the program.
TAKE_TERMINAL = (
    "import fcntl, os, signal, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
)


class PtyChild:
    """A program run on a pseudo-terminal it controls (so it reads keys, and Ctrl-C
    interrupts it), with its output collected."""

    def __init__(self, argv: list[str], env: dict[str, str], columns: int = 120):
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        self.initial = termios.tcgetattr(self.slave)
        self.output = bytearray()
        self.process = subprocess.Popen(
            [sys.executable, "-c", TAKE_TERMINAL, *argv],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env={**env, "TERM": "xterm", "COLUMNS": str(columns)},
            start_new_session=True,
        )
        self.reading = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while self.reading:
            if select.select([self.master], [], [], 0.05)[0]:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
                self.output.extend(data)

    def send(self, keys: bytes) -> float:
        """Type ``keys``; returns the monotonic time they were typed."""
        at = time.monotonic()
        os.write(self.master, keys)
        return at

    def wait_for(self, text: str, timeout: float, after: int = 0) -> int:
        """Wait until the output (from byte ``after`` on) shows ``text``; its end offset."""
        needle = text.encode()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.output.find(needle, after)
            if found >= 0:
                return found + len(needle)
            if self.process.poll() is not None:
                break
            time.sleep(0.005)
        raise AssertionError(f"{text!r} not shown; output so far:\n{self.text()}")

    def text(self) -> str:
        return self.output.decode(errors="replace")

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        time.sleep(0.1)  # the last output
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.reading = False
        self.thread.join(timeout=5)
        os.close(self.master)
        os.close(self.slave)


def holdcue(*args: str) -> list[str]:
    """The command line that runs holdcue under this interpreter."""
    return [sys.executable, "-m", "holdcue", *args]
