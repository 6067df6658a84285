"""New files that appear whole or not at all, for exports and the speech cache.

A file is written unnamed (Linux's O_TMPFILE) in the folder of its target, then given a
name and renamed over the target in one step once complete (``commit``), or linked as the
target only while nothing has that name (``create``: of several processes creating one
file at once, the first keeps it). Until then nothing of it can
be seen, and a process killed part way (even by SIGKILL) leaves nothing behind: the kernel
frees an unnamed file when its last descriptor closes. Where O_TMPFILE is not supported
(other systems, some file systems) the file is a hidden ``.NAME.xxxxxxxx.part`` instead,
removed on any error or interrupt; such files left by a killed process are removed by
later writes to the same target once ``STALE_AFTER`` seconds old.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

STALE_AFTER = 15 * 60  # seconds: a hidden part file this old belongs to no running write
_LINK_TRIES = 100  # random names tried for the moment between linking and renaming


class NewFile:
    """A file being written beside ``target``: ``commit()`` puts it in place, ``discard()``
    removes it. ``file`` is open for reading and writing, positioned at 0."""

    def __init__(self, target: Path, mode: int = 0o666):
        self.target = target
        self.folder = target.parent
        self._hidden: Path | None = None  # the fallback's named temporary file
        self.file: BinaryIO = self._open(mode)

    def _open(self, mode: int) -> BinaryIO:
        tmpfile = getattr(os, "O_TMPFILE", 0)
        if tmpfile:
            try:
                # the mode is applied through the umask, like any new file's
                fd = os.open(self.folder, tmpfile | os.O_RDWR | os.O_CLOEXEC, mode)
                return os.fdopen(fd, "w+b")
            except OSError as error:
                if error.errno not in _NO_TMPFILE:
                    raise
        fd, name = tempfile.mkstemp(dir=self.folder, prefix=f".{self.target.name}.", suffix=".part")
        self._hidden = Path(name)
        try:
            os.fchmod(fd, mode & ~_umask())
            return os.fdopen(fd, "w+b")
        except BaseException:
            os.close(fd)
            self._hidden.unlink(missing_ok=True)
            raise

    def commit(self, sync: bool = True) -> None:
        """Flush the file to disk and rename it over the target. ``sync=False`` leaves the
        writing to disk to the kernel: for a cache whose readers check what they read."""
        self.file.flush()
        if sync:
            os.fsync(self.file.fileno())
        if self._hidden is None:
            self._hidden = self._link()
        os.replace(self._hidden, self.target)
        self._hidden = None
        self.file.close()

    def create(self, sync: bool = True) -> bool:
        """Flush the file and give it the target's name, unless something has that name
        already: True when it did; False when the name is taken, and then the file is still
        here, to ``commit`` over whatever has it or to ``discard``. A hard link never
        replaces anything, so of processes creating one target at once exactly one does, and
        what it created is never changed by the others. OSError (EPERM) on a file system
        without hard links (FAT)."""
        self.file.flush()
        if sync:
            os.fsync(self.file.fileno())
        try:
            if self._hidden is None:
                self._link_as(self.target.name)
            else:
                os.link(self._hidden, self.target, follow_symlinks=False)
        except FileExistsError:
            return False
        self.discard()  # the target has the data now: only the temporary name (if any) goes
        return True

    def discard(self) -> None:
        with contextlib.suppress(OSError):  # flushing what is thrown away may fail (a full disk): it still closes
            self.file.close()
        if self._hidden is not None:
            self._hidden.unlink(missing_ok=True)
            self._hidden = None

    def _link(self) -> Path:
        """A name for the unnamed file, to rename over the target (a link cannot replace a file)."""
        for _ in range(_LINK_TRIES):
            name = f".{self.target.name}.{secrets.token_hex(4)}.part"
            try:
                self._link_as(name)
                return self.folder / name
            except FileExistsError:
                continue
        raise FileExistsError(f"no free temporary name beside {self.target}")

    def _link_as(self, name: str) -> None:
        """Give the unnamed file ``name`` in its folder; FileExistsError when that is taken.
        linkat follows /proc's link to the open file only when given a directory descriptor:
        os.link without one calls link(2), which would link the /proc entry itself."""
        source = f"/proc/self/fd/{self.file.fileno()}"
        folder = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.link(source, name, dst_dir_fd=folder, follow_symlinks=True)
        finally:
            os.close(folder)


@contextlib.contextmanager
def replacing(target: Path, mode: int = 0o666) -> Iterator[BinaryIO]:
    """A new file that replaces ``target`` when the block completes and vanishes when it
    raises anything (KeyboardInterrupt and SystemExit included)."""
    new = NewFile(target, mode)
    try:
        yield new.file
        new.commit()
    except BaseException:
        new.discard()
        raise


def remove_stale_parts(target: Path, older_than: float = STALE_AFTER) -> None:
    """Remove the hidden ``.NAME.xxxxxxxx.part`` files of ``target`` that a killed write left:
    only regular files of this user, named as this module and tempfile name them, not
    modified for ``older_than`` seconds. Errors are ignored: this is tidying, not writing."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.part")
    now = time.time()
    with contextlib.suppress(OSError), os.scandir(target.parent) as entries:
        for entry in entries:
            if not pattern.fullmatch(entry.name):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                mine = stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()
                if mine and now - info.st_mtime > older_than:
                    os.unlink(entry.path)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# errno values meaning "this kernel or file system has no O_TMPFILE": fall back to a named file
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL}  # EISDIR: kernels before 3.11
