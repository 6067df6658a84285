"""Reading a music file: its header checked for everything playing it needs
(``music_info``), the file opened without blocking on a FIFO (``_open``), read as mono
float32 samples at the session's rate (``_Resampled``, the resampler), and decoded ahead of
a render in chunks, by threads side by side, one a core (``_Decoder``).

The bottom of the package: it imports none of the others (a decoder hands a short file it
decoded whole to a ``_Writer``, which cache.py's writer is)."""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from holdcue.errors import MusicError

if TYPE_CHECKING:
    import numpy

MIN_SECONDS = 1.0  # a shorter file is a tone, not music
MAX_HOURS = 24  # longer than any session; a header claiming more is damaged
MIN_RATE, MAX_RATE = 8000, 384_000  # sample rates, Hz
MAX_CHANNELS = 8
FILTER_ZEROS = 8  # the resampling filter reaches this many output samples either side
READ_STEP = 1 << 16  # samples decoded or read from the cache at a time: fewer, larger reads
PART_SECONDS = 10  # music is decoded ahead in chunks this long (in whole READ_STEPs), side by side, one a core
AHEAD = 2  # chunks decoded past the one being read, when not all are kept: 3 MB held at most


@dataclass(frozen=True)
class MusicInfo:
    format: str  # libsndfile's name: "WAV", "FLAC", "OGG", "MP3"...
    channels: int
    rate: int  # frames per second
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


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


class _Writer(Protocol):
    """Where a decoder puts a short file it decoded whole: a new cache entry
    (cache.py's ``_CacheWriter``)."""

    def add(self, begin: int, samples: numpy.ndarray) -> bool: ...

    def finish(self) -> None: ...


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
        writer: _Writer | None = None,
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
