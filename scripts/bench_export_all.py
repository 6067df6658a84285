#!/usr/bin/env python3
"""Benchmark `holdcue export --all` and `holdcue prepare --all` one routine (or text) at a
time (--jobs 1, the way before workers) against side by side (the default: a worker a core).

Each command runs as its own process, the two ways taking turns (so that a machine busy
with other work slows both alike), on the built-in routines with a speech cache of their
own: warm for export (prepared once first), empty before every cold prepare. Prints the
wall time and the CPU time (the command's and its workers') of every run, then the medians
and the median ratio of the turns (one at a time / side by side). The exported files of
both ways are compared byte for byte.

    .venv/bin/python scripts/bench_export_all.py
    .venv/bin/python scripts/bench_export_all.py --runs 7 --format wav --skip-prepare

Python caches compiled modules (.pyc) where it is installed; where PYTHONDONTWRITEBYTECODE
is set (some shared machines), every worker would compile holdcue and NumPy again as it
starts. So the commands run with a bytecode cache of their own (PYTHONPYCACHEPREFIX in the
temporary folder, filled by a first run that is not counted), as an installed holdcue
runs; --as-is runs them with the environment as it is.

Target: export --all at least 1.8x as fast side by side on 2 cores (more with more cores).
Other work on the machine takes cores from both ways alike, but from side by side more: so
the run says, before and after, how much of the cores a busy loop a core gets (2.00 of 2:
nothing else runs); a ratio measured with less than that is a ratio of what was free.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.8


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _spin(seconds: float) -> float:
    started, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        pass
    return time.process_time() - cpu


def cores_free(count: int, seconds: float = 1.0) -> float:
    """How many cores ``count`` busy processes get now (another's work takes the rest)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(count) as pool:
        pool.map(_spin, [0.05] * count)  # started
        return sum(pool.map(_spin, [seconds] * count)) / seconds


def run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and the workers it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def holdcue(*args: str) -> list[str]:
    return [sys.executable, "-m", "holdcue", *args]


def compare(ways: dict[str, list[tuple[float, float]]], labels: tuple[str, str]) -> float:
    """Print each way's runs and medians; return the median ratio of the turns."""
    one, side = labels
    for label in labels:
        walls = [wall for wall, _ in ways[label]]
        cpus = [cpu for _, cpu in ways[label]]
        runs = "  ".join(f"{wall:.2f}/{cpu:.2f}" for wall, cpu in ways[label])
        print(
            f"  {label:<22} wall {statistics.median(walls):6.2f} s  CPU {statistics.median(cpus):6.2f} s"
            f"   (runs, wall/CPU: {runs})"
        )
    ratios = [a[0] / b[0] for a, b in zip(ways[one], ways[side], strict=True)]
    ratio = statistics.median(ratios)
    turns = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"  ratio (wall, one at a time / side by side): {ratio:.2f}  (turns: {turns})")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="turns of each way (default 5)")
    parser.add_argument("--format", default="mp3", choices=["wav", "flac", "ogg", "mp3"])
    parser.add_argument("--jobs", type=int, help="side by side with this many workers (default: one per core)")
    parser.add_argument("--skip-prepare", action="store_true", help="only export --all")
    parser.add_argument("--as-is", action="store_true", help="keep the environment's bytecode settings")
    args = parser.parse_args()
    side_by_side = ["--jobs", str(args.jobs)] if args.jobs else []
    with tempfile.TemporaryDirectory(prefix="bench-export-all-") as scratch:
        folder = Path(scratch)
        env = dict(os.environ, HOLDCUE_CACHE_DIR=str(folder / "cache"), HOLDCUE_CONFIG_DIR=str(folder / "config"))
        if not args.as_is:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        (folder / "config").mkdir()
        print(
            f"{cores()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
            f"Python {sys.version.split()[0]}, bytecode {'as the environment says' if args.as_is else 'cached'}; "
            f"cores free for {cores()} busy processes: {cores_free(cores()):.2f} (other work takes the rest)"
        )
        run(holdcue("prepare", "--all"), env)  # the warm cache; the first run also fills the bytecode cache
        out = {way: folder / way for way in ("one", "side")}
        export = {
            "one": holdcue("export", "--all", "-o", str(out["one"]), "--format", args.format, "--jobs", "1"),
            "side": holdcue("export", "--all", "-o", str(out["side"]), "--format", args.format, *side_by_side),
        }
        run(export["side"], env)  # not counted: the workers' bytecode cached, the page cache warm
        labels = ("export --jobs 1", f"export {' '.join(side_by_side) or '(a worker a core)'}")
        ways: dict[str, list[tuple[float, float]]] = {label: [] for label in labels}
        for turn in range(args.runs):
            order = ("one", "side") if turn % 2 == 0 else ("side", "one")
            for way in order:
                ways[labels[0] if way == "one" else labels[1]].append(run(export[way], env))
        names = sorted(p.name for p in out["one"].iterdir())
        same = names == sorted(p.name for p in out["side"].iterdir()) and all(
            filecmp.cmp(out["one"] / name, out["side"] / name, shallow=False) for name in names
        )
        verdict = "yes" if same else "NO"
        print(f"export --all --format {args.format}: {len(names)} files, the same byte for byte: {verdict}")
        ratio = compare(ways, labels)
        ok = same and (ratio >= TARGET or cores() < 2)

        if not args.skip_prepare:
            labels = ("prepare --jobs 1", f"prepare {' '.join(side_by_side) or '(a worker a core)'}")
            for state in ("cold", "warm"):
                ways = {label: [] for label in labels}
                for turn in range(args.runs):
                    order = (0, 1) if turn % 2 == 0 else (1, 0)
                    for way in order:
                        if state == "cold":
                            shutil.rmtree(folder / "cache" / "speech", ignore_errors=True)
                        jobs = ["--jobs", "1"] if way == 0 else side_by_side
                        ways[labels[way]].append(run(holdcue("prepare", "--all", *jobs), env))
                print(f"prepare --all, {state} speech cache:")
                compare(ways, labels)
    print(f"cores free for {cores()} busy processes, after the runs: {cores_free(cores()):.2f}")
    print(
        f"target: export at least {TARGET}x side by side: {'met' if ok else 'missed'}"
        + (" (one core: nothing to run side by side)" if cores() < 2 else "")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
