"""YAML composed safely for files people write and share: a node tree with a line and
column on every node, no aliases (no alias bombs), no deep nesting, no tags acted on.
Values are read from the tree by their YAML tag, never constructed as Python objects."""

from __future__ import annotations

import yaml

MAX_NESTING = 30  # YAML nesting deeper than any routine needs
STR, INT, FLOAT, BOOL, NULL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null"))
_SCALARS = yaml.constructor.SafeConstructor()


class Refused(Exception):
    def __init__(self, mark: yaml.Mark, message: str):
        self.mark, self.message = mark, message


class Loader(yaml.SafeLoader):
    """The safe loader's composer, refusing aliases (no alias bombs) and deep nesting."""

    depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            message = "YAML aliases (*name) are not supported in routine files; write the value out"
            raise Refused(self.peek_event().start_mark, message)
        self.depth += 1
        try:
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


# The parser's words for the slips people make with indentation, and what they mean.
_INDENTATION = (
    (
        "but found '<block sequence start>'",
        'a "- " is indented differently from the one before it: start every step (every item '
        'of a list) with "- " in the same column',
    ),
    (
        "expected <block end>, but found",
        "this line is indented differently from the keys above it: line up each key of a step with the first key after "
        'its "- ", and put top-level keys (title:, steps:) at the very start of the line',
    ),
    (
        "mapping values are not allowed here",
        "this line is indented further than the line above it, so it reads as part of that line's text: line up "
        "the keys of a step with each other",
    ),
)


def syntax_message(what: str, before: str = "") -> str:
    """A YAML syntax error in the words of someone writing a file: the common indentation
    slips explained ("expected <block end>, but found '?'"), the parser's text otherwise.
    ``before``: the error's line up to where it was found."""
    if "mapping values are not allowed" in what and ": " in before:  # "hold: Press: and hold" on one line
        return f"YAML syntax error: {what}{syntax_hint(what)}"
    for found, meaning in _INDENTATION:
        if found in what:
            return f"YAML syntax error: {meaning}"
    return f"YAML syntax error: {what}{syntax_hint(what)}"


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
