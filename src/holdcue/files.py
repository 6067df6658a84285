"""Reading the files people hand to holdcue (routines, tones) safely: regular files only,
bounded in size, and never blocking on a FIFO or a device that happens to have the name."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotARegularFile(OSError):
    """The path names a FIFO, a device, a socket or a folder."""


class TooLarge(OSError):
    """The file is larger than the caller allows; ``size`` is its size in bytes."""

    def __init__(self, size: int):
        super().__init__(f"{size} bytes")
        self.size = size


def read_regular(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of the regular file at ``path`` (links followed), at most ``limit`` of them.

    Opened without blocking (a FIFO would wait for a writer forever) and checked on the open
    file, so nothing can be swapped in between the check and the read. Raises
    FileNotFoundError, NotARegularFile, TooLarge, or another OSError.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"{Path(path)} is not a regular file")
        if info.st_size > limit:
            raise TooLarge(info.st_size)
        chunks = []
        left = limit + 1  # a file that grows while it is read is still caught
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise TooLarge(len(data))
    return data


def expand_user(path: str) -> Path:
    """``~/x`` and ``~name/x`` as Path; ValueError (with a message for people) when the user
    is unknown, where Path.expanduser raises RuntimeError."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        user = path[1:].split("/", 1)[0]
        raise ValueError(f'there is no user "{user}" for "~{user}"; write the full path') from None


def occupy_closed_descriptors() -> None:
    """/dev/null on standard descriptors (0, 1, 2) that are closed, so that no file holdcue
    opens (the journal, an export, the sound server's socket) gets their number and
    receives what is meant for them."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:  # a lower one was free after all: keep only the one that was asked for
                os.dup2(opened, fd)
                os.close(opened)
