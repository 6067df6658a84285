"""The phone page (docs/service.md, "The page"): its files, read once, and its HTML made
from index.html, a template with three places to fill: today's session, the routines by
area and by tool. Every text that comes from a routine file or the plan is escaped."""

from __future__ import annotations

import html
import logging
import string
from pathlib import Path
from typing import Any

from holdcue.core import Core, NoPlan
from holdcue.errors import HoldcueError
from holdcue.text import clock

log = logging.getLogger("holdcue.web")  # one logger for the web layer, as the service's log has always named it

ASSETS = Path(__file__).parent  # the page's files sit beside this package's modules (package data of the wheel)
TEMPLATE = "index.html"
STATIC = {  # served as they are: path -> (file, Content-Type)
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}


class Page:
    """The page's files, read once: index.html as a template, the rest as they are served."""

    def __init__(self, folder: Path = ASSETS):
        self.template = string.Template((folder / TEMPLATE).read_text(encoding="utf-8"))
        self.files = {path: ((folder / file).read_bytes(), kind) for path, (file, kind) in STATIC.items()}

    def render(self, core: Core) -> str:
        routines = core.catalog.summaries()
        return self.template.substitute(
            today=today_block(core),
            by_area=groups(routines, "areas", "area"),
            by_tool=groups(routines, "tools", "tool"),
        )


def today_block(core: Core) -> str:
    """Today's session as a button (the same choice as POST /api/today and the button), or
    why there is none: a rest day and the next session, no plan, a plan with errors."""
    try:
        today = core.today()
    except NoPlan:
        return '<p class="quiet" data-no-plan>No weekly plan yet.</p>'
    except HoldcueError as error:
        log.warning("the weekly plan cannot say what today brings: %s", error)
        return '<p class="quiet" data-plan-error>The weekly plan has errors: run holdcue plan.</p>'
    if today.routine is None:
        return f'<p class="quiet" data-rest>{html.escape(today.message)}</p>'
    title, length = html.escape(today.title), clock(today.seconds)
    return (
        f'<button type="button" class="today" data-today aria-label="Play today\'s session: {title}, {length}">'
        f'<span class="label">Today</span> <span class="name">{title}</span> <span class="time">{length}</span>'
        "</button>"
    )


def groups(routines: list[dict[str, Any]], key: str, word: str) -> str:
    """A collapsible section for each area (or tool), with the routines that have it."""
    names = sorted(
        {name for r in routines for name in r[key]} | ({"other"} if any(not r[key] for r in routines) else set())
    )
    sections = []
    for name in names:
        members = [r for r in routines if name in r[key] or (name == "other" and not r[key])]
        items = "\n".join(routine_item(r, key) for r in members)
        sections.append(
            f'<details class="group" data-{word}="{html.escape(name)}"><summary>{html.escape(name.capitalize())} '
            f'<span class="count">({len(members)})</span></summary><ul class="routines">{items}</ul></details>'
        )
    return "\n".join(sections)


def routine_item(routine: dict[str, Any], grouped_by: str) -> str:
    title = html.escape(routine["title"])
    length = clock(routine["duration"])
    detail = ", ".join(routine["tools"] if grouped_by == "areas" else routine["areas"])
    return (
        f'<li><button type="button" class="routine" data-routine="{html.escape(routine["id"])}" '
        f'aria-label="Play {title}, {length}"><span class="name">{title}</span> '
        f'<span class="time">{length}</span><span class="detail">{html.escape(detail)}</span></button></li>'
    )
