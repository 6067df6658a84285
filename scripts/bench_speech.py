#!/usr/bin/env python3
"""How fast speech is made for the built-in library.

  cold      synthesize_all of every phrase of the library into an empty cache
  baseline  the same phrases, the espeak-ng command run once per phrase
  warm      per routine: load it, read its clips from the warm cache, compile it (the
            median of 5 rounds per routine; the slowest routine's is the figure)

Targets: cold <= 1.5 x baseline; warm < 50 ms. Runs alternate cold and baseline, so load
from other programs weighs on both.

    .venv/bin/python scripts/bench_speech.py [--runs 3] [--workers N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import platformdirs

from holdcue import compiler, library, session, speech
from holdcue.routine import Voice


def library_phrases() -> dict[Voice, list[str]]:
    """The distinct texts of every built-in routine, by voice."""
    phrases: dict[Voice, dict[str, None]] = {}
    for rid in library.builtin_ids():
        routine = library.load_routine(rid)
        phrases.setdefault(routine.voice, {}).update(dict.fromkeys(compiler.spoken_texts(routine)))
    return {voice: list(texts) for voice, texts in phrases.items()}


def cold(phrases: dict[Voice, list[str]], directory: Path, workers: int | None) -> float:
    cache = speech.ClipCache(directory)
    start = time.perf_counter()
    for voice, texts in phrases.items():
        speech.synthesize_all(texts, voice, cache=cache, workers=workers)
    return time.perf_counter() - start


def baseline(phrases: dict[Voice, list[str]], directory: Path) -> float:
    out = directory / "out.wav"
    start = time.perf_counter()
    for voice, texts in phrases.items():
        options = ["-v", voice.language, "-s", str(voice.rate), "-a", str(round(voice.volume * 100))]
        for text in texts:
            subprocess.run(["espeak-ng", *options, "-w", str(out), text], check=True)
    return time.perf_counter() - start


def warm(cache: speech.ClipCache, rounds: int = 5) -> tuple[dict[str, float], dict[str, float]]:
    """Per routine: seconds from its id to its compiled timeline, clips read from the cache;
    and seconds of synthesize_all alone (the speech part). Each the median of ``rounds``
    rounds over the library, so that a moment of load from another program on a shared
    machine does not stand for a routine."""
    total: dict[str, list[float]] = {}
    speech_part: dict[str, list[float]] = {}
    for _ in range(rounds):
        for rid in library.builtin_ids():
            start = time.perf_counter()
            routine = library.load_routine(rid)
            session.build(routine, cache=cache)
            total.setdefault(rid, []).append(time.perf_counter() - start)
            texts = compiler.spoken_texts(routine)
            start = time.perf_counter()
            speech.synthesize_all(texts, routine.voice, cache=cache)
            speech_part.setdefault(rid, []).append(time.perf_counter() - start)
    return (
        {rid: statistics.median(times) for rid, times in total.items()},
        {rid: statistics.median(times) for rid, times in speech_part.items()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, help="worker processes (default: synthesize_all's choice)")
    args = parser.parse_args()

    phrases = library_phrases()
    count = sum(len(texts) for texts in phrases.values())
    print(f"{count} distinct phrases in {len(library.builtin_ids())} built-in routines, {len(phrases)} voice(s)")
    # Under the user's cache folder: the file system the real cache is on.
    parent = Path(platformdirs.user_cache_dir("holdcue"))
    parent.mkdir(parents=True, exist_ok=True)
    ratios = []
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(dir=parent, prefix="bench-") as name:
            directory = Path(name)
            base = baseline(phrases, directory)
            made = cold(phrases, directory / "cold", args.workers)
            times, speech_times = warm(speech.ClipCache(directory / "cold"))
        slowest = max(times, key=times.get)
        ratios.append(made / base)
        print(
            f"run {run}: cold {made:.2f} s, baseline {base:.2f} s, cold/baseline {made / base:.2f}x; "
            f"warm max {times[slowest] * 1000:.1f} ms ({slowest}), "
            f"median {statistics.median(times.values()) * 1000:.1f} ms, "
            f"of which speech max {max(speech_times.values()) * 1000:.1f} ms"
        )
    print(f"cold/baseline median {statistics.median(ratios):.2f}x (target <= 1.5x)")


if __name__ == "__main__":  # worker processes import this module: run only when started
    main()
