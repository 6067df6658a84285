#!/usr/bin/env python3
"""Benchmark `holdcue serve` against a flood of slow connections while a session plays:
the service runs as a command under systemd's default descriptor limit (1,024), its sound
goes to a private PulseAudio null sink whose monitor is recorded (as scripts/bench_serve.py
does), and a separate client process holds many connections that each send a request line
and then a header line every few seconds, never finishing; a connection the service closes
is opened again at once. Meanwhile status requests are sent at a steady rate. Prints:

- the cues of the session (tones and speech) found in the recording and their onset error
  against the timeline, relative to the first tone (as bench_serve's load part measures);
- the status requests answered, failed and their latency;
- the service's peak memory (VmRSS), descriptors and threads during the flood;
- what the flood client managed: connections opened, closed by the service;
- problems in the service's log (a file that could not be opened, a traceback).

    .venv/bin/python scripts/bench_flood.py                       # 3,000 connections, 60 s
    .venv/bin/python scripts/bench_flood.py --connections 1100 --seconds 40

Targets: no cue lost, onsets within 1 ms, every status request answered, RSS <= 80 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from audio_stack import RATE, NullSink, Recorder, missing  # noqa: E402
from bench_serve import Service, onsets, user_routine  # noqa: E402
from holdcue import library, play, session  # noqa: E402

SYSTEMD_DESCRIPTORS = 1024  # LimitNOFILE's default soft limit for a service


# -- the flood (a process of its own: its descriptors and CPU are not the bench's) ---------------


async def slow_client(port: int, until: float, interval: float, counts: dict[str, int]) -> None:
    """One connection at a time that never finishes its request; opened again when closed."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            counts["refused"] += 1
            await asyncio.sleep(0.05)
            continue
        counts["opened"] += 1
        try:
            writer.write(b"GET /api/status HTTP/1.1\r\n")
            n = 0
            while time.monotonic() < until:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):
                        if await reader.read(1024) == b"":
                            break  # closed by the service
                writer.write(f"X-Slow-{n}: yes\r\n".encode())
                await writer.drain()
                n += 1
            else:
                continue
            counts["closed by the service"] += 1
        except OSError:
            counts["closed by the service"] += 1
        finally:
            writer.close()


async def flood(port: int, connections: int, seconds: float, interval: float) -> dict[str, int]:
    until = time.monotonic() + seconds
    counts = {"opened": 0, "closed by the service": 0, "refused": 0}
    clients = []
    for _ in range(connections):  # opened over about a second, as a script would
        clients.append(asyncio.ensure_future(slow_client(port, until, interval, counts)))
        await asyncio.sleep(1 / connections)
    await asyncio.gather(*clients, return_exceptions=True)
    return counts


def run_flood(port: int, connections: int, seconds: float, interval: float) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(json.dumps(asyncio.run(flood(port, connections, seconds, interval))))


# -- the bench --------------------------------------------------------------------------------------


class Watch(threading.Thread):
    """The service's peak RSS, descriptors and threads, sampled every 0.2 s."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.done = pid, threading.Event()
        self.rss = self.fds = self.threads = 0.0

    def run(self) -> None:
        while not self.done.wait(0.2):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.rss = max(self.rss, int(line.split()[1]) / 1024)
                    elif line.startswith("Threads:"):
                        self.threads = max(self.threads, int(line.split()[1]))
                self.fds = max(self.fds, len(os.listdir(f"/proc/{self.pid}/fd")))


def ask(port: int, until: float, rate: float, results: list[tuple[float, str]]) -> None:
    """GET /api/status at ``rate`` per second until ``until``: (seconds, problem or "")."""
    due = time.monotonic()
    while due < until:
        time.sleep(max(0.0, due - time.monotonic()))
        began = time.monotonic()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/api/status")
            response = connection.getresponse()
            response.read()
            connection.close()
            problem = "" if response.status == 200 else str(response.status)
        except OSError as error:
            problem = str(error)
        results.append((time.monotonic() - began, problem))
        due += 1 / rate


def under_flood(service: Service, env: dict[str, str], routine: str, args: argparse.Namespace) -> None:
    built = session.build(library.load_routine(routine))
    print(
        f"flood: {args.connections} slow connections (a header line every {args.interval:g} s) and "
        f"{args.rate:g} status requests/s for {args.seconds:g} s while a {built.timeline.duration / 60:.0f}-minute "
        f"session plays; the service's descriptor limit: {SYSTEMD_DESCRIPTORS}"
    )
    first_tone = next(e.start for e in built.timeline.events if e.kind == "tone") / RATE
    watch = Watch(service.pid)
    results: list[tuple[float, str]] = []
    with Recorder(env) as recorder:
        played, _ = service.post("/api/play", {"routine": routine})
        time.sleep(max(2.0, play.LEAD_IN + first_tone - 2.0))  # the flood starts before the first tone
        idle_rss = service.rss_mb()
        watch.start()
        flooding = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--flood-client",
                str(service.port),
                "--connections",
                str(args.connections),
                "--seconds",
                str(args.seconds),
                "--interval",
                str(args.interval),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.0)  # the connections are open
        until = time.monotonic() + args.seconds - 4
        asking = threading.Thread(target=ask, args=(service.port, until, args.rate, results))
        asking.start()
        asking.join()
        out, _ = flooding.communicate(timeout=args.seconds + 60)
        ended = time.monotonic()
        watch.done.set()
        service.post("/api/stop")
        time.sleep(0.3)
    recording = recorder.recording()
    counts = json.loads(out.strip().splitlines()[-1])
    found, unfound = onsets(recording, recording.sample_at(played), built, recording.sample_at(ended))
    errors = np.abs(found)
    print(
        f"  cues (tones and speech) under the flood: {len(errors)} found, {unfound} not found; onset error from the "
        f"first tone: p50 {np.percentile(errors, 50):.3f} ms, p99 {np.percentile(errors, 99):.3f} ms, "
        f"max {errors.max():.3f} ms"
    )
    latencies = np.array([t for t, problem in results if not problem]) * 1000
    failed = [problem for _, problem in results if problem]
    answered = f"p50 {np.percentile(latencies, 50):.0f} ms, max {latencies.max():.0f} ms" if len(latencies) else "none"
    print(f"  status requests: {len(results)} sent, {len(failed)} failed {failed[:3] if failed else ''}; {answered}")
    print(
        f"  the service: RSS {idle_rss:.1f} MB before, peak {watch.rss:.1f} MB; peak {watch.fds:.0f} descriptors "
        f"(of {SYSTEMD_DESCRIPTORS}), {watch.threads:.0f} threads"
    )
    print(f"  the flood: {counts}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=3000, help="slow connections held open")
    parser.add_argument("--seconds", type=float, default=60, help="how long the flood lasts")
    parser.add_argument("--interval", type=float, default=8, help="seconds between a slow client's header lines")
    parser.add_argument("--rate", type=float, default=2, help="status requests per second during the flood")
    parser.add_argument("--flood-client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood_client:
        run_flood(args.flood_client, args.connections, args.seconds, args.interval)
        return 0
    if missing():
        print(f"bench_flood needs {', '.join(missing())}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as folder:
        root = Path(folder)
        for name in ("config", "cache", "data"):
            (root / name).mkdir()
        (root / "config" / "routines").mkdir()
        os.environ.update(
            HOLDCUE_CONFIG_DIR=str(root / "config"),
            HOLDCUE_CACHE_DIR=str(root / "cache"),
            HOLDCUE_DATA_DIR=str(root / "data"),
        )
        twenty = user_routine(20, root, root / "config" / "routines")
        session.prepare([library.load_routine(twenty)])
        with NullSink(root / "pulse") as stack:
            env = {**stack.env, **{k: os.environ[k] for k in ("HOLDCUE_CONFIG_DIR", "HOLDCUE_CACHE_DIR")}}
            env["HOLDCUE_DATA_DIR"] = os.environ["HOLDCUE_DATA_DIR"]
            service = Service(env, "stream", root / "serve.log", descriptors=SYSTEMD_DESCRIPTORS)
            try:
                under_flood(service, stack.env, twenty, args)
            finally:
                service.close()
            log = (root / "serve.log").read_text(errors="replace")
            problems = [
                line
                for line in log.splitlines()
                if "Too many open files" in line or "Traceback" in line or ("journal" in line and "WARNING" in line)
            ]
            print(f"  the service's log: {len(log.splitlines())} lines; problems: {problems[:5] or 'none'}")
            for line in log.splitlines():
                if "connections dropped" in line:
                    print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
