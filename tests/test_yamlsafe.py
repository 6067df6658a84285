"""yamlsafe.compose takes libyaml's fast path only where it composes exactly what PyYAML's
own composer does: the same tree, the same tags, values and marks, or a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from holdcue import yamlsafe

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(ROOT.glob("src/holdcue/routines/*.yaml")) + sorted(ROOT.glob("tests/fixtures/routines/**/*.yaml"))


def shape(node):
    """A node tree as plain data: kinds, tags, values and where each node starts."""
    if node is None:
        return None
    where = (node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, node.style or None, where)  # plain: libyaml "", PyYAML None
    if isinstance(node, yaml.SequenceNode):
        return ("seq", node.tag, where, [shape(item) for item in node.value])
    return ("map", node.tag, where, [(shape(k), shape(v)) for k, v in node.value])


def slow(text: str):
    loader = yamlsafe.Loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def outcome(compose, text: str):
    try:
        return "ok", shape(compose(text))
    except yamlsafe.Refused as refused:
        return "refused", refused.message, refused.mark.line, refused.mark.column
    except (yaml.YAMLError, yaml.reader.ReaderError) as error:
        return "error", type(error).__name__


def test_libyaml_is_there_to_be_tested():
    assert yaml.__with_libyaml__  # PyYAML's wheels carry it; without it compose is only the slow way


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_routine_file_composes_the_same(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    assert outcome(yamlsafe.compose, text) == outcome(slow, text)


PIECES = st.sampled_from(
    ["title", "steps", "- ", "  ", "    ", ":", ": ", "\n", "\t", "hold", "time: 30s", "'", '"', "#", "{", "}",
     "[", "]", ",", "!!int", "!!str", "!!bool", "&a", "*a", "? ", "|", ">", "---", "...", "%YAML 1.1", "é", "1e9",
     "-1", "null", "~", "yes", "\r\n", "\ufeff", "\x85", "\u2028"]
)  # fmt: skip


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, max_size=40).map("".join))
def test_any_text_composes_the_same_or_fails_the_same(text):
    """What both compose is the same tree to the mark, and what PyYAML refuses (aliases,
    nesting) is refused the same. libyaml, YAML's reference parser, takes a few odd
    constructs PyYAML calls syntax errors (a comment right after a block scalar's "|"):
    those load."""
    fast, reference = outcome(yamlsafe.compose, text), outcome(slow, text)
    if reference[0] != "error" or fast[0] != "ok":
        assert fast == reference
