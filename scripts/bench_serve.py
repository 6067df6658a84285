#!/usr/bin/env python3
"""Benchmark `holdcue serve` through a real audio stack: the service runs as a command,
ALSA's default device goes to a private PulseAudio null sink, and the sink's monitor is
recorded in real time (tests/audio_stack.py). Loopback only. Prints:

- latency: POST /api/play (warm speech cache) -> first audible sample, the first time (the
  session built from the cache) and again (kept in memory); raw, and net of the silence
  there on purpose (the lead-in, and any quiet at the session's start); POST /api/pause ->
  the session's own sound gone (where the spoken "Paused." begins), and -> the last audible
  sample (once "Paused." is said); POST /api/resume -> first audible sample. The recording's
  clock is matched to the monotonic clock to within a few milliseconds, so a time near 0 may
  read as a few milliseconds below it;
- load: while a long session plays, a steady rate of API requests and open event streams
  for a while: failed requests, request latency, events received, and every tone's onset
  in the recording against the timeline, relative to the first tone (p50, p99, max);
- memory (VmRSS) idle, and while a 20-minute and a 2-hour session play;
- CPU of the service idle and while playing, as a share of one core.

    .venv/bin/python scripts/bench_serve.py                      # everything (about 10 minutes)
    .venv/bin/python scripts/bench_serve.py --only latency       # one part: latency, load, memory
    .venv/bin/python scripts/bench_serve.py --sink simpleaudio   # the buffer output, to compare

Targets: play -> sound <= 100 ms, pause -> the session's sound gone <= 50 ms, resume -> sound <= 100 ms; under
200 requests/s and 50 event streams no failed request and onsets p99 <= 1 ms; RSS <= 80 MB
and flat in the session's length; CPU idle <= 1 % of a core, playing <= 5 %.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402

from audio_stack import RATE, NullSink, Recorder, correlation, find, holdcue, missing  # noqa: E402
from bench_play import AUDIBLE, compose, cpu_seconds  # noqa: E402
from holdcue import library, play, session  # noqa: E402
from holdcue.render import render  # noqa: E402

ROUTINE = "shoulders-and-chest"  # for the latencies: it starts with speech


# -- the service ---------------------------------------------------------------------------------


class Service:
    """`holdcue serve --port 0` in the environment given, and requests to it."""

    def __init__(self, env: dict[str, str], sink: str, log: Path):
        self.log = log
        self.lead_in = 0.0 if sink == "stream" else play.LEAD_IN  # serve's default for each output
        # its log to a file: a line per request would fill a pipe nobody reads, and block it
        with open(log, "wb") as stderr:
            self.process = subprocess.Popen(
                holdcue("serve", "--port", "0", "--no-prepare", "--sink", sink),
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        line = self.process.stdout.readline().decode()
        if "listening on http://127.0.0.1:" not in line:
            self.process.wait(timeout=10)
            raise SystemExit(f"holdcue serve did not start: {line}{log.read_text()}")
        self.port = int(line.split("127.0.0.1:")[1].split("/")[0])
        self.pid = self.process.pid

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 30) -> tuple[int, object]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            connection.close()

    def post(self, path: str, body: dict | None = None) -> tuple[float, dict]:
        """POST, failing loudly on an error; the monotonic time the request was sent."""
        sent = time.monotonic()
        status, answer = self.call("POST", path, body)
        if status != 200:
            raise SystemExit(f"POST {path} failed: {status} {answer}")
        assert isinstance(answer, dict)
        return sent, answer

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_share(self, seconds: float) -> float:
        """Percent of one core the service used over the next ``seconds``."""
        c0, t0 = cpu_seconds(self.pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(self.pid), time.monotonic()
        assert c0 is not None and c1 is not None
        return 100 * (c1 - c0) / (t1 - t0)

    def close(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=20)
        log = self.log.read_text(errors="replace")
        if code != 0 or "Traceback" in log:
            print(f"  (holdcue serve exited {code}; its log ends:\n{log[-2000:]})")


def loud_from(recording, start: float) -> np.ndarray:
    """Indices (from ``start``'s sample) of the audible samples recorded after ``start``."""
    begin = max(0, recording.sample_at(start))
    return begin + np.flatnonzero(np.abs(recording.samples[begin:].astype(np.int32)) > AUDIBLE)


def quiet_start(routine: str) -> float:
    """Seconds of quiet at the start of the session itself, before its first sound."""
    built = session.build(library.load_routine(routine))
    head = render(built.timeline, built.clips, built.tones, stop=min(built.timeline.length, 10 * RATE))
    loud = np.flatnonzero(np.abs(head.astype(np.int32)) > AUDIBLE)
    return loud[0] / RATE if len(loud) else 0.0


# -- latency -------------------------------------------------------------------------------------


def latency(service: Service, env: dict[str, str], runs: int) -> None:
    on_purpose = service.lead_in + quiet_start(ROUTINE)
    print(f"latency ({ROUTINE}; silence on purpose at the start: {on_purpose * 1000:.0f} ms)")
    starts: list[tuple[str, float]] = []
    pauses: list[float] = []  # POST /api/pause -> the session's own sound gone (the spoken "Paused." begins)
    confirmed: list[float] = []  # POST /api/pause -> the last audible sample ("Paused." said, then silence)
    resumes: list[float] = []
    intact: list[bool] = []  # the session's first 0.3 s of sound found whole where sound began (none cut)
    routine = library.load_routine(ROUTINE)
    said_on_pause = play.own_words(routine)[0]  # "Paused.": the service says it when it pauses
    built = session.build(routine, also=[said_on_pause])
    paused_clip = built.clips[said_on_pause]
    paused_lead = int(np.flatnonzero(np.abs(paused_clip.astype(np.int32)) > AUDIBLE)[0])  # the clip's own quiet start
    paused_head = paused_clip[paused_lead : paused_lead + round(0.25 * RATE)]
    head = render(built.timeline, built.clips, built.tones, stop=min(built.timeline.length, 10 * RATE))
    opening = np.flatnonzero(np.abs(head.astype(np.int32)) > AUDIBLE)[0]
    template = head[opening : opening + round(0.3 * RATE)]
    for run in range(runs):
        with Recorder(env) as recorder:
            played, _ = service.post("/api/play", {"routine": ROUTINE})
            time.sleep(2.5)  # into the introduction, which is speech
            paused, _ = service.post("/api/pause")
            time.sleep(1.5)
            resumed, _ = service.post("/api/resume")
            time.sleep(2.0)
            service.post("/api/stop")
            time.sleep(0.5)
        recording = recorder.recording()
        first = loud_from(recording, played)
        if len(first) == 0:
            raise SystemExit("nothing was heard after POST /api/play")
        starts.append(("first" if run == 0 else "again", recording.time_of(first[0]) - played))
        window = recording.samples[first[0] - RATE // 10 : first[0] + RATE]
        # the threshold is crossed a few ms into the first sound: the match starts that much before
        intact.append(any(abs(at - RATE // 10) <= RATE * 15 // 1000 for at in find(window, template)))
        in_pause = loud_from(recording, paused)
        in_pause = in_pause[in_pause < recording.sample_at(resumed)]
        confirmed.append(max(0.0, recording.time_of(in_pause[-1]) - paused) if len(in_pause) else 0.0)
        begin, end = recording.sample_at(paused) - RATE // 10, recording.sample_at(resumed)
        # 0.6: the word as the player levels and says it matches its clip less closely than
        # a cue does (about 0.7), but nothing else in the pause is like it
        said = find(recording.samples[begin:end], paused_head, 0.6)
        if not said:
            raise SystemExit(f"{said_on_pause!r} was not heard after POST /api/pause")
        pauses.append(recording.time_of(begin + said[0] - paused_lead) - paused)
        after = loud_from(recording, resumed)
        resumes.append(recording.time_of(after[0]) - resumed if len(after) else float("nan"))
    first_ms = [t * 1000 for label, t in starts if label == "first"]
    again_ms = [t * 1000 for label, t in starts if label == "again"]
    print(f"  play -> first audible sample, session built from the warm cache: {first_ms[0]:.0f} ms raw")
    if again_ms:
        median = statistics.median(again_ms)
        print(
            f"  play -> first audible sample, session in memory: median {median:.0f} ms raw, "
            f"{median - on_purpose * 1000:.0f} ms net (runs: {', '.join(f'{t:.0f}' for t in again_ms)})"
        )
    print(f"  the session's first 0.3 s heard whole from the first audible sample: {sum(intact)} of {len(intact)} runs")
    print(
        f"  pause -> the session's sound gone, {said_on_pause!r} begins: "
        f"median {statistics.median(pauses) * 1000:.0f} ms, max {max(pauses) * 1000:.0f} ms"
    )
    print(
        f"  pause -> last audible sample ({said_on_pause!r}, {len(paused_clip) / RATE * 1000:.0f} ms, said): "
        f"median {statistics.median(confirmed) * 1000:.0f} ms, max {max(confirmed) * 1000:.0f} ms"
    )
    print(
        f"  resume -> first audible sample: median {statistics.median(resumes) * 1000:.0f} ms raw, "
        f"{(statistics.median(resumes) - service.lead_in) * 1000:.0f} ms net of the {service.lead_in * 1000:.0f} ms "
        f"lead-in (runs: {', '.join(f'{t * 1000:.0f}' for t in resumes)})"
    )


# -- load ----------------------------------------------------------------------------------------


@dataclass
class Load:
    sent: int = 0
    failed: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds
    events: int = 0
    streams_open: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def hammer(service: Service, load: Load, rate: float, until: float) -> None:
    """Requests at ``rate`` per second, paced, until ``until`` (monotonic)."""
    paths = ("/api/status", "/api/status", "/api/routines", "/api/history")
    interval, due, n = 1 / rate, time.monotonic(), 0
    while due < until:
        time.sleep(max(0.0, due - time.monotonic()))
        began = time.monotonic()
        path = paths[n % len(paths)]
        try:
            status, _ = service.call("GET", path, timeout=10)
            problem = "" if status == 200 else f"{path}: {status}"
        except OSError as error:
            problem = f"{path}: {error}"
        with load.lock:
            load.sent += 1
            load.latencies.append(time.monotonic() - began)
            if problem:
                load.failed.append(problem)
        n += 1
        due += interval


def listen(service: Service, load: Load, until: float) -> None:
    """One event stream, held open until ``until``; counts the events."""
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=20)
    try:
        connection.request("GET", "/api/events")
        response = connection.getresponse()
        if response.status != 200:
            with load.lock:
                load.failed.append(f"/api/events: {response.status}")
            return
        with load.lock:
            load.streams_open += 1
        while time.monotonic() < until:
            line = response.fp.readline()
            if not line:
                with load.lock:
                    load.failed.append("/api/events: closed early")
                return
            if line.startswith(b"data:"):
                with load.lock:
                    load.events += 1
    except OSError as error:
        with load.lock:
            load.failed.append(f"/api/events: {error}")
    finally:
        connection.close()


def template(built, event) -> np.ndarray:
    """What an event sounds like at its start: a whole tone, the first half second of speech."""
    return built.tones[event.name] if event.kind == "tone" else built.clips[event.text][: RATE // 2]


def onsets(recording, begin: int, built, until: int) -> tuple[list[float], int]:
    """Each cue's onset error (ms) against the timeline, relative to the first tone heard
    after sample ``begin``, for the cues (tones and speech) up to sample ``until`` of the
    recording; and how many of those cues could not be found (a cue under another sound)."""
    cues = [e for e in built.timeline.events if e.kind in ("tone", "speech")]
    first = next(e for e in cues if e.kind == "tone")
    samples = recording.samples
    found = find(samples[begin : begin + first.start + 30 * RATE], built.tones[first.name], 0.8)
    if not found:
        raise SystemExit(f"the first tone (at {first.start / RATE:.1f} s) was not heard: is the load long enough?")
    anchor = begin + found[0]
    window = RATE // 4  # a cue is looked for within 250 ms of where the timeline puts it
    errors, unfound = [], 0
    for event in cues:
        expected = anchor + event.start - first.start
        sound = template(built, event)
        if expected - window < begin:
            continue  # before the recording
        if expected + window + len(sound) > until:
            break
        lo = expected - window
        score = correlation(samples[lo : expected + window + len(sound)], sound)
        if len(score) == 0 or score.max() < 0.8:
            unfound += 1
            continue
        errors.append((lo + int(np.argmax(score)) - expected) / RATE * 1000)
    return errors, unfound


def under_load(service: Service, env: dict[str, str], routine: str, rate: float, streams: int, seconds: float) -> None:
    built = session.build(library.load_routine(routine))
    print(
        f"load: {rate:.0f} requests/s and {streams} event streams for {seconds:.0f} s "
        f"while a {built.timeline.duration / 60:.0f}-minute session plays"
    )
    load = Load()
    first_tone = next(e.start for e in built.timeline.events if e.kind == "tone") / RATE
    with Recorder(env) as recorder:
        played, _ = service.post("/api/play", {"routine": routine})
        # the load starts just before the first tone: every onset measured is one under load
        time.sleep(max(2.0, play.LEAD_IN + first_tone - 2.0))
        cpu0, t0 = cpu_seconds(service.pid), time.monotonic()
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=listen, args=(service, load, until)) for _ in range(streams)]
        # several senders: one slow answer never holds up the rate
        senders = 4
        share = rate / senders
        threads += [threading.Thread(target=hammer, args=(service, load, share, until)) for _ in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 60)
        cpu1, t1 = cpu_seconds(service.pid), time.monotonic()
        ended = time.monotonic()
        service.post("/api/stop")
        time.sleep(0.3)
    recording = recorder.recording()
    latencies = np.array(load.latencies) * 1000
    print(
        f"  requests: {load.sent} sent ({load.sent / seconds:.0f}/s), {len(load.failed)} failed; "
        f"latency p50 {np.percentile(latencies, 50):.1f} ms, p99 {np.percentile(latencies, 99):.1f} ms, "
        f"max {latencies.max():.1f} ms"
    )
    if load.failed:
        print(f"  first failures: {load.failed[:5]}")
    print(f"  event streams: {load.streams_open} of {streams} open, {load.events} events received")
    assert cpu0 is not None and cpu1 is not None
    print(f"  service CPU under this load: {100 * (cpu1 - cpu0) / (t1 - t0):.1f} % of one core")
    found, unfound = onsets(recording, recording.sample_at(played), built, recording.sample_at(ended))
    errors = np.abs(found)
    print(
        f"  onset error of {len(errors)} cues (tones and speech) against the timeline, from the first tone: "
        f"p50 {np.percentile(errors, 50):.3f} ms, p99 {np.percentile(errors, 99):.3f} ms, max {errors.max():.3f} ms"
        f"{f'; {unfound} not found' if unfound else ''}"
    )


# -- memory and CPU --------------------------------------------------------------------------------


def resources(service: Service, routines: list[str]) -> None:
    print("memory and CPU")
    time.sleep(5.0)  # past the start's own work (its threads, the first callbacks)
    print(f"  idle: RSS {service.rss_mb():.1f} MB, CPU {service.cpu_share(30):.2f} % of one core (30 s)")
    for routine in routines:
        duration = session.build(library.load_routine(routine)).timeline.duration
        began = time.monotonic()
        service.post("/api/play", {"routine": routine})
        answered = time.monotonic() - began
        time.sleep(3.0)
        cpu = service.cpu_share(20)
        print(
            f"  playing a {duration / 60:.0f}-minute session: RSS {service.rss_mb():.1f} MB, "
            f"CPU {cpu:.2f} % of one core (20 s); POST /api/play answered in {answered:.2f} s"
        )
        service.post("/api/stop")
        time.sleep(1.0)
    print(f"  idle again: RSS {service.rss_mb():.1f} MB")


# -- main ------------------------------------------------------------------------------------------


def user_routine(minutes: float, folder: Path, routines: Path) -> str:
    """A routine of about ``minutes`` in the user's routine folder (the service plays ids only)."""
    made = compose(minutes, folder)
    rid = f"bench-{minutes:g}-minutes"
    (routines / f"{rid}.yaml").write_text(made.read_text().replace("Bench session", f"Bench {minutes:g} minutes"))
    return rid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sink", choices=("simpleaudio", "stream"), default="stream", help="the service's sink (serve --sink)"
    )
    parser.add_argument("--only", choices=("latency", "load", "memory"), help="run one part only")
    parser.add_argument("--runs", type=int, default=5, help="latency runs")
    parser.add_argument("--rate", type=float, default=200, help="API requests per second under load")
    parser.add_argument("--streams", type=int, default=50, help="event streams held open under load")
    parser.add_argument("--seconds", type=float, default=60, help="how long the load lasts")
    parser.add_argument("--long", type=float, default=120, help="minutes of the long session for memory")
    args = parser.parse_args()
    if missing():
        print(f"bench_serve needs {', '.join(missing())}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as folder:
        root = Path(folder)
        for name in ("config", "cache", "data"):
            (root / name).mkdir()
        (root / "config" / "routines").mkdir()
        # this process builds the same sessions as the service, from the same folders
        os.environ.update(
            HOLDCUE_CONFIG_DIR=str(root / "config"),
            HOLDCUE_CACHE_DIR=str(root / "cache"),
            HOLDCUE_DATA_DIR=str(root / "data"),
        )
        twenty = user_routine(20, root, root / "config" / "routines")
        long = user_routine(args.long, root, root / "config" / "routines")
        began = time.monotonic()
        session.prepare([library.load_routine(r) for r in (ROUTINE, twenty, long)])
        print(f"speech prepared in {time.monotonic() - began:.0f} s; sink: {args.sink}")
        with NullSink(root / "pulse") as stack:
            env = {**stack.env, **{k: os.environ[k] for k in ("HOLDCUE_CONFIG_DIR", "HOLDCUE_CACHE_DIR")}}
            env["HOLDCUE_DATA_DIR"] = os.environ["HOLDCUE_DATA_DIR"]
            service = Service(env, args.sink, root / "serve.log")
            try:
                if args.only in (None, "memory"):
                    resources(service, [twenty, long])
                if args.only in (None, "latency"):
                    latency(service, stack.env, args.runs)
                if args.only in (None, "load"):
                    under_load(service, stack.env, twenty, args.rate, args.streams, args.seconds)
            finally:
                service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
