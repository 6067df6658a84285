"""A Routine written back as the text of a routine file (docs/routines.md): what
``holdcue compose`` prints. Loading the text gives the same routine again.

Written: the title, summary, areas, tools, safety, the voice and cues that differ from the
defaults (a preparation that waits for a press as ``prep: press``), side words, and each
step's kind, text, title, time (or count and each), sides, repeat, rest, target, until and
remind, side words and cues. What names a file (tones, music) and
pronunciations are not written: a routine that has them is refused with ValueError, rather
than written without them.
"""

from __future__ import annotations

from dataclasses import fields

import yaml

from holdcue.durations import format_duration
from holdcue.routine import REMIND_MS, SIDES, Cues, Routine, Say, Step, Voice

_SIDES = {SIDES: "both", ("left",): "left", ("right",): "right"}


def dump(routine: Routine) -> str:
    """The routine as routine file text (YAML); ValueError for what it cannot write."""
    unwritten = [
        name
        for name, value in (
            ("music", routine.music),
            ("cues.tones", routine.cues.tones),
            ("pronounce", routine.pronounce),
        )
        if value
    ]
    if unwritten:
        raise ValueError(f"cannot write {', '.join(unwritten)} as a routine file")
    top: dict = {"title": routine.title}
    if routine.summary:
        top["summary"] = routine.summary
    for name in ("areas", "tools", "safety"):
        if getattr(routine, name):
            top[name] = list(getattr(routine, name))
    if voice := _voice(routine.voice):
        top["voice"] = voice
    if cues := _cues(routine.cues):
        top["cues"] = cues
    if routine.side_words:
        top["side_words"] = dict(routine.side_words)
    top["steps"] = [_step(step) for step in routine.steps]
    return yaml.safe_dump(top, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)


def _voice(voice: Voice) -> dict:
    default = Voice()
    return {f.name: getattr(voice, f.name) for f in fields(Voice) if getattr(voice, f.name) != getattr(default, f.name)}


_CUE_KEYS = {  # Cues field: (key in the file, written as a duration)
    "prep_ms": ("prep", True),
    "countdown": ("countdown", False),
    "countdown_style": ("countdown_style", False),
    "halfway": ("halfway", False),
    "time_left_every_ms": ("time_left", True),
    "breathe_every_ms": ("breathe", True),
    "switch_ms": ("switch", True),
    "legend": ("legend", False),
}


def _cues(cues: Cues) -> dict:
    """Every cue setting that is not the default; a reminder of 0 is written as false (off)."""
    default, written = Cues(), dict[str, object]()
    for name, (key, duration) in _CUE_KEYS.items():
        value = getattr(cues, name)
        if name == "prep_ms" and cues.prep_press:
            written[key] = "press"  # the time is then the longest wait for it, as the loader sets it
            continue
        if value == getattr(default, name):
            continue
        if duration and name.endswith("_every_ms") and value == 0:
            written[key] = False
        else:
            written[key] = format_duration(value) if duration else value
    return written


def _step(step: Step) -> dict:
    written: dict = {step.kind: step.text}
    if step.title:
        written["title"] = step.title
    if step.count:
        written["count"] = step.count
        written["each"] = format_duration(step.time_ms // step.count)
    else:
        written["time"] = format_duration(step.time_ms)
    if step.sides:
        written["sides"] = _SIDES[step.sides]
    if step.repeat != 1:
        written["repeat"] = step.repeat
    if step.rest_ms:
        written["rest"] = format_duration(step.rest_ms)
    if step.target:
        written["target"] = step.target
    if step.until:
        written["until"] = step.until
        if step.remind_ms != REMIND_MS:
            written["remind"] = format_duration(step.remind_ms) if step.remind_ms else False
    if step.side_words:
        written["side_words"] = dict(step.side_words)
    if step.say:
        written["say"] = [_say(say) for say in step.say]
    return written


def _say(say: Say) -> dict:
    if say.at_fraction == 0.5:
        at = "half"
    elif say.at_fraction is not None:
        at = f"{say.at_fraction * 100:g}%"
    else:
        at = format_duration(say.at_ms or 0)
    return {"at": at, "text": say.text}
