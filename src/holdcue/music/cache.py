"""The cache of decoded music, in music/ of the cache folder (``default_cache_dir``).

Decoding and resampling cost far more than mixing (an MP3 decodes at about 900x real time,
a WAV export runs at about 7000x), so the music is kept, decoded at the session's rate, in
the cache folder: later renders of the same file read it back. An entry is a header, the
float32 samples from the file's start (all of it, or as far as a render got: a prefix), and
a CRC-32 of every CACHE_CHUNK samples; a chunk is checked as it is read, and an entry that
does not match its header, its file or its CRCs is a miss (decoded again, and written anew).
Entries are written unnamed and renamed into place whole (holdcue.atomic), not synced: a
power cut can at worst leave a damaged entry, which the CRCs catch. The folder is kept to
CACHE_MAX_BYTES, the least recently used entries going first (``_prune``).

``_cache_for`` gives a render the entry it may read (``_CacheEntry``) and the one it
writes (``_CacheWriter``); bed.py's ``prepare`` fills it ahead of time."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from holdcue import atomic
from holdcue.music.source import FILTER_ZEROS, MusicInfo
from holdcue.routine import Music

if TYPE_CHECKING:
    import numpy

log = logging.getLogger("holdcue.music")  # the package's one logger, whichever file logs

CACHE_CHUNK = 1 << 14  # samples per checked chunk: 64 kB of float32, 0.74 s at 22050 Hz (one block)
CACHE_MAX_BYTES = 1 << 30  # the folder holds at most this much; the least recently used entries go first
CACHE_ENTRY_MAX_SAMPLES = CACHE_MAX_BYTES // 2 // 4  # an entry keeps at most half of that: 101 min at 22050 Hz
CACHE_VERSION = 2  # part of every key: a change of decoding or format makes old entries misses
_MAGIC = b"HCMUSIC1"
_HEADER = struct.Struct("<8sIIQQ")  # magic, rate, chunk, samples held, the music's length in samples
_SUFFIX = ".f32"


def default_cache_dir() -> Path:
    """music/ in the cache folder (folders.py)."""
    from holdcue import folders

    return folders.cache_dir() / "music"


def _cache_key(path: str, rate: int) -> str | None:
    """The entry's file name: the music file (its real path, size, modification time and
    inode: a file changed or replaced is another key) and the rate; None if it is gone."""
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    key = f"{CACHE_VERSION}\0{real}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0{st.st_dev}\0{rate}\0{FILTER_ZEROS}"
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:40] + _SUFFIX


def _cache_for(
    music: Music, info: MusicInfo, rate: int, span: int, heard: int, start: int
) -> tuple[_CacheEntry | None, _CacheWriter | None]:
    """The cache entry of ``music`` at ``rate`` (None: none usable) and, when this render
    starts at the beginning and will need more than the entry holds, a writer for a new one.
    ``heard``: how many session samples the render lasts. Any trouble with the cache
    folder means no cache: the music plays all the same."""
    name = _cache_key(music.path, rate)
    if name is None:
        return None, None
    folder = default_cache_dir()
    entry = _CacheEntry.open(folder / name, rate, span)
    needed = min(span, heard, CACHE_ENTRY_MAX_SAMPLES)  # a short loop is decoded whole at once: it holds all
    if start > 0 or (entry is not None and entry.held >= needed):
        return entry, None
    return entry, _CacheWriter.create(folder, name, rate, span, entry.held if entry else 0)


class _CacheEntry:
    """An entry being read: ``held`` samples from the music's start, checked chunk by chunk."""

    def __init__(self, path: Path, file: BinaryIO, held: int):
        self.path = path
        self.file = file
        self.held = held
        self.chunk_at = -1  # the chunk read last, and its samples
        self.chunk: numpy.ndarray | None = None  # a view of bytes of its own: kept views stay valid
        self.checked: set[int] = set()  # chunks whose CRC matched
        count = -(-held // CACHE_CHUNK)
        file.seek(_HEADER.size + 4 * held)
        self.crcs = struct.unpack(f"<{count}I", file.read(4 * count))

    @classmethod
    def open(cls, path: Path, rate: int, span: int) -> _CacheEntry | None:
        """The entry at ``path`` when it is an ordinary file whose header fits this music
        and its size; else None (and a damaged one is removed)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        file = os.fdopen(fd, "rb")
        try:
            st = os.fstat(fd)
            header = file.read(_HEADER.size)
            if stat.S_ISREG(st.st_mode) and len(header) == _HEADER.size:
                magic, their_rate, chunk, held, their_span = _HEADER.unpack(header)
                expected = _HEADER.size + 4 * held + 4 * -(-held // CACHE_CHUNK)
                fits = (magic, their_rate, chunk, their_span) == (_MAGIC, rate, CACHE_CHUNK, span)
                if fits and 0 < held <= span and st.st_size == expected:
                    entry = cls(path, file, held)
                    os.utime(fd)  # used now: the last to go when the folder is too full
                    return entry
        except OSError:
            pass
        file.close()
        return None  # a writer puts a sound entry in its place

    def samples(self, begin: int, end: int) -> numpy.ndarray | None:
        """Samples [begin, end) (end <= held), or None when a chunk of them is damaged."""
        import numpy as np

        parts = []
        at = begin
        while at < end:
            index = at // CACHE_CHUNK
            chunk = self._chunk(index)
            if chunk is None:
                return None
            base = index * CACHE_CHUNK
            parts.append(chunk[at - base : min(end, base + len(chunk)) - base])
            at = base + len(chunk)
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def _chunk(self, index: int) -> numpy.ndarray | None:
        import numpy as np

        if index != self.chunk_at:
            count = min(CACHE_CHUNK, self.held - index * CACHE_CHUNK)
            try:
                data = os.pread(self.file.fileno(), 4 * count, _HEADER.size + 4 * index * CACHE_CHUNK)
            except OSError:
                return None
            if len(data) != 4 * count or (index not in self.checked and zlib.crc32(data) != self.crcs[index]):
                _remove(self.path)  # the next render from the start writes it anew
                return None
            self.checked.add(index)  # the file is ours, open and unchanged: a loop's next laps need no check
            self.chunk, self.chunk_at = np.frombuffer(data, "<f4"), index
        return self.chunk

    def close(self) -> None:
        self.file.close()


class _CacheWriter:
    """A new entry, written unnamed beside the others as the render decodes the music from
    its start (``add``), and put in place by ``finish`` when it holds more than ``better_than``
    samples. It stops taking samples at CACHE_ENTRY_MAX_SAMPLES. The file is made on the
    first ``add``, so a render that never plays makes none."""

    def __init__(self, folder: Path, name: str, rate: int, span: int, better_than: int):
        self.folder, self.name = folder, name
        self.new: atomic.NewFile | None = None
        self.done = False
        self.rate, self.span, self.better_than = rate, span, better_than
        self.held = 0
        self.crcs: list[int] = []
        self.crc = 0  # of the chunk being written

    @classmethod
    def create(cls, folder: Path, name: str, rate: int, span: int, better_than: int) -> _CacheWriter | None:
        """A writer, or None when the folder cannot be made or is not a folder of its own."""
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            log.info("music is not cached in %s: %s", folder, error.strerror or error)
            return None
        if folder.is_symlink() or not folder.is_dir():
            return None
        return cls(folder, name, rate, span, better_than)

    def _open(self) -> bool:
        target = self.folder / self.name
        atomic.remove_stale_parts(target)  # a killed render's hidden part file, where O_TMPFILE is missing
        try:
            self.new = atomic.NewFile(target, 0o600)
            self.new.file.write(bytes(_HEADER.size))  # the header goes in when the entry is whole
        except OSError as error:
            log.info("music is not cached in %s: %s", self.folder, error.strerror or error)
            self._give_up()
            return False
        return True

    def add(self, begin: int, samples: numpy.ndarray) -> bool:
        """Take samples [begin, begin + len) where they continue the entry; False when the
        entry can take no more (it is then finished or given up)."""
        import numpy as np

        if self.done or (self.new is None and not self._open()):
            return False
        assert self.new is not None
        end = min(begin + len(samples), self.span, CACHE_ENTRY_MAX_SAMPLES)
        if begin > self.held:  # a gap: this render does not read the music in order from its start
            self.finish()
            return False
        if end > self.held:
            data = np.ascontiguousarray(samples[self.held - begin : end - begin], "<f4").data.cast("B")
            try:
                self.new.file.write(data)
            except OSError:
                self._give_up()
                return False
            at = self.held
            while len(data):  # the CRC of each chunk, a chunk ending where a multiple of CACHE_CHUNK does
                take = min(CACHE_CHUNK - at % CACHE_CHUNK, len(data) // 4)
                self.crc = zlib.crc32(data[: 4 * take], self.crc)
                at += take
                data = data[4 * take :]
                if at % CACHE_CHUNK == 0:
                    self.crcs.append(self.crc)
                    self.crc = 0
            self.held = end
        if self.held >= min(self.span, CACHE_ENTRY_MAX_SAMPLES):
            self.finish()
            return False
        return True

    def finish(self) -> None:
        """Put the entry in place if it holds more than the one there; else drop it."""
        self.done = True
        if self.new is None:
            return
        if self.held <= self.better_than:
            self._give_up()
            return
        crcs = self.crcs + ([self.crc] if self.held % CACHE_CHUNK else [])
        try:
            self.new.file.write(struct.pack(f"<{len(crcs)}I", *crcs))
            self.new.file.seek(0)
            self.new.file.write(_HEADER.pack(_MAGIC, self.rate, CACHE_CHUNK, self.held, self.span))
            self.new.commit(sync=False)
        except OSError as error:
            log.info("music is not cached in %s: %s", self.folder, error.strerror or error)
            self._give_up()
            return
        self.new = None
        _prune(self.folder, keep=self.name)

    def _give_up(self) -> None:
        self.done = True
        if self.new is not None:
            self.new.discard()
            self.new = None


def _prune(folder: Path, keep: str) -> None:
    """Remove the least recently used entries until the folder holds at most CACHE_MAX_BYTES."""
    entries = []
    with contextlib.suppress(OSError), os.scandir(folder) as found:
        for item in found:
            with contextlib.suppress(OSError):
                st = item.stat(follow_symlinks=False)
                if item.name.endswith(_SUFFIX) and stat.S_ISREG(st.st_mode):
                    entries.append((st.st_mtime_ns, st.st_size, item.name))
    total = sum(size for _, size, _ in entries)
    for _, size, name in sorted(entries):
        if total <= CACHE_MAX_BYTES:
            break
        if name != keep:
            _remove(folder / name)
            total -= size


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
