"""The lock: uv.lock matches pyproject.toml, covers every machine holdcue runs on, is what the
venv holds, and scripts/setup installs nothing else (a file whose hash differs stops it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging import tags
from packaging.tags import Tag
from packaging.utils import parse_wheel_filename

ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.prefix) / "uv" / "bin" / "uv"  # where scripts/setup puts it
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
# (interpreter tag, platform) of the machines: Raspberry Pi OS bookworm and trixie, and desktops.
TARGETS = [(py, arch) for py in ("3.11", "3.13") for arch in ("x86_64", "aarch64")]
# Built from source where they have no wheel: simpleaudio everywhere (scripts/setup installs
# its compiler and headers), lgpio under Python 3.13 (the pi extra, README), docopt (pure
# Python, num2words' command line) everywhere.
BUILT_FROM_SOURCE = {"simpleaudio-patched", "lgpio", "docopt"}


def locked() -> dict[str, list[dict]]:
    packages: dict[str, list[dict]] = {}
    for package in LOCK["package"]:
        packages.setdefault(package["name"], []).append(package)
    return packages


def supported(python: str, arch: str) -> set[Tag]:
    """The wheel tags pip and uv accept on CPython `python` ("3.11") on Debian bookworm's glibc
    (2.36; trixie's is newer) on `arch`."""
    version = tuple(int(part) for part in python.split("."))
    legacy = [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]  # 2_17, 2_12, 2_5
    platforms = [f"manylinux_2_{minor}_{arch}" for minor in range(36, 4, -1)] + legacy
    return {
        *tags.cpython_tags(version, platforms=platforms),
        *tags.compatible_tags(version, interpreter=f"cp{version[0]}{version[1]}", platforms=platforms),
    }


def test_the_lock_matches_pyproject():
    if not UV.exists():
        pytest.fail(f"no uv at {UV}: run scripts/setup --test")
    checked = subprocess.run([str(UV), "lock", "--check", "--offline"], cwd=ROOT, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr + "\nrun scripts/lock (CONTRIBUTING.md)"


def test_every_locked_package_installs_from_a_wheel_on_each_machine():
    accepted = {(python, arch): supported(python, arch) for python, arch in TARGETS}
    missing = []
    for name, versions in locked().items():
        if name == "holdcue" or name in BUILT_FROM_SOURCE:
            continue
        # A package may be locked twice (numpy: one release for 3.11, a newer for 3.13).
        wheels = [parse_wheel_filename(w["url"].rsplit("/", 1)[1])[3] for v in versions for w in v.get("wheels", [])]
        for python, arch in TARGETS:
            if not any(wheel & accepted[python, arch] for wheel in wheels):
                missing.append(f"{name} ({python}, {arch})")
    assert missing == [], "no wheel for these: a Pi would compile them, or fail"


def test_every_locked_file_has_a_hash():
    for package in LOCK["package"]:
        for file in [package.get("sdist", {}), *package.get("wheels", [])]:
            if file:
                assert re.fullmatch(r"sha256:[0-9a-f]{64}", file["hash"]), package["name"]


def test_the_venv_holds_exactly_the_locked_versions():
    versions = {name: {v.get("version") for v in vs} for name, vs in locked().items()}
    versions["holdcue"] = {metadata.version("holdcue")}  # this checkout, installed editable
    installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version for d in metadata.distributions()}
    installed.pop("pip", None)  # the venv's own, which uv leaves alone
    assert set(installed) <= set(versions), "installed but not locked"
    for name, version in installed.items():
        assert version in versions[name], (name, version, versions[name])


def test_uv_itself_is_pinned_by_hash_and_is_the_version_the_lock_asks_for():
    pinned = (ROOT / "scripts" / "uv-requirements.txt").read_text()
    version = re.search(r"^uv==(\S+) \\$", pinned, re.M)
    assert version, pinned[:200]
    assert pinned.count("--hash=sha256:") >= 2
    assert f'required-version = "=={version[1]}"' in (ROOT / "pyproject.toml").read_text()


def test_a_file_whose_hash_differs_stops_the_setup_with_one_sentence(tmp_path):
    """The real scripts/setup and uv: a lock whose hash for click's wheel was altered."""
    checkout = tmp_path / "holdcue"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(".venv*", ".git", "*cache*", "tests"))
    lock = checkout / "uv.lock"
    click = next(p for p in LOCK["package"] if p["name"] == "click")
    good = click["wheels"][0]["hash"]
    lock.write_text(lock.read_text().replace(good, "sha256:" + "0" * 64))
    env = {
        **os.environ,
        "HOLDCUE_NO_LINK": "1",
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "PYTHON": sys._base_executable,
    }
    done = subprocess.run(
        [str(checkout / "scripts" / "setup")], cwd=checkout, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 6, done.stderr
    assert "does not match the hash uv.lock records for it" in done.stderr.splitlines()[-1]
    assert "Hash mismatch for `click==" in (checkout / ".venv" / "install.log").read_text()
    assert not (checkout / ".venv" / ".holdcue-installed").exists()
    assert not (checkout / ".venv" / "bin" / "holdcue").exists()
