"""scripts/check-arm64 without QEMU: what it can be asked without building anything. Its real
run (debootstrap, a chroot under emulation, 15 minutes and more) is made by hand
(CONTRIBUTING.md, "The Pi's architecture")."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check-arm64"


def run(*args: str, path: str | None = None, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    if path is not None:
        env["PATH"] = path
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=30)


def test_bash_reads_it():
    checked = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_an_unknown_release_is_refused_before_anything_is_done(tmp_path):
    done = run("buster", cache=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: scripts/check-arm64 [bookworm|trixie|all]")
    assert list(tmp_path.iterdir()) == []  # no cache folder, no lock


def test_help_is_the_usage_line(tmp_path):
    done = run("--help", cache=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: scripts/check-arm64")


def test_without_root_it_stops_saying_so_before_installing_anything(tmp_path):
    # id answers as an ordinary user; apt-get, if the script reached it, would leave a mark.
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "id").write_text('#!/bin/sh\n[ "$1" = -u ] && echo 1000\n')
    (stubs / "apt-get").write_text(f"#!/bin/sh\ntouch {tmp_path}/apt-get-ran\n")
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    cache = tmp_path / "cache"
    done = run("bookworm", path=f"{stubs}:{os.environ['PATH']}", cache=cache)
    assert done.returncode == 3
    assert "check-arm64: needs root" in done.stderr
    assert not (tmp_path / "apt-get-ran").exists()
    assert not cache.exists()


def test_the_fast_subset_names_test_files_that_exist():
    # A renamed test file would otherwise fail the check only after its emulated setup.
    text = SCRIPT.read_text()
    subset = re.search(r"^fast_tests=\((.*?)\)", text, re.M | re.S)
    assert subset is not None
    files = subset.group(1).split()
    assert len(files) >= 3
    assert [f for f in files if not (ROOT / f).is_file()] == []


def test_every_exit_code_it_uses_is_in_its_header():
    text = SCRIPT.read_text()
    header, body = text.split("set -euo pipefail", 1)
    documented = {int(code) for code in re.findall(r"^#\s+(\d+)\s", header, re.M)}
    used = {int(code) for code in re.findall(r"\b(?:exit|die) (\d+)\b", body)}
    used -= {130, 143}  # Ctrl-C and TERM, the shell's own codes
    assert used <= documented, f"exit codes not in the header: {sorted(used - documented)}"
    assert documented == {0, 1, 2, 3}


def test_it_is_executable():
    assert os.access(SCRIPT, os.X_OK)
