"""The core every front end drives (the terminal's keys, the phone page and its HTTP API,
the button, and any later control): one session at a time, its player, its journal.

Every command is a method, safe to call from any thread, confirmed aloud by the player as
the keys of ``holdcue play`` always were ("Paused.", "Resuming, thirty seconds left",
"Session ended."). The core owns the session being played; whoever ticks it (the
service's background thread, or the terminal's own loop) lets it notice the end of a
take or a lost device, and publishes the status whenever it changes, for ``wait`` (the
server's event streams) and for observers (the journal's writer hooks in here:
``Change`` on session start, step and end).

What a session sounds like is decided once (choices.resolve: the voice and the music of
config.yaml, the routine and the command line); the core plays it through ``play.Player``
on whatever sink it is given.
"""

from __future__ import annotations

import datetime
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from holdcue import choices, journal, session, speech
from holdcue import plan as weekly
from holdcue import play as playback
from holdcue.config import Config
from holdcue.controls import Command
from holdcue.core.catalog import Catalog
from holdcue.core.errors import BadValue, NoJournal, NoPlan, NothingToResume, RestDay, UnknownRoutine, WrongState
from holdcue.core.events import Change, Observer
from holdcue.core.recording import JournalWriter
from holdcue.core.snapshot import Snapshot, Today
from holdcue.errors import AudioDeviceError, HoldcueError, PlanError
from holdcue.routine import Routine, Voice
from holdcue.timeline import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy

    from holdcue.display import Status
    from holdcue.timeline import Session

log = logging.getLogger("holdcue.core")

TICK = 0.2  # seconds between looks at the player: how soon the end of a take is noticed
VOLUME_RANGE = (0.0, 2.0)  # master volume; above 1 the renderer's limiter keeps it clean
SESSIONS_KEPT = 2  # built sessions kept in memory (a few MB of speech each)

Builder = Callable[[Routine], "Session"]
Warmer = Callable[[Routine], object]


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


class Core:
    """One session at a time, driven from any thread (see the module's docstring)."""

    def __init__(
        self,
        catalog: Catalog | None = None,
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
        recorder: JournalWriter | None = None,
        plan: Callable[[], weekly.Plan] | None = None,
        date: Callable[[], datetime.date] = datetime.date.today,
        settings: Config | None = None,
        speaker: Callable[[Voice], playback.Speak] | None = speech.live_speaker,
        owns_sink: bool = True,
    ):
        """``journal_path``: record every session there (a JournalWriter among the observers,
        on a thread of its own), and serve history() and resume_last() from it; None: no
        journal. ``recorder``: that writer, made by the caller (the terminal's writes at
        once). ``plan``: the weekly
        plan (plan.current), read at each use; None: none. ``date``: what day it is.
        ``settings``: config.yaml, read once where the service is put together: its voice and
        music apply to every session, however it is started (choices.resolve). ``speaker``:
        what makes the words a session has no clip for (the time left, said on resume); None:
        such words are left out. ``owns_sink``: close the sink with the core (the terminal's
        is closed by whoever opened it)."""
        self.catalog = catalog or Catalog()
        self.settings = settings or Config()
        self._live_speaker = speaker
        # A streaming sink keeps the device open from take to take: nothing to wait for.
        self.sink = sink if isinstance(sink, playback.StreamingSink) else _TrackedSink(sink)
        self._owns_sink = owns_sink
        self.lead_in = lead_in
        self._build = build or _build_stored
        self._warm = warm
        self.clock = clock or playback.SystemClock()
        if recorder is None and journal_path is not None:
            recorder = JournalWriter(journal_path)
        self.keeper = recorder
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
        self._exact: dict[tuple[str, int], float] = {}  # exact lengths found, by routine
        self._current: _Current | None = None
        self._last: playback.Player | None = None  # the player of the session that ended last
        self._ended = False  # the current session's end was told to observers
        self._error = ""  # why the last session stopped, when a device failed
        self.failure: AudioDeviceError | None = None  # that failure, for a front end to raise
        self.notice = ""  # what a front end should say once about the session under way (its music stopped)
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
        """Load the library, open the device, and start the background work: the ticker, and
        the warm-up of the speech cache (when a warmer was given). A front end that ticks the
        core itself (the terminal's loop: ``tick``) does not call this."""
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
                self._last, self._current = self._current.player, None
            elif self._last is not None:
                self._last.close()  # its last words, if they still play
            self._publish()
        self._tell()
        closing = getattr(self.sink, "close", None)
        if closing is not None and self._owns_sink:
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

    def tick(self) -> None:
        """Look at the player once (the end of a take, a lost device) and tell what changed:
        for a front end that runs the core from its own loop, as the terminal does."""
        with self._lock:
            self._tick()
            self._publish()
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

    def status(self) -> Snapshot:
        """The status now (not as of the ticker's last look)."""
        with self._lock:
            status = self._publish()
        self._tell()
        return status

    def wait(self, version: int, timeout: float) -> tuple[int, Snapshot]:
        """The status once its version differs from ``version`` (or after ``timeout``
        seconds, or on close): (version, status)."""
        with self._lock:
            self._changed.wait_for(lambda: self.version != version or self.closed, timeout)
            return self.version, self._status

    # -- commands -------------------------------------------------------------------------

    def state(self) -> str:
        """ "idle", "playing", "paused" or "finished"."""
        return self.status().state

    def play(self, rid: object, start_at: int | None = None, *, resumed_from: int | None = None) -> Snapshot:
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
            return self._play(ready, origin, resumed_from)

    def play_ready(self, ready: Session, origin: int = 0, *, resumed_from: int | None = None) -> Snapshot:
        """Play a session made ready by the caller (holdcue play builds it with a progress
        bar, from a file or with --legend) from the sample ``origin``; as ``play`` otherwise."""
        with self._playing:
            return self._play(ready, origin, resumed_from)

    def _play(self, ready: Session, origin: int, resumed_from: int | None) -> Snapshot:
        routine = ready.routine
        with self._lock:
            self._check_open()
            if self._current is not None:
                self._current.player.close()  # silent: the new session's announcement follows
                if not self._ended:
                    self._end("replaced")
                self._current = None
            self._error = self.notice = ""
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
                Change(
                    "start",
                    routine.id,
                    status,
                    source=routine.source,
                    resumed_from=resumed_from,
                    planned=ready.timeline.duration,
                )
            )
            log.info("playing %s from %.1f s", routine.id, origin / ready.timeline.rate)
        self._tell()
        return status

    def today(self) -> Today:
        """What "play today" plays today, for the page and the button. Raises NoPlan,
        PlanError (the plan file has errors)."""
        if self.plan is None:
            raise NoPlan("there is no weekly plan")
        choice = weekly.play_today(self.plan(), self.date())
        day = choice.day
        if choice.routine is None:
            title, seconds = "", 0.0
            if day.next:
                upcoming = self.catalog.get(day.next.routine)
                title, seconds = upcoming.title, self.length(upcoming)[0]
            return Today(None, "", 0.0, weekly.rest_message(day, title, seconds))
        routine = self.catalog.get(choice.routine)
        seconds, exact = self.length(routine)
        return Today(choice.routine, routine.title, seconds, f"Today: {routine.title}, {weekly.about(seconds)}.", exact)

    def length(self, routine: Routine) -> tuple[float, bool]:
        """(seconds, exact) of a routine as this service plays it: what holdcue list says
        (session.heard_length). An exact length is kept (its speech stays cached); an
        estimate is looked at again each time, as the warm-up makes speech ready."""
        key = (routine.id, id(routine))
        if key in self._exact:
            return self._exact[key], True
        seconds, exact = session.heard_length(routine, self.settings)
        if exact:
            self._exact[key] = seconds
        return seconds, exact

    def routines(self) -> list[dict[str, Any]]:
        """The library as the page and GET /api/routines list it (Catalog.summaries), with
        the lengths of ``length``."""
        return self.catalog.summaries(self.length)

    def steps(self) -> dict[str, Any]:
        """The steps of the session under way (or of the one that ended last), for a front
        end that shows them all: {"routine": id or None, "steps": [{"step", "title",
        "start", "end"}]}, start and end in seconds of the session."""
        with self._lock:
            current = self._current
            if current is None:
                return {"routine": None, "steps": []}
            timeline = current.session.timeline
            spans = playback.step_spans(timeline)
            return {
                "routine": current.session.routine.id,
                "steps": [
                    {
                        "step": span.number,
                        "title": span.title,
                        "start": round(timeline.seconds(span.start), 1),
                        "end": round(timeline.seconds(span.end), 1),
                    }
                    for span in spans
                ],
            }

    def play_today(self) -> Snapshot:
        """Play today's session of the weekly plan (the page, the API and the button alike).
        Raises RestDay (its message names the next session), NoPlan, PlanError, and what
        play raises."""
        today = self.today()
        if today.routine is None:
            raise RestDay(today.message)
        return self.play(today.routine)

    def resume_last(self) -> Snapshot:
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
        if last is not None and not self._resumable(last):
            last = None  # resume_last() would refuse it: not offered
        # what POST /api/resume-last would go on with (the page's Resume button)
        answer["resume"] = journal.record_json(last) if last is not None else None
        return answer

    def _resumable(self, record: journal.Record) -> bool:
        """resume_last() can go on with ``record``: its routine is in the library, without
        errors, and still has the step it reached."""
        try:
            routine = self.catalog.get(record.routine_id)
        except (UnknownRoutine, WrongState):
            return False
        return not record.step or record.step <= len(routine.steps)

    def go_to(self, step: object) -> Snapshot:
        """Go to the start of step ``step`` (1 is the first) of the session under way and
        play from there (a paused one too), as next and previous do. Raises BadValue for a
        step it does not have, WrongState with nothing under way."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise BadValue("the step is a number: 1 is the first step")

        def jump(player: playback.Player) -> None:
            try:
                origin = playback.start_position(player.timeline, str(step))
            except ValueError as error:
                raise BadValue(str(error)) from error
            player.start(origin)

        return self._command(f"go to step {step}", jump, needs=("playing", "paused"))

    def pause(self) -> Snapshot:
        return self._command("pause", lambda p: p.pause(), needs=("playing",))

    def resume(self) -> Snapshot:
        return self._command("resume", lambda p: p.resume(), needs=("paused",))

    def next(self) -> Snapshot:
        return self._command("next", lambda p: p.next(), needs=("playing", "paused"))

    def previous(self) -> Snapshot:
        return self._command("previous", lambda p: p.previous(), needs=("playing", "paused"))

    def stop(self) -> Snapshot:
        """End the session, saying so (nothing playing: nothing to do, not an error)."""
        with self._lock:
            if self._current is not None:
                player = self._current.player
                player.quit()
                if not self._ended:
                    self._end("stopped")
                self._current, self._last = None, player
                log.info("stopped")
            status = self._publish()
        self._tell()
        return status

    def set_volume(self, volume: object) -> Snapshot:
        """The master volume from now on: a session under way is heard at it from the very
        sample it had reached (a paused one stays paused, and goes on at it)."""
        value = check_volume(volume)
        with self._lock:
            self._check_open()
            self.volume = value
            if self._current is not None:
                self._current.player.set_volume(value)
            status = self._publish()
        self._tell()
        return status

    def command(self, command: Command) -> None:
        """A key's command (controls.Command): what the keys of holdcue play do. A key that
        does not fit what is playing (pause with nothing playing) does nothing."""
        actions: dict[Command, Callable[[], object]] = {
            Command.PAUSE: lambda: self.resume() if self.state() == "paused" else self.pause(),
            Command.NEXT: self.next,
            Command.PREVIOUS: self.previous,
            Command.LOUDER: lambda: self.set_volume(playback.louder(self.volume)),
            Command.QUIETER: lambda: self.set_volume(playback.quieter(self.volume)),
            Command.QUIT: self.stop,
        }
        try:
            actions[command]()
        except WrongState:
            pass

    def player_status(self) -> Status | None:
        """The player's own status (display.Status), of the session under way or, after it
        ended, of the last one; None before any session."""
        with self._lock:
            player = self._current.player if self._current is not None else self._last
            return player.status() if player is not None else None

    def wait_for_words(self) -> None:
        """Let the last words of a session stopped ("Session ended.") play out."""
        player = self._last
        if player is not None:
            player.wait_for_words()

    # -- inside ---------------------------------------------------------------------------

    def _command(self, name: str, action: Callable[[playback.Player], None], needs: tuple[str, ...]) -> Snapshot:
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

    def _start_player(self, ready: Session, origin: int, volume: float) -> playback.Player:
        if isinstance(self.sink, _TrackedSink):
            self.sink.settle(self.clock)
        player = playback.Player(
            ready, sink=self.sink, clock=self.clock, lead_in=self.lead_in, volume=volume, speak=self._speaker(ready)
        )
        for phrase in playback.own_words(ready.routine):  # at hand now, so that a command is answered at once
            player.sound(phrase)
        player.start(origin)
        return player

    def _speaker(self, ready: Session) -> playback.Speak | None:
        """Words the session has no clip for (the time left, said on resume), made at once
        by espeak-ng, one user of the engine at a time (the warm-up is another)."""
        if self._live_speaker is None:
            return None
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
        lost = current.player.music_lost
        if lost is not None and not self.notice:
            self.notice = f"The music stopped ({lost}); the session goes on without it."
            log.warning("%s", self.notice)
        if current.player.state == "finished" and not self._ended:
            self._end("finished")
            log.info("finished %s", current.session.routine.id)

    def _failed(self, error: AudioDeviceError) -> None:
        log.error("playback stopped: %s", error)
        assert self._current is not None
        self._current.player.close()
        self._error, self.failure = str(error), error
        self._end("failed")
        self._last, self._current = self._current.player, None

    def _end(self, outcome: str) -> None:
        assert self._current is not None
        played = self._account()
        self._held(played)  # a hold that ended with the session is told before its end
        self._ended = True
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

    def _publish(self) -> Snapshot:
        """Take a fresh status; a change wakes the event streams (and a new step is told)."""
        played = self._account()
        self._held(played)
        status = self._snapshot()
        if status != self._status:
            self._status = status
            self.version += 1
            self._changed.notify_all()
        step = (status.step, status.side, status.round)
        if self._current is not None and status.state == "playing" and step != self._step:
            if self._step is not None:  # the first is told as "start"
                routine = self._current.session.routine.id
                self._pending.append(Change("step", routine, status, played=played, resumed_from=self._resumed_from))
            self._step = step
        return status

    def _held(self, played: float) -> None:
        """Tell of the holds that last until a press which ended since the last look."""
        current = self._current
        if current is None or self._ended:
            return
        for held in current.player.take_ended():
            routine = current.session.routine.id
            status = self._snapshot()
            self._pending.append(
                Change("held", routine, status, played=played, held=held, resumed_from=self._resumed_from)
            )

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

    def _snapshot(self) -> Snapshot:
        current = self._current
        if current is None:
            return Snapshot(volume=self.volume, error=self._error)  # nothing under way
        status = current.player.status()
        routine = current.session.routine
        state = status.state if status.state in ("playing", "paused", "finished") else "idle"
        return Snapshot(
            state=state,
            routine=routine.id,
            title=routine.title,
            step=status.step,
            steps=status.steps,
            step_title=status.title,
            phase=status.phase,
            side=status.side,
            round=status.round,
            rounds=status.rounds,
            # whole seconds: the status changes (and is sent) once a second while playing
            position=int(status.position),
            duration=round(status.duration, 1),
            left=math.ceil(status.left - 1e-6) if state != "finished" else 0,
            until=status.until if state != "finished" else "",
            next=status.next if state != "finished" else "",
            volume=self.volume,
            error="",
        )


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
