"""YAML composed safely for files people write and share: a node tree with a line and
column on every node, no aliases (no alias bombs), no deep nesting, no tags acted on.
Values are read from the tree by their YAML tag, never constructed as Python objects."""

from __future__ import annotations

import yaml

MAX_NESTING = 30  # YAML nesting deeper than any routine needs
# Values (scalars, lists, mappings; keys count) in one file: 500 steps of 50 each. Pure-Python
# PyYAML composes about 20,000 a second (a Raspberry Pi: a quarter of that), so a 1 MB file of
# tiny steps (200,000) would take ten seconds to parse before its steps could be counted.
MAX_NODES = 25_000
STR, INT, FLOAT, BOOL, NULL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null"))
_SCALARS = yaml.constructor.SafeConstructor()


class Refused(Exception):
    def __init__(self, mark: yaml.Mark, message: str):
        self.mark, self.message = mark, message


class Loader(yaml.SafeLoader):
    """The safe loader's composer, refusing aliases (no alias bombs), deep nesting and
    more values than any routine has (a 1 MB file of tiny steps is refused early)."""

    depth = 0
    nodes = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            message = "YAML aliases (*name) are not supported in routine files; write the value out"
            raise Refused(self.peek_event().start_mark, message)
        self.depth += 1
        self.nodes += 1
        try:
            if self.nodes > MAX_NODES:
                message = f"holds more than {MAX_NODES} values, far more than a routine needs; split it into routines"
                raise Refused(self.peek_event().start_mark, message)
            if self.depth > MAX_NESTING:
                raise Refused(self.peek_event().start_mark, "nested too deeply for a routine file")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class At:
    """Stands in for a node where only a mark is known (parser errors)."""

    def __init__(self, mark: yaml.Mark):
        self.start_mark = mark


def syntax_hint(what: str) -> str:
    if "mapping values are not allowed" in what:
        return '; if a text holds ": ", put it in quotes'
    if "'\\t'" in what:
        return "; indent with spaces, not tabs"
    return ""


def scalar(node: yaml.Node) -> object:
    """A scalar node's value: None, bool, int or float by its YAML tag, else its text."""
    if not isinstance(node, yaml.ScalarNode):
        return node
    try:
        if node.tag == NULL:
            return None
        if node.tag == BOOL:
            return _SCALARS.construct_yaml_bool(node)
        if node.tag == INT:
            return _SCALARS.construct_yaml_int(node)
        if node.tag == FLOAT:
            return _SCALARS.construct_yaml_float(node)
    except Exception:  # any tag with any text: a value PyYAML cannot read is text
        pass
    return node.value


def describe(node: yaml.Node | None) -> str:
    """What a node is, for messages: 'a list', '"abc"', 'the number 45'..."""
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if node is None:
        return "nothing"
    value = scalar(node)
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{node.value}"
    if isinstance(value, (int, float)):
        return f"the number {node.value}"
    return f'"{shorten(node.value)}"'


def shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
