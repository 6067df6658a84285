"""Routines: what a routine file says, as plain data, and loading it from YAML.

Every duration is a whole number of milliseconds (``*_ms``), so holds are exactly as long
as written; the compiler turns them into samples.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import yaml

from holdcue.errors import Problem, RoutineError, RoutineNotFound

SIDES = ("left", "right")
STEP_KINDS = ("warm-up", "compress", "roll", "hold", "stretch", "release", "rest", "finish")
TONE_NAMES = ("start", "end", "halfway", "tick", "switch")
PLACEHOLDERS = ("side", "time", "round", "rounds", "next")


@dataclass(frozen=True)
class Voice:
    language: str = "en"  # espeak-ng language/voice name, e.g. "en", "en-us", "de"
    rate: int = 160  # words per minute
    volume: float = 1.0  # 0.0 to 1.0


@dataclass(frozen=True)
class Cues:
    prep_ms: int = 5000  # after a step is announced: time to get into position
    countdown: int = 3  # the last N seconds of a hold are counted down (0: none)
    countdown_style: str = "ticks"  # "ticks" or "spoken"
    halfway: bool = True  # a cue halfway through each hold
    time_left_every_ms: int = 30000  # "thirty seconds left" callouts in long holds (0: none)
    breathe_every_ms: int = 0  # breathing reminders during holds (0: none)
    switch_ms: int = 5000  # between sides: time to change over after "switch sides"
    tones: tuple[tuple[str, str], ...] = ()  # (tone name, absolute path of a WAV) overrides


@dataclass(frozen=True)
class Say:
    """An extra cue spoken during a hold: at a fraction of it, or at a given time into it."""

    text: str
    at_ms: int | None = None  # milliseconds after the hold starts
    at_fraction: float | None = None  # 0 < f < 1, e.g. 0.5 for "half"


@dataclass(frozen=True)
class Step:
    kind: str  # one of STEP_KINDS
    text: str  # the spoken instruction; may hold {side} {time} {round} {rounds} {next}
    time_ms: int  # length of one hold: per side, per round
    title: str = ""  # short title for displays and chapters ("" : derived from text)
    sides: tuple[str, ...] = ()  # (), ("left",), ("right",) or ("left", "right")
    repeat: int = 1  # rounds
    rest_ms: int = 0  # rest between rounds
    count: int = 0  # counted movements: this many, spoken as they go (0: not counted)
    say: tuple[Say, ...] = ()
    target: str = ""  # body part worked, when given (used for safety warnings)
    group: str = ""  # title of the included routine this step came from ("" : this routine)
    line: int = 0  # where the step starts in its file


@dataclass(frozen=True)
class Routine:
    id: str
    title: str
    steps: tuple[Step, ...]  # with includes expanded in place
    summary: str = ""
    areas: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    safety: tuple[str, ...] = ()  # spoken reminders at the start of the session
    voice: Voice = field(default_factory=Voice)
    cues: Cues = field(default_factory=Cues)
    source: str = ""  # file path, or "builtin:<id>"
    warnings: tuple = ()  # errors.Problem with severity "warning"


# ---------------------------------------------------------------------------------------
# Loading: YAML text -> node tree (line and column on every node) -> one validation pass.
# ---------------------------------------------------------------------------------------

MAX_FILE_BYTES = 1_000_000  # routine files over 1 MB are refused before parsing
MIN_HOLD_MS = 1000  # a shorter hold can't be followed (and a tone lasts up to this long)
MAX_HOLD_MS = 10 * 60_000  # no hold, pause or cue interval may be longer than 10 minutes
MAX_NESTING = 30  # YAML nesting deeper than any routine needs
MAX_PROBLEMS = 50  # a file of garbage gets the first problems, not thousands
LONG_COMPRESSION_MS = 90_000
SCHEMA_PATH = Path(__file__).with_name("routine.schema.json")

Resolver = Callable[[str], tuple[str, str, Path | None]]

ID_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_LANGUAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+/-]*")
_UNITS = {
    **dict.fromkeys(("ms",), 1),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1000),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60_000),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3_600_000),
}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([^\W\d_]*)\s*")
_AT_CHOICES = '"half", a percentage like "25%" or a time like "20s"'
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_PERCENT = re.compile(rf"({_NUMBER.pattern})\s*%")
_STEP_KEYS = (*STEP_KINDS, "time", "title", "sides", "repeat", "rest", "count", "each", "say", "target")
_SIDES = {"both": SIDES, "left": ("left",), "right": ("right",)}
_NECK = re.compile(r"\bneck\b", re.IGNORECASE)
_JOINTS_AND_BONES = re.compile(
    r"\b(knees?|kneecaps?|patellae?|elbows?|spine|spinal column|vertebrae?|hip ?bones?|ankles?|"
    r"shin ?bones?|tibiae?|collar ?bones?|clavicles?|wrists?|sternum|breastbone|tailbone|"
    r"coccyx|skull|jaw ?bone|throat)\b",
    re.IGNORECASE,
)
_STR, _INT, _FLOAT, _BOOL, _NULL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null"))
_SCALARS = yaml.constructor.SafeConstructor()


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
    total = Fraction(0)
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
            hint = _did_you_mean(unit, _UNITS, "; use ms, s, min or h")
            raise ValueError(f'"{text}": unknown unit "{unit}"{hint}')
        if last and _UNITS[unit] >= last:
            raise ValueError(f'"{text}": give each unit once, the largest first, like "1m30s"')
        total += Fraction(number) * _UNITS[unit]
        last = _UNITS[unit]
        position = part.end()
    return round(total)


def _is_duration(text: str) -> bool:
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


def load(
    text: str,
    source: str = "<routine>",
    *,
    base_dir: Path | None = None,
    resolve: Resolver | None = None,
    routine_id: str | None = None,
) -> Routine:
    """Parse and check a routine file's text; every problem found is reported at once.

    ``source`` names the file in messages; ``base_dir`` is its folder (for relative tone
    paths); ``resolve(id)`` gives ``(text, source, base_dir)`` of an included routine or
    raises RoutineNotFound; ``routine_id`` is the id when the file has no ``id:`` key.
    Raises RoutineError with every problem (warnings included) when there is any error;
    otherwise the Routine carries its warnings.
    """
    return _load(text, source, base_dir, resolve, routine_id, chain=())


def read_text(path: Path) -> str:
    """A routine file's text: at most 1 MB of UTF-8 (checked before any parsing)."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise RoutineNotFound(f"no such file: {path}") from None
    except OSError as error:
        raise RoutineError([Problem(str(path), 0, 0, "", f"cannot read the file: {error.strerror}")]) from None
    if len(data) > MAX_FILE_BYTES:
        raise RoutineError([Problem(str(path), 0, 0, "", "the file is over 1 MB; a routine file is much smaller")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - data.rfind(b"\n", 0, error.start)
        message = f"byte 0x{data[error.start]:02x} is not UTF-8; save the file as UTF-8 text"
        raise RoutineError([Problem(str(path), line, column, "", message)]) from None


def load_file(path: str | Path, *, resolve: Resolver | None = None) -> Routine:
    """Load a routine file; its id defaults to the file name, includes go to the library."""
    path = Path(path)
    if resolve is None:
        from holdcue import library

        resolve = library.find_id
    return load(read_text(path), str(path), base_dir=path.parent, resolve=resolve, routine_id=path.stem)


class _Refused(Exception):
    def __init__(self, mark: yaml.Mark, message: str):
        self.mark, self.message = mark, message


class _Loader(yaml.SafeLoader):
    """The safe loader's composer, refusing aliases (no alias bombs) and deep nesting."""

    depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            message = "YAML aliases (*name) are not supported in routine files; write the value out"
            raise _Refused(self.peek_event().start_mark, message)
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise _Refused(self.peek_event().start_mark, "nested too deeply for a routine file")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Checker:
    """Collects the problems of one file while its node tree is walked."""

    def __init__(self, source: str, base_dir: Path | None, resolve: Resolver | None):
        self.source = source
        self.base_dir = base_dir
        self.resolve = resolve
        self.problems: list[Problem] = []
        self.included: list[Problem] = []  # problems and warnings of included files
        self.misspelled: set[str] = set()  # paths of keys that an unknown key is close to

    def report(self, node: yaml.Node | None, path: str, message: str, severity: str = "error") -> None:
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

    def mapping(self, node: yaml.Node, path: str, known: tuple[str, ...], unknown: str = "") -> dict | None:
        """The mapping's value nodes by key; reports odd, repeated and unknown keys."""
        if not isinstance(node, yaml.MappingNode):
            self.report(node, path, f"must be a mapping of keys like {known[0]}:, not {_describe(node)}")
            return None
        values: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) and key.tag == _STR else None
            where = _join(path, name) if name is not None else path
            if name is None:
                self.report(key, where, f"{_describe(key)} is not a key; keys are words like {known[0]}")
            elif name in values:
                self.report(key, where, "appears twice; keep only one")
            elif name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                self.misspelled.update(_join(path, match) for match in close)
                hint = unknown or (f'did you mean "{close[0]}"?' if close else f"use {_or(known)}")
                self.report(key, where, f"unknown key; {hint}")
            else:
                values[name] = value
        return values

    def text(self, node: yaml.Node, path: str, empty: str = "write the text, or leave the key out") -> str | None:
        """Non-empty text; any scalar counts, as written (``title: 1990`` is "1990")."""
        if not isinstance(node, yaml.ScalarNode):
            self.report(node, path, f"must be text, not {_describe(node)}")
            return None
        value = "" if node.tag == _NULL else node.value.strip()
        if not value:
            self.report(node, path, f"is empty; {empty}")
            return None
        return value

    def texts(self, node: yaml.Node, path: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            example = f"[{node.value}]" if isinstance(_scalar(node), str) and node.value else "[first, second]"
            self.report(node, path, f"must be a list, like {example}")
            return ()
        items = (self.text(item, f"{path}[{i}]") for i, item in enumerate(node.value))
        return tuple(item for item in items if item is not None)

    def integer(self, node: yaml.Node, path: str, low: int, high: int) -> int | None:
        value = _scalar(node)
        if not isinstance(value, int) or isinstance(value, bool):
            self.report(node, path, f"must be a whole number from {low} to {high}, not {_describe(node)}")
            return None
        if not low <= value <= high:
            self.report(node, path, f"{value} is out of range; use a whole number from {low} to {high}")
            return None
        return value

    def number(self, node: yaml.Node, path: str, low: float, high: float) -> float | None:
        value = _scalar(node)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
            self.report(node, path, f"must be a number from {low:g} to {high:g}, not {_describe(node)}")
            return None
        return float(value)

    def boolean(self, node: yaml.Node, path: str) -> bool | None:
        value = _scalar(node)
        if not isinstance(value, bool):
            self.report(node, path, f"must be true or false, not {_describe(node)}")
            return None
        return value

    def choice(self, node: yaml.Node, path: str, choices: tuple[str, ...]) -> str | None:
        value = node.value if isinstance(node, yaml.ScalarNode) and node.tag != _NULL else None
        if value in choices:
            return value
        said = f'"{value}"' if value is not None else _describe(node)
        hint = _did_you_mean(value, choices) if value else ""
        self.report(node, path, f"must be {_or(choices)}, not {said}{hint}")
        return None

    def duration(self, node: yaml.Node, path: str, *, zero: bool = False, off: bool = False) -> int | None:
        """A duration of at most 10 minutes; ``zero``: 0s allowed; ``off``: ``false`` is 0."""
        value = _scalar(node)
        if off and isinstance(value, bool):
            if not value:
                return 0
            self.report(node, path, 'write a time like "30s", or false for none')
            return None
        if not isinstance(node, yaml.ScalarNode) or value is None:
            self.report(node, path, f'must be a time like "45s" or "1m30s", not {_describe(node)}')
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


def _load(text, source, base_dir, resolve, routine_id, chain) -> Routine:
    checker = _Checker(source, base_dir, resolve)
    root = _compose(checker, text)
    routine = _routine(checker, root, routine_id, chain) if root is not None else None
    problems = checker.all_problems()
    if routine is None or any(p.severity == "error" for p in problems):
        raise RoutineError(problems)
    return dataclasses.replace(routine, warnings=tuple(problems))


def _compose(checker: _Checker, text: str) -> yaml.Node | None:
    """The YAML node tree, or None with the problem reported."""
    if len(text) > MAX_FILE_BYTES:
        checker.report(None, "", "the file is over 1 MB; a routine file is much smaller")
        return None
    loader = None
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
    except _Refused as refused:
        checker.report(_At(refused.mark), "", refused.message)
        return None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        what = ", ".join(part for part in (error.context, error.problem) if part)
        checker.report(_At(mark) if mark else None, "", f"YAML syntax error: {what}{_syntax_hint(what)}")
        return None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        column = error.position - text.rfind("\n", 0, error.position)
        message = f"character U+{error.character:04X} is not allowed in a routine file; remove it"
        checker.problems.append(Problem(checker.source, line, column, "", message))
        return None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        checker.report(None, "", "the file is empty; a routine needs a title and steps (see docs/routines.md)")
    return root


def _syntax_hint(what: str) -> str:
    if "mapping values are not allowed" in what:
        return '; if a text holds ": ", put it in quotes'
    if "'\\t'" in what:
        return "; indent with spaces, not tabs"
    return ""


class _At:
    """Stands in for a node where only a mark is known (parser errors)."""

    def __init__(self, mark: yaml.Mark):
        self.start_mark = mark


def _routine(c: _Checker, root: yaml.Node, routine_id: str | None, chain: tuple) -> Routine | None:
    if not isinstance(root, yaml.MappingNode):
        c.report(root, "", f"a routine file is a mapping of keys like title: and steps:, not {_describe(root)}")
        return None
    top = c.mapping(root, "", ("title", "summary", "id", "areas", "tools", "safety", "voice", "cues", "steps"))
    rid = _routine_id(c, top.get("id"), routine_id)
    if "title" not in top:
        c.missing(root, "title", 'add a line like "title: Shoulders and chest"')
    areas, tools, safety = (_optional(top, key, "", c.texts) or () for key in ("areas", "tools", "safety"))
    routine = Routine(
        id=rid,
        title=_optional(top, "title", "", c.text, "give the routine a title") or "",
        steps=(),
        summary=_optional(top, "summary", "", c.text) or "",
        areas=areas,
        tools=tools,
        safety=safety,
        voice=_voice(c, top["voice"]) if "voice" in top else Voice(),
        cues=_cues(c, top["cues"]) if "cues" in top else Cues(),
        source=c.source,
    )
    chain = (*chain, (c.source, rid))
    if "steps" not in top:
        c.missing(root, "steps", 'add "steps:" and a list of steps (see docs/routines.md)')
        return routine
    return _steps(c, top["steps"], routine, chain)


def _routine_id(c: _Checker, node: yaml.Node | None, routine_id: str | None) -> str:
    if node is None:
        return routine_id or (Path(c.source).stem if c.source.endswith((".yaml", ".yml")) else "")
    value = c.text(node, "id")
    if value is None:
        return routine_id or ""
    if not ID_PATTERN.fullmatch(value):
        message = 'is not an id; use lowercase letters, digits and dashes, like "neck-release"'
        c.report(node, "id", f'"{value}" {message}')
    elif routine_id and value != routine_id:
        message = f'differs from the file name "{routine_id}"; holdcue finds routines by file name'
        c.warn(node, "id", f'"{value}" {message}')
    return value


def _voice(c: _Checker, node: yaml.Node) -> Voice:
    keys = c.mapping(node, "voice", ("language", "rate", "volume")) or {}
    language = _optional(keys, "language", "voice", c.text)
    if language and not _LANGUAGE.fullmatch(language):
        message = 'is not a voice name; use one like "en", "en-us" or "de" (holdcue voices)'
        c.report(keys["language"], "voice.language", f'"{language}" {message}')
        language = None
    rate = _optional(keys, "rate", "voice", c.integer, 80, 400)
    volume = _optional(keys, "volume", "voice", c.number, 0.05, 1)
    return Voice(**_given(language=language, rate=rate, volume=volume))


def _cues(c: _Checker, node: yaml.Node) -> Cues:
    names = ("prep", "countdown", "countdown_style", "halfway", "time_left", "breathe", "switch", "tones")
    keys = c.mapping(node, "cues", names) or {}
    return Cues(
        **_given(
            prep_ms=_optional(keys, "prep", "cues", c.duration, zero=True),
            countdown=_optional(keys, "countdown", "cues", c.integer, 0, 10),
            countdown_style=_optional(keys, "countdown_style", "cues", c.choice, ("ticks", "spoken")),
            halfway=_optional(keys, "halfway", "cues", c.boolean),
            time_left_every_ms=_optional(keys, "time_left", "cues", c.duration, off=True),
            breathe_every_ms=_optional(keys, "breathe", "cues", c.duration, off=True),
            switch_ms=_optional(keys, "switch", "cues", c.duration, zero=True),
            tones=_tones(c, keys["tones"]) if "tones" in keys else None,
        )
    )


def _optional(keys: dict, name: str, path: str, read: Callable, *args, **kwargs):
    """``read(value node, its path, ...)`` when the mapping has the key, else None."""
    return read(keys[name], _join(path, name), *args, **kwargs) if name in keys else None


def _given(**values) -> dict:
    """The values that were given and valid, to leave the others at their defaults."""
    return {name: value for name, value in values.items() if value is not None}


def _tones(c: _Checker, node: yaml.Node) -> tuple[tuple[str, str], ...]:
    """(tone name, absolute path) of each tone that names an existing WAV file."""
    tones = []
    for name, value in (c.mapping(node, "cues.tones", TONE_NAMES) or {}).items():
        path = f"cues.tones.{name}"
        text = c.text(value, path)
        if text is None:
            continue
        file = Path(text).expanduser()
        if not file.is_absolute():
            if c.base_dir is None:
                message = "is a relative path, but this routine is not in a file; use an absolute path"
                c.report(value, path, f'"{text}" {message}')
                continue
            file = c.base_dir / file
        if not file.is_file():
            message = "(a tone's path is relative to the routine file's folder)"
            c.report(value, path, f'no such file: "{text}" {message}')
        elif (seconds := _wav_seconds(file)) is None:
            c.report(value, path, f'"{text}" is not a WAV file; use a .wav sound')
        elif seconds > MIN_HOLD_MS / 1000:
            c.report(
                value, path, f'"{text}" lasts {seconds:.1f}s; a tone may last at most 1s, to fit the shortest hold'
            )
        else:
            tones.append((name, str(file.resolve())))
    return tuple(tones)


def _wav_seconds(file: Path) -> float | None:
    """How long a WAV file plays, from its header; None when it is not a WAV file."""
    try:
        with open(file, "rb") as f:
            head = f.read(12)
            if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            byte_rate = 0
            while len(chunk := f.read(8)) == 8:
                name, size = chunk[:4], int.from_bytes(chunk[4:], "little")
                if name == b"fmt ":
                    byte_rate = int.from_bytes(f.read(16)[8:12], "little")
                    f.seek(size - 16 + size % 2, 1)
                elif name == b"data":
                    return size / byte_rate if byte_rate else None
                else:
                    f.seek(size + size % 2, 1)
    except OSError:
        return None
    return None


def _steps(c: _Checker, node: yaml.Node, routine: Routine, chain: tuple) -> Routine:
    if not isinstance(node, yaml.SequenceNode):
        c.report(node, "steps", f'must be a list of steps, each starting with "- ", not {_describe(node)}')
        return routine
    if not node.value:
        c.report(node, "steps", "is empty; add at least one step")
        return routine
    steps: list[Step] = []
    for index, item in enumerate(node.value):
        path = f"steps[{index}]"
        if isinstance(item, yaml.MappingNode) and any(k.value == "include" for k, _ in item.value):
            routine = _include(c, item, path, routine, chain, steps)
        else:
            step = _step(c, item, path, routine.tools)
            if step is not None:
                steps.append(step)
    return dataclasses.replace(routine, steps=tuple(steps))


def _include(
    c: _Checker, node: yaml.MappingNode, path: str, routine: Routine, chain: tuple, steps: list[Step]
) -> Routine:
    """Appends the included routine's steps; its tools, areas and safety reminders join the routine's."""
    keys = c.mapping(node, path, ("include", "title"), unknown='an include step takes only "include" and "title"')
    title = c.text(keys["title"], f"{path}.title") if "title" in keys else None
    where, path = keys["include"], f"{path}.include"
    ref = c.text(where, path, "write the id of the routine to include")
    if ref is None:
        return routine
    if ref.endswith((".yaml", ".yml")):
        c.report(where, path, f'include takes a routine id, not a file name: write "include: {Path(ref).stem}"')
        return routine
    if c.resolve is None:
        c.report(where, path, f'cannot include "{ref}": no routine library to look it up in')
        return routine
    try:
        text, source, base_dir = c.resolve(ref)
    except RoutineNotFound as error:
        c.report(where, path, str(error))
        return routine
    except RoutineError as error:
        c.included.extend(error.problems)
        c.report(where, path, f'routine "{ref}" cannot be read')
        return routine
    sources = [s for s, _ in chain]
    if source in sources:
        cycle = " -> ".join([rid for _, rid in chain[sources.index(source) :]] + [ref])
        c.report(where, path, f"include cycle: {cycle}; remove one of these includes")
        return routine
    try:
        included = _load(text, source, base_dir, c.resolve, ref, chain)
    except RoutineError as error:
        c.included.extend(error.problems)
        c.report(where, path, f'the included routine "{ref}" has errors')
        return routine
    c.included.extend(included.warnings)
    group = title or included.title
    steps.extend(dataclasses.replace(step, group=group) for step in included.steps)
    return dataclasses.replace(
        routine,
        tools=_merged(routine.tools, included.tools),
        areas=_merged(routine.areas, included.areas),
        safety=_merged(routine.safety, included.safety),
    )


def _merged(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return first + tuple(item for item in second if item not in first)


def _step(c: _Checker, node: yaml.Node, path: str, tools: tuple[str, ...]) -> Step | None:
    if not isinstance(node, yaml.MappingNode):
        example = '"- hold: Press and hold." with "time: 30s"'
        c.report(node, path, f"a step is a mapping like {example}, not {_describe(node)}")
        return None
    keys = c.mapping(node, path, _STEP_KEYS)
    kinds = [kind for kind in STEP_KINDS if kind in keys and kind != "rest"] or [k for k in ("rest",) if k in keys]
    if len(kinds) > 1:
        c.report(node, path, f"has {_and(kinds)}, but a step has exactly one kind; split it into steps")
    if not kinds and not any(_join(path, kind) in c.misspelled for kind in STEP_KINDS):
        kinds_list = ", ".join(STEP_KINDS)
        c.report(node, path, f'has no kind; start the step with one of {kinds_list}, e.g. "- hold: ..."')
    kind = kinds[0] if kinds else "hold"
    text = None
    if kinds:
        text = c.text(keys[kind], _join(path, kind), f'write what to do, like "{kind}: Breathe slowly."')
    sides = _SIDES.get(_optional(keys, "sides", path, c.choice, tuple(_SIDES)), ())
    repeat = _optional(keys, "repeat", path, c.integer, 1, 50)
    count = _optional(keys, "count", path, c.integer, 1, 200) or 0
    if kind == "rest" and text and not {"time", "each"} & keys.keys() and _is_duration(text):
        example = f'"- rest: Relax and breathe." and "time: {text}"'
        c.report(keys[kind], _join(path, kind), f"a rest step says what to do, then its time: {example}")
        time_ms = None
    else:
        time_ms = _step_time(c, node, path, keys, count)
    if time_ms is not None and time_ms < MIN_HOLD_MS:
        where = "time" if "time" in keys else "each"
        c.report(
            keys[where],
            _join(path, where),
            f"a hold of {format_duration(time_ms)} is too short to follow; make it at least 1s",
        )
        time_ms = None
    elif time_ms is not None and count and time_ms < count * MIN_HOLD_MS:
        where = "each" if "each" in keys else "count"
        quick = format_duration(time_ms // count)
        c.report(
            keys[where],
            _join(path, where),
            f"a movement every {quick} is too quick to count aloud; allow at least 1s for each",
        )
    if kind == "rest":
        for name in ("sides", "repeat", "count", "each", "say"):
            if name in keys:
                c.report(
                    keys[name],
                    _join(path, name),
                    f'a rest step has only its time; "{name}" belongs to the step being rested from',
                )
    rest_ms = _optional(keys, "rest", path, c.duration, zero=True) if kind != "rest" else None
    if rest_ms and ("repeat" not in keys or repeat == 1):
        c.warn(keys["rest"], _join(path, "rest"), 'has no effect without "repeat" of 2 or more')
    step = Step(
        kind=kind,
        text=text or "",
        time_ms=time_ms or 0,
        title=_optional(keys, "title", path, c.text) or "",
        sides=sides,
        repeat=repeat or 1,
        rest_ms=rest_ms or 0,
        count=count,
        say=_says(c, keys["say"], _join(path, "say"), time_ms, bool(sides)) if "say" in keys else (),
        target=_optional(keys, "target", path, c.text) or "",
        line=node.start_mark.line + 1,
    )
    if text:
        _placeholders(c, keys[kind], _join(path, kind), text, bool(sides))
    _safety(c, node, path, keys, step, tools)
    return step


def _step_time(c: _Checker, node: yaml.Node, path: str, keys: dict, count: int) -> int | None:
    """The hold's time: ``time``, or ``count`` x ``each``."""
    time_ms = _optional(keys, "time", path, c.duration)
    if "each" not in keys:
        if "time" not in keys:
            c.missing(node, _join(path, "time"), 'add a line like "time: 30s" (or "count" with "each")')
        return time_ms
    each_ms = c.duration(keys["each"], _join(path, "each"))
    if "time" in keys:
        c.report(keys["each"], _join(path, "each"), 'give "time" or "each", not both')
    elif "count" not in keys:
        c.report(keys["each"], _join(path, "each"), '"each" is the time of one counted movement; add "count"')
    elif count and each_ms:
        if count * each_ms > MAX_HOLD_MS:
            message = "is over the 10 minute limit; split it into shorter steps"
            c.report(keys["each"], _join(path, "each"), f"{count} x {format_duration(each_ms)} {message}")
            return None
        return count * each_ms
    return None


def _says(c: _Checker, node: yaml.Node, path: str, time_ms: int | None, sides: bool) -> tuple[Say, ...]:
    if not isinstance(node, yaml.SequenceNode):
        c.report(node, path, f'must be a list of cues like "- at: half" with "text: ...", not {_describe(node)}')
        return ()
    says = []
    for index, item in enumerate(node.value):
        where = f"{path}[{index}]"
        keys = c.mapping(item, where, ("at", "text"))
        if keys is None:
            continue
        for name in ("at", "text"):
            if name not in keys:
                c.missing(item, _join(where, name), "a cue needs at and text")
        text = c.text(keys["text"], _join(where, "text")) if "text" in keys else None
        if text:
            _placeholders(c, keys["text"], _join(where, "text"), text, sides)
        at = _at(c, keys["at"], _join(where, "at"), time_ms) if "at" in keys else None
        if text and at:
            says.append(Say(text, *at))
    return tuple(says)


def _at(c: _Checker, node: yaml.Node, path: str, time_ms: int | None) -> tuple[int | None, float | None] | None:
    """(at_ms, at_fraction) of a cue: "half", "25%" or a time into the hold."""
    value = node.value.strip() if isinstance(node, yaml.ScalarNode) and node.tag != _NULL else None
    if value is None:
        c.report(node, path, f"must be {_AT_CHOICES}, not {_describe(node)}")
        return None
    if value == "half":
        return None, 0.5
    if value.endswith("%"):
        percent = _PERCENT.fullmatch(value)
        if percent is None or not 0 < float(percent[1]) < 100:
            c.report(node, path, f'"{value}" is not a point in the hold; use a percentage between 0% and 100%')
            return None
        return None, float(percent[1]) / 100
    if not _is_duration(value) and not _NUMBER.fullmatch(value):
        c.report(node, path, f'"{value}" is not a point in the hold; use {_AT_CHOICES}')
        return None
    at_ms = c.duration(node, path)
    if at_ms is None:
        return None
    if time_ms is not None and at_ms >= time_ms:
        advice = 'make it shorter, or use "half" or a percentage'
        c.report(node, path, f'"{value}" is not within the hold of {format_duration(time_ms)}; {advice}')
        return None
    return at_ms, None


def _placeholders(c: _Checker, node: yaml.Node, path: str, text: str, sides: bool) -> None:
    """Reports unknown placeholders, stray braces and ``{side}`` in a step without sides."""
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text) if name is not None]
    except ValueError:
        c.report(node, path, 'has a "{" or "}" that is not part of a placeholder; write {{ or }} for a brace')
        return
    for name, spec, conversion in fields:
        if name == "side" and not sides and not (spec or conversion):
            c.report(node, path, '{side} is only for steps with "sides: both", "left" or "right"')
        elif name not in PLACEHOLDERS or spec or conversion:
            written = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            known = [f"{{{p}}}" for p in PLACEHOLDERS]
            hint = _did_you_mean(f"{{{name}}}", known, f"; use {_or(known)}, or {{{{ and }}}} for braces")
            c.report(node, path, f'unknown placeholder "{written}"{hint}')


def _safety(c: _Checker, node: yaml.Node, path: str, keys: dict, step: Step, tools: tuple[str, ...]) -> None:
    """Warnings (never errors) from the self-massage guidance."""
    if step.kind in ("compress", "hold", "release") and step.time_ms > LONG_COMPRESSION_MS:
        where = keys.get("time") or keys.get("each") or node
        advice = "limit a compression to 90 seconds; release and come back to it instead"
        c.warn(where, _join(path, "time"), f"{format_duration(step.time_ms)} is long for a {step.kind}; {advice}")
    if step.kind == "roll":
        foam_roller = any("foam roller" in tool.lower() for tool in tools)
        if _NECK.search(step.target) or (foam_roller and _NECK.search(step.text)):
            c.warn(node, path, "do not foam roll the neck; work it gently with your hands or a soft ball instead")
    if step.kind in ("roll", "compress") and (bone := _JOINTS_AND_BONES.search(step.target)):
        message = "is a joint or bone; work the muscles around it, never over it"
        c.warn(keys["target"], _join(path, "target"), f'"{bone[0]}" {message}')


def _scalar(node: yaml.Node) -> object:
    """A scalar node's value: None, bool, int or float by its YAML tag, else its text."""
    if not isinstance(node, yaml.ScalarNode):
        return node
    try:
        if node.tag == _NULL:
            return None
        if node.tag == _BOOL:
            return _SCALARS.construct_yaml_bool(node)
        if node.tag == _INT:
            return _SCALARS.construct_yaml_int(node)
        if node.tag == _FLOAT:
            return _SCALARS.construct_yaml_float(node)
    except (ValueError, yaml.YAMLError):
        pass
    return node.value


def _describe(node: yaml.Node | None) -> str:
    """What a node is, for messages: 'a list', '"abc"', 'the number 45'..."""
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    value = _scalar(node)
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{node.value}"
    if isinstance(value, (int, float)):
        return f"the number {node.value}"
    return f'"{_shorten(node.value)}"'


def _shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _did_you_mean(word: str, choices, otherwise: str = "") -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f'; did you mean "{close[0]}"?' if close else otherwise


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _or(items) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else items[0]


def _and(items) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]
