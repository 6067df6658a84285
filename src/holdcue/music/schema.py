"""The ``music:`` value of a routine file or config.yaml (docs/routines.md, "Music"): a
sound file, or a mapping of ``file``, ``level``, ``duck`` and ``loop``, read into a
``routine.Music`` with every problem reported on the checker (``from_yaml``). The file is
checked as source.py would play it (``music_info``); a level is decibels or a factor
(``gain_db``)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import yaml

from holdcue.fields import Checker, given, optional
from holdcue.files import expand_user
from holdcue.music.source import music_info
from holdcue.routine import Music
from holdcue.yamlsafe import NULL, describe, scalar

LEVEL_RANGE = (-60.0, 0.0)  # dB: level and duck; 0 dB is as mastered (music is never made louder)

_DB = re.compile(r"([+-]?[0-9]+(?:\.[0-9]+)?)\s*dB", re.IGNORECASE)

MUSIC_KEYS = ("file", "level", "duck", "loop")
EXAMPLE = '"music: forest.ogg", or "music: {file: forest.ogg, level: -18 dB}"'


def from_yaml(checker: Checker, node: yaml.Node, path: str, base_dir: Path | None, relative_to: str) -> Music | None:
    """``music: FILE`` or ``music: {file: FILE, level: -18 dB, duck: -12 dB, loop: true}``
    (``false``: none) as Music, with the file checked (music_info); every problem reported
    on ``checker``. ``base_dir``: where a relative path starts (None: it must be absolute);
    ``relative_to`` names that folder in messages ("the routine file's folder")."""
    if isinstance(node, yaml.ScalarNode) and scalar(node) is False:
        return None
    if isinstance(node, yaml.MappingNode):
        keys = checker.mapping(node, path, MUSIC_KEYS)
        if "file" not in keys:
            checker.missing(node, f"{path}.file", "name the sound file, e.g. file: forest.ogg")
            return None
        file = _file(checker, keys["file"], f"{path}.file", base_dir, relative_to)
        level = optional(keys, "level", path, _level, checker)
        duck = optional(keys, "duck", path, _level, checker)
        loop = optional(keys, "loop", path, checker.boolean)
    elif isinstance(node, yaml.ScalarNode) and node.tag != NULL:
        file = _file(checker, node, path, base_dir, relative_to)
        level = duck = loop = None
    else:
        checker.report(node, path, f"must be a sound file or a mapping, like {EXAMPLE}; not {describe(node)}")
        return None
    if file is None:
        return None
    return Music(file, **given(level_db=level, duck_db=duck, loop=loop))


def _file(checker: Checker, node: yaml.Node, path: str, base_dir: Path | None, relative_to: str) -> str | None:
    """The absolute path of a usable music file, or None with the problem reported."""
    text = checker.text(node, path, "name the sound file, e.g. forest.ogg")
    if text is None:
        return None
    try:
        file = expand_user(text)
    except ValueError as error:
        checker.report(node, path, str(error))
        return None
    if not file.is_absolute():
        if base_dir is None:
            checker.report(
                node, path, f'"{text}" is a relative path, but there is no folder to start from; use an absolute path'
            )
            return None
        file = base_dir / file
    try:
        music_info(file)
    except ValueError as error:
        hint = f" (a relative path starts at {relative_to})" if str(error) == "does not exist" else ""
        checker.report(node, path, f'"{text}" {error}{hint}')
        return None
    return str(file.resolve())


def _level(node: yaml.Node, path: str, checker: Checker) -> float | None:
    try:
        return gain_db(scalar(node) if isinstance(node, yaml.ScalarNode) else None)
    except ValueError as error:
        checker.report(node, path, str(error))
        return None


def gain_db(value: object) -> float:
    """A level as written: ``"-18 dB"`` or a factor like ``0.3`` (0 < f <= 1), in dB.
    ValueError saying what to write otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError('must be a level like "-18 dB" or a factor like 0.3')
    low, high = LEVEL_RANGE
    if isinstance(value, str):
        match = _DB.fullmatch(value.strip())
        if match is None:
            raise ValueError(f'"{value}" is not a level; write one like "-18 dB" or a factor like 0.3')
        db = float(match[1])
    elif 0 < value <= 1:
        db = 20 * math.log10(value)
    else:
        raise ValueError(f'{value} is not a factor from 0 to 1; write one like 0.3, or a level like "-18 dB"')
    if not low <= db <= high:
        raise ValueError(f"{db:g} dB is out of range; use {low:g} dB to {high:g} dB (0 dB: as the file is)")
    return db
