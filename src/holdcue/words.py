"""What holdcue says in its own words: numbers and times, spelled out for speech.

Shared by the compiler (every cue of a session) and the player (the time left, said on
resume), so that both say a time the same way.
"""

from __future__ import annotations


def duration_words(ms: int) -> str:
    """How a time is said: "forty-five seconds", "one minute", "one minute thirty",
    "two and a half seconds", "half a second"."""
    if ms < 750:
        return "half a second"
    if ms < 10_000 and ms % 1000 == 500:
        return f"{number_words(ms // 1000)} and a half seconds"
    seconds = round(ms / 1000)
    if seconds < 60:
        return plural(seconds, "second")
    minutes, rest = divmod(seconds, 60)
    if minutes >= 60 and rest == 0 and minutes % 60 == 0:
        return plural(minutes // 60, "hour")
    said = plural(minutes, "minute")
    return f"{said} {number_words(rest)}" if rest else said


def number_words(n: int) -> str:
    from num2words import num2words

    return num2words(n)


def plural(n: int, unit: str) -> str:
    return f"{number_words(n)} {unit}{'s' * (n != 1)}"


def time_left(ms: int) -> str:
    """ "Thirty seconds left." """
    return f"{duration_words(ms).capitalize()} left."
