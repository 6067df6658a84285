#!/usr/bin/env python3
"""Benchmark live playback through a real audio stack: `holdcue play` runs as a command,
ALSA's default device goes to a private PulseAudio null sink, and the sink's monitor is
recorded in real time (tests/audio_stack.py). Prints:

- time from the command to the first audible sample, with a warm speech cache and a cold
  one, as a user hears it; and again with `--lead-in 0`, which shows what the start
  costs when the device needs no time to settle (the lead-in counts from the device's
  open, which comes first, so it overlaps the work of making the session ready);
- onset error (p50, p99, max) of every tone of a long session against its timeline, and
  drift: how the error moves from the start of the session to its end; also how far the
  sound card's clock and the monotonic clock (the player's position) drift apart;
- CPU used by the holdcue process while it plays (user + sys over wall time), and its
  peak memory (ru_maxrss).

    .venv/bin/python scripts/bench_play.py                 # everything; the session lasts 20 minutes
    .venv/bin/python scripts/bench_play.py --minutes 3     # a shorter session
    .venv/bin/python scripts/bench_play.py --only start    # start times only

Targets on a small machine: warm start <= 0.5 s, cold <= 2 s, p99 onset error <= 1 ms
with no drift, CPU <= 5 % of one core, peak memory <= 150 MB for a 20-minute session.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402

from audio_stack import RATE, NullSink, Recorder, correlation, find, holdcue, missing  # noqa: E402
from holdcue import compiler, library, session  # noqa: E402
from holdcue.render import render  # noqa: E402
from holdcue.speech import ClipCache  # noqa: E402

AUDIBLE = 64  # a recorded sample louder than this is sound (silence records as 0)
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    started: float  # monotonic time the command was started
    wall: float  # seconds until it exited
    code: int
    cpu: float  # user + sys seconds of the whole run
    playing_cpu: float  # user + sys seconds between the first and the last sample taken while it played
    playing_wall: float  # seconds between those samples
    max_rss_mb: float


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def run_play(args: list[str], env: dict[str, str], stop_after: float | None = None, settle: float = 5.0) -> Run:
    """Run `holdcue play ARGS` to its end (or Ctrl-C it after ``stop_after`` seconds),
    sampling its CPU time once a second from ``settle`` seconds on."""
    started = time.monotonic()
    process = subprocess.Popen(holdcue("play", *args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples: list[tuple[float, float]] = []
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        now = time.monotonic()
        if stop_after is not None and now - started > stop_after:
            process.send_signal(signal.SIGINT)
            stop_after = None
        if now - started >= settle:
            cpu = cpu_seconds(process.pid)
            if cpu is not None:
                samples.append((now, cpu))
        time.sleep(1.0 if now - started >= settle else 0.05)
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode(errors="replace")
    if process.returncode not in (0, 130):
        raise SystemExit(f"holdcue play failed ({process.returncode}):\n{errors}")
    (t0, c0), (t1, c1) = (samples[0], samples[-1]) if len(samples) >= 2 else ((0.0, 0.0), (0.0, 0.0))
    return Run(
        started,
        time.monotonic() - started,
        process.returncode,
        usage.ru_utime + usage.ru_stime,
        c1 - c0,
        t1 - t0,
        usage.ru_maxrss / 1024,
    )


def quiet_start(routine_ref: str, cache: Path) -> float:
    """Seconds of quiet at the start of the session itself (before its first sound)."""
    built = session.build(library.load_routine(routine_ref), cache=ClipCache(cache / "speech"))
    head = render(built.timeline, built.clips, built.tones, stop=min(built.timeline.length, 10 * RATE))
    loud = np.flatnonzero(np.abs(head.astype(np.int32)) > AUDIBLE)
    return loud[0] / RATE if len(loud) else 0.0


def first_sound(args: list[str], env: dict[str, str], cache: Path, wait: float) -> float:
    """Seconds from starting `holdcue play ARGS` to the first audible recorded sample."""
    with Recorder(env) as recorder:
        run = run_play(args, {**env, "HOLDCUE_CACHE_DIR": str(cache)}, stop_after=wait)
        time.sleep(0.5)
    recording = recorder.recording()
    begin = recording.sample_at(run.started)
    loud = np.flatnonzero(np.abs(recording.samples[begin:].astype(np.int32)) > AUDIBLE)
    if len(loud) == 0:
        raise SystemExit("nothing was heard")
    return recording.time_of(begin + loud[0]) - run.started


def start_times(routine_ref: str, env: dict[str, str], runs: int, root: Path) -> None:
    warm_cache = root / "warm-cache"
    session.build(library.load_routine(routine_ref), cache=ClipCache(warm_cache / "speech"))
    quiet = quiet_start(routine_ref, warm_cache)
    print(f"start: `holdcue play {routine_ref}`; the session's own first {quiet:.3f} s are quiet")
    # bytecode cached, as an installed holdcue has it (pip compiles the package), filled by a first run
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    first_sound([routine_ref], env, warm_cache, wait=3.0)
    cases = (
        ("warm cache", [], True),
        ("cold cache", [], False),
        ("warm, --lead-in 0", ["--lead-in", "0"], True),
    )
    for label, options, cached in cases:
        raws = []
        for _ in range(runs):
            cache = warm_cache if cached else Path(tempfile.mkdtemp(dir=root, prefix="cold-"))
            raws.append(first_sound([routine_ref, *options], env, cache, wait=3.0 if cached else 10.0))
        print(
            f"  {label:17}: first audible sample {statistics.median(raws):.3f} s after the command"
            f"  (median of {runs}; runs: {', '.join(f'{r:.3f}' for r in raws)})"
        )


def compose(minutes: float, folder: Path) -> Path:
    """A routine of about ``minutes``: built-in routines included one after another while
    they fit, then one-minute holds to fill the rest."""
    target = minutes * 60
    path = folder / "bench-session.yaml"
    builtins = sorted(library.builtin_ids(), key=lambda rid: compiler.estimate_seconds(library.load_routine(rid)))
    steps: list[str] = []

    def length(extra: list[str]) -> float:
        path.write_text("title: Bench session\nsteps:\n" + "".join(steps + extra))
        return compiler.estimate_seconds(library.load_routine(str(path)))

    for rid in builtins * 4:
        if length([f"  - include: {rid}\n"]) <= target:
            steps.append(f"  - include: {rid}\n")
    while not steps or length([]) < target:
        steps.append("  - hold: Rest the ball under your {side} calf.\n    time: 1m\n    sides: both\n")
    length([])
    return path


def long_session(minutes: float, env: dict[str, str], root: Path) -> None:
    cache = root / "session-cache"
    path = compose(minutes, root)
    built = session.build(library.load_routine(str(path)), cache=ClipCache(cache / "speech"))
    tl = built.timeline
    tones_at = [e for e in tl.events if e.kind == "tone"]
    print(
        f"session: {tl.duration / 60:.1f} minutes, {len(tones_at)} tones, "
        f"{sum(e.kind == 'speech' for e in tl.events)} spoken cues"
    )
    with Recorder(env) as recorder:
        run = run_play([str(path)], {**env, "HOLDCUE_CACHE_DIR": str(cache)})
        time.sleep(0.5)
    recording = recorder.recording()
    samples = recording.samples
    begin = recording.sample_at(run.started)

    # The first tone, searched for; every other one near where the timeline puts it.
    first = tones_at[0]
    head = samples[begin : begin + first.start + 30 * RATE]
    found = find(head, built.tones[first.name], 0.8)
    if not found:
        raise SystemExit("the first tone was not heard")
    anchor = begin + found[0]
    window = RATE // 4
    errors, times = [], []
    for event in tones_at:
        expected = anchor + event.start - first.start
        template = built.tones[event.name]
        lo = max(0, expected - window)
        score = correlation(samples[lo : expected + window + len(template)], template)
        if len(score) == 0 or score.max() < 0.8:
            raise SystemExit(f"not heard: {event.name} tone at {event.start / RATE:.3f} s")
        errors.append((lo + int(np.argmax(score)) - expected) / RATE * 1000)
        times.append(event.start / RATE)
    error = np.abs(np.array(errors))
    slope = np.polyfit(times, errors, 1)[0] if len(times) > 1 else 0.0
    tail = [e for e, t in zip(errors, times, strict=True) if t > times[-1] - 60]
    print(
        f"  onset error over {len(errors)} tones: p50 {np.percentile(error, 50):.3f} ms, "
        f"p99 {np.percentile(error, 99):.3f} ms, max {error.max():.3f} ms"
    )
    print(
        f"  drift: {slope * tl.duration:+.3f} ms over the session (fitted); "
        f"mean error in its last minute {statistics.mean(tail):+.3f} ms"
    )
    # The sound card's clock against the monotonic clock the player counts positions with:
    # the earliest arrival of each 10 s of recording, fitted.
    arrived = np.array([t for t, _ in recorder.arrivals])
    offsets = arrived - np.array([n for _, n in recorder.arrivals]) / RATE
    windows = ((arrived - arrived[0]) // 10).astype(int)
    lows = [(arrived[windows == w].mean(), offsets[windows == w].min()) for w in np.unique(windows)]
    ppm = np.polyfit(*zip(*lows, strict=True), 1)[0] * 1e6 if len(lows) > 1 else 0.0
    print(
        f"  sound card clock vs monotonic clock: {ppm:+.1f} ppm, "
        f"{ppm * 1e-3 * tl.duration:+.1f} ms over the session (the player's position drifts so much)"
    )
    print(
        f"  CPU while playing: {100 * run.playing_cpu / run.playing_wall:.2f} % of one core "
        f"(whole run: {run.cpu:.2f} s over {run.wall:.1f} s = {100 * run.cpu / run.wall:.2f} %)"
    )
    print(f"  peak memory (ru_maxrss): {run.max_rss_mb:.1f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="length of the long session (default 20)")
    parser.add_argument("--routine", default="shoulders-and-chest", help="routine for the start times")
    parser.add_argument("--runs", type=int, default=7, help="start-time runs for each of warm and cold")
    parser.add_argument("--only", choices=("start", "session"), help="run one part only")
    args = parser.parse_args()
    # Ctrl-C must reach `holdcue play` even when this runs as a background job, which
    # starts with SIGINT ignored (and would pass that on).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if missing():
        print(f"bench_play needs {', '.join(missing())}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-play-") as folder:
        root = Path(folder)
        with NullSink(root / "pulse") as stack:
            if args.only in (None, "start"):
                start_times(args.routine, stack.env, args.runs, root)
            if args.only in (None, "session"):
                long_session(args.minutes, stack.env, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
