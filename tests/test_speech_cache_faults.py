"""Hostile things in the speech cache's place: each is a miss, synthesized again and replaced,
without hanging, reading without end or touching what a link points to."""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from holdcue.routine import Voice
from holdcue.speech import ClipCache
from holdcue.speech.cache import MAX_ENTRY_BYTES
from holdcue.speech.engine import trim_silence

ENGINE = "tone"
TEXT = "Hold."
MEMORY_LIMIT = 2 << 30  # bytes of address space for the child: reading /dev/zero to the end would pass it
TIME_LIMIT = 30  # seconds for the child: a named pipe opened for reading would block it for ever

# In a child process, so a hang or runaway read fails the test instead of taking the test run with it.
CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np
    from holdcue.routine import Voice
    from holdcue.speech import ClipCache, synthesize_all

    class ToneEngine:
        name = "tone"
        def synthesize(self, text, voice):
            return (8000 * np.sin(np.arange(900) * 0.3)).astype(np.int16) + 1

    cache = ClipCache(Path(sys.argv[1]))
    clip = synthesize_all(["Hold."], Voice(), cache=cache, engine_factory=ToneEngine)["Hold."]
    again = cache.get("tone", Voice(), "Hold.")
    print(json.dumps({"clip": clip.tolist(), "cached": None if again is None else again.tolist()}))
    """
)


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def expected_clip() -> list[int]:
    return trim_silence((8000 * np.sin(np.arange(900) * 0.3)).astype(np.int16) + 1).tolist()


def sparse(size: int):
    def make(entry: Path) -> None:
        with open(entry, "wb") as file:
            file.truncate(size)  # no disk used: the size is a hole

    return make


def link_to(target: str):
    def make(entry: Path) -> None:
        entry.symlink_to(target)

    return make


def full_folder(entry: Path) -> None:
    entry.mkdir()
    (entry / "keep.txt").write_text("someone's file")


def device(entry: Path) -> None:
    try:
        os.mknod(entry, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # the device /dev/zero is
    except PermissionError:
        pytest.skip("making a device node needs root; the link to /dev/zero covers the same read")


HOSTILE = {
    "named pipe": os.mkfifo,
    "link to /dev/zero": link_to("/dev/zero"),
    "link to a file elsewhere": None,  # made in the test: it needs a file outside the cache
    "link to itself": lambda entry: entry.symlink_to(entry.name),
    "empty folder": Path.mkdir,
    "folder with a file": full_folder,
    "huge sparse file": sparse(64 << 30),
    "file one byte over the bound": sparse(MAX_ENTRY_BYTES + 1),
    "device node": device,
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_entry_is_a_miss_and_replaced(tmp_path, case):
    cache = ClipCache(tmp_path / "cache")
    cache.directory.mkdir()
    entry = cache.path(ENGINE, Voice(), TEXT)
    outside = tmp_path / "precious.wav"
    if case == "link to a file elsewhere":
        outside.write_bytes(b"not the cache's to change")
        entry.symlink_to(outside)
    else:
        HOSTILE[case](entry)
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(cache.directory)],
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT,
        preexec_fn=limited,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    assert out["clip"] == expected_clip()
    if case == "folder with a file":  # not the cache's to delete: the clip is used, not cached
        assert out["cached"] is None and (entry / "keep.txt").read_text() == "someone's file"
    else:
        assert out["cached"] == expected_clip()
        assert stat.S_ISREG(entry.lstat().st_mode)
    if outside.exists():
        assert outside.read_bytes() == b"not the cache's to change"
    assert [p.name for p in cache.directory.iterdir()] == [entry.name]  # no temporary file left


def test_a_clip_at_the_bound_is_still_read(tmp_path):
    """The bound is on the file's size: a valid entry of exactly MAX_ENTRY_BYTES is a hit."""
    cache = ClipCache(tmp_path)
    frames = (MAX_ENTRY_BYTES - 44 - 16) // 2  # bytes of the WAV header and of holdcue's check chunk
    clip = (np.arange(frames) % 2000 + 1).astype(np.int16)
    cache.put(ENGINE, Voice(), TEXT, clip)
    assert cache.path(ENGINE, Voice(), TEXT).stat().st_size == MAX_ENTRY_BYTES
    assert np.array_equal(cache.get(ENGINE, Voice(), TEXT), clip)
