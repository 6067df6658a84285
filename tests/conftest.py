"""What several test files share: the marker for tests that need real espeak-ng."""

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
