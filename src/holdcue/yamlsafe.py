"""YAML composed safely for files people write and share: a node tree with a line and
column on every node, no aliases (no alias bombs), no deep nesting, no tags acted on.
Values are read from the tree by their YAML tag, never constructed as Python objects."""

from __future__ import annotations

import re
from typing import Any

import yaml

MAX_NESTING = 30  # YAML nesting deeper than any routine needs
# Values (scalars, lists, mappings; keys count) in one file: 500 steps of 50 each. Pure-Python
# PyYAML composes about 20,000 a second (a Raspberry Pi: a quarter of that), so a 1 MB file of
# tiny steps (200,000) would take ten seconds to parse before its steps could be counted.
MAX_NODES = 25_000
STR, INT, FLOAT, BOOL, NULL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null"))
_SCALARS = yaml.constructor.SafeConstructor()
# What libyaml reads otherwise than PyYAML: a tab after "key:" (PyYAML refuses it), a byte
# order mark past the start, the Unicode line breaks; and (_REFUSED, PyYAML's reader's own
# pattern, not compiled again: that takes milliseconds at every start) what its reader refuses.
_READ_OTHERWISE = re.compile("[\t\ufeff\x85\u2028\u2029]")
_REFUSED = yaml.reader.Reader.NON_PRINTABLE
ALIAS_MESSAGE = "YAML aliases (*name) are not supported in holdcue's files; write the value out"
NESTING_MESSAGE = "nested too deeply for a holdcue file"


class Refused(Exception):
    def __init__(self, mark: Any, message: str):  # PyYAML's Mark or libyaml's: both have line and column
        self.mark, self.message = mark, message


class Loader(yaml.SafeLoader):
    """The safe loader's composer, refusing aliases (no alias bombs), deep nesting and
    more values than any routine has (a 1 MB file of tiny steps is refused early)."""

    depth = 0
    nodes = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise Refused(self.peek_event().start_mark, ALIAS_MESSAGE)
        self.depth += 1
        self.nodes += 1
        try:
            if self.nodes > MAX_NODES:
                message = f"holds more than {MAX_NODES} values, far more than any holdcue file needs; split it"
                raise Refused(self.peek_event().start_mark, message)
            if self.depth > MAX_NESTING:
                raise Refused(self.peek_event().start_mark, NESTING_MESSAGE)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def compose(text: str) -> yaml.Node | None:
    """The node tree of ``text`` (None for an empty document), composed by libyaml when
    PyYAML was built with it: ten times faster, which is most of the time ``holdcue list``
    takes. Aliases and deep nesting are refused first, on libyaml's stream of events, as
    Loader refuses them. A text libyaml will not compose, or whose characters PyYAML's
    reader refuses, goes through Loader, so that every message is PyYAML's own.
    Raises Refused, yaml.MarkedYAMLError or yaml.reader.ReaderError."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None and not _READ_OTHERWISE.search(text) and not _REFUSED.search(text):
        try:
            _refuse(yaml.parse(text, Loader=fast))
            root = yaml.compose(text, Loader=fast)
        except yaml.YAMLError:
            pass  # PyYAML says what is wrong, in its own words
        else:
            if not _has_empty_value(root):
                return root
            # libyaml marks an empty value where the next token starts, PyYAML where the key
            # ends: messages about empty values point where PyYAML points
    loader = Loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _has_empty_value(root: yaml.Node | None) -> bool:
    nodes = [root] if root is not None else []
    while nodes:
        node = nodes.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.value == "" and not node.style:
                return True
        elif isinstance(node, yaml.SequenceNode):
            nodes.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            nodes.extend(item for pair in node.value for item in pair)
    return False


def _refuse(events) -> None:
    """What Loader.compose_node refuses, found in a stream of events: an alias anywhere,
    a node more than MAX_NESTING deep."""
    open_ = 0  # collections around the next node
    for event in events:
        if isinstance(event, yaml.AliasEvent):
            raise Refused(event.start_mark, ALIAS_MESSAGE)
        if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)) and open_ + 1 > MAX_NESTING:
            raise Refused(event.start_mark, NESTING_MESSAGE)
        if isinstance(event, yaml.CollectionStartEvent):
            open_ += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            open_ -= 1


class At:
    """Stands in for a node where only a mark is known (parser errors)."""

    def __init__(self, mark: Any):  # PyYAML's Mark or libyaml's
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
