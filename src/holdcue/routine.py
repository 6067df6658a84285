"""Routines as plain data: what a routine file says, after loading and checking
(``loader.py``). Dataclasses and the constants that define the format, nothing else.

Every duration is a whole number of milliseconds (``*_ms``), so holds are exactly as long
as written; the compiler turns them into samples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from holdcue.errors import Problem

SIDES = ("left", "right")

STEP_KINDS = ("warm-up", "compress", "roll", "hold", "stretch", "release", "rest", "finish")

TONE_NAMES = ("start", "end", "halfway", "tick", "switch")

PLACEHOLDERS = ("side", "time", "round", "rounds", "next")

UNTIL = ("press",)  # what may end a hold before its time: a press of Next
PRESS_WAIT_MS = 60_000  # the longest "get into position" waits for a press (cues.prep: press)
REMIND_MS = 30_000  # a hold that waits for a press says its reminder this often, unless told

MIN_HOLD_MS = 1000  # a shorter hold can't be followed (and a tone lasts up to this long)
MAX_HOLD_MS = 10 * 60_000  # no hold, pause or cue interval may be longer than 10 minutes
ENGINES = ("espeak", "piper")  # speech engines a voice may name (speech/choice.py)
# a Piper model is named, never given as a path: a file name without ".onnx"
MODEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
ID_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # a routine's id: its file name without .yaml


@dataclass(frozen=True)
class Voice:
    language: str = "en"  # espeak-ng language/voice name, e.g. "en", "en-us", "de"
    rate: int = 160  # words per minute
    volume: float = 1.0  # 0.0 to 1.0
    engine: str = ""  # "espeak" or "piper"; "" : not named (the config's, else espeak-ng)
    model: str = ""  # a Piper model's name (engine "piper" only), e.g. "en_US-joe-medium"


@dataclass(frozen=True)
class Cues:
    prep_ms: int = 5000  # after a step is announced: time to get into position
    prep_press: bool = False  # True: that time lasts until a press, at most PRESS_WAIT_MS (prep_ms is then that)
    countdown: int = 3  # the last N seconds of a hold are counted down (0: none)
    countdown_style: str = "ticks"  # "ticks" or "spoken"
    halfway: bool = True  # a cue halfway through each hold
    time_left_every_ms: int = 30000  # "thirty seconds left" callouts in long holds (0: none)
    breathe_every_ms: int = 0  # breathing reminders during holds (0: none)
    switch_ms: int = 5000  # between sides: time to change over after "switch sides"
    tones: tuple[tuple[str, str], ...] = ()  # (tone name, absolute path of a WAV) overrides
    legend: bool = False  # the intro plays each tone the session uses after saying what it means


@dataclass(frozen=True)
class Music:
    """Music under the voice (music/ plays it): a sound file, its level, how far it is
    turned down under cues, and whether it starts again when it ends."""

    path: str  # absolute path of a sound file (WAV, FLAC, OGG, MP3)
    level_db: float = -18.0  # gain on the file as mastered (0: as it is)
    duck_db: float = -12.0  # more gain under speech and tones (0: not turned down)
    loop: bool = True  # False: played once, then silence


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
    time_ms: int  # length of one hold: per side, per round (with ``until``: the longest it lasts)
    title: str = ""  # short title for displays and chapters ("" : derived from text)
    sides: tuple[str, ...] = ()  # (), ("left",), ("right",) or ("left", "right")
    repeat: int = 1  # rounds
    rest_ms: int = 0  # rest between rounds
    count: int = 0  # counted movements: this many, spoken as they go (0: not counted)
    say: tuple[Say, ...] = ()
    target: str = ""  # body part worked, when given (used for safety warnings)
    side_words: tuple[tuple[str, str], ...] = ()  # (side, what {side} says) of this step; () : the routine's
    until: str = ""  # "press": each hold lasts until Next is pressed, at most time_ms ("" : its time)
    remind_ms: int = REMIND_MS  # with ``until``: how often its reminder is said (0: never)
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
    side_words: tuple[tuple[str, str], ...] = ()  # (side, what {side} says): ("left", "linken"), ...
    pronounce: tuple[tuple[str, str], ...] = ()  # (written word, what the voice says): pronounce.py
    warnings: tuple[Problem, ...] = ()  # each with severity "warning"
    music: Music | None = None  # music under the voice (``music:``); None: none
