"""Fixtures shared by several test files. Helpers that are not fixtures live in plain
modules beside the tests (speech_support.py, compiler_helpers.py, audio_stack.py)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def config_dir(tmp_path, monkeypatch) -> Path:
    """An empty config folder of the test's own (HOLDCUE_CONFIG_DIR): no user plan, no user routines."""
    folder = tmp_path / "config"
    (folder / "routines").mkdir(parents=True)
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def own_journal(tmp_path_factory, monkeypatch):
    """Sessions played by tests (holdcue play, in this process or a child) are recorded in a
    journal of their own, never in the user's (HOLDCUE_DATA_DIR, see journal.py)."""
    monkeypatch.setenv("HOLDCUE_DATA_DIR", str(tmp_path_factory.mktemp("data")))


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 256 KiB file system, to run out of space on (mounting needs root: CI has it)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a small tmpfs: {mounted.stderr.decode()}")
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory) -> Path:
    """A wheel built from this checkout, once per run, as pip builds it for an install."""
    folder = tmp_path_factory.mktemp("wheel")
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(root)]
    if importlib.util.find_spec("hatchling"):
        command.insert(4, "--no-build-isolation")  # fast, and needs no download
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (wheel,) = folder.glob("holdcue-*.whl")
    return wheel
