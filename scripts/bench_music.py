#!/usr/bin/env python3
"""Benchmark music under the voice: the same 20-minute export with and without music, each
in a fresh process. Prints the speed of each as a multiple of real time, their ratio (with /
without) and the peak memory (VmHWM).

With music it is measured twice, in a music cache folder of its own: first with the cache
empty (the music is decoded and resampled, and the cache written), then again (the decoded
music is read back from the cache, as every later export of that file does).

The session is bench_export.py's (built-in routines back to back, voice-like clips). The
music is made here: a 44.1 kHz stereo chord with noise, written as MP3 (or the formats
given), so the export decodes it, resamples it, ducks it under every cue, and loops it
(3 minutes, the default: decoded once and kept) or streams it (--music-minutes 25: longer
than the session, read as it plays).

    .venv/bin/python scripts/bench_music.py
    .venv/bin/python scripts/bench_music.py --formats mp3 wav --music-formats mp3 ogg flac wav
    .venv/bin/python scripts/bench_music.py --music-minutes 25

Target: with music at least half as fast as without (ratio >= 0.5), judged on both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_export import compose, memory_mb
from holdcue import export
from holdcue.routine import Music, Routine
from holdcue.timeline import Session

MUSIC_RATE = 44100  # as most music files are
TARGET_RATIO = 0.5


def write_music(path: Path, fmt: str, seconds: int) -> None:
    """A chord (A minor, slowly swelling) with a little noise, stereo, one second at a time."""
    import soundfile

    rng = np.random.default_rng(7)
    if fmt == "mp3":
        import lameenc

        encoder = lameenc.Encoder()
        encoder.set_channels(2)
        encoder.set_in_sample_rate(MUSIC_RATE)
        encoder.set_bit_rate(128)
        with open(path, "wb") as out:
            for second in range(seconds):
                out.write(encoder.encode((_second(second, rng) * 32767).astype(np.int16).tobytes()))
            out.write(encoder.flush())
        return
    subtype = {"wav": "PCM_16", "flac": "PCM_16", "ogg": "VORBIS"}[fmt]
    with soundfile.SoundFile(path, "w", MUSIC_RATE, 2, subtype, format=fmt.upper()) as out:
        for second in range(seconds):
            out.write(_second(second, rng))


def _second(index: int, rng: np.random.Generator) -> np.ndarray:
    t = (np.arange(MUSIC_RATE) + index * MUSIC_RATE) / MUSIC_RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.6, 329.6)) / 4 * (0.8 + 0.2 * np.sin(t / 3))
    left = chord + rng.standard_normal(MUSIC_RATE) * 0.03
    right = chord + rng.standard_normal(MUSIC_RATE) * 0.03
    return np.stack([left, right], axis=1).astype(np.float32)


def run_one(minutes: float, fmt: str, music_file: str | None) -> dict:
    timeline, clips, sounds = compose(minutes * 60)
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    music = Music(music_file) if music_file else None
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        session = Session(Routine("benchmark", "Benchmark", ()), timeline, clips, sounds, music)
        export.export(session, Path(folder) / f"bench.{fmt}")
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "speed": timeline.duration / seconds, "peak_mb": memory_mb("VmHWM")}


def measure(minutes: float, fmt: str, music_file: str | None, cache: Path) -> dict:
    """One export in a fresh process, with ``cache`` as its cache folder."""
    command = [sys.executable, __file__, "--one", str(minutes), fmt, music_file or ""]
    env = os.environ | {"HOLDCUE_CACHE_DIR": str(cache)}
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--formats", nargs="+", default=["mp3"], choices=export.FORMATS, help="export formats")
    parser.add_argument("--music-formats", nargs="+", default=["mp3"], choices=("mp3", "ogg", "flac", "wav"))
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument(
        "--music-minutes", type=float, default=3, help="3: looped and kept; longer than the session: streamed"
    )
    parser.add_argument("--one", nargs=3, metavar=("MINUTES", "FORMAT", "MUSIC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(float(args.one[0]), args.one[1], args.one[2] or None)))
        return 0
    ok = True
    print(
        f"{'export':>6} {'music':>5} {'without':>9} {'1st with':>9} {'ratio':>6} {'then':>9} {'ratio':>6} "
        f"{'peak without':>13} {'peak 1st':>9} {'peak then':>10}"
    )
    with tempfile.TemporaryDirectory() as folder:
        for music_fmt in args.music_formats:
            music_file = Path(folder) / f"music.{music_fmt}"
            write_music(music_file, music_fmt, round(args.music_minutes * 60))
            for fmt in args.formats:
                cache = Path(tempfile.mkdtemp(dir=folder))  # empty: the first export with music decodes it
                plain = measure(args.minutes, fmt, None, cache)
                first = measure(args.minutes, fmt, str(music_file), cache)
                then = measure(args.minutes, fmt, str(music_file), cache)
                cold, warm = first["speed"] / plain["speed"], then["speed"] / plain["speed"]
                ok = ok and min(cold, warm) >= TARGET_RATIO
                print(
                    f"{fmt:>6} {music_fmt:>5} {plain['speed']:>8.0f}x {first['speed']:>8.0f}x {cold:>6.2f} "
                    f"{then['speed']:>8.0f}x {warm:>6.2f} {plain['peak_mb']:>11.1f}MB {first['peak_mb']:>7.1f}MB "
                    f"{then['peak_mb']:>8.1f}MB"
                )
    print(
        f"{args.minutes:g}-minute session, {args.music_minutes:g}-minute music; "
        + ("all ratios >= 0.5" if ok else "some ratios below 0.5")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
