"""Durations as routine files write them: "45s", "1m30s", "1.5 min", "500ms"."""

from __future__ import annotations

import difflib
import re

_UNITS = {
    **dict.fromkeys(("ms",), 1),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1000),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60_000),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3_600_000),
}

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([^\W\d_]*)\s*")


def parse_duration(text: str) -> int:
    """``"45s"``, ``"1m 30s"``, ``"1.5 min"``, ``"500ms"``... as whole milliseconds.

    Raises ValueError with a message that says how to write it, e.g.
    ``"45" has no unit; write "45s"``.
    """
    text = str(text).strip()
    if text.startswith("-"):
        raise ValueError(f'"{text}" is negative; write a time like "45s"')
    if not text or len(text) > 60:
        raise ValueError(f'"{text}" is not a time; write it like "45s", "1m30s" or "500ms"')
    total, scale = 0, 1  # exactly total / scale milliseconds (scale: a power of ten, for decimals)
    position = 0
    last = 0  # the size of the unit before
    while position < len(text):
        part = _DURATION_PART.match(text, position)
        if part is None or not part[2] and part.end() < len(text):
            raise ValueError(f'"{text}" is not a time; write it like "45s", "1m30s" or "500ms"')
        number, unit = part.groups()
        if not unit:
            raise ValueError(f'"{text}" has no unit; write "{text}s"')
        if unit not in _UNITS:
            close = difflib.get_close_matches(unit, list(_UNITS), n=1)
            hint = f'; did you mean "{close[0]}"?' if close else "; use ms, s, min or h"
            raise ValueError(f'"{text}": unknown unit "{unit}"{hint}')
        if last and _UNITS[unit] >= last:
            raise ValueError(f'"{text}": give each unit once, the largest first, like "1m30s"')
        whole, _, decimals = number.partition(".")
        places = 10 ** len(decimals)
        if places > scale:
            total, scale = total * (places // scale), places
        total += int(whole + decimals) * _UNITS[unit] * (scale // places)
        last = _UNITS[unit]
        position = part.end()
    quotient, rest = divmod(total, scale)  # rounded half to even, as round() rounds
    return quotient + (2 * rest > scale or (2 * rest == scale and quotient % 2 == 1))


def is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


def format_duration(ms: int) -> str:
    """Milliseconds as a routine file would say them: "45s", "1m30s", "1.5s", "500ms"."""
    minutes, rest = divmod(ms, 60_000)
    if rest % 1000:
        seconds = f"{rest}ms" if not minutes and rest < 1000 else f"{rest / 1000:g}s"
    else:
        seconds = f"{rest // 1000}s" if rest or not minutes else ""
    return (f"{minutes}m" if minutes else "") + seconds
