"""What the core tells its observers (the journal's writer, a front end's status view):
a session started, moved to another step, ended a hold that lasts until a press, or ended."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from holdcue.core.snapshot import Snapshot
from holdcue.play import Held

END_OUTCOMES = ("finished", "stopped", "replaced", "interrupted", "failed")


@dataclass(frozen=True)
class Change:
    """What observers hear: a session started, moved to another step, ended a hold that
    lasts until a press, or ended.

    ``kind`` is "start", "step", "held" or "end"; for "end", ``outcome`` is one of END_OUTCOMES
    ("interrupted": holdcue was stopped by a signal or Ctrl-C while it played)."""

    kind: str
    routine: str
    status: Snapshot  # the core's status when it happened
    outcome: str = ""
    played: float = 0.0  # seconds of the session heard so far: pauses and skipped parts left out
    source: str = ""  # the routine's source (library.Entry.source: "builtin:<id>" or its file)
    resumed_from: int | None = None  # the journal row this session goes on from
    planned: float = 0.0  # "start": the session's length in seconds, exactly
    held: Held | None = None  # "held": the hold, how long it was held, and whether it was pressed


Observer = Callable[[Change], None]
