"""The music as a render hears it (``Bed``): leveled, looped with the file's end crossfaded
into its start (or played once), faded in and out, and turned down under every cue
(``Ducking``). Its samples come from the cache (cache.py) as far as an entry holds them,
else from the file (source.py), decoded ahead of the render; a short looped file is kept
whole. ``prepare`` reads a Bed through, ahead of time, to fill the cache."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import TYPE_CHECKING

from holdcue.errors import MusicError
from holdcue.music.cache import CACHE_CHUNK, _cache_for
from holdcue.music.source import READ_STEP, _Decoder, music_info, resampled_length
from holdcue.routine import Music

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
