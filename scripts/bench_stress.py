#!/usr/bin/env python3
"""Live playback under load: a real session played through a real audio stack (a private
PulseAudio null sink, recorded in real time with parec: tests/audio_stack.py), once on a
quiet machine and once while ``stress-ng --cpu 2 --io 2 --hdd 1`` loads both cores and the
disk. The recording is compared with the export of the same session, and it prints for
each run:

- onset error of every tone (median, p99, max, in ms), against the timeline, counted from
  the session's first sound (so the start's own latency is not in it);
- dropouts: places where what was heard departs from the export: a *slip* (the stream
  went on later, or earlier, than it should: silence was put in, or samples lost; with
  the time it slipped) or a cue *damaged* (its sound differs from the export's: a gap in it);
- (``--via player``) the device's own count of underflows (PortAudio's callbacks that
  found the device already starved; the ALSA pulse plugin may not report them) and of
  callbacks that found the take's queue empty; the longest time between two callbacks,
  and the least sound the device held at a callback: a slip with neither a late callback
  nor an empty queue came from further down (the sound server, the recording).

The session is built-in routines back to back (scripts/bench_play.py's compose) with real
espeak-ng speech. ``--via player`` (the default) plays it as ``holdcue serve`` does: a
Player on a StreamSink opened beforehand, the clips read from the speech cache on disk as
they sound; ``--via command`` runs ``holdcue play`` (clips held in memory).

    .venv/bin/python scripts/bench_stress.py                  # 10 minutes, without and with stress
    .venv/bin/python scripts/bench_stress.py --minutes 2      # a shorter run
    .venv/bin/python scripts/bench_stress.py --src /tmp/old/src   # another version of holdcue

PulseAudio and parec are reniced to -11, as a desktop's or Raspberry Pi OS's sound server
runs (rtkit), so that the load competes with holdcue, not with the sound server or the
recording; holdcue runs at the normal priority. Needs stress-ng (apt-get install stress-ng).
Not a test: it takes twice the session's length.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402

from audio_stack import RATE, NullSink, Recorder, correlation, holdcue, missing  # noqa: E402

STRESS = "--cpu 2 --io 2 --hdd 1"
TEMPLATE = 0.3  # seconds of each cue's start that find it in the recording
SEARCH = 0.4  # seconds either side of where a cue is expected (less than the ticks' second apart)
FRAME = 0.005  # seconds: a cue's loudness is compared with the export's frame by frame
FOUND = 0.8  # correlation above which a cue is heard
LOUD = 300  # RMS (of 32767) above which a frame of the export is sound (-40 dBFS)
QUIETER = 0.25  # a loud frame heard at less than this of the export's RMS is a gap (-12 dB)
JITTER = 1  # samples a cue may be found off where expected without a slip (resampling)
SERVER_NICE = -11  # what rtkit gives a sound server


# -- the child: plays the session -----------------------------------------------------------


def child(path: str, cache: str) -> None:
    """Plays ``path`` as the service does, and prints what it measured as JSON."""
    from holdcue import library, play, session
    from holdcue.speech import ClipCache
    from holdcue.timeline import SAMPLE_RATE

    class Watched(play.StreamSink):
        """Notes the longest wait between two callbacks and the least sound the device
        still held at one (what tells a late callback from a late sound server)."""

        longest, least, last = 0.0, float("inf"), 0.0

        def _callback(self, outdata, frames, when, status) -> None:
            now = time.monotonic()
            if self.last:
                self.longest = max(self.longest, now - self.last)
            self.last = now
            if when.outputBufferDacTime:
                self.least = min(self.least, when.outputBufferDacTime - when.currentTime)
            super()._callback(outdata, frames, when, status)

    sink = Watched()
    sink.open(SAMPLE_RATE)  # as the service does: open before the first request
    built = session.build(library.load_routine(path), cache=ClipCache(Path(cache) / "speech"), stored=True)
    tl = built.timeline
    player = play.Player(
        tl,
        built.clips,
        built.tones,
        sink=sink,
        clock=play.SystemClock(),
        speech_volume=built.routine.voice.volume,
        music=built.music,
    )
    time.sleep(1.0)
    report: dict = {"start": time.monotonic()}
    cpu0, wall0 = time.process_time(), time.monotonic()
    player.start(0)
    time.sleep(0.5)
    sink.longest, sink.least = 0.0, float("inf")  # once the take has started (its first callbacks fill the device)
    while player.state == "playing":
        player.tick()
        time.sleep(play.TICK)
    report["cpu"] = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    report["state"] = player.state
    report["underflows"] = sink.underflows
    report["starved"] = getattr(sink, "starved", None)  # a count the streaming output keeps since it has a queue
    report["longest"], report["least"] = sink.longest, sink.least
    time.sleep(0.3)
    sink.close()
    print(json.dumps(report))


# -- the parent: stack, load, recording, analysis ------------------------------------------


def renice(pid: int) -> None:
    """Every thread of ``pid`` to SERVER_NICE (root only; else left as it is)."""
    try:
        tasks = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return
    for tid in tasks:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, SERVER_NICE)
        except OSError:
            return


def server_pid(stack: NullSink) -> int | None:
    pid_file = stack.run / "pulse" / "pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def start_stress(args: str, folder: Path, seconds: float) -> subprocess.Popen:
    if shutil.which("stress-ng") is None:
        raise SystemExit("stress-ng is missing: apt-get install stress-ng")
    folder.mkdir(parents=True, exist_ok=True)
    command = ["stress-ng", *shlex.split(args), "--temp-path", str(folder), "--timeout", f"{int(seconds)}s", "--quiet"]
    process = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder
    )
    time.sleep(3.0)  # its workers up and loading
    if process.poll() is not None:
        raise SystemExit(f"stress-ng ended at once ({process.returncode}): {' '.join(command)}")
    return process


def stop_stress(process: subprocess.Popen) -> None:
    """Ends stress-ng and its workers (its own process group, started above)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def play_once(via: str, path: Path, cache: Path, env: dict[str, str], stack: NullSink) -> tuple[Recorder, dict]:
    pid = server_pid(stack)
    if pid is not None:
        renice(pid)
    with Recorder(env) as recorder:
        renice(recorder.process.pid)
        if via == "player":
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(path), "--cache", str(cache)],
                env=env,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise SystemExit(f"the player failed ({done.returncode}):\n{done.stderr}")
            report = json.loads(done.stdout.splitlines()[-1])
        else:
            started = time.monotonic()
            done = subprocess.run(
                holdcue("play", str(path)),
                env={**env, "HOLDCUE_CACHE_DIR": str(cache)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            if done.returncode != 0:
                raise SystemExit(f"holdcue play failed ({done.returncode}):\n{done.stderr}")
            report = {"start": started, "state": "finished"}
        time.sleep(0.5)
    return recorder, report


def analyse(samples: np.ndarray, begin: int, timeline, export: np.ndarray) -> dict:
    """Finds every cue of ``timeline`` in ``samples`` (recorded from ``begin`` on), following
    the stream where it slips; compares each with ``export``."""
    events = [e for e in timeline.events if e.end > e.start]
    span = round(TEMPLATE * RATE)
    window = round(SEARCH * RATE)
    frame = round(FRAME * RATE)

    def template(e) -> np.ndarray:
        return export[e.start : min(e.end, e.start + span)]

    first = events[0]
    # from a little before the start: the recording's clock is good to some 10 ms only
    early = max(0, begin - 2 * RATE)
    score = correlation(samples[early : begin + first.start + 30 * RATE], template(first))
    if len(score) == 0 or score.max() < FOUND:
        raise SystemExit("the session's first cue was not heard")
    lag0 = lag = early + int(np.argmax(score)) - first.start  # recording sample = export sample + lag
    tone_errors: list[float] = []
    slips: list[tuple[float, float]] = []  # (session seconds, ms slipped)
    damaged: list[int] = []  # indices into events
    missing_cues = 0
    head_lost = 0.0  # ms of the first cue not heard (its first frames)
    for index, e in enumerate(events):
        t = template(e)
        if not t.any():
            continue
        expected = e.start + lag
        lo = max(0, expected - window)
        score = correlation(samples[lo : expected + window + len(t)], t)
        if len(score) == 0 or score.max() < FOUND:
            missing_cues += 1
            continue
        good = np.flatnonzero(score >= max(FOUND, 0.95 * score.max()))
        at = lo + int(good[np.argmin(np.abs(lo + good - expected))])  # of the best, the nearest
        found = at - e.start
        if abs(found - lag) > JITTER:
            slips.append((e.start / RATE, (found - lag) / RATE * 1000))
            lag = found
        if e.kind == "tone":
            tone_errors.append((lag - lag0) / RATE * 1000)
        # the whole cue, frame by frame, against the export: by loudness, not waveform (the
        # sound server's resampling can leave the recording a fraction of a sample off)
        heard = samples[lag + e.start : lag + e.end]
        wanted = export[e.start : e.start + len(heard)]
        usable = len(heard) // frame * frame
        if usable:
            w = np.sqrt(np.mean(wanted[:usable].astype(np.float64).reshape(-1, frame) ** 2, axis=1))
            h = np.sqrt(np.mean(heard[:usable].astype(np.float64).reshape(-1, frame) ** 2, axis=1))
            gaps = (w > LOUD) & (h < QUIETER * w)
            if index == 0:  # the session's very first sound, as the stream (re)starts: told apart
                head = int(np.argmin(gaps)) if not gaps.all() else len(gaps)
                head_lost = head * FRAME * 1000
                gaps = gaps[head:]
            if gaps.any():
                damaged.append(index)
    # a cue damaged by a gap is followed by a slip: one dropout
    slip_at = {round(s * RATE) for s, _ in slips}
    lone = [i for i in damaged if i + 1 >= len(events) or events[i + 1].start not in slip_at]
    errors = np.abs(np.array(tone_errors)) if tone_errors else np.zeros(1)
    return {
        "tones": len(tone_errors),
        "cues": len(events),
        "missing": missing_cues,
        "median": float(np.median(errors)),
        "p99": float(np.percentile(errors, 99)),
        "max": float(errors.max()),
        "slips": slips,
        "damaged": len(damaged),
        "head_lost": head_lost,
        "dropouts": len(slips) + len(lone) + missing_cues,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the session (default 10)")
    parser.add_argument("--via", choices=("player", "command"), default="player", help="how it is played")
    parser.add_argument("--stress", default=STRESS, help=f"stress-ng's load (default {STRESS!r})")
    parser.add_argument("--only", choices=("quiet", "stress"), help="one run only")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="holdcue source to play with")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.cache)
        return 0
    signal.signal(signal.SIGINT, signal.default_int_handler)
    lacking = missing() + ([] if shutil.which("espeak-ng") else ["espeak-ng"])
    if lacking:
        print(f"bench_stress needs {', '.join(lacking)}", file=sys.stderr)
        return 1
    from bench_play import compose
    from holdcue import library, session
    from holdcue.render import render
    from holdcue.speech import ClipCache

    with tempfile.TemporaryDirectory(prefix="bench-stress-") as folder:
        root = Path(folder)
        cache = root / "cache"
        path = compose(args.minutes, root)
        built = session.build(library.load_routine(str(path)), cache=ClipCache(cache / "speech"))
        tl = built.timeline
        export = render(tl, built.clips, built.tones, speech_volume=built.routine.voice.volume, music=built.music)
        print(
            f"session: {tl.duration / 60:.1f} minutes, {sum(e.kind == 'tone' for e in tl.events)} tones, "
            f"{sum(e.kind == 'speech' for e in tl.events)} spoken cues; via {args.via}; holdcue from {args.src}",
            flush=True,
        )
        python_path = os.pathsep.join(p for p in (str(args.src.resolve()), os.environ.get("PYTHONPATH", "")) if p)
        rows = []
        with NullSink(root / "pulse") as stack:
            env = {**stack.env, "PYTHONPATH": python_path}
            for condition in ("quiet", "stress"):
                if args.only not in (None, condition):
                    continue
                load = start_stress(args.stress, root / "stress", tl.duration + 120) if condition == "stress" else None
                try:
                    recorder, report = play_once(args.via, path, cache, env, stack)
                finally:
                    if load is not None:
                        stop_stress(load)
                rec = recorder.recording()
                result = analyse(rec.samples, max(0, rec.sample_at(report["start"])), tl, export)
                rows.append((condition, report, result))
                print_row(condition, report, result)
        print()
        for condition, _, result in rows:
            if result["slips"]:
                where = ", ".join(f"{ms:+.1f} ms at {int(s // 60)}:{s % 60:04.1f}" for s, ms in result["slips"][:12])
                more = f" (and {len(result['slips']) - 12} more)" if len(result["slips"]) > 12 else ""
                print(f"{condition} slips: {where}{more}")
    return 0


def print_row(condition: str, report: dict, r: dict) -> None:
    slipped = sum(ms for _, ms in r["slips"])
    counts = ""
    if report.get("underflows") is not None:
        starved = report.get("starved")
        counts = (
            f"; device underflows {report['underflows']}, queue empty {'-' if starved is None else starved}; "
            f"callbacks at most {1000 * report['longest']:.0f} ms apart, the device never under "
            f"{1000 * report['least']:.0f} ms ahead"
        )
    cpu = f"; CPU {100 * report['cpu']:.1f} %" if "cpu" in report else ""
    print(
        f"{condition:6}: {r['tones']} tones, onset error median {r['median']:.2f} ms, p99 {r['p99']:.2f} ms, "
        f"max {r['max']:.2f} ms; dropouts {r['dropouts']} (slips {len(r['slips'])}, {slipped:+.1f} ms in all; "
        f"cues damaged {r['damaged']}, missing {r['missing']} of {r['cues']}); first cue's head lost "
        f"{r['head_lost']:.0f} ms{counts}{cpu}",
        flush=True,
    )
    if report.get("state") not in (None, "finished"):
        print(f"        the session ended {report['state']}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
