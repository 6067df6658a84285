#!/usr/bin/env python3
"""Benchmark how quickly holdcue's commands start and finish: `holdcue list`, `holdcue
--version` and `holdcue show` with a warm speech cache, each run as a fresh process,
against `python -c pass` and `python -c "import click"` in the same run (the interpreter's
own start, and the part of every command's start that is click's).

The commands run with bytecode caching on, as an installed holdcue runs (pip compiles the
package): into a temporary PYTHONPYCACHEPREFIX, filled by a first run of each command,
whatever PYTHONDONTWRITEBYTECODE says here. --no-bytecode runs them as the environment
says instead (PYTHONDONTWRITEBYTECODE=1: every holdcue module compiled at every start,
some 40-50 ms more).

For every command: the median wall time and the median CPU time (user + sys) of the
process. On a busy machine the wall time grows with the load; the CPU time stays close to
what the command itself needs, so it is the figure to compare against the targets when
the machine is shared. A Raspberry Pi 4 runs Python about 3-4x slower than this machine.

    .venv/bin/python scripts/bench_startup.py            # 15 runs of each
    .venv/bin/python scripts/bench_startup.py --runs 30

Targets on this machine: `holdcue list` <= 0.15 s. (The first audible sample of `holdcue
play` with a warm cache, target <= 0.25 s, is measured through a real audio stack by
scripts/bench_play.py --only start.)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--routine", default="tennis-ball-release")
    parser.add_argument("--no-bytecode", action="store_true", help="leave bytecode caching as the environment says")
    options = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOLDCUE_CONFIG_DIR": os.path.join(home, "config")}
        env.setdefault("HOLDCUE_CACHE_DIR", os.path.join(home, "cache"))
        if not options.no_bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = os.path.join(home, "pycache")
        holdcue = [python, "-m", "holdcue"]
        subprocess.run([*holdcue, "prepare", options.routine], env=env, stdout=subprocess.DEVNULL, check=True)
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "python -c 'import click'": [python, "-c", "import click"],
            "holdcue --version": [*holdcue, "--version"],
            "holdcue list": [*holdcue, "list"],
            f"holdcue show {options.routine} (warm)": [*holdcue, "show", options.routine],
        }
        for command in commands.values():  # bytecode written, and the files in the page cache
            subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        results: dict[str, list[tuple[float, float]]] = {}
        for _ in range(options.runs):  # interleaved, so that a burst of load hits them alike
            for name, command in commands.items():
                results.setdefault(name, []).append(run(command, env))
    base_wall = statistics.median(w for w, _ in results["python -c pass"])
    base_cpu = statistics.median(c for _, c in results["python -c pass"])
    print(f"{'command':<40} {'wall':>8} {'cpu':>8} {'wall/pass':>10} {'cpu/pass':>9}")
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{name:<40} {wall:8.3f} {cpu:8.3f} {wall / base_wall:10.1f} {cpu / base_cpu:9.1f}")
    print(f"bytecode: {'as the environment says' if options.no_bytecode else 'cached, as installed'}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
