"""What several test files share: the marker for tests that need real espeak-ng, and a
prelude for programs that must run as if it were not installed."""

from __future__ import annotations

import ctypes.util
import os
import shutil

import pytest

HAVE_ESPEAK = bool(shutil.which("espeak-ng") and ctypes.util.find_library("espeak-ng"))


def espeak_test(test):
    """Real espeak-ng: skipped where it is missing, except under CI=true, where it must be there."""
    skip = pytest.mark.skipif(
        not HAVE_ESPEAK and os.environ.get("CI") != "true",
        reason="espeak-ng is not installed (sudo apt-get install espeak-ng)",
    )
    return skip(pytest.mark.speech(test))


# Python code that makes loading the espeak-ng library fail, as on a machine without it;
# a test runs it in a child process before the code under test.
WITHOUT_ESPEAK = """
import ctypes
_load = ctypes.cdll.LoadLibrary
def _refuse_espeak(name):
    if "espeak" in str(name):
        raise OSError(f"{name}: cannot open shared object file")
    return _load(name)
ctypes.cdll.LoadLibrary = _refuse_espeak
"""


@pytest.fixture(autouse=True)
def own_journal(tmp_path_factory, monkeypatch):
    """Sessions played by tests (holdcue play, in this process or a child) are recorded in a
    journal of their own, never in the user's (HOLDCUE_DATA_DIR, see journal.py)."""
    monkeypatch.setenv("HOLDCUE_DATA_DIR", str(tmp_path_factory.mktemp("data")))
