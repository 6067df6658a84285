"""The user's folders: one lookup (folders.py) that every store uses, with the environment
variable first, a leading ~ expanded, and the platform's folders otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from holdcue import config, folders, journal, library, music, plan
from holdcue.speech import cache as speech_cache
from holdcue.speech import piper

VARIABLES = ("HOLDCUE_CONFIG_DIR", "HOLDCUE_DATA_DIR", "HOLDCUE_CACHE_DIR")


@pytest.fixture
def home(tmp_path, monkeypatch):
    for name in (*VARIABLES, "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_without_variables_the_platforms_folders(home):
    assert folders.config_dir() == home / ".config" / "holdcue"
    assert folders.data_dir() == home / ".local" / "share" / "holdcue"
    assert folders.cache_dir() == home / ".cache" / "holdcue"


def test_a_variable_names_the_folder_and_a_tilde_in_it_is_the_home(home, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", "~/settings")
    monkeypatch.setenv("HOLDCUE_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", "~/cache")
    assert folders.config_dir() == home / "settings"
    assert folders.data_dir() == home / "data"
    assert folders.cache_dir() == home / "cache"


def test_every_store_lives_in_its_folder(home, monkeypatch):
    for name, folder in zip(VARIABLES, ("~/c", "~/d", "~/k"), strict=True):
        monkeypatch.setenv(name, folder)
    assert config.config_path() == home / "c" / "config.yaml"
    assert library.user_routine_dir() == home / "c" / "routines"
    assert plan.user_plan_path() == home / "c" / "plan.yaml"
    assert journal.default_path() == home / "d" / "journal.sqlite3"
    assert piper.voices_dir() == home / "d" / "voices"
    assert speech_cache.default_cache_dir() == home / "k" / "speech"
    assert music.default_cache_dir() == home / "k" / "music"


def test_nothing_is_created_by_looking(home):
    for folder in (folders.config_dir(), folders.data_dir(), folders.cache_dir()):
        assert isinstance(folder, Path) and not folder.exists()
