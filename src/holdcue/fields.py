"""Reading values out of a YAML node tree, reporting every problem with its line and column.

A ``Checker`` walks one file: each reader (``text``, ``integer``, ``duration``...) returns
the value, or reports what is wrong and what to write instead and returns None, so that one
pass finds every problem. The routine loader and other file formats build on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import yaml

from holdcue.durations import parse_duration
from holdcue.errors import Problem
from holdcue.routine import MAX_HOLD_MS
from holdcue.text import listing
from holdcue.yamlsafe import NULL, STR, At, describe, scalar

MAX_PROBLEMS = 50  # a file of garbage gets the first problems, not thousands
MAX_TEXT = 500  # characters in one text: a spoken cue longer than this can't be followed (nor said by espeak-ng)
MAX_ITEMS = 20  # entries in one list (tools, safety reminders...)

# Keys people write for a known key by its meaning rather than its spelling: unknown key ->
# the known key to suggest, when the mapping has it.
SYNONYMS = {
    "duration": "time",
    "length": "time",
    "seconds": "time",
    "name": "title",
    "side": "sides",
    "rounds": "repeat",
    "repeats": "repeat",
    "times": "repeat",
    "reps": "count",
    "cue": "say",
    "cues": "say",
    "description": "summary",
    "tool": "tools",
    "equipment": "tools",
    "area": "areas",
    "lang": "language",
    "speed": "rate",
    "loudness": "volume",
}


class Checker:
    """Collects the problems of one file while its node tree is walked."""

    def __init__(self, source: str):
        self.source = source  # the file's name, for messages
        self.problems: list[Problem] = []
        self.included: list[Problem] = []  # problems and warnings of included files
        self.misspelled: set[str] = set()  # paths of keys that an unknown key is close to
        self.merged: set[str] = set()  # paths of mappings reported as two items in one (a missing "- ")

    def report(self, node: yaml.Node | At | None, path: str, message: str, severity: str = "error") -> None:
        line, column = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (0, 0)
        self.problems.append(Problem(self.source, line, column, path, message, severity))

    def warn(self, node: yaml.Node, path: str, message: str) -> None:
        self.report(node, path, message, "warning")

    def missing(self, node: yaml.Node, path: str, message: str) -> None:
        """Reports a missing key, unless a misspelling of it was reported already."""
        if path not in self.misspelled:
            self.report(node, path, f"missing; {message}")

    def all_problems(self) -> list[Problem]:
        own = sorted(self.problems, key=lambda p: (p.line, p.column))
        errors = [p for p in own if p.severity == "error"]
        if len(errors) > MAX_PROBLEMS:
            more = len(errors) - MAX_PROBLEMS
            own = errors[:MAX_PROBLEMS] + [Problem(self.source, 0, 0, "", f"and {more} more problems")]
        return own + self.included

    def mapping(
        self,
        node: yaml.Node,
        path: str,
        known: tuple[str, ...],
        unknown: str = "",
        *,
        starts: tuple[str, ...] = (),
        item: str = "",
    ) -> dict[str, yaml.Node]:
        """The mapping's value nodes by key; reports odd, repeated and unknown keys (and a
        node that is not a mapping: then there are no keys). ``starts``: the keys that begin
        an ``item`` of a list (a step's kinds): a second one means two items written as one,
        a "- " left out, which is reported once (in ``merged``) instead of "appears twice"."""
        if not isinstance(node, yaml.MappingNode):
            self.report(node, path, f"must be a mapping of keys like {known[0]}:, not {describe(node)}")
            return {}
        values: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) and key.tag == STR else None
            where = join(path, name) if name is not None else path
            if name is None:
                self.report(key, where, f"{describe(key)} is not a key; keys are words like {known[0]}")
            elif name in starts and path not in self.merged and any(other in values for other in starts):
                self.merged.add(path)
                advice = f'start each {item} with "- ", as in "- {name}: ..."'
                self.report(key, where, f"looks like two {item}s in one: {advice}")
            elif name in values:
                if path not in self.merged:  # after a missing "- ", repeated keys are the next item's
                    self.report(key, where, "appears twice; keep only one")
            elif name not in known:
                self.report(key, where, f"unknown key; {unknown or self._suggest(name, path, known)}")
            else:
                values[name] = value
        return values

    def _suggest(self, name: str, path: str, known: tuple[str, ...]) -> str:
        """'did you mean "time"?' for a misspelling or a key of the same meaning ("duration")."""
        close = _close(name, known)
        meaning = SYNONYMS.get(name.lower())
        if meaning in known and meaning not in close:
            close = [meaning]
        self.misspelled.update(join(path, match) for match in close)
        return f'did you mean "{close[0]}"?' if close else f"use {listing(known, 'or')}"

    def text(
        self, node: yaml.Node, path: str, empty: str = "write the text, or leave the key out", most: int = MAX_TEXT
    ) -> str | None:
        """Non-empty text of at most ``most`` characters; any scalar counts, as written
        (``title: 1990`` is "1990")."""
        if not isinstance(node, yaml.ScalarNode):
            self.report(node, path, f"must be text, not {describe(node)}")
            return None
        value = "" if node.tag == NULL else node.value.strip()
        if not value:
            self.report(node, path, f"is empty; {empty}")
            return None
        if len(value) > most:
            self.report(node, path, f"is {len(value)} characters long; keep it to {most} at most")
            return None
        return value

    def texts(self, node: yaml.Node, path: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            example = f"[{node.value}]" if isinstance(scalar(node), str) and node.value else "[first, second]"
            self.report(node, path, f"must be a list, like {example}")
            return ()
        if len(node.value) > MAX_ITEMS:
            self.report(node, path, f"has {len(node.value)} entries; keep it to {MAX_ITEMS} at most")
            return ()
        items = (self.text(item, f"{path}[{i}]") for i, item in enumerate(node.value))
        return tuple(item for item in items if item is not None)

    def integer(self, node: yaml.Node, path: str, low: int, high: int) -> int | None:
        value = scalar(node)
        if not isinstance(value, int) or isinstance(value, bool):
            self.report(node, path, f"must be a whole number from {low} to {high}, not {describe(node)}")
            return None
        if not low <= value <= high:
            self.report(node, path, f"{value} is out of range; use a whole number from {low} to {high}")
            return None
        return value

    def number(self, node: yaml.Node, path: str, low: float, high: float) -> float | None:
        value = scalar(node)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
            self.report(node, path, f"must be a number from {low:g} to {high:g}, not {describe(node)}")
            return None
        return float(value)

    def boolean(self, node: yaml.Node, path: str) -> bool | None:
        value = scalar(node)
        if not isinstance(value, bool):
            self.report(node, path, f"must be true or false, not {describe(node)}")
            return None
        return value

    def choice(self, node: yaml.Node, path: str, choices: tuple[str, ...]) -> str | None:
        value = node.value if isinstance(node, yaml.ScalarNode) and node.tag != NULL else None
        if value in choices:
            return value
        said = f'"{value}"' if value is not None else describe(node)
        hint = did_you_mean(value, choices) if value else ""
        self.report(node, path, f"must be {listing(choices, 'or')}, not {said}{hint}")
        return None

    def duration(self, node: yaml.Node, path: str, *, zero: bool = False, off: bool = False) -> int | None:
        """A duration of at most 10 minutes; ``zero``: 0s allowed; ``off``: ``false`` is 0."""
        value = scalar(node)
        if off and isinstance(value, bool):
            if not value:
                return 0
            self.report(node, path, 'write a time like "30s", or false for none')
            return None
        if not isinstance(node, yaml.ScalarNode) or value is None:
            self.report(node, path, f'must be a time like "45s" or "1m30s", not {describe(node)}')
            return None
        try:
            ms = parse_duration(node.value)
        except ValueError as error:
            self.report(node, path, str(error))
            return None
        if ms == 0 and not zero:
            self.report(node, path, f'"{node.value}" is no time at all; it must be longer than 0s')
            return None
        if ms > MAX_HOLD_MS:
            self.report(node, path, f'"{node.value}" is over the 10 minute limit; split it into shorter steps')
            return None
        return ms


def optional(keys: dict, name: str, path: str, read: Callable, *args, **kwargs):
    """``read(value node, its path, ...)`` when the mapping has the key, else None."""
    return read(keys[name], join(path, name), *args, **kwargs) if name in keys else None


def given(**values) -> dict:
    """The values that were given and valid, to leave the others at their defaults."""
    return {name: value for name, value in values.items() if value is not None}


def did_you_mean(word: str, choices, otherwise: str = "") -> str:
    close = _close(word, list(choices))
    return f'; did you mean "{close[0]}"?' if close else otherwise


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _close(word: str, known: Sequence[str]) -> list[str]:
    """The known word nearest ``word``, if one is near; difflib is imported only for a mistake."""
    import difflib

    return difflib.get_close_matches(word, known, n=1)
