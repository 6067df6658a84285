"""Music under the voice: a sound file (anything libsndfile reads: WAV, FLAC, OGG, MP3)
decoded as it plays, mixed down to mono, resampled to the session's rate, looped or played
once, faded in and out, and turned down under every cue (docs/routines.md, "Music").

Memory stays flat however long the music or the session: a ``Bed`` reads the file forward
a block at a time (a few hundred kB of its frames), and only a short looped file (at most
``KEEP_SECONDS``, 16 MB at 22050 Hz) is kept whole after it is decoded once, so that its
later laps cost no decoding. Where a loop starts again, the file's last ``CROSSFADE`` seconds
overlap its first (equal-power), so the seam is not heard.

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
import math
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

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
        self.reader = _Resampled(music.path, info, rate)
        self.span = self.reader.length  # the music's length in session samples
        self.overlap = min(round(CROSSFADE * rate), self.span // 4) if music.loop else 0
        self.period = self.span - self.overlap  # a loop starts again this often
        self.head: numpy.ndarray | None = None  # the first ``overlap`` samples, kept for every seam
        self.kept: numpy.ndarray | None = None  # the whole music, when it is short (_samples)
        fade_in = FADE_IN if start == 0 else RESUME_FADE
        self.fade_in = max(1, min(round(fade_in * rate), (length - start) // 4))
        self.fade_out = max(1, min(round(FADE_OUT * rate), length // 4))

    def take(self, begin: int, end: int) -> numpy.ndarray:
        """float32 samples of the music as heard at session samples [begin, end)."""
        import numpy as np

        out = self._looped(begin, end) if self.music.loop else self._once(begin, end)
        out *= np.float32(self.scale)
        for gains in (self._fades(begin, end), self.ducking.gains(begin, end)):
            if gains is not None:
                out *= gains
        return out

    def close(self) -> None:
        self.reader.close()

    def _samples(self, begin: int, end: int) -> numpy.ndarray:
        """The music's samples [begin, end) at the session's rate. A file that loops and is
        short (KEEP_SECONDS at most) is decoded once, on its first use, and kept: its later
        laps cost nothing. A longer one is read again each lap, so memory stays bounded."""
        import numpy as np

        if self.kept is None and self.music.loop and self.span <= KEEP_SECONDS * self.rate:
            kept = np.empty(self.span, np.float32)
            step = 1 << 16
            for a in range(0, self.span, step):
                kept[a : a + step] = self.reader.samples(a, min(a + step, self.span))
            self.kept = kept
            self.reader.close()
        if self.kept is not None:
            return self.kept[begin:end].copy()
        return self.reader.samples(begin, end)

    def _once(self, begin: int, end: int) -> numpy.ndarray:
        import numpy as np

        out = np.zeros(end - begin, np.float32)
        if begin < self.span:
            out[: min(end, self.span) - begin] = self._samples(begin, min(end, self.span))
        return out

    def _looped(self, begin: int, end: int) -> numpy.ndarray:
        import numpy as np

        out = np.empty(end - begin, np.float32)
        at = begin
        while at < end:
            lap, p = divmod(at, self.period)
            count = min(end - at, self.period - p)
            part = self._samples(p, p + count) if lap == 0 or p >= self.overlap else None
            if part is None:  # a seam: the file's start rises while its end (from the lap before) falls
                seam = min(count, self.overlap - p)
                part = np.empty(count, np.float32)
                rise = np.sin(0.5 * np.pi * (np.arange(p, p + seam) + 0.5) / self.overlap)
                fall = np.cos(0.5 * np.pi * (np.arange(p, p + seam) + 0.5) / self.overlap)
                tail = self._samples(self.period + p, self.period + p + seam)
                part[:seam] = self._head()[p : p + seam] * rise + tail * fall
                if count > seam:
                    part[seam:] = self._samples(p + seam, p + count)
            out[at - begin : at - begin + count] = part
            at += count
        return out

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
    in dB between (ATTACK before, RELEASE after)."""

    def __init__(self, cues: Iterable[tuple[int, int]], rate: int, depth_db: float):
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

    def gains(self, begin: int, end: int) -> numpy.ndarray | None:
        """The music's gain at samples [begin, end); None when it is 1 throughout (no cue near)."""
        import numpy as np

        if self.depth_db == 0:
            return None
        gains = None
        # spans that can reach [begin, end): those starting before end + attack and ending after begin - release
        first = max(0, bisect.bisect_left(self.starts, begin - self.release) - 1)
        for start, stop in self.spans[first:]:
            if start - self.attack >= end:
                break
            lo, hi = max(begin, start - self.attack), min(end, stop + self.release)
            if lo >= hi:
                continue
            if gains is None:
                gains = np.ones(end - begin, np.float32)
            gains[lo - begin : hi - begin] = 10 ** (self.depth_db / 20)
            # only the ramps need computing; between them the music is all the way down
            self._ramp(gains, begin, max(lo, start - self.attack), min(hi, start), start - self.attack, self.attack)
            self._ramp(gains, begin, max(lo, stop), min(hi, stop + self.release), stop + self.release, -self.release)
        return gains

    def _ramp(self, gains: numpy.ndarray, begin: int, a: int, b: int, origin: int, length: int) -> None:
        """Gains at samples [a, b) of a raised-cosine ramp (in dB) from ``origin`` over
        ``length`` samples: going down when positive, coming back (towards origin) when negative."""
        import numpy as np

        if a >= b:
            return
        u = (np.arange(a, b, dtype=np.float64) + 0.5 - origin) / length
        down = 0.5 * (1 - np.cos(np.pi * u))
        gains[a - begin : b - begin] = 10 ** (self.depth_db * down / 20)


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
        self.ratio = info.rate / rate  # file frames per session sample
        self.frames = info.frames
        self.length = math.floor(info.frames / self.ratio)
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
            step = int(self.ratio)
            frames = self._frames(begin * step - half, (end - 1) * step + half + 1)
            windows = np.lib.stride_tricks.sliding_window_view(frames, len(self.taps))[::step]
            return (windows @ self.taps).astype(np.float32, copy=False)
        where = np.arange(begin, end, dtype=np.float64) * self.ratio
        low = math.floor(where[0]) - half
        high = math.floor(where[-1]) + 2 + half
        frames = self._frames(low, high)
        smooth = np.convolve(frames, self.taps, "valid") if half else frames  # frame low + half onwards
        return np.interp(where, np.arange(low + half, low + half + len(smooth)), smooth).astype(np.float32)

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
                    self.file.seek(max(begin, 0))
            except (soundfile.LibsndfileError, RuntimeError) as error:
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
                data = self.file.read(hi - lo, dtype="float32", always_2d=True)
            except (soundfile.LibsndfileError, RuntimeError) as error:
                raise MusicError(self.path, f"cannot read the music file ({error})") from error
            mix = np.full(data.shape[1], 1 / data.shape[1], np.float32)  # mono: the channels' mean
            out[lo - begin : lo - begin + len(data)] = data @ mix
        return out

    def close(self) -> None:
        self.file.close()
