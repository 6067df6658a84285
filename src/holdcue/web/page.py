"""The phone page (docs/service.md, "The page"): its files, read once, and its HTML made
from index.html, a template with places to fill: today's session, the chips that filter
the routines by area and by tool, and the routines, each once. Also the page a person
gets instead of a JSON error (a phone that is not paired), the web app manifest and its
icons. Every text that comes from a routine file, the plan or a request is escaped."""

from __future__ import annotations

import html
import json
import logging
import string
from collections import Counter
from pathlib import Path
from typing import Any

from holdcue.core import Core, NoPlan
from holdcue.errors import HoldcueError
from holdcue.text import length
from holdcue.web.icons import SIZES as ICON_SIZES
from holdcue.web.icons import png

log = logging.getLogger("holdcue.web")  # one logger for the web layer, as the service's log has always named it

ASSETS = Path(__file__).parent  # the page's files sit beside this package's modules (package data of the wheel)
TEMPLATE = "index.html"
STATIC = {  # served as they are: path -> (file, Content-Type)
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
ICONS = {f"/icon-{size}.png": size for size in ICON_SIZES}
MANIFEST = "/manifest.webmanifest"
# Served without the token: nothing in them is private, and a browser fetches the manifest
# and its icons without cookies; the page that says how to pair a phone needs its style.
PUBLIC = frozenset({"/style.css", "/favicon.svg", MANIFEST, *ICONS})
FILES = (*STATIC, MANIFEST, *ICONS)  # every path of Page.files
THEME = "#1f5f8b"  # style.css's --accent: the phone's bar above the page


class Page:
    """The page's files, read once: index.html as a template, the rest as they are served."""

    def __init__(self, folder: Path = ASSETS):
        self.template = string.Template((folder / TEMPLATE).read_text(encoding="utf-8"))
        self.files = {path: ((folder / file).read_bytes(), kind) for path, (file, kind) in STATIC.items()}
        self.files[MANIFEST] = (json.dumps(manifest(), indent=1).encode(), "application/manifest+json")
        self.files.update({path: (png(size), "image/png") for path, size in ICONS.items()})

    def render(self, core: Core) -> str:
        routines = core.routines()
        return self.template.substitute(
            today=today_block(core),
            areas=chips(routines, "areas", "area"),
            tools=chips(routines, "tools", "tool"),
            routines="\n".join(routine_item(r) for r in routines),
            count=len(routines),
        )


def manifest() -> dict[str, Any]:
    """The web app manifest: the page added to a phone's home screen opens on its own."""
    return {
        "name": "holdcue",
        "short_name": "holdcue",
        "description": "A voice guide for self-massage: the remote of the speaker's sessions.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#fdfcf8",
        "theme_color": THEME,
        "icons": [
            {"src": "/favicon.svg", "sizes": "any", "type": "image/svg+xml"},
            *(
                {"src": path, "sizes": f"{size}x{size}", "type": "image/png", "purpose": "any maskable"}
                for path, size in ICONS.items()
            ),
        ],
    }


def today_block(core: Core) -> str:
    """Today's session as a button (the same choice as POST /api/today and the button), or
    why there is none: a rest day and the next session, no plan, a plan with errors."""
    try:
        today = core.today()
    except NoPlan:
        return '<p class="quiet" data-no-plan>No weekly plan yet (holdcue plan makes one).</p>'
    except HoldcueError as error:
        log.warning("the weekly plan cannot say what today brings: %s", error)
        return '<p class="quiet" data-plan-error>The weekly plan has errors: run holdcue plan.</p>'
    if today.routine is None:
        return f'<p class="quiet" data-rest>{html.escape(today.message)}</p>'
    return (
        f'<button type="button" class="today" data-today data-seconds="{today.seconds:.1f}">'
        f'<span class="label">Today</span> <span class="name">{html.escape(today.title)}</span> '
        f'<span class="time">{length(today.seconds, today.exact)}</span></button>'
    )


def chips(routines: list[dict[str, Any]], key: str, word: str) -> str:
    """A toggle button for each area (or tool) the routines have, with how many have it."""
    counts = Counter(name for r in routines for name in r[key])
    return "\n".join(
        f'<button type="button" class="chip" data-{word}="{html.escape(name)}" aria-pressed="false">'
        f'{html.escape(name)} <span class="count">{count}</span></button>'
        for name, count in sorted(counts.items())
    )


def routine_item(routine: dict[str, Any]) -> str:
    """A routine of the list: a button that plays it, named by what it shows (title, length,
    areas and tools); one with errors shows its first problem and plays nothing."""
    title = html.escape(routine["title"])
    tags = [*routine["areas"], *routine["tools"]]
    words = " ".join([routine["id"], routine["title"], routine["summary"], *tags]).casefold()
    attributes = (
        f'data-areas="{html.escape(json.dumps(routine["areas"]))}" '
        f'data-tools="{html.escape(json.dumps(routine["tools"]))}" data-words="{html.escape(words)}"'
    )
    if routine["problem"]:
        return (
            f'<li class="item" {attributes}><div class="routine broken" data-broken="{html.escape(routine["id"])}">'
            f'<span class="name">{title}</span> <span class="time">has errors</span>'
            f'<span class="detail">{html.escape(routine["problem"])}</span></div></li>'
        )
    shown = length(routine["duration"], routine["exact"])
    detail = " · ".join(html.escape(tag) for tag in tags)
    return (
        f'<li class="item" {attributes}>'
        f'<button type="button" class="routine" data-routine="{html.escape(routine["id"])}" '
        f'data-seconds="{routine["duration"]}" data-exact="{str(routine["exact"]).lower()}">'
        f'<span class="name">{title}</span> <span class="time">{shown}</span>'
        f'<span class="detail">{detail}</span></button></li>'
    )


# -- the pages a person gets instead of a JSON error ------------------------------------------

REFUSAL_HEADINGS = {
    401: "This phone is not paired with holdcue",
    403: "This request is not allowed",
    404: "There is nothing here",
    405: "There is nothing here",
}
PAIRING = (
    "<p>On the Raspberry Pi (or the computer that runs holdcue), run</p><p><code>holdcue pair</code></p>"
    "<p>and open the link it shows on this phone, or scan its QR code. "
    "After <code>holdcue pair --renew</code>, every phone needs the new link.</p>"
)


def wants_html(accept: str | None, path: str) -> bool:
    """A person's browser asking for a page (not the API, not a script's fetch): an
    error is answered with a page to read rather than JSON."""
    return not path.startswith("/api/") and "text/html" in (accept or "")


def refusal_page(status: int, message: str) -> str:
    """An error as a page for a phone: what happened, and what to do."""
    heading = REFUSAL_HEADINGS.get(status, "Something went wrong")
    advice = PAIRING if status == 401 else '<p><a href="/">Back to holdcue</a></p>'
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f"<title>{html.escape(heading)} - holdcue</title>\n"
        '<link rel="icon" href="/favicon.svg" type="image/svg+xml">\n'
        '<link rel="stylesheet" href="/style.css">\n</head>\n<body class="refusal">\n<main>\n'
        f"<h1>{html.escape(heading)}</h1>\n{advice}\n"
        f'<p class="quiet">The service said ({status}): {html.escape(message)}</p>\n'
        "</main>\n</body>\n</html>\n"
    )
