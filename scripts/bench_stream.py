#!/usr/bin/env python3
"""Compare the two outputs (HOLDCUE_OUTPUT=stream: StreamSink; =simpleaudio) through a
real audio stack: a private PulseAudio null sink recorded in real time (tests/audio_stack.py).
Each output runs in a child process of its own, per session length, and prints:

- start: Player.start(0) to the first audible sample, net of the lead-in (includes making the take);
- stop -> silence: a take stopped, to its last audible sample;
- start again -> sound: a new take (as resume starts one), to its first audible sample;
- CPU: user + sys of the process over wall time while a take plays (10 s);
- peak RSS (ru_maxrss) after playing 10 s of the session's take.

    .venv/bin/python scripts/bench_stream.py                    # 10-minute and 2-hour sessions
    .venv/bin/python scripts/bench_stream.py --minutes 10       # one length

The sessions are the built-in shoulders routine repeated, with made-up speech (noise as long
as the words) so that no speech synthesis is timed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

from audio_stack import NullSink, Recorder, missing  # noqa: E402

AUDIBLE = 64  # a recorded sample louder than this is sound
RATE = 22050


def child(output: str, minutes: int) -> None:
    """Runs in the child: plays and reports times (monotonic) and resources as JSON."""
    from compiler_helpers import shoulders
    from holdcue import play
    from play_helpers import make_session

    base = shoulders()
    once = make_session(base, RATE)
    steps = base.steps * max(1, math.ceil(minutes * 60 / once.timeline.duration))
    session = make_session(dataclasses.replace(base, steps=steps), RATE)
    sink = play.default_sink()
    tl = session.timeline
    player = play.Player(session, sink=sink, clock=play.SystemClock())
    if isinstance(sink, play.StreamSink):
        sink.open(RATE)  # as the service does: the device is open before the first request
    time.sleep(1.0)
    report: dict = {"first_event": tl.events[0].start / RATE, "duration": tl.duration}
    cpu0, wall0 = time.process_time(), time.monotonic()
    report["start"] = time.monotonic()
    player.start(0)
    time.sleep(10)
    report["cpu"] = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    player.close()
    time.sleep(1.0)
    # stop and start again, on a take that is sound from its first sample to its end
    t = np.arange(RATE * 3) / RATE
    tone = (np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16)
    handle = sink.start(tone, RATE)
    time.sleep(1.5)
    report["stop"] = time.monotonic()
    handle.stop()
    time.sleep(1.0)
    report["restart"] = time.monotonic()
    handle = sink.start(tone, RATE)
    time.sleep(1.0)
    handle.stop()
    time.sleep(0.5)
    if isinstance(sink, play.StreamSink):
        report["underflows"] = sink.underflows
        sink.close()
    report["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(report))


def first_loud(samples: np.ndarray, after: int) -> int:
    return after + int(np.flatnonzero(np.abs(samples[after:].astype(int)) > AUDIBLE)[0])


def last_loud(samples: np.ndarray, before: int) -> int:
    return int(np.flatnonzero(np.abs(samples[:before].astype(int)) > AUDIBLE)[-1])


def measure(output: str, minutes: int, env: dict[str, str]) -> dict:
    with Recorder(env) as recorder:
        done = subprocess.run(
            [sys.executable, __file__, "--child", output, "--minutes", str(minutes)],
            env={**env, "HOLDCUE_OUTPUT": output},
            capture_output=True,
            text=True,
            timeout=120,
        )
        time.sleep(0.3)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    report = json.loads(done.stdout.splitlines()[-1])
    rec = recorder.recording()
    s = rec.samples
    from holdcue import play

    heard = rec.time_of(first_loud(s, rec.sample_at(report["start"])))
    report["start_latency"] = heard - report["start"] - play.LEAD_IN - report["first_event"]
    # the last sound before the restart, less 0.1 s: the recording's clock (good to about 10 ms)
    # may put the restart's own first samples a little before it
    silent = rec.time_of(last_loud(s, rec.sample_at(report["restart"]) - RATE // 10))
    report["stop_latency"] = silent - report["stop"]
    report["restart_latency"] = rec.time_of(first_loud(s, rec.sample_at(report["restart"]))) - report["restart"]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, action="append")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.minutes[0])
        return
    lacking = missing()
    if lacking:
        raise SystemExit(f"needs {', '.join(lacking)}")
    with tempfile.TemporaryDirectory() as tmp, NullSink(Path(tmp)) as stack:
        env = {**stack.env, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
        print("output       session  start(net)  stop->silence  start again  CPU     peak RSS  underflows")
        for minutes in args.minutes or [10, 120]:
            for output in ("stream", "simpleaudio"):
                r = measure(output, minutes, env)
                print(
                    f"{output:12} {r['duration'] / 60:5.0f} min  {r['start_latency']:8.3f} s  "
                    f"{r['stop_latency']:11.3f} s  {r['restart_latency']:9.3f} s  {100 * r['cpu']:5.1f} %  "
                    f"{r['rss_mb']:6.0f} MB  {r.get('underflows', '-')}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
