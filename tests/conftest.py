"""Fixtures shared by several test files. Helpers that are not fixtures live in plain
modules beside the tests (speech_support.py, compiler_helpers.py, audio_stack.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def own_journal(tmp_path_factory, monkeypatch):
    """Sessions played by tests (holdcue play, in this process or a child) are recorded in a
    journal of their own, never in the user's (HOLDCUE_DATA_DIR, see journal.py)."""
    monkeypatch.setenv("HOLDCUE_DATA_DIR", str(tmp_path_factory.mktemp("data")))
