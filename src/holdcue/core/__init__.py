"""The core that every front end drives: the terminal's keys (terminal.py), the phone page
and its HTTP API (web/), the GPIO button (button.py).

    controller.py   Core: one session at a time, its player, the commands every front end
                    sends (play, pause, resume, next, previous, stop, volume, today,
                    resume-last, compose and save), the events observers hear
    snapshot.py     Snapshot: the status they all see, typed (the web layer makes its JSON);
                    Today: what today's session is
    catalog.py      the routines it plays by id, loaded once
    events.py       Change: a session started, reached a step, ended
    recording.py    the journal's one writer, from those events
    errors.py       what a command can fail with
"""

from holdcue.core.catalog import Catalog
from holdcue.core.controller import Core, check_routine_id, check_volume
from holdcue.core.errors import (
    AlreadyThere,
    BadValue,
    CoreError,
    NoJournal,
    NoPlan,
    NothingToResume,
    RestDay,
    UnknownRoutine,
    WrongState,
)
from holdcue.core.events import END_OUTCOMES, Change, Observer
from holdcue.core.recording import JournalWriter
from holdcue.core.snapshot import Snapshot, Today

__all__ = [
    "AlreadyThere",
    "END_OUTCOMES",
    "BadValue",
    "Catalog",
    "Change",
    "Core",
    "CoreError",
    "JournalWriter",
    "NoJournal",
    "NoPlan",
    "NothingToResume",
    "Observer",
    "RestDay",
    "Snapshot",
    "Today",
    "UnknownRoutine",
    "WrongState",
    "check_routine_id",
    "check_volume",
]
