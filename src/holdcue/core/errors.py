"""What a command of the core can fail with; every front end says it in its own way (the
web layer as HTTP statuses, the terminal and the button as a line)."""

from __future__ import annotations

from holdcue.errors import HoldcueError


class CoreError(HoldcueError):
    """A command the core cannot carry out; the subclasses say why."""


class UnknownRoutine(CoreError):
    """No routine has this id (ids only: never a path)."""


class WrongState(CoreError):
    """The request does not fit what is playing (resume with nothing paused)."""


class BadValue(CoreError):
    """A value out of range (volume, a step that does not exist)."""


class RestDay(WrongState):
    """Nothing is planned today: the message names the next session."""


class NoJournal(CoreError):
    """The core keeps no journal."""


class NoPlan(CoreError):
    """The core was given no weekly plan."""


class NothingToResume(WrongState):
    """No session to go on with, or its routine cannot be played from where it stopped."""


class AlreadyThere(CoreError):
    """A routine would be saved under a name that is taken: nothing is replaced."""
