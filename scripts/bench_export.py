#!/usr/bin/env python3
"""Benchmark exports: a 30-minute and a 2-hour session, as WAV and MP3 (or the formats
given), each in a fresh process. Prints the time, the speed as a multiple of real time and
the peak memory (ru_maxrss) of each export.

Sessions are the built-in routines compiled one after another until the length is reached;
speech clips are made-up voice-like sounds of the right length (synthesis is not measured).

    .venv/bin/python scripts/bench_export.py
    .venv/bin/python scripts/bench_export.py --formats wav flac ogg mp3 --minutes 30 120

Targets: WAV at least 1000x real time, MP3 at least 100x, and the 2-hour export's peak
memory within 10 MB of the 30-minute one.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from holdcue import compiler, export, library, tones
from holdcue.routine import Routine
from holdcue.timeline import SAMPLE_RATE, Event, Segment, Session, Timeline

RATE = SAMPLE_RATE


def voice_like(text: str) -> np.ndarray:
    """A buzz at a speaking pitch, in syllables, about as long as the words take."""
    n = int(RATE * (0.4 + 0.065 * len(text)))
    t = np.arange(n) / RATE
    pitch = 100 + zlib.crc32(text.encode()) % 80
    buzz = 2 * ((t * pitch) % 1.0) - 1  # sawtooth: rich in harmonics, like a voice
    noise = np.random.default_rng(zlib.crc32(text.encode())).standard_normal(n) * 0.1
    syllables = np.sin(np.pi * t * 4) ** 2
    return np.rint((buzz + noise) * syllables * 9000).astype(np.int16)


def compose(seconds: float) -> tuple[Timeline, dict, dict]:
    """Built-in routines back to back until ``seconds`` are filled, with their sounds."""
    sounds = tones.load_tones(RATE)
    clips: dict[str, np.ndarray] = {}
    events: list[Event] = []
    segments: list[Segment] = []
    offset, wanted = 0, round(seconds * RATE)
    routines = [library.load_routine(rid) for rid in library.builtin_ids()]
    for routine in routines:  # every session has the whole library's speech at hand
        for text in compiler.spoken_texts(routine):
            clips.setdefault(text, voice_like(text))
    while offset < wanted:
        for routine in routines:
            part = compiler.compile(routine, lambda text: len(clips[text]), lambda name: len(sounds[name]), RATE)
            base = len(segments)
            events += [
                Event(e.start + offset, e.end + offset, e.kind, e.text, e.name, e.step, e.segment + base)
                for e in part.events
                if e.end + offset <= wanted
            ]
            segments += [
                Segment(
                    s.title, s.phase, s.start + offset, min(s.end + offset, wanted), s.step, s.side, s.round, s.rounds
                )
                for s in part.segments
                if s.start + offset < wanted
            ]
            offset += part.length
            if offset >= wanted:
                break
    return Timeline("Benchmark", RATE, wanted, tuple(events), tuple(segments)), clips, sounds


def memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, from /proc; elsewhere ru_maxrss."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1)) / 1024


def run_one(minutes: float, fmt: str) -> dict:
    """One export in this process: what it took. The peak is the export's own: it is
    reset (Linux: /proc/self/clear_refs) once the session is composed."""
    timeline, clips, sounds = compose(minutes * 60)
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    before = memory_mb("VmRSS")
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        session = Session(Routine("benchmark", "Benchmark", ()), timeline, clips, sounds)
        path = export.export(session, Path(folder) / f"bench.{fmt}")
        seconds = time.perf_counter() - started
        size = path.stat().st_size
    return {
        "minutes": minutes,
        "format": fmt,
        "seconds": seconds,
        "speed": timeline.duration / seconds,
        "events": len(timeline.events),
        "mb": size / 1e6,
        "rss_before_mb": before,
        "peak_mb": memory_mb("VmHWM"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--formats", nargs="+", default=["wav", "mp3"], choices=export.FORMATS)
    parser.add_argument("--minutes", nargs="+", type=float, default=[30, 120])
    parser.add_argument("--one", nargs=2, metavar=("MINUTES", "FORMAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(float(args.one[0]), args.one[1])))
        return 0
    results = []
    print(
        f"{'session':>8} {'format':>6} {'events':>6} {'time':>8} {'speed':>9} {'file':>8} "
        f"{'RSS before':>11} {'peak RSS':>9}"
    )
    for fmt in args.formats:
        for minutes in args.minutes:
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(minutes), fmt], capture_output=True, text=True, check=True
            )
            r = json.loads(done.stdout)
            results.append(r)
            print(
                f"{r['minutes']:>6.0f} m {fmt:>6} {r['events']:>6} {r['seconds']:>7.2f}s {r['speed']:>8.0f}x "
                f"{r['mb']:>6.1f}MB {r['rss_before_mb']:>9.1f}MB {r['peak_mb']:>7.1f}MB"
            )
    targets = {"wav": 1000, "mp3": 100}
    ok = True
    for r in results:
        if r["format"] in targets and r["speed"] < targets[r["format"]]:
            print(
                f"below target: {r['format']} {r['minutes']:.0f} min at {r['speed']:.0f}x "
                f"(want {targets[r['format']]}x)"
            )
            ok = False
    for fmt in args.formats:
        peaks = [r["peak_mb"] for r in results if r["format"] == fmt]
        if max(peaks) - min(peaks) > 10:
            print(f"memory grows with length: {fmt} peaks {peaks} MB")
            ok = False
    print("all targets met" if ok else "some targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
