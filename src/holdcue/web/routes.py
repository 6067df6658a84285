"""The HTTP API (docs/service.md, "The API"): a table of (method, path) -> handler, each a
small function of the core and the request's JSON body that answers with a JSON value (a
command with the status after it, as status.py makes it), and the one table that says
which HTTP status each error of the core is answered with.

The server (server.py) checks who asks, reads the body and sends the answer; the page, its
files and the event stream are the server's own (GET only), not in this table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from holdcue.core import BadValue, Core, NoJournal, NoPlan, UnknownRoutine, WrongState
from holdcue.errors import AudioDeviceError, HoldcueError, PlanError
from holdcue.journal import JournalError
from holdcue.web.errors import Refused
from holdcue.web.status import status_json

log = logging.getLogger("holdcue.web")  # one logger for the web layer, as the service's log has always named it

Body = dict[str, Any]


# -- the handlers -------------------------------------------------------------------------


def routines(core: Core, body: Body) -> Any:
    fields = ("id", "title", "duration", "exact", "areas", "tools")
    return [{k: r[k] for k in fields} for r in core.routines() if not r["problem"]]


def steps(core: Core, body: Body) -> Any:
    return core.steps()


def status(core: Core, body: Body) -> Any:
    return status_json(core.status())


def history(core: Core, body: Body) -> Any:
    return core.history()


def play(core: Core, body: Body) -> Any:
    if "routine" not in body:
        raise Refused(400, 'name the routine: {"routine": "<id>"}')
    return status_json(core.play(body["routine"], _step_number(body.get("start_at"))))


def today(core: Core, body: Body) -> Any:
    return status_json(core.play_today())


def resume_last(core: Core, body: Body) -> Any:
    return status_json(core.resume_last())


def pause(core: Core, body: Body) -> Any:
    return status_json(core.pause())


def resume(core: Core, body: Body) -> Any:
    return status_json(core.resume())


def next_step(core: Core, body: Body) -> Any:
    return status_json(core.next())


def previous_step(core: Core, body: Body) -> Any:
    return status_json(core.previous())


def go_to(core: Core, body: Body) -> Any:
    if "step" not in body:
        raise Refused(400, 'name the step: {"step": 2} (1 is the first)')
    return status_json(core.go_to(body["step"]))


def stop(core: Core, body: Body) -> Any:
    return status_json(core.stop())


def volume(core: Core, body: Body) -> Any:
    if "volume" not in body:
        raise Refused(400, 'give the volume: {"volume": 0.8}')
    return status_json(core.set_volume(body["volume"]))


def _step_number(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise Refused(400, "start_at is a step number: 1 is the first step")
    return value


# -- the tables ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    handler: Callable[[Core, Body], Any]
    fields: frozenset[str] = frozenset()  # what its JSON body may have (a GET's body is never read)


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/api/routines"): Route(routines),
    ("GET", "/api/status"): Route(status),
    ("GET", "/api/history"): Route(history),
    ("GET", "/api/steps"): Route(steps),
    ("POST", "/api/play"): Route(play, frozenset({"routine", "start_at"})),
    ("POST", "/api/today"): Route(today),
    ("POST", "/api/pause"): Route(pause),
    ("POST", "/api/resume"): Route(resume),
    ("POST", "/api/resume-last"): Route(resume_last),
    ("POST", "/api/next"): Route(next_step),
    ("POST", "/api/previous"): Route(previous_step),
    ("POST", "/api/step"): Route(go_to, frozenset({"step"})),
    ("POST", "/api/stop"): Route(stop),
    ("POST", "/api/volume"): Route(volume, frozenset({"volume"})),
}

# The status each error of a handler is answered with, and the message: "{}" is the error's
# own. Looked up by the error's class, then by its base classes (RestDay is a WrongState).
REFUSALS: dict[type[Exception], tuple[int, str]] = {
    UnknownRoutine: (404, "{}"),
    WrongState: (409, "{}"),
    BadValue: (400, "{}"),
    NoPlan: (404, "{}"),
    NoJournal: (501, "{}"),
    PlanError: (409, "the weekly plan has errors, run holdcue plan: {}"),
    JournalError: (503, "{}"),
    AudioDeviceError: (503, "{}"),
}


def allowed_methods(path: str) -> list[str]:
    """The methods the API takes at ``path`` (none: no such path)."""
    return sorted(method for method, known in ROUTES if known == path)


def handle(core: Core, method: str, path: str, body: Body) -> Any:
    """The JSON answer of a request the server has let through; Refused when it fails.
    Another error of holdcue's is a 500 with its message for a command (POST), and the
    server's internal error for a reading (GET), whose traceback goes to the log."""
    route = ROUTES[method, path]
    unknown = sorted(set(body) - route.fields)
    if unknown:
        takes = f": {path} takes {sorted(route.fields)}" if route.fields else ""
        raise Refused(400, f"unknown field {unknown[0]!r}{takes}")
    try:
        return route.handler(core, body)
    except HoldcueError as error:
        refusal = refused(error)
        if refusal is None:
            if method != "POST":
                raise
            log.error("%s: %s", path, error)
            refusal = Refused(500, str(error))
        raise refusal from error


def refused(error: Exception) -> Refused | None:
    """What REFUSALS answers ``error`` with; None when it does not name its class."""
    for kind in type(error).__mro__:
        if kind in REFUSALS:
            code, message = REFUSALS[kind]
            return Refused(code, message.format(error))
    return None
