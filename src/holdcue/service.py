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

import datetime
import logging
import math
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from holdcue import choices, compiler, journal, library, phrases, session, speech
from holdcue import plan as weekly
from holdcue import play as playback
from holdcue.config import Config
from holdcue.errors import AudioDeviceError, HoldcueError, PlanError
from holdcue.routine import ID_PATTERN, Routine, Voice
from holdcue.timeline import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy

    from holdcue.display import Status
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


class RestDay(WrongState):
    """Nothing is planned today: the message names the next session."""


class NoJournal(ServiceError):
    """The service keeps no journal."""


class NoPlan(ServiceError):
    """The service was given no weekly plan."""


class NothingToResume(WrongState):
    """No session to go on with, or its routine cannot be played from where it stopped."""


@dataclass(frozen=True)
class Change:
    """What observers hear: a session started, moved to another step, or ended.

    ``kind`` is "start", "step" or "end"; for "end", ``outcome`` is one of END_OUTCOMES
    ("interrupted": the service was stopped by a signal while it played)."""

    kind: str
    routine: str
    status: dict[str, Any]
    outcome: str = ""
    played: float = 0.0  # seconds of the session heard so far: pauses and skipped parts left out
    source: str = ""  # the routine's source (library.Entry.source: "builtin:<id>" or its file)
    resumed_from: int | None = None  # the journal row this session goes on from


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

    def about(self, rid: str) -> tuple[str, float]:
        """The title and estimated length (seconds) of a routine; raises as get() does."""
        routine = self.get(rid)
        with self._lock:
            return routine.title, self._durations[routine.id]

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


def _build_stored(routine: Routine) -> Session:
    """session.build with the clips left in the speech cache, read as they sound: a two-hour
    session costs the service no more memory than a short one. The player's own words
    ("Paused.", "Resuming.") are made with it, as for holdcue play."""
    return session.build(routine, also=playback.own_words(routine), stored=True)


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
        lead_in: float = playback.LEAD_IN,
        tick: float = TICK,
        journal_path: Path | None = None,
        plan: Callable[[], weekly.Plan] | None = None,
        date: Callable[[], datetime.date] = datetime.date.today,
        settings: Config | None = None,
        speaker: Callable[[Voice], playback.Speak] = speech.live_speaker,
    ):
        """``journal_path``: record every session there (a JournalKeeper among the observers),
        and serve history() and resume_last() from it; None: no journal. ``plan``: the weekly
        plan (plan.current), read at each use; None: none. ``date``: what day it is.
        ``settings``: config.yaml, read once where the service is put together: its voice and
        music apply to every session, however it is started (choices.resolve). ``speaker``:
        what makes the words a session has no clip for (the time left, said on resume)."""
        self.catalog = catalog
        self.settings = settings or Config()
        self._live_speaker = speaker
        # A streaming sink keeps the device open from take to take: nothing to wait for.
        self.sink = sink if isinstance(sink, playback.StreamingSink) else _TrackedSink(sink)
        self.lead_in = lead_in
        self._build = build or _build_stored
        self._warm = warm
        self.clock = clock or playback.SystemClock()
        self.keeper = JournalKeeper(journal_path) if journal_path is not None else None
        self.observers: list[Observer] = [*observers, *([self.keeper] if self.keeper else [])]
        self.plan = plan
        self.date = date
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
        self._telling = threading.Lock()  # observers hear the changes in the order they happened
        self._heard = 0.0  # seconds of the current session heard
        self._look: tuple[Status, float] | None = None  # the player's status at the last look, and the clock then
        self._resumed_from: int | None = None  # the journal row the current session goes on from
        self.version = 0
        self._status = self._snapshot()
        self.closed = False
        self._threads: list[threading.Thread] = []

    # -- life -----------------------------------------------------------------------------

    def start(self) -> None:
        """Load the library and start the background work: the ticker, and the warm-up of
        the speech cache (when a warmer was given)."""
        self.catalog.refresh()
        opening = getattr(self.sink, "open", None)
        if opening is not None:  # a streaming sink: the device open (and kept awake) from now on
            try:
                opening(SAMPLE_RATE)
            except AudioDeviceError as error:  # no speaker yet (not plugged in, not paired): each play tries again
                log.warning("no sound device at start: %s", error)
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
        closing = getattr(self.sink, "close", None)
        if closing is not None:
            closing()  # the device let go
        if self.keeper is not None:
            self.keeper.close()  # what ended is written before the process exits
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
                    self._warm(choices.resolve(routine, self.settings).routine)
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

    def state(self) -> str:
        """ "idle", "playing", "paused" or "finished"."""
        return str(self.status()["state"])

    def play(self, rid: object, start_at: int | None = None, *, resumed_from: int | None = None) -> dict[str, Any]:
        """Play a routine by id from its start or from step ``start_at`` (1 is the first);
        what was playing stops. Raises UnknownRoutine, BadValue, or AudioDeviceError.
        ``resumed_from``: the journal row of the session this one goes on from."""
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
                    self._current.player.close()  # silent: the new session's announcement follows
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
                self._heard, self._look, self._resumed_from = 0.0, None, resumed_from
                status = self._publish()
                self._pending.append(
                    Change("start", routine.id, status, source=routine.source, resumed_from=resumed_from)
                )
                log.info("playing %s from %.1f s", routine.id, origin / ready.timeline.rate)
        self._tell()
        return status

    def today(self) -> dict[str, Any]:
        """What "play today" plays today, for the page and the API: {"routine": id or None
        (a rest day), "title", "duration" (seconds, estimated), "rest", "message"}. Raises
        NoPlan, PlanError (the plan file has errors)."""
        if self.plan is None:
            raise NoPlan("there is no weekly plan")
        choice = weekly.play_today(self.plan(), self.date())
        day = choice.day
        if choice.routine is None:
            title, seconds = self.catalog.about(day.next.routine) if day.next else ("", 0.0)
            message = weekly.rest_message(day, title, seconds)
            return {"routine": None, "title": None, "duration": 0, "rest": True, "message": message}
        title, seconds = self.catalog.about(choice.routine)
        message = f"Today: {title}, {weekly.about(seconds)}."
        return {
            "routine": choice.routine,
            "title": title,
            "duration": round(seconds, 1),
            "rest": False,
            "message": message,
        }

    def play_today(self) -> dict[str, Any]:
        """Play today's session of the weekly plan (the page, the API and the button alike).
        Raises RestDay (its message names the next session), NoPlan, PlanError, and what
        play raises."""
        today = self.today()
        if today["routine"] is None:
            raise RestDay(today["message"])
        return self.play(today["routine"])

    def resume_last(self) -> dict[str, Any]:
        """What ``holdcue resume`` does: go on with the last stopped or interrupted session
        (unless its routine was played again since), from the start of the step it reached.
        Only with nothing under way. Raises NoJournal, NothingToResume, WrongState,
        JournalError, and what play raises."""
        if self.keeper is None:
            raise NoJournal("this service keeps no session journal")
        if self.state() in ("playing", "paused"):
            raise WrongState("cannot resume the last session while one is under way: stop it first")
        record = self.keeper.to_resume()
        if record is None:
            raise NothingToResume(
                "nothing to resume: no session was stopped or interrupted since its routine was last played"
            )
        try:
            return self.play(record.routine_id, record.step or None, resumed_from=record.id)
        except UnknownRoutine as error:
            raise NothingToResume(
                f"cannot resume {record.routine_id}: it is not in the library (holdcue resume plays it from its file)"
            ) from error
        except BadValue as error:
            raise NothingToResume(
                f"cannot resume {record.routine_id} at step {record.step}, the routine has changed ({error})"
            ) from error

    def history(self, limit: int = 20) -> dict[str, Any]:
        """The journal as ``holdcue history --json`` gives it (the last ``limit`` sessions,
        this week's minutes, and for each planned day so far whether it was followed), and
        "resume": the session resume_last() would go on with, or None. Raises NoJournal,
        JournalError."""
        if self.keeper is None:
            raise NoJournal("this service keeps no session journal")
        routines, plan_error = None, ""
        if self.plan is not None:
            try:
                routines = self.plan().routines
            except PlanError as error:
                plan_error = f"the weekly plan has errors: {error}"
        today = self.date()
        self.keeper.flush()
        with journal.Journal.read(self.keeper.path) as kept:
            followed = journal.plan_followed(kept, routines, today) if routines is not None else None
            week = kept.week(datetime.datetime.combine(today, datetime.time(12)))
            answer = journal.history_json(kept.recent(limit), week, followed, plan_error)
            # the session under way has no end yet: it would read as interrupted
            last = kept.to_resume() if self.state() not in ("playing", "paused") else None
        # what POST /api/resume-last would go on with (the page's Resume button)
        answer["resume"] = journal.record_json(last) if last is not None else None
        return answer

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
                old.close()  # silent: nothing is said for a change of volume
                current.player = self._start_player(current.session, at, value, paused=paused)
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
        """The routine ready to hear, as config.yaml says it is heard: from memory, or built
        (speech from the warm cache)."""
        key = (routine.id, id(routine))  # a routine loaded again is a new object: built again
        with self._lock:
            if key in self._sessions:
                self._sessions.move_to_end(key)
                return self._sessions[key]
        resolved = choices.resolve(routine, self.settings)
        if resolved.note:
            log.warning("%s: %s", routine.id, resolved.note)
        began = time.monotonic()
        with self._speech:
            ready = self._build(resolved.routine)
        log.info("%s ready in %.2f s", routine.id, time.monotonic() - began)
        with self._lock:
            self._sessions[key] = ready
            while len(self._sessions) > SESSIONS_KEPT:
                self._sessions.popitem(last=False)
        return ready

    def _start_player(self, ready: Session, origin: int, volume: float, paused: bool = False) -> playback.Player:
        if isinstance(self.sink, _TrackedSink):
            self.sink.settle(self.clock)
        player = playback.Player(
            ready.timeline,
            ready.clips,
            ready.tones,
            sink=self.sink,
            clock=self.clock,
            lead_in=self.lead_in,
            volume=volume,
            speech_volume=ready.routine.voice.volume,
            music=ready.music,
            words=phrases.for_language(ready.routine.voice.language),
            speak=self._speaker(ready),
        )
        if paused:
            player.hold_at(origin)
        else:
            player.start(origin)
        return player

    def _speaker(self, ready: Session) -> playback.Speak:
        """Words the session has no clip for (the time left, said on resume), made at once
        by espeak-ng, one user of the engine at a time (the warm-up is another)."""
        speak = self._live_speaker(ready.routine.voice)

        def said(text: str) -> numpy.ndarray:
            with self._speech:
                return speak(text)

        return said

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
        played = self._account()
        routine = self._current.session.routine.id
        self._pending.append(Change("end", routine, self._snapshot(), outcome, played, resumed_from=self._resumed_from))

    def _account(self) -> float:
        """The seconds heard of the current session, brought up to date (as journal.heard counts them)."""
        current = self._current
        if current is None:
            return self._heard
        status, now = current.player.status(), self.clock.now()
        if self._look is not None:
            self._heard += journal.heard(self._look[0], status, now - self._look[1])
        self._look = (status, now)
        return self._heard

    def _publish(self) -> dict[str, Any]:
        """Take a fresh status; a change wakes the event streams (and a new step is told)."""
        played = self._account()
        status = self._snapshot()
        if status != self._status:
            self._status = status
            self.version += 1
            self._changed.notify_all()
        step = (status["step"], status["side"], status["round"])
        if self._current is not None and status["state"] == "playing" and step != self._step:
            if self._step is not None:  # the first is told as "start"
                routine = self._current.session.routine.id
                self._pending.append(Change("step", routine, status, played=played, resumed_from=self._resumed_from))
            self._step = step
        return dict(status)

    def _tell(self) -> None:
        """Observers hear what happened, outside the lock: a slow one never holds up the controls."""
        with self._telling:
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


# -- the journal, and the button ------------------------------------------------------------

JOURNAL_OUTCOMES = {  # the controller's end outcomes as the journal keeps them
    "finished": "finished",
    "stopped": "stopped",
    "replaced": "stopped",  # another session was asked for: stopped by the listener
    "interrupted": "interrupted",  # the service was stopped (SIGTERM)
    "failed": "interrupted",  # the sound device failed: resumable, as after a power cut
}


class JournalKeeper:
    """The observer that records every session the service plays, as ``holdcue play``
    does: its row when it starts, the step reached at each step boundary (committed),
    how it ended when it ends. It writes on a thread of its own, in order, so neither the
    controls nor the ticker wait for the disk. A journal that cannot be written (damaged,
    locked, read-only) is logged once, until a write works again; the session plays on
    without it, and the next session tries again."""

    def __init__(self, path: Path | None = None):
        self.path = path or journal.default_path()
        self._queue: queue.Queue[Change | None] = queue.Queue()
        self._row: int | None = None  # the row of the session being played; None: none, or its start failed
        self._step = 0
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="holdcue-journal", daemon=True)
        self._thread.start()

    def __call__(self, change: Change) -> None:
        self._queue.put(change)

    def flush(self) -> None:
        """Wait until every change heard so far is written (or failed)."""
        self._queue.join()

    def close(self, timeout: float = 5.0) -> None:
        """Write what is left, then stop (bounded: a locked journal waits journal.BUSY_TIMEOUT per write)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def to_resume(self) -> journal.Record | None:
        """The session ``holdcue resume`` would go on with (once what was heard is written)."""
        self.flush()
        with journal.Journal.read(self.path) as kept:
            return kept.to_resume()

    def _run(self) -> None:
        while True:
            change = self._queue.get()
            try:
                if change is None:
                    return
                if self._write(change) and self._failing:
                    self._failing = False
                    log.info("the journal %s is written again", self.path)
            except journal.JournalError as error:
                if not self._failing:
                    log.warning("sessions are not recorded in the journal: %s", error)
                self._failing = True
                if change is not None and change.kind == "start":
                    self._row = None
            except Exception:
                log.exception("the journal could not record %s", change)
            finally:
                self._queue.task_done()

    def _write(self, change: Change) -> bool:
        """Record the change; False when there was nothing to write."""
        status = change.status
        if change.kind == "start":
            self._row, self._step = None, int(status["step"])
            with journal.Journal.open(self.path) as kept:
                self._row = kept.begin(
                    routine_id=change.routine,
                    title=str(status["title"]),
                    source=journal.routine_source(change.source),
                    steps=int(status["steps"]),
                    planned=float(status["duration"]),
                    resumed_from=change.resumed_from,
                )
                if self._step:  # started at a step (resumed): the row says so at once
                    kept.step(self._row, self._step, 0.0)
            return True
        row = self._row
        if row is None:
            return False  # its start was not recorded
        step = int(status["step"])
        if change.kind == "step":
            if not step or step == self._step:
                return False  # another side or round of the same step
            self._step = step
            with journal.Journal.open(self.path) as kept:
                kept.step(row, step, change.played)
        elif change.kind == "end":
            self._row = None
            with journal.Journal.open(self.path) as kept:
                kept.end(row, JOURNAL_OUTCOMES[change.outcome], step or self._step, change.played)
        return True


class ButtonRemote:
    """The controller as button.Controller wants it: commands that answer nothing; a
    press on a rest day says why in the log (button.Gestures logs what fails)."""

    def __init__(self, controller: Controller):
        self.controller = controller

    def state(self) -> str:
        return self.controller.state()

    def play_today(self) -> None:
        self.controller.play_today()

    def pause(self) -> None:
        self.controller.pause()

    def resume(self) -> None:
        self.controller.resume()

    def next(self) -> None:
        self.controller.next()

    def stop(self) -> None:
        self.controller.stop()
