#!/usr/bin/env python3
"""What preparing the built-in library costs with Piper, against espeak-ng.

Every distinct phrase of the built-in routines is synthesized into an empty cache, as
`holdcue prepare --all` does: once with espeak-ng, once with a Piper model, both with
synthesize_all's worker processes (one per core). Reports the seconds of each, their ratio,
the seconds of speech made, and the peak resident memory of the whole process tree
(holdcue, its workers and their piper processes), sampled every 50 ms from /proc.

    .venv/bin/python scripts/bench_piper.py [--model en_US-joe-medium] [--workers N] [--limit N]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import threading
import time
from pathlib import Path

from holdcue import compiler, library, speech
from holdcue.routine import Voice
from holdcue.timeline import SAMPLE_RATE

PAGE = os.sysconf("SC_PAGE_SIZE")


def library_phrases(limit: int | None) -> dict[Voice, list[str]]:
    """The distinct texts of every built-in routine, by voice (the first ``limit`` of them)."""
    phrases: dict[Voice, dict[str, None]] = {}
    for rid in library.builtin_ids():
        routine = library.load_routine(rid)
        phrases.setdefault(routine.voice, {}).update(dict.fromkeys(compiler.spoken_texts(routine)))
    out, left = {}, limit if limit is not None else 10**9
    for voice, texts in phrases.items():
        out[voice] = list(texts)[:left]
        left -= len(out[voice])
    return {voice: texts for voice, texts in out.items() if texts}


def tree_rss() -> int:
    """Resident bytes of this process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except OSError:
            pass
    return total


class PeakMemory:
    """Samples tree_rss in a thread while the block runs."""

    def __enter__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, tree_rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def prepare(phrases: dict[Voice, list[str]], directory: Path, workers: int | None) -> tuple[float, float, int]:
    """(seconds, seconds of speech made, peak resident bytes) of synthesizing every phrase."""
    cache = speech.ClipCache(directory)
    made = 0
    with PeakMemory() as memory:
        start = time.perf_counter()
        for voice, texts in phrases.items():
            clips = speech.synthesize_all(texts, voice, cache=cache, workers=workers)
            made += sum(len(clip) for clip in clips.values())
        seconds = time.perf_counter() - start
    return seconds, made / SAMPLE_RATE, memory.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="en_US-joe-medium", help="the Piper model, by name")
    parser.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    parser.add_argument("--limit", type=int, help="only the first N phrases (a quick run)")
    args = parser.parse_args()

    phrases = library_phrases(args.limit)
    count = sum(len(texts) for texts in phrases.values())
    cores = args.workers or os.cpu_count()
    print(f"{count} distinct phrases of {len(library.builtin_ids())} built-in routines, {cores} worker(s)")
    piper_phrases = {dataclasses.replace(v, engine="piper", model=args.model): t for v, t in phrases.items()}
    with tempfile.TemporaryDirectory(prefix="holdcue-bench-") as name:
        results = {}
        for label, group in (("espeak-ng", phrases), ("piper", piper_phrases)):
            seconds, spoken, peak = prepare(group, Path(name) / label, args.workers)
            results[label] = seconds
            print(
                f"{label:9}  {seconds:7.1f} s for {spoken:6.0f} s of speech ({seconds / spoken:.3f}x real time), "
                f"peak memory {peak / 2**20:.0f} MiB"
            )
    print(f"piper/espeak-ng: {results['piper'] / results['espeak-ng']:.0f}x the time")


if __name__ == "__main__":  # worker processes import this module: run only when started
    main()
