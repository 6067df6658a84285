"""Where routines come from: the built-in ones shipped with holdcue, and the user's own.

A routine is named by a path (``neck.yaml``, ``~/stretches/hips.yml``) or by an id: the
file name without ``.yaml`` of a user routine (in ``user_routine_dir()``) or a built-in one
(in ``holdcue/routines``). A user routine with a built-in's id replaces it everywhere, so a
copied built-in can be changed; ``builtin:<id>`` still names the built-in itself.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from holdcue import loader
from holdcue.errors import HoldcueError, Problem, RoutineError, RoutineNotFound
from holdcue.routine import ID_PATTERN, Routine

BUILTIN_DIR = Path(__file__).with_name("routines")
BUILTIN_PREFIX = "builtin:"


@dataclass(frozen=True)
class Entry:
    """One routine as ``holdcue list`` shows it; ``routine`` is None when it has errors."""

    id: str
    source: str  # the user file's path, or "builtin:<id>"
    builtin: bool
    routine: Routine | None
    problems: tuple[Problem, ...] = ()  # why the routine could not be loaded
    rename: str = ""  # a user file whose name is not an id: the name to give it ("my-quads.yaml")


def user_routine_dir() -> Path:
    """The folder of the user's own routines: routines/ in the config folder (folders.py)."""
    from holdcue import folders

    return folders.config_dir() / "routines"


def builtin_ids() -> list[str]:
    return sorted(path.stem for path in BUILTIN_DIR.glob("*.yaml"))


def user_ids() -> list[str]:
    """Ids of the user's routine files (``*.yaml`` with a valid id as file name)."""
    return sorted(path.stem for path in user_routine_dir().glob("*.yaml") if ID_PATTERN.fullmatch(path.stem))


def misnamed() -> list[Path]:
    """The user's files that look like routines but are not found by id: a name that is
    not an id ("My_Quads.yaml") or the ending .yml. Listed with the name to give them, so
    that they are not silently ignored (an id stays one file name, not a guess among several)."""
    folder = user_routine_dir()
    files = [*folder.glob("*.yaml"), *folder.glob("*.yml")]
    return sorted(path for path in files if not (path.suffix == ".yaml" and ID_PATTERN.fullmatch(path.stem)))


def id_for(name: str) -> str:
    """The id a file name would make: "My_Quads" -> "my-quads" ("" when nothing is left)."""
    return "-".join(re.findall(r"[a-z0-9]+", name.lower()))


def find(ref: str) -> tuple[str, str, Path | None]:
    """``(text, source, base_dir)`` of a routine named by a path or an id.

    ``ref`` is a path when it ends in .yaml or .yml, holds a "/", or names an existing file;
    otherwise an id (see ``find_id``). Raises RoutineNotFound, or RoutineError when the file
    cannot be read (too large, not UTF-8, no permission).
    """
    path = Path(ref).expanduser()
    if ref.endswith((".yaml", ".yml")) or os.sep in ref or "/" in ref or path.is_file():
        return loader.read_text(path), str(path), path.parent
    return find_id(ref)


def find_id(ref: str) -> tuple[str, str, Path | None]:
    """``(text, source, base_dir)`` of the routine with this id: the user's routine if there
    is one, else the built-in; ``builtin:<id>`` is always the built-in."""
    builtin_only = ref.startswith(BUILTIN_PREFIX)
    rid = ref.removeprefix(BUILTIN_PREFIX)
    if ID_PATTERN.fullmatch(rid):
        user_file = user_routine_dir() / f"{rid}.yaml"
        if not builtin_only and user_file.is_file():
            return loader.read_text(user_file), str(user_file), user_file.parent
        builtin_file = BUILTIN_DIR / f"{rid}.yaml"
        if builtin_file.is_file():
            return loader.read_text(builtin_file), BUILTIN_PREFIX + rid, BUILTIN_DIR
    for path in [] if builtin_only else misnamed():
        if rid in (path.stem, id_for(path.stem)):
            raise RoutineNotFound(f'no routine called "{ref}": {path}: {_misnamed_entry(path).problems[0].message}')
    raise RoutineNotFound(_not_found(ref, builtin_ids() if builtin_only else _all_ids()))


def load_routine(ref: str) -> Routine:
    """The routine named by a path or an id, with its includes resolved by id."""
    text, source, base_dir = find(ref)
    rid = source.removeprefix(BUILTIN_PREFIX) if source.startswith(BUILTIN_PREFIX) else Path(source).stem
    return loader.load(text, source, base_dir=base_dir, resolve=find_id, routine_id=rid)


def load_file(path: str | Path, *, voice_check: loader.VoiceCheck | None = None) -> Routine:
    """The routine in this file (never looked up as an id); its includes resolved by id;
    ``voice_check`` as loader.load's."""
    return loader.load_file(path, resolve=find_id, voice_check=voice_check)


def entries() -> list[Entry]:
    """Every routine by id (user routines replacing built-ins of the same id), sorted by id.

    A user routine with errors is still listed, with its problems and no routine.
    """
    user = set(user_ids())
    refs = {rid: rid for rid in user} | {rid: BUILTIN_PREFIX + rid for rid in builtin_ids() if rid not in user}
    found = [_entry(rid, ref, builtin=ref.startswith(BUILTIN_PREFIX)) for rid, ref in refs.items()]
    return sorted([*found, *(_misnamed_entry(path) for path in misnamed())], key=lambda entry: entry.id)


def _misnamed_entry(path: Path) -> Entry:
    rid = id_for(path.stem)
    name = f"{rid}.yaml" if rid else "a name like my-routine.yaml"
    why = "is not an id" if path.suffix == ".yaml" else "does not end in .yaml"
    message = (
        f'the file name "{path.name}" {why}, so holdcue does not find this routine; rename it to {name} '
        "(lowercase letters, digits and dashes)"
    )
    return Entry(path.stem, str(path), False, None, (Problem(str(path), 0, 0, "", message),), rename=name)


def _entry(rid: str, ref: str, builtin: bool) -> Entry:
    source = ref if builtin else str(user_routine_dir() / f"{rid}.yaml")
    try:
        loaded = load_routine(ref)
    except RoutineError as error:
        return Entry(rid, source, builtin, None, error.problems)
    except HoldcueError as error:
        return Entry(rid, source, builtin, None, (Problem(source, 0, 0, "", str(error)),))
    return Entry(rid, loaded.source, builtin, loaded)


def _all_ids() -> list[str]:
    return sorted(set(builtin_ids()) | set(user_ids()))


def _not_found(ref: str, known: list[str]) -> str:
    """'no routine called "neck"; did you mean ...? ...' with the nearest known ids."""
    word = ref.removeprefix(BUILTIN_PREFIX).lower()
    containing = [rid for rid in known if word and word in rid]
    import difflib  # only for a name not found

    close = containing[:3] or difflib.get_close_matches(word, known, n=3)
    quoted = [f'"{rid}"' for rid in close]
    alternatives = ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else "".join(quoted)
    suggestion = f"; did you mean {alternatives}?" if close else "."
    return f'no routine called "{ref}"{suggestion} Run "holdcue list" to see every routine.'
