"""Text as holdcue writes it for people: lists in words, clock times, and text from files
made safe to show on a terminal or in JSON."""

from __future__ import annotations

import re
from collections.abc import Iterable


def listing(items: Iterable[str], conjunction: str = "and") -> str:
    """ "a", "a and b", "a, b and c" (or with "or")."""
    items = list(items)
    return ", ".join(items[:-1]) + f" {conjunction} " + items[-1] if len(items) > 1 else "".join(items)


def clock(seconds: float, *, millis: bool = False, hours: bool = False) -> str:
    """A time as a clock shows it: 0:05, 12:40, 1:02:03; with ``millis``, 0:05.250; with
    ``hours``, always two-digit hours (00:00:05.250, as WebVTT and chapter marks write it).
    Without millis the time is cut to the whole second."""
    if millis:
        whole, ms = divmod(max(0, round(seconds * 1000)), 1000)
    else:
        whole, ms = max(0, int(seconds)), 0
    h, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        text = f"{h:02d}:{minutes:02d}:{secs:02d}"
    else:
        text = f"{h}:{minutes:02d}:{secs:02d}" if h else f"{minutes}:{secs:02d}"
    return f"{text}.{ms:03d}" if millis else text


# Characters that make a terminal do things instead of showing them: C0 controls, DEL and
# C1 controls (ESC starts a sequence; in UTF-8 terminals U+009B is a CSI on its own), and
# the bidirectional controls that reorder what is shown around them.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\e"}


def length(seconds: float, exact: bool) -> str:
    """A routine's length as holdcue list and the page show it: 7:20, or ~7:20 while it is
    only an estimate (its speech not yet prepared)."""
    return clock(seconds) if exact else f"~{clock(seconds)}"


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def printable(text: str, keep: str = "") -> str:
    """``text`` safe to show on a terminal: every control character (C0, DEL, C1, ESC and
    the bidirectional controls) written as a visible escape (\\e, \\n, \\x9b, \\u202e),
    except those in ``keep`` (the newlines and tabs of a whole message, say). Text from
    routine files, file names and other people goes through this before it is shown."""
    return _CONTROLS.sub(lambda match: match.group() if match.group() in keep else _visible(match), text)


def json_text(value: object, *, indent: int | None = 2, ascii_only: bool = False) -> str:
    """``value`` as JSON with the control characters of printable() escaped (\\u009b,
    \\u202e): json.dumps leaves C1 and bidirectional controls raw when it keeps non-ASCII
    text readable. ``ascii_only``: every non-ASCII character escaped (for an output that
    cannot encode them)."""
    import json  # only here: most commands print no JSON

    dumped = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    # json.dumps escapes C0 itself; outside strings there is only ASCII, so every DEL, C1 or
    # bidirectional control left is inside a string, where \uXXXX means the same
    return _RAW_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", dumped)
