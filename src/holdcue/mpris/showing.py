"""What the MPRIS player shows of the core's status (core.Snapshot), as plain values: the
state as PlaybackStatus, the step under way as the track (its own object path, its title
with the side, the routine's title as the album, its length), what can be done now. No
D-Bus here: service.py puts these values on the bus."""

from __future__ import annotations

from typing import Any

from holdcue.core import Snapshot
from holdcue.text import printable

NO_TRACK = "/org/mpris/MediaPlayer2/TrackList/NoTrack"  # the specification's "no track"
TRACKS = "/org/holdcue/track"  # the specification keeps /org/mpris for itself
MICROSECONDS = 1_000_000
PLAYBACK_STATUS = {"playing": "Playing", "paused": "Paused"}  # idle and finished: "Stopped"

# The D-Bus signature of each metadata key holdcue sets (xesam and mpris names, as the
# specification types them)
METADATA_TYPES = {
    "mpris:trackid": "o",
    "mpris:length": "x",
    "xesam:title": "s",
    "xesam:album": "s",
    "xesam:trackNumber": "i",
}


def playback_status(status: Snapshot) -> str:
    return PLAYBACK_STATUS.get(status.state, "Stopped")


def under_way(status: Snapshot) -> bool:
    """A session is playing or paused: pause, next and previous apply."""
    return status.state in ("playing", "paused")


def track_id(status: Snapshot) -> str:
    """The step's object path, the same every time that step of that routine is played:
    /org/holdcue/track/<routine>/<step number>, or .../intro and .../end."""
    if status.routine is None:
        return NO_TRACK
    if status.step:
        part = str(status.step)
    else:
        part = "end" if status.state == "finished" or status.phase == "outro" else "intro"
    return f"{TRACKS}/{path_element(status.routine)}/{part}"


def path_element(text: str) -> str:
    """``text`` as one element of an object path, which allows only A-Z, a-z, 0-9 and _:
    every other byte of its UTF-8 (and _ itself, so that no two texts meet) as _ and two hex
    digits ("neck-and-back" -> "neck_2dand_2dback")."""
    return "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else f"_{b:02x}" for b in text.encode())


def title(status: Snapshot) -> str:
    """ "Step 2 of 5 · Chest ball · left side", as the phone page heads it; "Introduction"
    or "Session complete" outside the steps."""
    parts = [printable(status.step_title)]  # from the routine file: no control characters on the bus
    if status.step:
        parts.insert(0, f"Step {status.step} of {status.steps}")
    if status.side:
        parts.append(f"{status.side} side")
    if status.rounds:
        parts.append(f"round {status.round} of {status.rounds}")
    return " · ".join(parts)


def metadata(status: Snapshot) -> dict[str, Any]:
    """The Metadata property's entries, by key (METADATA_TYPES gives each one's type)."""
    if status.routine is None:
        return {"mpris:trackid": NO_TRACK}
    return {
        "mpris:trackid": track_id(status),
        "mpris:length": round(status.step_length * MICROSECONDS),
        "xesam:title": title(status),
        "xesam:album": printable(status.title or ""),
        "xesam:trackNumber": status.step,
    }


def position(status: Snapshot, seconds: float | None = None) -> int:
    """Microseconds into the step (the track), never past its end; ``seconds``: where the
    session is, more exactly than the status's whole seconds."""
    if status.routine is None:
        return 0
    at = status.position if seconds is None else seconds
    into = min(max(0.0, at - status.step_start), status.step_length)
    return round(into * MICROSECONDS)


def changing(status: Snapshot, play_when_idle: bool) -> dict[str, Any]:
    """The Player interface's properties that follow the status, by name: compared from one
    status to the next, those that differ are announced (PropertiesChanged). Position is not
    among them: the specification has clients ask for it (or hear of a jump, Seeked)."""
    return {
        "PlaybackStatus": playback_status(status),
        "Metadata": metadata(status),
        "Volume": status.volume,
        "CanGoNext": under_way(status),
        "CanGoPrevious": under_way(status),
        "CanPlay": play_when_idle or under_way(status),
        "CanPause": under_way(status),
    }
