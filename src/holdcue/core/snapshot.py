"""The core's status: what every front end sees of the session under way, typed. The web
layer sends it as JSON (web/status.py: GET /api/status, each POST's answer, the event
stream); observers get it with each Change; the button asks only its ``state``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Snapshot:
    """The status at one moment. Its defaults are the status with nothing under way (the
    volume and the error aside, which the core always gives)."""

    state: str = "idle"  # "idle", "playing", "paused" or "finished"
    routine: str | None = None  # the routine's id
    title: str | None = None  # the routine's title
    step: int = 0  # 1 is the first; 0 in the introduction and at the end
    steps: int = 0
    step_title: str = ""  # "Introduction" before the first step
    phase: str = ""  # what the step is doing: "announce", "hold", ...
    side: str = ""  # "left", "right", or "" for a step without sides
    round: int = 0
    rounds: int = 0  # 0: the step is not done in rounds
    position: int = 0  # whole seconds into the session (a new status once a second while playing)
    duration: float = 0  # seconds, to a tenth; 0 (not 0.0) with nothing under way, as the API has always said
    left: int = 0  # whole seconds left of what it is doing
    until: str = ""  # "press": what it is doing lasts until Next is pressed, ``left`` at most
    next: str = ""  # what comes next ("right side", "step 2: Hands")
    volume: float = 1.0  # the master volume, 0 to 2
    error: str = ""  # why the last session stopped, when the sound device failed


@dataclass(frozen=True)
class Today:
    """What "play today" plays today (the page's Today button, POST /api/today, the button):
    a routine, or a rest day whose ``message`` names the next session."""

    routine: str | None  # the routine's id; None on a rest day
    title: str  # the routine's title; "" on a rest day
    seconds: float  # its length (Core.length); 0 on a rest day
    message: str  # "Today: Shoulders, about 7 minutes." or "Today is a rest day. Next: ..."
    exact: bool = False  # the length is exact (its speech is prepared), not estimated

    @property
    def rest(self) -> bool:
        return self.routine is None
