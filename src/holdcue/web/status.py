"""The core's status (core.Snapshot) as the API sends it: the JSON object of GET
/api/status, of every POST's answer and of each event of /api/events (docs/service.md,
"The API"). Written out field by field: this is the API's promise to programs, so a change
to the core's status changes the API only where it is changed here."""

from __future__ import annotations

from typing import Any

from holdcue.core import Snapshot


def status_json(status: Snapshot) -> dict[str, Any]:
    return {
        "state": status.state,
        "routine": status.routine,
        "title": status.title,
        "step": status.step,
        "steps": status.steps,
        "step_title": status.step_title,
        "phase": status.phase,
        "side": status.side,
        "round": status.round,
        "rounds": status.rounds,
        "position": status.position,
        "duration": status.duration,
        "left": status.left,
        "until": status.until,
        "next": status.next,
        "volume": status.volume,
        "error": status.error,
    }
