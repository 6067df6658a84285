"""The speech cache: clips on disk, one WAV file each, shared by every holdcue process."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import stat
import struct
import wave
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from holdcue.errors import SpeechError
from holdcue.speech.engine import DEFAULT_LANGUAGE
from holdcue.timeline import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy

    from holdcue import atomic
    from holdcue.routine import Voice

# The largest cache file read: 16 MiB is 380 s of speech at 22050 Hz, far longer than any cue
# (a larger clip is still used, just never stored: it is synthesized again each time).
MAX_ENTRY_BYTES = 16 * 1024 * 1024


class ClipCache:
    """Clips on disk, one WAV file each (mono, 16-bit, 22050 Hz: any player can play them).

    A file is named by the hash of (engine, voice language, rate, volume, text). After its
    data it has a small ``hcck`` chunk (CRC-32 and frame count of the samples), so a damaged
    or cut-short file is noticed and synthesized again. A file is written unnamed and
    linked into place once complete, never over another (``put``), so several processes
    share the cache and a clip, once there, stays as it is.
    """

    FORMAT = 1  # part of every key: bump when clips are made differently

    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def path(self, engine_name: str, voice: Voice, text: str) -> Path:
        language = (voice.language.strip() or DEFAULT_LANGUAGE).lower()
        key = json.dumps([self.FORMAT, engine_name, language, voice.rate, voice.volume, text])
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()}.wav"

    def get(self, engine_name: str, voice: Voice, text: str) -> numpy.ndarray | None:
        """The cached clip, or None when there is none or it is damaged. Only an ordinary file
        of at most MAX_ENTRY_BYTES is read: anything else in its place (a named pipe, a link,
        a folder, a huge file) is a miss, replaced by the next ``put``."""
        data = _read_entry(self.path(engine_name, voice, text))
        return _decode(data) if data is not None else None

    def frames(self, engine_name: str, voice: Voice, text: str) -> int | None:
        """How many samples the cached clip has, read from its header and check chunk alone
        (not decoded, no CRC: cheap enough for ``holdcue list``); None when there is no clip
        or it is not one of ours. ``get`` still checks the whole clip before it is played."""
        return _entry_frames(self.path(engine_name, voice, text))

    def put(self, engine_name: str, voice: Voice, text: str, samples: numpy.ndarray) -> numpy.ndarray | None:
        """Store a clip unless the cache holds one under its key already, and return the clip
        it holds: ``samples``, or the one stored first. A clip once stored is never replaced,
        as processes share the cache and each plans a session with the lengths of the clips
        it got (espeak-ng seldom says a text twice with the same samples): when several make
        the same clip at once, all use the first one stored.

        What is in a clip's place but not a clip (see ``get``) is replaced; an empty folder
        is removed first, a folder with files in it is left (then, as for a clip larger than
        MAX_ENTRY_BYTES, nothing is stored and this returns None)."""
        data = _encode(samples)
        if len(data) > MAX_ENTRY_BYTES:
            return None
        target = self.path(engine_name, voice, text)
        from holdcue import atomic

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            new = atomic.NewFile(target, 0o600)  # private, as the cache always was
            try:
                new.file.write(data)
                if _created(new):
                    return samples
                # Something has the name. Replacing what is not a clip is done under the folder's
                # lock, looking again first, so of two processes that found the same damaged
                # entry the second uses the first one's clip rather than replacing it.
                with _locked(self.directory):
                    kept = self.get(engine_name, voice, text)
                    if kept is not None:
                        return kept
                    if not _cleared(target):
                        return None
                    new.commit()
                    return samples
            finally:
                new.discard()
        except OSError as error:
            raise SpeechError(
                f"Could not write to the speech cache {self.directory}: {error.strerror or error}. "
                "Make it writable, or set HOLDCUE_CACHE_DIR to another folder."
            ) from error


def _created(new: atomic.NewFile) -> bool:
    """``new.create()``; False on a file system without hard links, where a clip is stored
    as a damaged entry is replaced (under the folder's lock, once no clip is there)."""
    try:
        return new.create()
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP):
            raise
        return False


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """The cache folder's lock (flock on the folder itself: no lock file in the cache), held
    by a process that replaces an entry; readers never take it. Released when the process
    ends, however it ends. Where the file system has no locks, the block runs unlocked."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as error:
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP):
                raise
        yield
    finally:
        os.close(fd)


def _cleared(target: Path) -> bool:
    """Make way for a clip at ``target``: an empty folder there is removed; False when a
    folder with files in it is there (not the cache's to delete)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(target.lstat().st_mode):
            try:
                target.rmdir()
            except OSError:
                import logging

                logging.getLogger(__name__).warning("%s is a folder: the clip is not cached", target)
                return False
    return True


def default_cache_dir() -> Path:
    """speech/ in the cache folder (folders.py)."""
    from holdcue import folders

    return folders.cache_dir() / "speech"


def _read_entry(path: Path) -> bytes | None:
    """The bytes of a cache file, or None unless it is an ordinary file of at most
    MAX_ENTRY_BYTES. O_NOFOLLOW: a symbolic link is not followed (to /dev/zero, say);
    O_NONBLOCK: opening a named pipe does not wait for a writer."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY_BYTES:
            return None
        with open(fd, "rb", closefd=False) as file:
            # as much as fstat said (read(n) allocates n bytes first), and one more to see if it grew
            data = file.read(info.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == info.st_size else None  # a file changing as it is read is a miss


# The cache's file format.

_CHECK = struct.Struct("<4sIII")  # chunk id, chunk size, CRC-32 of the samples, frame count

_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")  # the 44-byte header _encode writes: RIFF, WAVE, fmt, data


def _entry_frames(path: Path) -> int | None:
    """The frame count of a cache file from its first 44 and last 16 bytes (see _encode)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        if not stat.S_ISREG(os.fstat(fd).st_mode) or not _HEADER.size + _CHECK.size < size <= MAX_ENTRY_BYTES:
            return None
        header = os.pread(fd, _HEADER.size, 0)
        check = os.pread(fd, _CHECK.size, size - _CHECK.size)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(header) != _HEADER.size or len(check) != _CHECK.size:
        return None
    riff, riff_size, wave_id, fmt, _, _, channels, rate, _, _, width, data, data_size = _HEADER.unpack(header)
    chunk, chunk_size, _, frames = _CHECK.unpack(check)
    ours = (riff, wave_id, fmt, data, chunk, chunk_size) == (b"RIFF", b"WAVE", b"fmt ", b"data", b"hcck", 8)
    shape = (riff_size, channels, rate, width, data_size) == (size - 8, 1, SAMPLE_RATE, 16, 2 * frames)
    return frames if ours and shape and frames > 0 else None


def _encode(samples: numpy.ndarray) -> bytes:
    pcm = samples.astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(SAMPLE_RATE)
        clip.writeframes(pcm)
    data = bytearray(out.getvalue())
    data += _CHECK.pack(b"hcck", _CHECK.size - 8, zlib.crc32(pcm), len(samples))
    struct.pack_into("<I", data, 4, len(data) - 8)  # the RIFF size now includes the check
    return bytes(data)


def _decode(data: bytes) -> numpy.ndarray | None:
    import numpy as np

    if len(data) < 44 + _CHECK.size or data[:4] != b"RIFF":
        return None
    if struct.unpack_from("<I", data, 4)[0] != len(data) - 8:
        return None
    chunk, size, crc, frames = _CHECK.unpack_from(data, len(data) - _CHECK.size)
    if (chunk, size) != (b"hcck", _CHECK.size - 8):
        return None
    try:
        with wave.open(io.BytesIO(data)) as clip:
            if (clip.getnchannels(), clip.getsampwidth(), clip.getframerate()) != (1, 2, SAMPLE_RATE):
                return None
            pcm = clip.readframes(clip.getnframes())
    except (wave.Error, EOFError):
        return None
    if len(pcm) != 2 * frames or frames == 0 or zlib.crc32(pcm) != crc:
        return None
    return np.frombuffer(pcm, "<i2").astype(np.int16)
