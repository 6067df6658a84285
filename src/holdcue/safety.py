"""Safety warnings from the self-massage guidance: never errors, always worth hearing."""

from __future__ import annotations

import re

import yaml

from holdcue.durations import format_duration
from holdcue.fields import Checker, join
from holdcue.routine import Step

LONG_COMPRESSION_MS = 90_000  # the guidance: compress a trigger point for up to 90 seconds
_NECK = re.compile(r"\bneck\b", re.IGNORECASE)

_JOINTS_AND_BONES = re.compile(
    r"\b(knees?|kneecaps?|patellae?|elbows?|spine|spinal column|vertebrae?|hip ?bones?|ankles?|"
    r"shin ?bones?|tibiae?|collar ?bones?|clavicles?|wrists?|sternum|breastbone|tailbone|"
    r"coccyx|skull|jaw ?bone|throat)\b",
    re.IGNORECASE,
)


def check_step(c: Checker, node: yaml.Node, path: str, keys: dict, step: Step, tools: tuple[str, ...]) -> None:
    """Warnings (never errors) from the self-massage guidance."""
    if step.kind in ("compress", "hold", "release") and step.time_ms > LONG_COMPRESSION_MS:
        where = keys.get("time") or keys.get("each") or node
        advice = "limit a compression to 90 seconds; release and come back to it instead"
        c.warn(where, join(path, "time"), f"{format_duration(step.time_ms)} is long for a {step.kind}; {advice}")
    if step.kind == "roll":
        foam_roller = any("foam roller" in tool.lower() for tool in tools)
        if _NECK.search(step.target) or (foam_roller and _NECK.search(step.text)):
            c.warn(node, path, "do not foam roll the neck; work it gently with your hands or a soft ball instead")
    if step.kind in ("roll", "compress") and (bone := _JOINTS_AND_BONES.search(step.target)):
        message = "is a joint or bone; work the muscles around it, never over it"
        c.warn(keys["target"], join(path, "target"), f'"{bone[0]}" {message}')
