"""Music under the voice: a sound file (anything libsndfile reads: WAV, FLAC, OGG, MP3)
decoded as it plays, mixed down to mono, resampled to the session's rate, looped or played
once, faded in and out, and turned down under every cue (docs/routines.md, "Music").

Memory stays flat however long the music or the session: a ``Bed`` has the file decoded a
few chunks ahead of the render (``_Decoder``: threads side by side, one a core, so decoding
overlaps mixing and encoding) and lets each chunk go once it is read past; only a short
looped file (at most ``KEEP_SECONDS``, 16 MB at 22050 Hz) is kept whole after it is decoded
once, so that its later laps cost no decoding. Where a loop starts again, the file's last
``CROSSFADE`` seconds overlap its first (equal-power), so the seam is not heard.

Decoding and resampling cost far more than the rest of a render, so what a render decodes
from the file's start is also written to the cache folder (``default_cache_dir``), at the
session's rate, and later renders of the same file read it back (see "the cache of decoded
music" below; ``prepare`` fills it ahead of time). The samples are the same either way.

Ducking: the renderer knows exactly where every speech clip and tone sounds, so the
sidechain is the timeline itself and it looks ahead. The music starts down ``ATTACK``
seconds before a cue and is fully ``duck_db`` lower when the cue begins; it stays down while
the cue sounds and comes back over ``RELEASE`` seconds after it ends. Cues less than
``HOLD`` apart count as one, so the music stays down under a countdown or a run of words
instead of pumping. Both ramps are raised cosines in dB. The gain at a sample depends only
on the cues and the sample, never on block boundaries: live play and export sound alike.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import logging
import math
import os
import re
import stat
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import yaml

from holdcue import atomic
from holdcue.errors import MusicError
from holdcue.fields import Checker, given, optional
from holdcue.files import expand_user
from holdcue.routine import Music
from holdcue.yamlsafe import NULL, describe, scalar

if TYPE_CHECKING:
    import numpy

ATTACK = 0.25  # seconds: the music goes down this long before a cue (look-ahead), down in full as it starts
RELEASE = 0.75  # seconds: and comes back up over this long after the cue
HOLD = ATTACK + RELEASE  # seconds: cues closer than this are one (no pumping); their ramps never overlap
CROSSFADE = 2.0  # seconds a looped file's end overlaps its start
FADE_IN = 2.0  # seconds the music rises over at the start of the session
RESUME_FADE = 0.25  # seconds it rises over where playback starts later (resume, skip): no click
FADE_OUT = 5.0  # seconds it falls over before the session ends
KEEP_SECONDS = 190  # a looped file this short is decoded once and kept: at most 16 MB (float32) at 22050 Hz
MIN_SECONDS = 1.0  # a shorter file is a tone, not music
MAX_HOURS = 24  # longer than any session; a header claiming more is damaged
MIN_RATE, MAX_RATE = 8000, 384_000  # sample rates, Hz
MAX_CHANNELS = 8
LEVEL_RANGE = (-60.0, 0.0)  # dB: level and duck; 0 dB is as mastered (music is never made louder)
FILTER_ZEROS = 8  # the resampling filter reaches this many output samples either side
READ_STEP = 1 << 16  # samples decoded or read from the cache at a time: fewer, larger reads
PART_SECONDS = 10  # music is decoded ahead in chunks this long (in whole READ_STEPs), side by side, one a core
AHEAD = 2  # chunks decoded past the one being read, when not all are kept: 3 MB held at most

_DB = re.compile(r"([+-]?[0-9]+(?:\.[0-9]+)?)\s*dB", re.IGNORECASE)


@dataclass(frozen=True)
class MusicInfo:
    format: str  # libsndfile's name: "WAV", "FLAC", "OGG", "MP3"...
    channels: int
    rate: int  # frames per second
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


MUSIC_KEYS = ("file", "level", "duck", "loop")
EXAMPLE = '"music: forest.ogg", or "music: {file: forest.ogg, level: -18 dB}"'


def from_yaml(checker: Checker, node: yaml.Node, path: str, base_dir: Path | None, relative_to: str) -> Music | None:
    """``music: FILE`` or ``music: {file: FILE, level: -18 dB, duck: -12 dB, loop: true}``
    (``false``: none) as Music, with the file checked (music_info); every problem reported
    on ``checker``. ``base_dir``: where a relative path starts (None: it must be absolute);
    ``relative_to`` names that folder in messages ("the routine file's folder")."""
    if isinstance(node, yaml.ScalarNode) and scalar(node) is False:
        return None
    if isinstance(node, yaml.MappingNode):
        keys = checker.mapping(node, path, MUSIC_KEYS)
        if "file" not in keys:
            checker.missing(node, f"{path}.file", "name the sound file, e.g. file: forest.ogg")
            return None
        file = _file(checker, keys["file"], f"{path}.file", base_dir, relative_to)
        level = optional(keys, "level", path, _level, checker)
        duck = optional(keys, "duck", path, _level, checker)
        loop = optional(keys, "loop", path, checker.boolean)
    elif isinstance(node, yaml.ScalarNode) and node.tag != NULL:
        file = _file(checker, node, path, base_dir, relative_to)
        level = duck = loop = None
    else:
        checker.report(node, path, f"must be a sound file or a mapping, like {EXAMPLE}; not {describe(node)}")
        return None
    if file is None:
        return None
    return Music(file, **given(level_db=level, duck_db=duck, loop=loop))


def _file(checker: Checker, node: yaml.Node, path: str, base_dir: Path | None, relative_to: str) -> str | None:
    """The absolute path of a usable music file, or None with the problem reported."""
    text = checker.text(node, path, "name the sound file, e.g. forest.ogg")
    if text is None:
        return None
    try:
        file = expand_user(text)
    except ValueError as error:
        checker.report(node, path, str(error))
        return None
    if not file.is_absolute():
        if base_dir is None:
            checker.report(
                node, path, f'"{text}" is a relative path, but there is no folder to start from; use an absolute path'
            )
            return None
        file = base_dir / file
    try:
        music_info(file)
    except ValueError as error:
        hint = f" (a relative path starts at {relative_to})" if str(error) == "does not exist" else ""
        checker.report(node, path, f'"{text}" {error}{hint}')
        return None
    return str(file.resolve())


def _level(node: yaml.Node, path: str, checker: Checker) -> float | None:
    try:
        return gain_db(scalar(node) if isinstance(node, yaml.ScalarNode) else None)
    except ValueError as error:
        checker.report(node, path, str(error))
        return None


def gain_db(value: object) -> float:
    """A level as written: ``"-18 dB"`` or a factor like ``0.3`` (0 < f <= 1), in dB.
    ValueError saying what to write otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError('must be a level like "-18 dB" or a factor like 0.3')
    low, high = LEVEL_RANGE
    if isinstance(value, str):
        match = _DB.fullmatch(value.strip())
        if match is None:
            raise ValueError(f'"{value}" is not a level; write one like "-18 dB" or a factor like 0.3')
        db = float(match[1])
    elif 0 < value <= 1:
        db = 20 * math.log10(value)
    else:
        raise ValueError(f'{value} is not a factor from 0 to 1; write one like 0.3, or a level like "-18 dB"')
    if not low <= db <= high:
        raise ValueError(f"{db:g} dB is out of range; use {low:g} dB to {high:g} dB (0 dB: as the file is)")
    return db


def music_info(path: str | os.PathLike) -> MusicInfo:
    """The header of a music file, checked for everything playing it needs; ValueError with a
    message saying what is wrong otherwise. Only the header is read; a FIFO or device is
    refused without waiting on it."""
    import soundfile

    try:
        with _open(path) as file:
            info = MusicInfo(file.format, file.channels, file.samplerate, file.frames)
    except FileNotFoundError:
        raise ValueError("does not exist") from None
    except IsADirectoryError:
        raise ValueError("is not a regular file; give a sound file") from None
    except (soundfile.LibsndfileError, RuntimeError):
        raise ValueError("is not a sound file holdcue can read; use WAV, FLAC, OGG or MP3") from None
    except OSError as error:
        raise ValueError(f"cannot be read ({error.strerror or error})") from None
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise ValueError(f"has {info.channels} channels; music has 1 to {MAX_CHANNELS}")
    if not MIN_RATE <= info.rate <= MAX_RATE:
        raise ValueError(f"has a sample rate of {info.rate} Hz; use one from {MIN_RATE} to {MAX_RATE} Hz")
    if info.seconds < MIN_SECONDS:
        raise ValueError(f"lasts {info.seconds:.2f}s; music must last at least {MIN_SECONDS:g}s")
    if info.seconds > MAX_HOURS * 3600:
        raise ValueError(f"says it lasts over {MAX_HOURS} hours; the file is damaged")
    return info


def _open(path: str | os.PathLike):
    """A SoundFile reading ``path``, checked to be a regular file on the open descriptor (so
    nothing can be swapped in between), opened without blocking on a FIFO."""
    import soundfile

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    if not regular:
        os.close(fd)
        raise IsADirectoryError(f"{path} is not a regular file")
    return soundfile.SoundFile(fd, closefd=True)  # libsndfile closes the descriptor when it cannot open it


class Bed:
    """The music of one render: session samples [start, length) asked for in order with
    ``take(begin, end)``, leveled, faded and ducked under ``cues``; ``close()`` when done.
    Opening checks the file again (it may have changed since the routine was loaded) and
    raises MusicError when it cannot be played."""

    def __init__(
        self,
        music: Music,
        rate: int,
        length: int,
        cues: Iterable[tuple[int, int]],
        *,
        start: int = 0,
        volume: float = 1.0,
    ):
        try:
            info = music_info(music.path)
        except ValueError as error:
            raise MusicError(music.path, f"the music file {error}") from None
        self.music = music
        self.rate = rate
        self.length = length
        self.start = start
        self.scale = 10 ** (music.level_db / 20) * volume
        self.ducking = Ducking(cues, rate, music.duck_db)
        self.info = info
        self.span = resampled_length(info, rate)  # the music's length in session samples
        self.reader: _Decoder | None = None  # decoding ahead of the render, when the cache does not hold a sample
        self.cached, self.writer = _cache_for(music, info, rate, self.span, length - start, start)
        self.overlap = min(round(CROSSFADE * rate), self.span // 4) if music.loop else 0
        self.period = self.span - self.overlap  # a loop starts again this often
        self.head: numpy.ndarray | None = None  # the first ``overlap`` samples, kept for every seam
        self.kept: numpy.ndarray | None = None  # the whole music, when it is short (_samples)
        self.decoding: _Decoder | None = None  # filling ``kept``, while it does
        fade_in = FADE_IN if start == 0 else RESUME_FADE
        self.fade_in = max(1, min(round(fade_in * rate), (length - start) // 4))
        self.fade_out = max(1, min(round(FADE_OUT * rate), length // 4))

    def take(self, begin: int, end: int, out: numpy.ndarray | None = None) -> numpy.ndarray:
        """float32 samples of the music as heard at session samples [begin, end), written
        into ``out`` (end - begin float32 samples) when given."""
        import numpy as np

        if out is None:
            out = np.empty(end - begin, np.float32)
        scale = np.float32(self.scale)
        if self.music.loop:
            self._looped(begin, end, out, scale)
        else:
            self._once(begin, end, out, scale)
        fades = self._fades(begin, end)
        if fades is not None:
            out *= fades
        self.ducking.apply(out, begin, end)
        return out

    def close(self) -> None:
        """Closes the file and the cache entry; what was decoded from the start is kept
        in the cache (a longer entry than the one there, at least)."""
        for decoder in (self.decoding, self.reader):
            if decoder is not None:
                decoder.close()
        self.decoding = self.reader = None
        if self.cached is not None:
            self.cached.close()
            self.cached = None
        if self.writer is not None:
            self.writer.finish()
            self.writer = None

    def _samples(self, begin: int, end: int) -> numpy.ndarray:
        """The music's samples [begin, end) at the session's rate (not to be written to). A
        file that loops and is short (KEEP_SECONDS at most) is decoded (or read from the
        cache) once, on its first use, and kept: its later laps cost no decoding, reading
        or checking. A longer one is read again each lap, so memory stays bounded."""
        import numpy as np

        if self.kept is None and self.music.loop and self.span <= KEEP_SECONDS * self.rate:
            kept = np.empty(self.span, np.float32)
            if self.cached is not None and self.cached.held >= self.span:
                for a in range(0, self.span, READ_STEP):  # from the cache (decoded where it is damaged)
                    kept[a : a + READ_STEP] = self._source(a, min(a + READ_STEP, self.span))
                self.close()  # the cache entry (and an entry being written, if damaged) are done with
            else:  # the decoding writes the cache entry, when it has it all
                self.decoding = _Decoder(self.music.path, self.info, self.rate, 0, self.span, kept, self.writer)
                self.writer = None
            self.kept = kept
        if self.kept is not None:
            if self.decoding is not None:
                self.decoding.wait(begin, end)
            return self.kept[begin:end]
        return self._source(begin, end)

    def _source(self, begin: int, end: int) -> numpy.ndarray:
        """Samples [begin, end) from the cache when it holds them whole and undamaged, else
        decoded; the cache entry being written takes them when they continue it."""
        part = None
        if self.cached is not None and end <= self.cached.held:
            part = self.cached.samples(begin, end)
            if part is None:  # damaged: decode from here on; this render writes a sound entry when it can
                self.cached.close()
                self.cached = None
        if part is None:
            if self.reader is None or not self.reader.continues(begin):  # a new lap, or the first samples
                if self.reader is not None:
                    self.reader.close()
                self.reader = _Decoder(self.music.path, self.info, self.rate, begin, self._extent())
            part = self.reader.samples(begin, end)
        if self.writer is not None and not self.writer.add(begin, part):
            self.writer = None
        return part

    def _extent(self) -> int:
        """How far into the music this render may read: a looped file to its end, one
        played once as far as the session lasts."""
        return self.span if self.music.loop else min(self.span, self.length)

    def _once(self, begin: int, end: int, out: numpy.ndarray, scale: numpy.float32) -> None:
        import numpy as np

        stop = max(begin, min(end, self.span))
        if begin < stop:
            np.multiply(self._samples(begin, stop), scale, out=out[: stop - begin])
        out[stop - begin :] = 0.0

    def _looped(self, begin: int, end: int, out: numpy.ndarray, scale: numpy.float32) -> None:
        import numpy as np

        at = begin
        while at < end:
            lap, p = divmod(at, self.period)
            count = min(end - at, self.period - p)
            into = out[at - begin : at - begin + count]
            if lap == 0 or p >= self.overlap:
                np.multiply(self._samples(p, p + count), scale, out=into)
            else:  # a seam: the file's start rises while its end (from the lap before) falls
                seam = min(count, self.overlap - p)
                part = np.empty(count, np.float32)
                rise = np.sin(0.5 * np.pi * (np.arange(p, p + seam) + 0.5) / self.overlap)
                fall = np.cos(0.5 * np.pi * (np.arange(p, p + seam) + 0.5) / self.overlap)
                tail = self._samples(self.period + p, self.period + p + seam)
                part[:seam] = self._head()[p : p + seam] * rise + tail * fall
                if count > seam:
                    part[seam:] = self._samples(p + seam, p + count)
                np.multiply(part, scale, out=into)
            at += count

    def _head(self) -> numpy.ndarray:
        if self.head is None:
            self.head = self._samples(0, self.overlap)
        return self.head

    def _fades(self, begin: int, end: int) -> numpy.ndarray | None:
        """Raised-cosine fade in from ``start`` and out to the session's end; None where
        neither reaches (most blocks)."""
        import numpy as np

        if begin >= self.start + self.fade_in and end <= self.length - self.fade_out:
            return None
        t = np.arange(begin, end, dtype=np.float64)
        rising = np.clip((t - self.start + 0.5) / self.fade_in, 0, 1)
        falling = np.clip((self.length - t - 0.5) / self.fade_out, 0, 1)
        return (0.25 * (1 - np.cos(np.pi * rising)) * (1 - np.cos(np.pi * falling))).astype(np.float32)


class Ducking:
    """The gain of the music at each sample, from where the cues are (``(start, end)``
    sample pairs): 1.0 away from cues, ``10**(depth_db/20)`` under them, raised-cosine ramps
    in dB between (ATTACK before, RELEASE after). Every ramp is the same, so both are
    computed once, as tables of gains by sample."""

    def __init__(self, cues: Iterable[tuple[int, int]], rate: int, depth_db: float):
        import numpy as np

        self.attack = max(1, round(ATTACK * rate))
        self.release = max(1, round(RELEASE * rate))
        self.depth_db = depth_db
        merged: list[list[int]] = []
        for start, end in sorted(c for c in cues if c[1] > c[0]):
            if merged and start - merged[-1][1] < self.attack + self.release:  # closer than HOLD: one span
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self.starts = [m[0] for m in merged]
        self.spans = merged
        self.down = np.float32(10 ** (depth_db / 20))
        # sample j of a ramp is at (j + 0.5) / length of its way down (attack) or back (release)
        self.going_down = self._ramp((np.arange(self.attack) + 0.5) / self.attack)
        self.coming_back = self._ramp((self.release - np.arange(self.release) - 0.5) / self.release)

    def _ramp(self, u: numpy.ndarray) -> numpy.ndarray:
        """Gains (float32) at fractions ``u`` of the way down: a raised cosine in dB."""
        import numpy as np

        return (10 ** (self.depth_db * 0.5 * (1 - np.cos(np.pi * u)) / 20)).astype(np.float32)

    def gains(self, begin: int, end: int) -> numpy.ndarray | None:
        """The music's gain at samples [begin, end); None when it is 1 throughout (no cue near)."""
        import numpy as np

        gains = np.ones(end - begin, np.float32)
        return gains if self.apply(gains, begin, end) else None

    def apply(self, out: numpy.ndarray, begin: int, end: int) -> bool:
        """Multiply ``out`` (samples [begin, end)) by the gain, in place, only where it is
        not 1; whether any was."""
        if self.depth_db == 0:
            return False
        touched = False
        # spans that can reach [begin, end): those starting before end + attack and ending after begin - release
        first = max(0, bisect.bisect_left(self.starts, begin - self.release) - 1)
        for start, stop in self.spans[first:]:
            if start - self.attack >= end:
                break
            if stop + self.release <= begin:
                continue
            touched = True
            a, b = max(begin, start - self.attack), min(end, start)
            if a < b:
                out[a - begin : b - begin] *= self.going_down[a - start + self.attack : b - start + self.attack]
            a, b = max(begin, start), min(end, stop)
            if a < b:  # between the ramps the music is all the way down
                out[a - begin : b - begin] *= self.down
            a, b = max(begin, stop), min(end, stop + self.release)
            if a < b:
                out[a - begin : b - begin] *= self.coming_back[a - stop : b - stop]
        return touched


class _Decoder:
    """The music's samples [begin, stop) decoded ahead of the render, in chunks of
    PART_SECONDS handed out in order to threads of their own, one a core, each with a
    reader of its own (a sample depends only on the frames near it, so chunks read by
    different readers join without a seam). ``wait(a, b)`` returns as soon as samples
    [a, b) are there: a render's first block waits for its first step only, and the
    decoding of what follows overlaps the render (and, in an export, the encoder).

    ``into`` (a short looped file, kept whole): the chunks are decoded into it, all of
    them, and the last to end gives the whole to ``writer`` (a new cache entry), so the
    render does not stop to write it; a decoding stopped part way gives it nothing.
    Otherwise (a longer file, read as it plays) the samples are asked for in order
    with ``samples(a, b)``; at most ``AHEAD`` chunks past the one being read are
    decoded, and a chunk is let go once read past: memory stays flat."""

    def __init__(
        self,
        path: str,
        info: MusicInfo,
        rate: int,
        begin: int,
        stop: int,
        into: numpy.ndarray | None = None,
        writer: _CacheWriter | None = None,
    ):
        import threading

        self.path, self.info, self.rate = path, info, rate
        self.begin, self.stop_at, self.into, self.writer = begin, stop, into, writer
        self.size = -(-PART_SECONDS * rate // READ_STEP) * READ_STEP  # whole steps: no short reads
        self.count = -(-(stop - begin) // self.size)  # chunks
        self.chunks: dict[int, numpy.ndarray] = {}  # those claimed and not let go
        self.done: dict[int, int] = {}  # how far each claimed chunk is decoded (a sample index)
        self.claimed = 0  # chunks handed out so far
        self.reading = 0  # the chunk being read: chunks before it are let go, AHEAD after it decoded
        self.ended = 0  # chunks decoded whole
        self.position = begin  # where the next samples() continues
        self.failure: tuple[int, BaseException] | None = None  # the first chunk that failed, and why
        self.stopping = False
        self.changed = threading.Condition()
        self.threads = [
            threading.Thread(target=self._decode, name=f"holdcue-music-{i}", daemon=True)
            for i in range(max(1, min(_cores(), self.count)))
        ]
        for thread in self.threads:
            thread.start()

    def _claim(self) -> tuple[int, int, numpy.ndarray] | None:
        """The next chunk to decode (index, first sample, where its samples go), once it is
        at most AHEAD past the one being read; None when there is none, one has failed (the
        chunks before it are decoded all the same) or it is stopping."""
        import numpy as np

        with self.changed:
            while self.into is None and self.claimed > self.reading + AHEAD and not (self.stopping or self.failure):
                self.changed.wait()
            if self.stopping or self.failure is not None or self.claimed >= self.count:
                return None
            index, self.claimed = self.claimed, self.claimed + 1
            lo = self.begin + index * self.size
            hi = min(lo + self.size, self.stop_at)
            out = self.into[lo:hi] if self.into is not None else np.empty(hi - lo, np.float32)
            self.chunks[index], self.done[index] = out, lo
            return index, lo, out

    def _decode(self) -> None:
        reader, index = None, -1
        try:
            while (claimed := self._claim()) is not None:
                index, lo, out = claimed
                reader = reader or _Resampled(self.path, self.info, self.rate)
                for a in range(lo, lo + len(out), READ_STEP):
                    if self.stopping:
                        return
                    b = min(a + READ_STEP, lo + len(out))
                    out[a - lo : b - lo] = reader.samples(a, b)
                    with self.changed:
                        self.done[index] = b
                        self.changed.notify_all()
                with self.changed:
                    self.ended += 1
                    last = self.ended == self.count
                if last:
                    self._write()
        except BaseException as error:  # MusicError, or anything: raised where its samples are waited for
            with self.changed:
                if self.failure is None or index < self.failure[0]:
                    self.failure = (index, error)
                self.changed.notify_all()
        finally:
            if reader is not None:
                reader.close()

    def _write(self) -> None:
        writer, self.writer = self.writer, None
        if writer is None or self.into is None:
            return
        for a in range(0, len(self.into), READ_STEP):
            if not writer.add(a, self.into[a : a + READ_STEP]):
                break
        writer.finish()

    def wait(self, begin: int, end: int) -> None:
        """Until samples [begin, end) are decoded; raises the failure of a chunk they need
        (or of one before it, after which none is decoded)."""
        first, last = (begin - self.begin) // self.size, (end - 1 - self.begin) // self.size
        with self.changed:
            for i in range(first, last + 1):
                while self.done.get(i, -1) < min(end, self.begin + (i + 1) * self.size):
                    if self.failure is not None and i >= self.failure[0]:
                        raise self.failure[1]
                    self.changed.wait()

    def continues(self, begin: int) -> bool:
        """Whether samples from ``begin`` come next (samples() reads forward only)."""
        return begin == self.position and begin < self.stop_at

    def samples(self, begin: int, end: int) -> numpy.ndarray:
        """Samples [begin, end), where the last ones ended (continues), not to be written
        to; the chunks read past are let go."""
        import numpy as np

        if begin >= end:
            return np.zeros(0, np.float32)
        self.wait(begin, end)
        first, last = (begin - self.begin) // self.size, (end - 1 - self.begin) // self.size
        parts = [
            self.chunks[i][max(begin - lo, 0) : end - lo]
            for i in range(first, last + 1)
            for lo in (self.begin + i * self.size,)
        ]
        with self.changed:
            self.reading = (end - self.begin) // self.size
            for i in range(first, self.reading):
                del self.chunks[i]
            self.changed.notify_all()
        self.position = end
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def close(self) -> None:
        """Stop the threads (each after the step it is on) and wait for them, and for the
        cache entry to be written when all was decoded."""
        with self.changed:
            self.stopping = True
            self.changed.notify_all()
        for thread in self.threads:
            thread.join()
        if self.writer is not None:  # not all decoded: the entry being written is dropped
            self.writer.finish()
            self.writer = None


def _cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def resampled_length(info: MusicInfo, rate: int) -> int:
    """How many samples a file lasts at ``rate``."""
    return math.floor(info.frames / (info.rate / rate))


class _Resampled:
    """A sound file as mono float32 samples at ``rate``, read forward a block at a time.
    Output sample j is the file at time j / rate: linear interpolation of the file's frames,
    low-passed first when the file's rate is higher (a windowed sinc, so nothing above the
    session's Nyquist frequency folds back); from a lower rate (8 or 16 kHz files), the
    interpolation dulls the top a little (1 kHz: -0.45 dB from 8 kHz), which music under a
    voice can spare. Each sample depends only on the frames near
    it, so reading from anywhere gives the same samples."""

    def __init__(self, path: str, info: MusicInfo, rate: int):
        import numpy as np

        self.path = path
        self.file = _open(path)
        self.used = False  # read from since it was opened
        # libsndfile's Ogg seek forward can land off after reads, but is exact (and cheap: a
        # bisection) from an open; an MP3's seek scans from the start when opened, so it is not
        self.reopen = info.format == "OGG"
        # 16-bit files are read as they are stored (5x faster for WAV): int16 / 32768 is exactly
        # the float libsndfile would give, and the mean of the channels (mono) takes the 1 / 32768
        self.dtype = "int16" if self.file.subtype == "PCM_16" else "float32"
        scale = 1 / 32768 if self.dtype == "int16" else 1.0
        self.mix = np.full(info.channels, scale / info.channels, np.float32)
        self.ratio = info.rate / rate  # file frames per session sample
        self.frames = info.frames
        self.length = resampled_length(info, rate)
        self.buffer = np.zeros(0, np.float32)  # mono frames [buffer_at, buffer_at + len)
        self.buffer_at = 0
        self.taps = np.ones(1, np.float32)
        if self.ratio > 1:
            half = math.ceil(FILTER_ZEROS * self.ratio)
            cutoff = 0.45 / self.ratio  # cycles per file frame: 90% of the session's Nyquist frequency
            n = np.arange(-half, half + 1)
            taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(2 * half + 1)
            self.taps = (taps / taps.sum()).astype(np.float32)

    def samples(self, begin: int, end: int) -> numpy.ndarray:
        """Session-rate samples [begin, end) of the file (0 <= begin <= end <= length)."""
        import numpy as np

        if begin >= end:
            return np.zeros(0, np.float32)
        if self.ratio == 1:
            return self._frames(begin, end).copy()
        half = len(self.taps) // 2
        if self.ratio.is_integer():  # 44100 -> 22050: every ratio-th filtered frame, no interpolation
            return self._decimated(begin, end, int(self.ratio), half)
        where = np.arange(begin, end, dtype=np.float64) * self.ratio
        low = math.floor(where[0]) - half
        high = math.floor(where[-1]) + 2 + half
        frames = self._frames(low, high)
        smooth = np.convolve(frames, self.taps, "valid") if half else frames  # frame low + half onwards
        return np.interp(where, np.arange(low + half, low + half + len(smooth)), smooth).astype(np.float32)

    def _decimated(self, begin: int, end: int, step: int, half: int) -> numpy.ndarray:
        """Samples [begin, end) when the file's rate is ``step`` times the session's:
        output sample m is taps . frames[m * step - half :][: len(taps)]. Computed by phase
        (polyphase): the frames step apart, made contiguous, each scaled by their tap and
        summed over whole blocks, which is twice as fast as a dot product per sample."""
        import numpy as np

        count = end - begin
        frames = self._frames(begin * step - half, (end - 1) * step + half + 1)
        out = np.zeros(count, np.float32)
        scaled = np.empty(count, np.float32)
        for phase in range(step):
            every = np.ascontiguousarray(frames[phase::step])
            for j, tap in enumerate(self.taps[phase::step]):
                np.multiply(every[j : j + count], tap, out=scaled)
                out += scaled
        return out

    def _frames(self, begin: int, end: int) -> numpy.ndarray:
        """Mono frames [begin, end) of the file; zeros outside it. Reads on from the last
        read when it can, seeks otherwise."""
        import numpy as np
        import soundfile

        held_end = self.buffer_at + len(self.buffer)
        if not self.buffer_at <= begin <= held_end:
            self.buffer, self.buffer_at, held_end = np.zeros(0, np.float32), begin, begin
            try:
                if begin < self.frames:  # before the file: its frames follow the zeros, from frame 0
                    if self.used and self.reopen:
                        self.file.close()
                        self.file, self.used = _open(self.path), False
                    self.file.seek(max(begin, 0))
            except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
                raise MusicError(self.path, f"cannot seek in the music file ({error})") from error
        if end > held_end:
            more = self._read(held_end, end)
            self.buffer = np.concatenate([self.buffer[begin - self.buffer_at :], more])
            self.buffer_at = begin
        return self.buffer[begin - self.buffer_at : end - self.buffer_at]

    def _read(self, begin: int, end: int) -> numpy.ndarray:
        """Frames [begin, end) from the file, whose position is at ``begin`` when inside it."""
        import numpy as np
        import soundfile

        out = np.zeros(end - begin, np.float32)
        lo, hi = max(begin, 0), min(end, self.frames)
        if lo < hi:
            try:
                self.used = True
                data = self.file.read(hi - lo, dtype=self.dtype, always_2d=True)
            except (soundfile.LibsndfileError, RuntimeError) as error:
                raise MusicError(self.path, f"cannot read the music file ({error})") from error
            out[lo - begin : lo - begin + len(data)] = data @ self.mix
        return out

    def close(self) -> None:
        self.file.close()


# -- the cache of decoded music --------------------------------------------------------
#
# Decoding and resampling cost far more than mixing (an MP3 decodes at about 900x real time,
# a WAV export runs at about 7000x), so the music is kept, decoded at the session's rate, in
# the cache folder: later renders of the same file read it back. An entry is a header, the
# float32 samples from the file's start (all of it, or as far as a render got: a prefix), and
# a CRC-32 of every CACHE_CHUNK samples; a chunk is checked as it is read, and an entry that
# does not match its header, its file or its CRCs is a miss (decoded again, and written anew).
# Entries are written unnamed and renamed into place whole (holdcue.atomic), not synced: a
# power cut can at worst leave a damaged entry, which the CRCs catch.

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


def prepare(music: Music, rate: int, length: int) -> None:
    """Decode the music for a session of ``length`` samples at ``rate`` into the cache now,
    so that the renders that follow read it back instead of decoding it (a caller can do this
    while the speech is made). Nothing to do when the cache holds it already or cannot be
    written. Raises MusicError when the music cannot be played."""
    bed = Bed(music, rate, max(1, length), ())
    try:
        if bed.writer is None:
            return
        if bed.music.loop and bed.span <= KEEP_SECONDS * rate:
            bed._samples(0, bed.span)  # a short loop is decoded whole (in parts side by side) and kept
            return
        for a in range(0, min(bed.span, length), CACHE_CHUNK):
            bed._source(a, min(a + CACHE_CHUNK, bed.span, length))
            if bed.writer is None:
                break
    finally:
        bed.close()


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
            logging.getLogger(__name__).info("music is not cached in %s: %s", folder, error.strerror or error)
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
            logging.getLogger(__name__).info("music is not cached in %s: %s", self.folder, error.strerror or error)
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
            logging.getLogger(__name__).info("music is not cached in %s: %s", self.folder, error.strerror or error)
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
