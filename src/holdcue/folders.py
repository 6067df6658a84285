"""The user's folders, looked up in one place: where holdcue keeps settings, data and caches.

Each is an environment variable when it is set (for tests, a second profile, a folder on
another disk), else the platform's folder for holdcue (platformdirs: on Linux, the XDG base
directories). A leading ``~`` is expanded in both. Every store names its own subfolder:

    config_dir()  ~/.config/holdcue       config.yaml, plan.yaml, routines/   HOLDCUE_CONFIG_DIR
    data_dir()    ~/.local/share/holdcue  journal.sqlite3, voices/           HOLDCUE_DATA_DIR
    cache_dir()   ~/.cache/holdcue        speech/, music/                    HOLDCUE_CACHE_DIR

Nothing is created here: each store makes its folder when it first writes.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "holdcue"


def config_dir() -> Path:
    return _folder("HOLDCUE_CONFIG_DIR", "user_config_dir")


def data_dir() -> Path:
    return _folder("HOLDCUE_DATA_DIR", "user_data_dir")


def cache_dir() -> Path:
    return _folder("HOLDCUE_CACHE_DIR", "user_cache_dir")


def _folder(variable: str, platform_folder: str) -> Path:
    base = os.environ.get(variable)
    if not base:
        import platformdirs  # only when no variable names the folder: it costs a few ms at start

        base = getattr(platformdirs, platform_folder)(APP)
    return Path(base).expanduser()
