"""Text as holdcue writes it for people: lists in words and clock times."""

from __future__ import annotations

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
