"""The long-running player behind ``holdcue serve`` (docs/service.md): the routines kept
loaded, the speech cache warmed in the background, and one session played at a time.

``Controller`` is what every control surface drives (the web page, its HTTP API, later
others): each method is safe to call from any thread. It owns the session being played;
a background thread ticks the player (noticing the end of a take or a lost device) and
publishes the status whenever it changes, for ``wait`` (the server's event streams) and
for observers (the journal hooks in here: ``Change`` on session start, step and end).

Playback goes through ``play.Player`` with whatever sink it is given: the sink is a
constructor parameter, so another output (a streaming one) replaces simpleaudio without
touching this module.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from holdcue import compiler, library, session
from holdcue import play as playback
from holdcue.errors import AudioDeviceError, HoldcueError
from holdcue.routine import ID_PATTERN, Routine

if TYPE_CHECKING:
    import numpy

    from holdcue.timeline import Session

log = logging.getLogger(__name__)

TICK = 0.2  # seconds between looks at the player: how soon the end of a take is noticed
VOLUME_RANGE = (0.0, 2.0)  # master volume; above 1 the renderer's limiter keeps it clean
SESSIONS_KEPT = 2  # built sessions kept in memory (a few MB of speech each)
END_OUTCOMES = ("finished", "stopped", "replaced", "interrupted", "failed")

Builder = Callable[[Routine], "Session"]
Warmer = Callable[[Routine], object]


class ServiceError(HoldcueError):
    """A request the service cannot carry out; the subclasses say why."""


class UnknownRoutine(ServiceError):
    """No routine has this id (ids only: never a path)."""


class WrongState(ServiceError):
    """The request does not fit what is playing (resume with nothing paused)."""


class BadValue(ServiceError):
    """A value out of range (volume, a step that does not exist)."""


@dataclass(frozen=True)
class Change:
    """What observers hear: a session started, moved to another step, or ended.

    ``kind`` is "start", "step" or "end"; for "end", ``outcome`` is one of END_OUTCOMES
    ("interrupted": the service was stopped by a signal while it played)."""

    kind: str
    routine: str
    status: dict[str, Any]
    outcome: str = ""


Observer = Callable[[Change], None]


class Catalog:
    """The library, loaded once and kept; loaded again only when the user's routine
    folder changes (a file added, edited or removed)."""

    def __init__(self, load: Callable[[], session.Library] = session.load_all):
        self._load = load
        self._lock = threading.Lock()
        self._signature: object = None
        self._routines: dict[str, Routine] = {}
        self._broken: dict[str, library.Entry] = {}
        self._durations: dict[str, float] = {}

    def refresh(self) -> None:
        signature = _folder_signature(library.user_routine_dir())
        with self._lock:
            if signature == self._signature:
                return
            loaded = self._load()
            self._routines = {r.id: r for r in loaded.routines}
            self._broken = {e.id: e for e in loaded.broken}
            self._durations = {rid: compiler.estimate_seconds(r) for rid, r in self._routines.items()}
            self._signature = signature
            for entry in loaded.broken:
                first = entry.problems[0] if entry.problems else "run holdcue validate"
                log.warning("routine %s has errors and cannot be played: %s", entry.id, first)
            log.info("library: %d routines", len(self._routines))

    def routines(self) -> list[Routine]:
        self.refresh()
        with self._lock:
            return list(self._routines.values())

    def get(self, rid: object) -> Routine:
        """The routine with this id; UnknownRoutine for anything else (a path, a typo),
        WrongState for a routine of the user's that has errors."""
        if not isinstance(rid, str) or not ID_PATTERN.fullmatch(rid):
            raise UnknownRoutine(f"{str(rid)[:80]!r} is not a routine id: ids are like 'neck-and-upper-trapezius'")
        self.refresh()
        with self._lock:
            if rid in self._broken:
                raise WrongState(f"the routine {rid} has errors: run holdcue validate {self._broken[rid].source}")
            if rid not in self._routines:
                raise UnknownRoutine(f"no routine called {rid!r}: GET /api/routines lists them")
            return self._routines[rid]

    def summaries(self) -> list[dict[str, Any]]:
        """Every playable routine as the API lists it, sorted by id."""
        self.refresh()
        with self._lock:
            return [
                {
                    "id": r.id,
                    "title": r.title,
                    "duration": round(self._durations[r.id], 1),
                    "areas": list(r.areas),
                    "tools": list(r.tools),
                    "summary": r.summary,
                    "steps": len(r.steps),
                }
                for r in sorted(self._routines.values(), key=lambda r: r.id)
            ]


def _folder_signature(folder: Path) -> object:
    """What changes when a routine file in ``folder`` is added, removed or edited."""
    try:
        return sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.glob("*.yaml"))
    except OSError:
        return None


class _TrackedSink:
    """The sink, remembering the last take it started: before a new player starts, the
    take the old one stopped is given time to let go of the device (as Player does for
    its own takes), so a device that cannot mix two streams is never found busy."""

    def __init__(self, sink: playback.Sink):
        self.sink = sink
        self.last: playback.Handle | None = None

    def start(self, samples: numpy.ndarray, rate: int) -> playback.Handle:
        handle = self.sink.start(samples, rate)
        self.last = handle
        return handle

    def settle(self, clock: playback.Clock) -> None:
        handle, self.last = self.last, None
        deadline = clock.now() + playback.RELEASE_WAIT
        while handle is not None and handle.is_playing() and clock.now() < deadline:
            clock.sleep(0.01)


@dataclass
class _Current:
    session: Session
    player: playback.Player


class Controller:
    """One session at a time, driven from any thread (see the module's docstring)."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        sink: playback.Sink,
        build: Builder | None = None,
        warm: Warmer | None = None,
        clock: playback.Clock | None = None,
        observers: Iterable[Observer] = (),
        volume: float = 1.0,
        tick: float = TICK,
    ):
        self.catalog = catalog
        self.sink = _TrackedSink(sink)
        self._build = build or session.build
        self._warm = warm
        self.clock = clock or playback.SystemClock()
        self.observers = list(observers)
        self.volume = check_volume(volume)
        self.tick_seconds = tick
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._speech = threading.Lock()  # espeak-ng: one engine per process, one user at a time
        self._playing = threading.Lock()  # one play request at a time (build, then swap)
        self._sessions: OrderedDict[tuple[str, int], Session] = OrderedDict()
        self._current: _Current | None = None
        self._ended = False  # the current session's end was told to observers
        self._error = ""  # why the last session stopped, when a device failed
        self._step: tuple[int, str, int] | None = None  # (step, side, round) last told
        self._pending: list[Change] = []
        self.version = 0
        self._status = self._snapshot()
        self.closed = False
        self._threads: list[threading.Thread] = []

    # -- life -----------------------------------------------------------------------------

    def start(self) -> None:
        """Load the library and start the background work: the ticker, and the warm-up of
        the speech cache (when a warmer was given)."""
        self.catalog.refresh()
        self._spawn("holdcue-ticker", self._run_ticker)
        if self._warm is not None:
            self._spawn("holdcue-warm-up", self._run_warm_up)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def close(self, outcome: str = "interrupted") -> None:
        """Silence at once and stop the background work (on shutdown, SIGTERM)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            if self._current is not None:
                self._current.player.close()
                if not self._ended:
                    self._end(outcome)
                self._current = None
            self._publish()
        self._tell()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2 * self.tick_seconds + 1)

    def _run_ticker(self) -> None:
        while True:
            with self._lock:
                if self.closed:
                    return
                self._tick()
                self._publish()
                self._changed.wait(self.tick_seconds)  # also woken by close()
            self._tell()

    def _run_warm_up(self) -> None:
        """Speech for every routine into the cache, one routine at a time (so a play
        request waits for at most one routine's speech, and shutdown is never held up long)."""
        assert self._warm is not None
        began = time.monotonic()
        routines = self.catalog.routines()
        for routine in routines:
            if self.closed:
                return
            with self._speech:
                try:
                    self._warm(routine)
                except HoldcueError as error:
                    log.warning("speech for %s could not be prepared: %s", routine.id, error)
        log.info("speech ready for %d routines in %.1f s", len(routines), time.monotonic() - began)

    # -- what it is doing -----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The status now (not as of the ticker's last look)."""
        with self._lock:
            status = self._publish()
        self._tell()
        return status

    def wait(self, version: int, timeout: float) -> tuple[int, dict[str, Any]]:
        """The status once its version differs from ``version`` (or after ``timeout``
        seconds, or on close): (version, status)."""
        with self._lock:
            self._changed.wait_for(lambda: self.version != version or self.closed, timeout)
            return self.version, dict(self._status)

    # -- commands -------------------------------------------------------------------------

    def play(self, rid: object, start_at: int | None = None) -> dict[str, Any]:
        """Play a routine by id from its start or from step ``start_at`` (1 is the first);
        what was playing stops. Raises UnknownRoutine, BadValue, or AudioDeviceError."""
        routine = self.catalog.get(rid)
        with self._playing:
            ready = self._session(routine)
            origin = 0
            if start_at is not None:
                try:
                    origin = playback.start_position(ready.timeline, str(start_at))
                except ValueError as error:
                    raise BadValue(str(error)) from error
            with self._lock:
                self._check_open()
                if self._current is not None:
                    self._current.player.quit()
                    if not self._ended:
                        self._end("replaced")
                    self._current = None
                self._error = ""
                self._ended = False
                try:
                    self._current = _Current(ready, self._start_player(ready, origin, self.volume))
                except AudioDeviceError as error:
                    self._error = str(error)
                    self._publish()
                    raise
                self._step = None
                status = self._publish()
                self._pending.append(Change("start", routine.id, status))
                log.info("playing %s from %.1f s", routine.id, origin / ready.timeline.rate)
        self._tell()
        return status

    def pause(self) -> dict[str, Any]:
        return self._command("pause", lambda p: p.pause(), needs=("playing",))

    def resume(self) -> dict[str, Any]:
        return self._command("resume", lambda p: p.resume(), needs=("paused",))

    def next(self) -> dict[str, Any]:
        return self._command("next", lambda p: p.next(), needs=("playing", "paused"))

    def previous(self) -> dict[str, Any]:
        return self._command("previous", lambda p: p.previous(), needs=("playing", "paused"))

    def stop(self) -> dict[str, Any]:
        """End the session (nothing playing: nothing to do, not an error)."""
        with self._lock:
            if self._current is not None:
                self._current.player.quit()
                if not self._ended:
                    self._end("stopped")
                self._current = None
                log.info("stopped")
            status = self._publish()
        self._tell()
        return status

    def set_volume(self, volume: object) -> dict[str, Any]:
        """The master volume from now on. The player takes its volume when it is made, so a
        session under way goes on in a new player, from the same position, at the new
        volume (a paused one stays paused, and goes on as it would have)."""
        value = check_volume(volume)
        with self._lock:
            self._check_open()
            self.volume = value
            current = self._current
            if current is not None and current.player.state in ("playing", "paused"):
                old = current.player
                paused = old.state == "paused"
                at = old.position()
                old.pause()
                new = self._start_player(current.session, at, value)
                if paused:
                    new.pause()  # the take just started is still in its silent lead-in
                current.player = new
            status = self._publish()
        self._tell()
        return status

    # -- inside ---------------------------------------------------------------------------

    def _command(self, name: str, action: Callable[[playback.Player], None], needs: tuple[str, ...]) -> dict[str, Any]:
        with self._lock:
            self._check_open()
            state = self._current.player.state if self._current is not None else "idle"
            if state not in needs:
                raise WrongState(f"cannot {name}: {_state_words(state)}")
            assert self._current is not None
            try:
                action(self._current.player)
            except AudioDeviceError as error:
                self._failed(error)  # observers hear of it from the ticker's next round
                raise
            log.info("%s", name)
            status = self._publish()
        self._tell()
        return status

    def _check_open(self) -> None:
        if self.closed:
            raise WrongState("the service is shutting down")

    def _session(self, routine: Routine) -> Session:
        """The routine ready to hear: from memory, or built (speech from the warm cache)."""
        key = (routine.id, id(routine))  # a routine loaded again is a new object: built again
        with self._lock:
            if key in self._sessions:
                self._sessions.move_to_end(key)
                return self._sessions[key]
        began = time.monotonic()
        with self._speech:
            ready = self._build(routine)
        log.info("%s ready in %.2f s", routine.id, time.monotonic() - began)
        with self._lock:
            self._sessions[key] = ready
            while len(self._sessions) > SESSIONS_KEPT:
                self._sessions.popitem(last=False)
        return ready

    def _start_player(self, ready: Session, origin: int, volume: float) -> playback.Player:
        self.sink.settle(self.clock)
        player = playback.Player(
            ready.timeline,
            ready.clips,
            ready.tones,
            sink=self.sink,
            clock=self.clock,
            volume=volume,
            speech_volume=ready.routine.voice.volume,
        )
        player.start(origin)
        return player

    def _tick(self) -> None:
        current = self._current
        if current is None:
            return
        try:
            current.player.tick()
        except AudioDeviceError as error:
            self._failed(error)
            return
        if current.player.state == "finished" and not self._ended:
            self._end("finished")
            log.info("finished %s", current.session.routine.id)

    def _failed(self, error: AudioDeviceError) -> None:
        log.error("playback stopped: %s", error)
        assert self._current is not None
        self._current.player.close()
        self._error = str(error)
        self._end("failed")
        self._current = None

    def _end(self, outcome: str) -> None:
        assert self._current is not None
        self._ended = True
        self._pending.append(Change("end", self._current.session.routine.id, self._snapshot(), outcome))

    def _publish(self) -> dict[str, Any]:
        """Take a fresh status; a change wakes the event streams (and a new step is told)."""
        status = self._snapshot()
        if status != self._status:
            self._status = status
            self.version += 1
            self._changed.notify_all()
        step = (status["step"], status["side"], status["round"])
        if self._current is not None and status["state"] == "playing" and step != self._step:
            if self._step is not None:  # the first is told as "start"
                self._pending.append(Change("step", self._current.session.routine.id, status))
            self._step = step
        return dict(status)

    def _tell(self) -> None:
        """Observers hear what happened, outside the lock: a slow one never holds up the controls."""
        with self._lock:
            pending, self._pending = self._pending, []
        for change in pending:
            for observer in self.observers:
                try:
                    observer(change)
                except Exception:
                    log.exception("an observer failed on %s %s", change.kind, change.routine)

    def _snapshot(self) -> dict[str, Any]:
        current = self._current
        if current is None:
            return {**IDLE, "volume": self.volume, "error": self._error}
        status = current.player.status()
        routine = current.session.routine
        state = status.state if status.state in ("playing", "paused", "finished") else "idle"
        return {
            "state": state,
            "routine": routine.id,
            "title": routine.title,
            "step": status.step,
            "steps": status.steps,
            "step_title": status.title,
            "phase": status.phase,
            "side": status.side,
            "round": status.round,
            "rounds": status.rounds,
            # whole seconds: the status changes (and is sent) once a second while playing
            "position": int(status.position),
            "duration": round(status.duration, 1),
            "left": math.ceil(status.left - 1e-6) if state != "finished" else 0,
            "next": status.next if state != "finished" else "",
            "volume": self.volume,
            "error": "",
        }


IDLE: dict[str, Any] = {
    "state": "idle",
    "routine": None,
    "title": None,
    "step": 0,
    "steps": 0,
    "step_title": "",
    "phase": "",
    "side": "",
    "round": 0,
    "rounds": 0,
    "position": 0,
    "duration": 0,
    "left": 0,
    "next": "",
}


def check_volume(volume: object) -> float:
    low, high = VOLUME_RANGE
    if isinstance(volume, bool) or not isinstance(volume, int | float):
        raise BadValue(f"the volume must be a number from {low:g} to {high:g}")
    value = float(volume)
    if not math.isfinite(value) or not low <= value <= high:
        raise BadValue(f"the volume must be a number from {low:g} to {high:g}, not {volume!r}")
    return value


def _state_words(state: str) -> str:
    return {
        "idle": "nothing is playing",
        "playing": "the session is playing",
        "paused": "the session is paused",
        "finished": "the session has finished",
        "stopped": "nothing is playing",
    }[state]
