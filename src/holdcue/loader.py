"""Loading a routine file: YAML text -> node tree (line and column on every node) -> one
pass that checks every field and builds the Routine (routine.py), or reports every problem.

Includes are looked up through a ``resolve`` function the caller passes in (the library,
library.py), so this module never reaches up to find files by id.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Callable
from pathlib import Path

import yaml

from holdcue import files, phrases, safety, yamlsafe
from holdcue.durations import format_duration, is_duration
from holdcue.errors import Problem, RoutineError, RoutineNotFound
from holdcue.fields import Checker, did_you_mean, given, join, optional
from holdcue.files import expand_user
from holdcue.routine import (
    ENGINES,
    ID_PATTERN,
    MAX_HOLD_MS,
    MIN_HOLD_MS,
    MODEL_PATTERN,
    PLACEHOLDERS,
    PRESS_WAIT_MS,
    REMIND_MS,
    SIDES,
    STEP_KINDS,
    TONE_NAMES,
    UNTIL,
    Cues,
    Music,
    Routine,
    Say,
    Step,
    Voice,
)
from holdcue.text import listing
from holdcue.tones import wav_info
from holdcue.yamlsafe import NULL, STR, At, Refused, describe, syntax_message

MAX_FILE_BYTES = 1_000_000  # routine files over 1 MB are refused before parsing
MAX_STEPS = 500  # steps in a session, includes expanded: far more than any routine, few enough to compile at once
MAX_SESSION_MS = 3 * 3_600_000  # holds and rests of a whole session: nobody works one muscle group for longer
MAX_INCLUDE_DEPTH = 8  # a routine that includes one that includes one...: sessions need two levels
MAX_SAYS = 20  # a step's own cues
MAX_TITLE = 120  # characters in a title: it is said at the start and shown on one line
MIN_REMINDER_MS = 10_000  # time-left and breathing reminders come at most this often
SCHEMA_PATH = Path(__file__).with_name("routine.schema.json")

Resolver = Callable[[str], tuple[str, str, Path | None]]
VoiceCheck = Callable[[str], str | None]  # why no engine speaks a voice language; None: one does

_LANGUAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+/-]*")

_AT_CHOICES = '"half", a percentage like "25%" or a time like "20s"'

_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")

_PERCENT = re.compile(rf"({_NUMBER.pattern})\s*%")

_STEP_KEYS = (
    *STEP_KINDS,
    *("time", "title", "sides", "repeat", "rest", "count", "each", "say", "target", "side_words", "until", "remind"),
)

_KIND_KEYS = tuple(kind for kind in STEP_KINDS if kind != "rest")  # "rest:" is also a key of a step: its rest

_TOP_KEYS = (
    "title",
    "summary",
    "id",
    "areas",
    "tools",
    "safety",
    "voice",
    "cues",
    "music",
    "side_words",
    "pronounce",
    "steps",
)

MAX_PRONOUNCE = 100  # entries in a routine's pronounce: map: a few hard words, not a dictionary
MAX_PRONOUNCE_TEXT = 60  # characters of a word or phrase, and of how it is said
_WORDS = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*(?: [^\W\d_]+(?:['’-][^\W\d_]+)*)*")  # words, spaces between

_SIDES = {"both": SIDES, "left": ("left",), "right": ("right",)}


class _FileChecker(Checker):
    """A Checker for one routine file: where it is (for relative tone paths), how to find
    the routines it includes, and the routines already loaded in this load (each file is
    read once, however often it is included)."""

    def __init__(
        self,
        source: str,
        base_dir: Path | None,
        resolve: Resolver | None,
        loaded: dict | None = None,
        voice_check: VoiceCheck | None = None,
    ):
        super().__init__(source)
        self.base_dir = base_dir
        self.resolve = resolve
        self.loaded: dict[str, Routine | RoutineError] = {} if loaded is None else loaded
        self.voice_check = voice_check  # for this file's voice only: an included routine's is not spoken


def load(
    text: str,
    source: str = "<routine>",
    *,
    base_dir: Path | None = None,
    resolve: Resolver | None = None,
    routine_id: str | None = None,
    voice_check: VoiceCheck | None = None,
) -> Routine:
    """Parse and check a routine file's text; every problem found is reported at once.

    ``source`` names the file in messages; ``base_dir`` is its folder (for relative tone
    paths); ``resolve(id)`` gives ``(text, source, base_dir)`` of an included routine or
    raises RoutineNotFound; ``routine_id`` is the id when the file has no ``id:`` key;
    ``voice_check(language)`` says why the voice language written in the file cannot be
    spoken (holdcue validate's: it may start espeak-ng), else the language is only checked
    when the routine is spoken. Raises RoutineError with every problem (warnings included) when there is any error;
    otherwise the Routine carries its warnings.
    """
    return _load(text, _FileChecker(source, base_dir, resolve, voice_check=voice_check), routine_id, chain=())


def read_text(path: Path, limit: int = MAX_FILE_BYTES, kind: str = "routine file") -> str:
    """A ``kind`` of file's text: at most ``limit`` bytes of UTF-8 from a regular file (checked
    before any parsing; a FIFO or device is refused without waiting on it). Raises
    RoutineNotFound, or RoutineError with the one problem."""
    try:
        data = files.read_regular(path, limit)
    except FileNotFoundError:
        raise RoutineNotFound(f"no such file: {path}") from None
    except files.NotARegularFile:
        message = f"is not a regular file (a folder, FIFO or device); give a {kind}"
        raise RoutineError([Problem(str(path), 0, 0, "", message)]) from None
    except files.TooLarge:
        size = f"{limit // 1_000_000} MB" if limit >= 1_000_000 else f"{limit // 1000} kB"
        raise RoutineError(
            [Problem(str(path), 0, 0, "", f"the file is over {size}; a {kind} is much smaller")]
        ) from None
    except OSError as error:
        raise RoutineError([Problem(str(path), 0, 0, "", f"cannot read the file: {error.strerror}")]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - data.rfind(b"\n", 0, error.start)
        message = f"byte 0x{data[error.start]:02x} is not UTF-8; save the file as UTF-8 text"
        raise RoutineError([Problem(str(path), line, column, "", message)]) from None


def load_file(path: str | Path, *, resolve: Resolver | None, voice_check: VoiceCheck | None = None) -> Routine:
    """Load a routine file; its id defaults to the file name. ``resolve`` finds included
    routines by id (``library.find_id``), or None where includes are not allowed;
    ``voice_check`` as ``load``'s."""
    path = Path(path)
    text = read_text(path)
    return load(text, str(path), base_dir=path.parent, resolve=resolve, routine_id=path.stem, voice_check=voice_check)


def _load(text: str, checker: _FileChecker, routine_id: str | None, chain: tuple) -> Routine:
    root = compose(checker, text)
    routine = _routine(checker, root, routine_id, chain) if root is not None else None
    problems = checker.all_problems()
    if routine is None or any(p.severity == "error" for p in problems):
        raise RoutineError(problems)
    return dataclasses.replace(routine, warnings=tuple(problems))


def compose(
    checker: Checker,
    text: str,
    empty: str | None = "a routine needs a title and steps (see docs/routines.md)",
    kind: str = "a routine file",
) -> yaml.Node | None:
    """The YAML node tree of a file's text, or None with the problem reported; ``empty``
    says what the file needs when it holds nothing (None: nothing is fine), ``kind`` what
    the file is, in the messages. Other file formats (the plan, the config) compose with it too."""
    if len(text) > MAX_FILE_BYTES:
        checker.report(None, "", f"the file is over 1 MB; {kind} is much smaller")
        return None
    try:
        root = yamlsafe.compose(text)
    except Refused as refused:
        checker.report(At(refused.mark), "", refused.message)
        return None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        what = ", ".join(part for part in (error.context, error.problem) if part)
        lines = text.splitlines()
        before = lines[mark.line][: mark.column] if mark and mark.line < len(lines) else ""
        checker.report(At(mark) if mark else None, "", syntax_message(what, before))
        return None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        column = error.position - text.rfind("\n", 0, error.position)
        message = f"character U+{error.character:04X} is not allowed in {kind}; remove it"
        checker.problems.append(Problem(checker.source, line, column, "", message))
        return None
    if root is None and empty is not None:
        checker.report(None, "", f"the file is empty; {empty}")
    return root


def _routine(c: _FileChecker, root: yaml.Node, routine_id: str | None, chain: tuple) -> Routine | None:
    if not isinstance(root, yaml.MappingNode):
        c.report(root, "", f"a routine file is a mapping of keys like title: and steps:, not {describe(root)}")
        return None
    top = c.mapping(root, "", _TOP_KEYS)
    rid = _routine_id(c, top.get("id"), routine_id)
    if "title" not in top:
        c.missing(root, "title", 'add a line like "title: Shoulders and chest"')
    areas, tools, safety = (optional(top, key, "", c.texts) or () for key in ("areas", "tools", "safety"))
    routine = Routine(
        id=rid,
        title=optional(top, "title", "", c.text, "give the routine a title", MAX_TITLE) or "",
        steps=(),
        summary=optional(top, "summary", "", c.text) or "",
        areas=areas,
        tools=tools,
        safety=safety,
        voice=_voice(c, top["voice"]) if "voice" in top else Voice(),
        cues=_cues(c, top["cues"]) if "cues" in top else Cues(),
        side_words=_side_words(c, top["side_words"], "side_words") if "side_words" in top else (),
        pronounce=_pronounce(c, top["pronounce"]) if "pronounce" in top else (),
        source=c.source,
        music=_music(c, top["music"]) if "music" in top else None,
    )
    if "steps" not in top:
        c.missing(root, "steps", 'add "steps:" and a list of steps (see docs/routines.md)')
        return routine
    routine = _steps(c, top["steps"], routine, (*chain, (c.source, rid)))
    if not chain and (written := _written_ms(routine.steps)) > MAX_SESSION_MS:
        advice = f"a session may last {format_duration(MAX_SESSION_MS)} at most; split it into routines"
        c.report(top["steps"], "steps", f"the holds and rests add up to {format_duration(written)}; {advice}")
    return routine


def _written_ms(steps: tuple[Step, ...]) -> int:
    """How long the holds and rests of these steps last, as written (without the speech)."""
    return sum(s.time_ms * len(s.sides or "-") * s.repeat + s.rest_ms * (s.repeat - 1) for s in steps)


def _routine_id(c: _FileChecker, node: yaml.Node | None, routine_id: str | None) -> str:
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


def _music(c: _FileChecker, node: yaml.Node) -> Music | None:
    """The routine's ``music:``; music/ is imported only for a routine that has it."""
    from holdcue import music

    return music.from_yaml(c, node, "music", c.base_dir, "the routine file's folder")


def _voice(c: _FileChecker, node: yaml.Node) -> Voice:
    keys = c.mapping(node, "voice", ("language", "rate", "volume", "engine", "model"))
    language = optional(keys, "language", "voice", c.text)
    if language and not _LANGUAGE.fullmatch(language):
        message = 'is not a voice name; use one like "en", "en-us" or "de" (holdcue voices)'
        c.report(keys["language"], "voice.language", f'"{language}" {message}')
        language = None
    if language and phrases.catalogue_language(language) is None:
        known = listing(phrases.languages())
        message = f'holdcue\'s own words ("Next", the times, the counts) will be English; it has them in {known}'
        c.warn(keys["language"], "voice.language", f'"{language}": {message} (docs/languages.md)')
    rate = optional(keys, "rate", "voice", c.integer, 80, 400)
    volume = optional(keys, "volume", "voice", c.number, 0.05, 1)
    engine, model = _engine(c, keys)
    if language and engine != "piper" and c.voice_check is not None:  # a Piper model speaks its own language
        why = c.voice_check(language)
        if why:
            c.report(keys["language"], "voice.language", f'"{language}": {why}')
    return Voice(**given(language=language, rate=rate, volume=volume, engine=engine, model=model))


def _engine(c: _FileChecker, keys: dict[str, yaml.Node]) -> tuple[str | None, str | None]:
    """voice.engine and voice.model: a Piper model by name, never a path (docs/voices.md)."""
    engine = c.choice(keys["engine"], "voice.engine", ENGINES) if "engine" in keys else None
    model = optional(keys, "model", "voice", c.text)
    if model is not None and not MODEL_PATTERN.fullmatch(model):
        message = "is not a model name: name a Piper model, like en_US-joe-medium, not a path (holdcue voices)"
        c.report(keys["model"], "voice.model", f'"{model}" {message}')
        model = None
    if engine == "piper" and "model" not in keys:
        c.missing(keys["engine"], "voice.model", "Piper needs a model: write its name, e.g. model: en_US-joe-medium")
    if model and engine != "piper" and "engine" in keys:
        c.report(keys["model"], "voice.model", "is for engine: piper; espeak-ng voices are chosen by language")
        model = None
    if model and "engine" not in keys:
        engine = "piper"  # a model names a Piper voice
    return engine, model


def _cues(c: _FileChecker, node: yaml.Node) -> Cues:
    names = ("prep", "countdown", "countdown_style", "halfway", "time_left", "breathe", "switch", "tones", "legend")
    keys = c.mapping(node, "cues", names)
    press = "prep" in keys and _is_press(c, keys["prep"])
    return Cues(
        **given(
            prep_ms=PRESS_WAIT_MS if press else optional(keys, "prep", "cues", c.duration, zero=True),
            prep_press=press or None,
            countdown=optional(keys, "countdown", "cues", c.integer, 0, 10),
            countdown_style=optional(keys, "countdown_style", "cues", c.choice, ("ticks", "spoken")),
            halfway=optional(keys, "halfway", "cues", c.boolean),
            time_left_every_ms=_reminder(c, keys, "time_left"),
            breathe_every_ms=_reminder(c, keys, "breathe"),
            switch_ms=optional(keys, "switch", "cues", c.duration, zero=True),
            tones=_tones(c, keys["tones"]) if "tones" in keys else None,
            legend=optional(keys, "legend", "cues", c.boolean),
        )
    )


def _is_press(c: _FileChecker, node: yaml.Node) -> bool:
    """Whether cues.prep says "press" (wait for a press); a word that is neither a time nor
    "press" is reported here, so that the duration's own message does not leave press out."""
    value = node.value if isinstance(node, yaml.ScalarNode) and node.tag == STR else None
    if value is None or is_duration(value):
        return False
    if value.strip() == "press":
        return True
    wait = format_duration(PRESS_WAIT_MS)
    advice = f'give a time like "5s", or "press" to wait until Next is pressed (at most {wait})'
    c.report(node, "cues.prep", f'"{value}" is neither a time nor press; {advice}{did_you_mean(value, ("press",))}')
    return True


def _reminder(c: _FileChecker, keys: dict[str, yaml.Node], name: str, path: str = "cues") -> int | None:
    """How often a reminder comes during holds: off (0), or every 10 seconds at the most."""
    every = optional(keys, name, path, c.duration, off=True)
    if every and every < MIN_REMINDER_MS:
        advice = f"a reminder every {format_duration(MIN_REMINDER_MS)} at the most, or false for none"
        c.report(keys[name], join(path, name), f'"{format_duration(every)}" is too often; give {advice}')
        return None
    return every


def _side_words(c: _FileChecker, node: yaml.Node, path: str) -> tuple[tuple[str, str], ...]:
    """(side, words) for both sides: what {side} says, like ``{left: linken, right: rechten}``."""
    keys = c.mapping(node, path, SIDES)
    empty = "write what {side} says for this side"
    words = {side: c.text(value, join(path, side), empty) for side, value in keys.items()}
    if isinstance(node, yaml.MappingNode):
        for side in SIDES:
            if side not in keys:
                c.missing(node, join(path, side), "give the words for both sides, like {left: linken, right: rechten}")
    if any(not words.get(side) for side in SIDES):
        return ()
    return tuple((side, words[side] or "") for side in SIDES)


def _pronounce(c: _FileChecker, node: yaml.Node) -> tuple[tuple[str, str], ...]:
    """(written word or phrase, what the voice says) pairs: ``{piriformis: pirih-formiss}``."""
    example = "like {piriformis: pirih-formiss}"
    if not isinstance(node, yaml.MappingNode):
        c.report(node, "pronounce", f"must be a mapping of words to how to say them, {example}, not {describe(node)}")
        return ()
    if len(node.value) > MAX_PRONOUNCE:
        c.report(node, "pronounce", f"has {len(node.value)} words; keep it to {MAX_PRONOUNCE} at most")
        return ()
    words: dict[str, str] = {}
    for key, value in node.value:
        written = " ".join(key.value.split()) if isinstance(key, yaml.ScalarNode) and key.tag == STR else None
        path = join("pronounce", written or "")
        if written is None or not _WORDS.fullmatch(written) or len(written) > MAX_PRONOUNCE_TEXT:
            advice = f"a word or a few words of letters, at most {MAX_PRONOUNCE_TEXT} characters, {example}"
            c.report(key, path, f"{describe(key)} is not a word to pronounce; give {advice}")
            continue
        if written.lower() in words:
            c.report(key, path, "appears twice (whatever its capitals); keep only one")
            continue
        spoken = c.text(value, path, "write how to say it, or leave the word out", MAX_PRONOUNCE_TEXT)
        if spoken is not None:
            words[written.lower()] = spoken
    return tuple(words.items())


def _tones(c: _FileChecker, node: yaml.Node) -> tuple[tuple[str, str], ...]:
    """(tone name, absolute path) of each tone that names an existing WAV file."""
    tones = []
    for name, value in c.mapping(node, "cues.tones", TONE_NAMES).items():
        path = f"cues.tones.{name}"
        text = c.text(value, path)
        if text is None:
            continue
        try:
            file = expand_user(text)
        except ValueError as error:
            c.report(value, path, str(error))
            continue
        if not file.is_absolute():
            if c.base_dir is None:
                message = "is a relative path, but this routine is not in a file; use an absolute path"
                c.report(value, path, f'"{text}" {message}')
                continue
            file = c.base_dir / file
        try:
            seconds = wav_info(file).seconds
        except ValueError as error:
            if not file.exists():
                message = "(a tone's path is relative to the routine file's folder)"
                c.report(value, path, f'no such file: "{text}" {message}')
            else:
                c.report(value, path, f'"{text}" {error}')
            continue
        if seconds > MIN_HOLD_MS / 1000:
            message = f"lasts {seconds:.1f}s; a tone may last at most 1s, to fit the shortest hold"
            c.report(value, path, f'"{text}" {message}')
        else:
            tones.append((name, str(file.resolve())))
    return tuple(tones)


def _steps(c: _FileChecker, node: yaml.Node, routine: Routine, chain: tuple) -> Routine:
    if not isinstance(node, yaml.SequenceNode):
        c.report(node, "steps", f'must be a list of steps, each starting with "- ", not {describe(node)}')
        return routine
    if not node.value:
        c.report(node, "steps", "is empty; add at least one step")
        return routine
    if len(node.value) > MAX_STEPS:
        c.report(
            node, "steps", f"has {len(node.value)} steps; a session has {MAX_STEPS} at most: split it into routines"
        )
        return routine
    steps: list[Step] = []
    for index, item in enumerate(node.value):
        path = f"steps[{index}]"
        if isinstance(item, yaml.MappingNode) and any(k.value == "include" for k, _ in item.value):
            routine = _include(c, item, path, routine, chain, steps)
            if len(steps) > MAX_STEPS:
                break  # reported by _include: nothing more to learn from including more
        else:
            step = _step(c, item, path, routine.tools)
            if step is not None:
                steps.append(step)
    return dataclasses.replace(routine, steps=tuple(steps))


def _include(
    c: _FileChecker, node: yaml.MappingNode, path: str, routine: Routine, chain: tuple, steps: list[Step]
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
    if len(chain) >= MAX_INCLUDE_DEPTH:
        nested = " -> ".join([rid for _, rid in chain] + [ref])
        advice = "include the routines you need directly"
        c.report(where, path, f"includes nested more than {MAX_INCLUDE_DEPTH} deep ({nested}); {advice}")
        return routine
    if source not in c.loaded:
        try:
            loaded = _load(text, _FileChecker(source, base_dir, c.resolve, c.loaded), ref, chain)
        except RoutineError as error:
            c.loaded[source] = error
            c.included.extend(error.problems)
        else:
            c.loaded[source] = loaded
            c.included.extend(loaded.warnings)
    included = c.loaded[source]
    if isinstance(included, RoutineError):
        c.report(where, path, f'the included routine "{ref}" has errors')
        return routine
    if len(steps) + len(included.steps) > MAX_STEPS:
        steps.extend(included.steps[: MAX_STEPS + 1 - len(steps)])
        advice = f"a session has {MAX_STEPS} steps at most: split it into routines"
        c.report(where, path, f'including "{ref}" makes the session over {MAX_STEPS} steps long; {advice}')
        return routine
    group = title or included.title
    # the included routine's side words stay with its steps: they were written for its texts
    steps.extend(
        dataclasses.replace(step, group=group, side_words=step.side_words or included.side_words)
        for step in included.steps
    )
    return dataclasses.replace(
        routine,
        tools=_merged(routine.tools, included.tools),
        areas=_merged(routine.areas, included.areas),
        safety=_merged(routine.safety, included.safety),
        pronounce=_merged_words(routine.pronounce, included.pronounce),
    )


def _merged_words(
    first: tuple[tuple[str, str], ...], second: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    """An included routine's words join the routine's; the routine's own win."""
    own = {word for word, _ in first}
    return first + tuple(pair for pair in second if pair[0] not in own)


def _merged(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return first + tuple(item for item in second if item not in first)


def _step(c: _FileChecker, node: yaml.Node, path: str, tools: tuple[str, ...]) -> Step | None:
    if not isinstance(node, yaml.MappingNode):
        example = '"- hold: Press and hold." with "time: 30s"'
        c.report(node, path, f"a step is a mapping like {example}, not {describe(node)}")
        return None
    keys = c.mapping(node, path, _STEP_KEYS, starts=_KIND_KEYS, item="step")
    kinds = [kind for kind in STEP_KINDS if kind in keys and kind != "rest"] or [k for k in ("rest",) if k in keys]
    if len(kinds) > 1 and path not in c.merged:
        c.report(node, path, f"has {listing(kinds)}, but a step has exactly one kind; split it into steps")
    if not kinds and not any(join(path, kind) in c.misspelled for kind in STEP_KINDS):
        kinds_list = ", ".join(STEP_KINDS)
        c.report(node, path, f'has no kind; start the step with one of {kinds_list}, e.g. "- hold: ..."')
    kind = kinds[0] if kinds else "hold"
    text = None
    if kinds:
        text = c.text(keys[kind], join(path, kind), f'write what to do, like "{kind}: Breathe slowly."')
    sides = _SIDES.get(optional(keys, "sides", path, c.choice, tuple(_SIDES)), ())
    repeat = optional(keys, "repeat", path, c.integer, 1, 50)
    count = optional(keys, "count", path, c.integer, 1, 200) or 0
    if kind == "rest" and text and not {"time", "each"} & keys.keys() and is_duration(text):
        example = f'"- rest: Relax and breathe." and "time: {text}"'
        c.report(keys[kind], join(path, kind), f"a rest step says what to do, then its time: {example}")
        time_ms = None
    else:
        time_ms = _step_time(c, node, path, keys, count)
    if time_ms is not None and time_ms < MIN_HOLD_MS:
        where = "time" if "time" in keys else "each"
        c.report(
            keys[where],
            join(path, where),
            f"a hold of {format_duration(time_ms)} is too short to follow; make it at least 1s",
        )
        time_ms = None
    elif time_ms is not None and count and time_ms < count * MIN_HOLD_MS:
        where = "each" if "each" in keys else "count"
        quick = format_duration(time_ms // count)
        c.report(
            keys[where],
            join(path, where),
            f"a movement every {quick} is too quick to count aloud; allow at least 1s for each",
        )
    until = optional(keys, "until", path, c.choice, UNTIL) or ""
    if kind == "rest":
        for name in ("sides", "repeat", "count", "each", "say", "until", "remind"):
            if name in keys:
                c.report(
                    keys[name],
                    join(path, name),
                    f'a rest step has only its time; "{name}" belongs to the step being rested from',
                )
    rest_ms = optional(keys, "rest", path, c.duration, zero=True) if kind != "rest" else None
    if rest_ms and ("repeat" not in keys or repeat == 1):
        c.warn(keys["rest"], join(path, "rest"), 'has no effect without "repeat" of 2 or more')
    step = Step(
        kind=kind,
        text=text or "",
        time_ms=time_ms or 0,
        title=optional(keys, "title", path, c.text) or "",
        sides=sides,
        repeat=repeat or 1,
        rest_ms=rest_ms or 0,
        count=count,
        say=_says(c, keys["say"], join(path, "say"), time_ms, bool(sides)) if "say" in keys else (),
        target=optional(keys, "target", path, c.text) or "",
        side_words=_step_side_words(c, keys, path, sides),
        until=until if kind != "rest" else "",
        remind_ms=_remind(c, keys, path, until, count),
        line=node.start_mark.line + 1,
    )
    if text:
        _placeholders(c, keys[kind], join(path, kind), text, bool(sides))
    safety.check_step(c, node, path, keys, step, tools)
    return step


def _step_side_words(c: _FileChecker, keys: dict, path: str, sides: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    if "side_words" not in keys:
        return ()
    words = _side_words(c, keys["side_words"], join(path, "side_words"))
    if not sides:
        c.warn(keys["side_words"], join(path, "side_words"), 'has no effect in a step without "sides"')
    return words


def _remind(c: _FileChecker, keys: dict, path: str, until: str, count: int) -> int:
    """How often a hold that waits for a press reminds the listener (``remind``)."""
    if until and count:
        message = "a counted step ends with its count, not at a press; leave out until or the count"
        c.report(keys["until"], join(path, "until"), message)
    if "remind" in keys and not until and "until" not in keys:
        c.warn(keys["remind"], join(path, "remind"), 'has no effect without "until: press"')
    every = _reminder(c, keys, "remind", path)
    return REMIND_MS if every is None else every


def _step_time(c: _FileChecker, node: yaml.Node, path: str, keys: dict, count: int) -> int | None:
    """The hold's time: ``time``, or ``count`` x ``each``."""
    time_ms = optional(keys, "time", path, c.duration)
    if "each" not in keys:
        if "time" not in keys:
            c.missing(node, join(path, "time"), 'add a line like "time: 30s" (or "count" with "each")')
        return time_ms
    each_ms = c.duration(keys["each"], join(path, "each"))
    if "time" in keys:
        c.report(keys["each"], join(path, "each"), 'give "time" or "each", not both')
    elif "count" not in keys:
        c.report(keys["each"], join(path, "each"), '"each" is the time of one counted movement; add "count"')
    elif count and each_ms:
        if count * each_ms > MAX_HOLD_MS:
            message = "is over the 10 minute limit; split it into shorter steps"
            c.report(keys["each"], join(path, "each"), f"{count} x {format_duration(each_ms)} {message}")
            return None
        return count * each_ms
    return None


def _says(c: _FileChecker, node: yaml.Node, path: str, time_ms: int | None, sides: bool) -> tuple[Say, ...]:
    if not isinstance(node, yaml.SequenceNode):
        c.report(node, path, f'must be a list of cues like "- at: half" with "text: ...", not {describe(node)}')
        return ()
    if len(node.value) > MAX_SAYS:
        c.report(node, path, f"has {len(node.value)} cues; a step has {MAX_SAYS} at most: split the step")
        return ()
    says = []
    for index, item in enumerate(node.value):
        where = f"{path}[{index}]"
        keys = c.mapping(item, where, ("at", "text"))
        if not isinstance(item, yaml.MappingNode):
            continue
        for name in ("at", "text"):
            if name not in keys:
                c.missing(item, join(where, name), "a cue needs at and text")
        text = c.text(keys["text"], join(where, "text")) if "text" in keys else None
        if text:
            _placeholders(c, keys["text"], join(where, "text"), text, sides)
        at = _at(c, keys["at"], join(where, "at"), time_ms) if "at" in keys else None
        if text and at:
            says.append(Say(text, *at))
    return tuple(says)


def _at(c: _FileChecker, node: yaml.Node, path: str, time_ms: int | None) -> tuple[int | None, float | None] | None:
    """(at_ms, at_fraction) of a cue: "half", "25%" or a time into the hold."""
    value = node.value.strip() if isinstance(node, yaml.ScalarNode) and node.tag != NULL else None
    if value is None:
        c.report(node, path, f"must be {_AT_CHOICES}, not {describe(node)}")
        return None
    if value == "half":
        return None, 0.5
    if value.endswith("%"):
        percent = _PERCENT.fullmatch(value)
        if percent is None or not 0 < float(percent[1]) < 100:
            c.report(node, path, f'"{value}" is not a point in the hold; use a percentage between 0% and 100%')
            return None
        return None, float(percent[1]) / 100
    if _NUMBER.fullmatch(value):
        share = f' or "{value}%" ({value} percent of the hold)' if 0 < float(value) < 100 else ""
        c.report(node, path, f'"{value}" has no unit; write "{value}s" ({value} seconds into the hold){share}')
        return None
    if not is_duration(value):
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


def _placeholders(c: _FileChecker, node: yaml.Node, path: str, text: str, sides: bool) -> None:
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
            hint = did_you_mean(f"{{{name}}}", known, f"; use {listing(known, 'or')}, or {{{{ and }}}} for braces")
            c.report(node, path, f'unknown placeholder "{written}"{hint}')
