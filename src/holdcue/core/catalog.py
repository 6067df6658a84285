"""The routines the core plays by id: the library, loaded once and kept."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from holdcue import library, session
from holdcue.core.errors import UnknownRoutine, WrongState
from holdcue.routine import ID_PATTERN, Routine

log = logging.getLogger("holdcue.core")


class Catalog:
    """The library, loaded once and kept; loaded again only when the user's routine
    folder changes (a file added, edited or removed)."""

    def __init__(self, load: Callable[[], session.Library] = session.load_all):
        self._load = load
        self._lock = threading.Lock()
        self._signature: object = None
        self._routines: dict[str, Routine] = {}
        self._broken: dict[str, library.Entry] = {}

    def refresh(self) -> None:
        signature = _folder_signature(library.user_routine_dir())
        with self._lock:
            if signature == self._signature:
                return
            loaded = self._load()
            self._routines = {r.id: r for r in loaded.routines}
            self._broken = {e.id: e for e in loaded.broken}
            self._signature = signature
            for entry in loaded.broken:
                first = entry.problems[0] if entry.problems else "run holdcue validate"
                log.warning("routine %s has errors and cannot be played: %s", entry.id, first)
            log.info("library: %d routines", len(self._routines))

    def routines(self) -> list[Routine]:
        self.refresh()
        with self._lock:
            return list(self._routines.values())

    def ids(self) -> list[str]:
        """The ids of the routines it can play, sorted."""
        self.refresh()
        with self._lock:
            return sorted(self._routines)

    def get(self, rid: object) -> Routine:
        """The routine with this id; UnknownRoutine for anything else (a path, a typo),
        WrongState for a routine of the user's that has errors."""
        if not isinstance(rid, str) or not ID_PATTERN.fullmatch(rid):
            raise UnknownRoutine(f"{str(rid)[:80]!r} is not a routine id: ids are like 'neck-and-upper-trapezius'")
        self.refresh()
        with self._lock:
            if rid in self._broken:
                raise WrongState(f"the routine {rid} has errors: run holdcue validate {self._broken[rid].source}")
            if rid not in self._routines:
                raise UnknownRoutine(f"no routine called {rid!r}: GET /api/routines lists them")
            return self._routines[rid]

    def summaries(self, length: Callable[[Routine], tuple[float, bool]]) -> list[dict[str, Any]]:
        """Every routine as the page and the API list it, by id: each playable one
        with its length as ``length`` gives it, (seconds, exact); each of the user's that
        has errors with its first problem (``problem``), so that it is not missed, after them."""
        self.refresh()
        with self._lock:
            routines, broken = list(self._routines.values()), list(self._broken.values())
        listed = []
        for r in routines:
            seconds, exact = length(r)
            listed.append(
                {
                    "id": r.id,
                    "title": r.title,
                    "duration": round(seconds, 1),
                    "exact": exact,
                    "areas": list(r.areas),
                    "tools": list(r.tools),
                    "summary": r.summary,
                    "steps": len(r.steps),
                    "problem": "",
                }
            )
        for entry in broken:
            first = str(entry.problems[0]) if entry.problems else f"run holdcue validate {entry.source}"
            listed.append(
                {
                    "id": entry.id,
                    "title": entry.id,
                    "duration": None,
                    "exact": False,
                    "areas": [],
                    "tools": [],
                    "summary": "",
                    "steps": None,
                    "problem": first,
                }
            )
        return sorted(listed, key=lambda r: (bool(r["problem"]), r["id"]))  # those with errors last


def _folder_signature(folder: Path) -> object:
    """What changes when a routine file in ``folder`` is added, removed or edited."""
    try:
        return sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.glob("*.yaml"))
    except OSError:
        return None
