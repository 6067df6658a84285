"""A drawing of a session (docs/timeline.md, "The drawing"): its timeline as SVG text, the
one picture that ``holdcue show --svg`` writes and the phone page shows.

A row per step (the introduction and the end have their own), in order down the drawing;
in each, the step's stretches as blocks on the session's one time axis, so that every
block's width is in proportion to its time: the hold dark, getting ready and resting light,
each side's hold labelled L or R where it is wide enough. Each cue is a tick at its time:
a spoken one tall, a tone short. A row is a group ``<g class="row" data-step="N">`` (N as
the status counts steps, 0 for the introduction and the end), so that a front end can mark
the step under way with a class of its own; the root's ``data-left`` and ``data-track`` say
where the time axis runs, for a mark of where the session is.

Pure: a Timeline in, text out. Every word in it comes from a routine file, which may be
anyone's: all of it is escaped, characters XML cannot hold are replaced, and the drawing
refers to nothing outside itself (no links, scripts, styles or fonts to fetch).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from xml.sax.saxutils import escape as _escape

from holdcue.text import clock
from holdcue.timeline import Segment, Timeline

WIDTH = 360  # drawing units: at a phone's 360 px, one unit is about a pixel
MARGIN = 8
TRACK = WIDTH - 2 * MARGIN  # the time axis's length
LABEL = 16  # height of a row's title
BAR = 18  # height of a row's blocks
TICK_SPEECH = 8  # how far a spoken cue's tick reaches below the blocks
TICK_TONE = 4
ROW = LABEL + BAR + TICK_SPEECH + 6
AXIS = 22  # the minutes under the rows
FONT = 12
TITLE_CHARS = 54  # a row's title is cut to what fits the width at FONT

COLOURS = {  # by phase: the work dark, the rest light
    "hold": "#1f5f8b",
    "prepare": "#8fb8d6",
    "announce": "#c9dceb",
    "rest": "#d9d4c7",
    "transition": "#e8e4d8",
    "intro": "#e8e4d8",
    "outro": "#e8e4d8",
}
SIDE_COLOURS = {"left": "#1f5f8b", "right": "#3d7d5a"}  # a side's hold: one colour each side
SPEECH = "#b4462b"
TONE = "#444444"
INK = "#222222"
LANE = "#f1eee6"  # the whole session behind each row's blocks: where in it the step falls
SIDE_LETTERS = {"left": "L", "right": "R"}

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def escape(text: str) -> str:
    """``text`` as XML character data or an attribute value (in double quotes): markup
    escaped, and characters XML 1.0 cannot hold (control characters) replaced."""
    return _escape(_NOT_XML.sub("\ufffd", text), {'"': "&quot;", "'": "&apos;"})


@dataclass(frozen=True)
class Row:
    step: int  # as the status counts steps: 1 is the first, 0 for the introduction and the end
    title: str
    segments: tuple[Segment, ...]
    first: int  # index of its first segment in the timeline


def rows(timeline: Timeline) -> list[Row]:
    """The timeline's segments in runs of one step each (the introduction and the end too)."""
    found: list[Row] = []
    for index, segment in enumerate(timeline.segments):
        step = segment.step + 1 if segment.step >= 0 else 0
        if found and found[-1].step == step and found[-1].segments[-1].step == segment.step:
            last = found[-1]
            found[-1] = Row(last.step, last.title, (*last.segments, segment), last.first)
        else:
            found.append(Row(step, segment.title, (segment,), index))
    return found


def scale(timeline: Timeline) -> float:
    """Drawing units per sample: the whole session spans the track."""
    return TRACK / max(timeline.length, 1)


def draw(timeline: Timeline) -> str:
    """The session as an SVG document (see the module's docstring)."""
    per_sample = scale(timeline)
    lines = rows(timeline)
    row_of = {}
    for number, row in enumerate(lines):
        for offset in range(len(row.segments)):
            row_of[row.first + offset] = number
    height = len(lines) * ROW + AXIS
    steps = sum(1 for row in lines if row.step)
    summary = f"Timeline of {timeline.title}: {steps} step{'s' * (steps != 1)}, {clock(timeline.duration)}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="{escape(summary)}" font-family="sans-serif" font-size="{FONT}" '
        f'data-left="{MARGIN}" data-track="{TRACK}">',
        f"<title>{escape(summary)}</title>",
        f'<rect class="paper" width="{WIDTH}" height="{height}" fill="#fdfcf8"/>',
    ]
    for number, row in enumerate(lines):
        parts.extend(_row(row, number * ROW, per_sample))
    parts.append('<g class="cues">')
    for event in timeline.events:
        top = row_of.get(event.segment, 0) * ROW + LABEL
        x = _x(event.start, per_sample)
        reach = TICK_SPEECH if event.kind == "speech" else TICK_TONE
        colour = SPEECH if event.kind == "speech" else TONE
        what = event.text if event.kind == "speech" else f"{event.name} tone"
        parts.append(
            f'<line class="tick {escape(event.kind)}" x1="{x}" x2="{x}" y1="{top + BAR - reach}" '
            f'y2="{top + BAR + reach}" stroke="{colour}" stroke-width="1.5">'
            f"<title>{escape(clock(timeline.seconds(event.start)))} {escape(what)}</title></line>"
        )
    parts.append("</g>")
    parts.extend(_axis(timeline, len(lines) * ROW, per_sample))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _row(row: Row, top: float, per_sample: float) -> Iterator[str]:
    title = row.title if len(row.title) <= TITLE_CHARS else row.title[: TITLE_CHARS - 1] + "…"
    label = f"{row.step}. {title}" if row.step else title
    yield f'<g class="row" data-step="{row.step}">'
    yield f'<rect class="band" x="0" y="{top}" width="{WIDTH}" height="{ROW}" fill="none"/>'
    yield f'<text x="{MARGIN}" y="{top + LABEL - 4}" fill="{INK}">{escape(label)}</text>'
    yield f'<rect class="lane" x="{MARGIN}" y="{top + LABEL}" width="{TRACK}" height="{BAR}" fill="{LANE}"/>'
    for segment in row.segments:
        x, width = _x(segment.start, per_sample), _w(segment.end - segment.start, per_sample)
        side = segment.side if segment.phase == "hold" else ""
        colour = SIDE_COLOURS.get(side) or COLOURS.get(segment.phase, COLOURS["transition"])
        yield (
            f'<rect class="block {escape(segment.phase)}" data-phase="{escape(segment.phase)}" '
            f'data-side="{escape(segment.side)}" data-start="{segment.start}" data-end="{segment.end}" '
            f'x="{x}" y="{top + LABEL}" width="{width}" height="{BAR}" fill="{colour}"/>'
        )
        if side and width >= FONT:
            yield (
                f'<text class="side" x="{round(x + width / 2, 2)}" y="{top + LABEL + BAR - 5}" '
                f'text-anchor="middle" fill="#ffffff">{SIDE_LETTERS.get(side, "")}</text>'
            )
    yield "</g>"


def _axis(timeline: Timeline, top: float, per_sample: float) -> Iterator[str]:
    """The minutes under the rows: a mark every minute (every 5 or 10 in a long session)."""
    minutes = timeline.duration / 60
    every = 1 if minutes <= 10 else 5 if minutes <= 40 else 10
    yield f'<g class="axis" fill="{INK}" font-size="{FONT - 1}">'
    yield (
        f'<line x1="{MARGIN}" x2="{WIDTH - MARGIN}" y1="{top + 2}" y2="{top + 2}" stroke="{INK}" stroke-width="0.5"/>'
    )
    mark = 0
    while mark * 60 <= timeline.duration:
        x = _x(round(mark * 60 * timeline.rate), per_sample)
        anchor = "start" if mark == 0 else "middle"
        yield f'<line x1="{x}" x2="{x}" y1="{top}" y2="{top + 5}" stroke="{INK}" stroke-width="0.5"/>'
        if mark == 0 or x < WIDTH - MARGIN - 36:  # the total's label has the right end
            yield f'<text x="{x}" y="{top + 16}" text-anchor="{anchor}">{mark}:00</text>'
        mark += every
    yield f'<text x="{WIDTH - MARGIN}" y="{top + 16}" text-anchor="end">{escape(clock(timeline.duration))}</text>'
    yield "</g>"


def _x(sample: int, per_sample: float) -> float:
    return round(MARGIN + sample * per_sample, 2)


def _w(samples: int, per_sample: float) -> float:
    return round(samples * per_sample, 2)
