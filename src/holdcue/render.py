"""Mix a timeline into 16-bit PCM, block by block. Live playback and export both use it.

Levels: every speech clip is brought to one loudness (``SPEECH_DBFS``: the RMS of its
voiced 10 ms frames, those within 30 dB of its loudest), so clips of different voices and
volumes sound alike; tones sit ``TONE_BELOW_DB`` below speech, measured the same way. No
levelled sound peaks above ``CEILING`` (-1 dBFS): a clip whose peaks would is turned down
further. Sounds are mixed in float32; where cues meet and the sum passes ``CEILING``, a soft
limiter bends the excess smoothly (tanh) so that it stays below full scale: nothing clips.
A voice's own volume (the routine's ``voice.volume``) sets its speech relative to that
loudness; the master volume scales the mix before the limiter.

Music (``music=``, music/bed.py) is mixed under the cues at its own level, turned down
around every event of the timeline rendered (look-ahead ducking: the events say exactly
where the cues are); it goes through the same limiter, and the cues land on the same
samples with or without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from holdcue.errors import HoldcueError, MusicError

if TYPE_CHECKING:
    import numpy

    from holdcue.routine import Music
    from holdcue.timeline import Timeline

BLOCK = 16384  # samples per block: about 0.75 s at 22050 Hz
SPEECH_DBFS = -20.0  # loudness of speech
TONE_BELOW_DB = 6.0  # tones are this much quieter than speech
CEILING = 10 ** (-1 / 20)  # no levelled sound peaks above -1 dBFS; the limiter starts here
FRAME_SECONDS = 0.01  # loudness is measured over frames this long
GATE_DB = 30.0  # frames quieter than the loudest by more than this are not "voiced"


def render_blocks(
    timeline: Timeline,
    clips: Mapping[str, numpy.ndarray],
    tones: Mapping[str, numpy.ndarray],
    *,
    start: int = 0,
    stop: int | None = None,
    block: int = BLOCK,
    volume: float = 1.0,
    speech_volume: float = 1.0,
    music: Music | None = None,
    music_lost: Callable[[MusicError], None] | None = None,
) -> Iterator[numpy.ndarray]:
    """int16 blocks of at most ``block`` samples covering samples [start, stop) of the
    timeline (``stop`` defaults to its end). ``volume`` scales everything, ``speech_volume``
    the speech only. ``music``: music under the cues, ducked around this timeline's events,
    faded in from ``start`` and out to the timeline's end. ``music_lost``: told when the
    music fails part-way (a file damaged after its header, cut short by a copy), and the
    blocks go on without it; without it, the failure ends the blocks (an export fails).

    Speech events sound ``clips[event.text]``, tone events ``tones[event.name]``; each
    must last exactly as long as its event. Raises HoldcueError when one is missing or of
    another length, MusicError when the music cannot be played, before any block is made.
    """
    stop = timeline.length if stop is None else stop
    if not 0 <= start <= stop <= timeline.length:
        raise ValueError(f"window [{start}, {stop}) is not inside the timeline [0, {timeline.length})")
    if block < 1:
        raise ValueError("block must be at least one sample")
    placed = _place(timeline, clips, tones, start, stop, volume, speech_volume)
    bed = None
    if music is not None and start < stop:  # nothing to play (words said aside at the end): no file opened
        from holdcue.music import Bed

        cues = [(e.start, e.end) for e in timeline.events]
        bed = Bed(music, timeline.rate, timeline.length, cues, start=start, volume=volume)
    return _mix(placed, start, stop, block, timeline.rate, bed, music_lost)


def render(
    timeline: Timeline,
    clips: Mapping[str, numpy.ndarray],
    tones: Mapping[str, numpy.ndarray],
    *,
    start: int = 0,
    stop: int | None = None,
    volume: float = 1.0,
    speech_volume: float = 1.0,
    music: Music | None = None,
) -> numpy.ndarray:
    """Samples [start, stop) of the mixed timeline as one int16 array."""
    import numpy as np

    blocks = render_blocks(
        timeline, clips, tones, start=start, stop=stop, volume=volume, speech_volume=speech_volume, music=music
    )
    out = np.empty((timeline.length if stop is None else stop) - start, np.int16)
    at = 0
    for chunk in blocks:
        out[at : at + len(chunk)] = chunk
        at += len(chunk)
    return out


Level = tuple[float, float]  # (loudness, peak) of a sound, full scale = 1.0: what its gain is made from


@runtime_checkable
class Measured(Protocol):
    """Sounds that tell a sound's length and level without being read: the renderer then
    reads each one only while it sounds (speech.stored.StoredClips, whose clips stay on disk)."""

    def frames(self, key: str) -> int: ...

    def level(self, key: str) -> Level: ...


def loudness(samples: numpy.ndarray, rate: int) -> float:
    """RMS (full scale = 1.0) of the voiced frames of int16 ``samples``; 0.0 for silence."""
    import numpy as np

    frame = max(1, round(rate * FRAME_SECONDS))
    count = -(-len(samples) // frame)
    if count == 0:
        return 0.0
    padded = np.zeros(count * frame, np.float64)
    padded[: len(samples)] = samples
    energy = np.mean((padded / 32768.0).reshape(count, frame) ** 2, axis=1)
    loudest = energy.max()
    if loudest <= 0:
        return 0.0
    voiced = energy[energy >= loudest * 10 ** (-GATE_DB / 10)]
    return float(np.sqrt(voiced.mean()))


def gain(samples: numpy.ndarray, rate: int, target_dbfs: float) -> float:
    """The factor that takes int16 ``samples`` to float (full scale = 1.0) at
    ``target_dbfs`` loudness, their peak at most ``CEILING``; 0.0 for silence."""
    return gain_of(level(samples, rate), target_dbfs)


def level(samples: numpy.ndarray, rate: int) -> Level:
    """The (loudness, peak) of int16 ``samples``, full scale = 1.0."""
    import numpy as np

    measured = loudness(samples, rate)
    peak = float(np.max(np.abs(samples.astype(np.float32)))) / 32768.0 if len(samples) else 0.0
    return measured, peak


def gain_of(measured: Level, target_dbfs: float) -> float:
    """``gain`` from a sound's level."""
    loud, peak = measured
    if loud == 0.0:
        return 0.0
    return min(10 ** (target_dbfs / 20) / loud, CEILING / peak) / 32768.0


def _place(timeline, clips, tones, start, stop, volume, speech_volume) -> list[_Placed]:
    """Every event that reaches into [start, stop), in the order they start: its sound is
    ``sounds[key]``, read when it starts to sound. Each sound's length is checked now;
    its level is measured when it first sounds (_mix), so that the first block is not kept
    waiting for sounds that come later."""
    placed = []
    clips_told, tones_told = isinstance(clips, Measured), isinstance(tones, Measured)  # asked once: a slow check
    for event in timeline.events:
        if event.end <= start or event.start >= stop or event.end <= event.start:
            continue
        if event.kind == "speech":
            key, sounds, what, target, scale = event.text, clips, "speech clip", SPEECH_DBFS, volume * speech_volume
            measured = clips_told
        else:
            key, sounds, what, target, scale = event.name, tones, "tone", SPEECH_DBFS - TONE_BELOW_DB, volume
            measured = tones_told
        if key not in sounds:
            raise HoldcueError(f"no {what} for {key!r}: the sounds given do not match the timeline")
        length = sounds.frames(key) if measured else len(sounds[key])
        if length != event.end - event.start:
            raise HoldcueError(
                f"the {what} for {key!r} is {length} samples long but its event lasts "
                f"{event.end - event.start}: compile the timeline with the lengths of these sounds"
            )
        placed.append(_Placed(event.start, event.end, sounds, key, target, scale, measured))
    placed.sort(key=lambda p: p.start)
    return placed


@dataclass(frozen=True)
class _Placed:
    """An event as the mixer plays it: ``sounds[key]`` from ``start`` to ``end``, levelled
    to ``target`` dBFS, then scaled by ``scale`` (the volumes); ``measured``: the sounds
    tell their own level (Measured)."""

    start: int
    end: int
    sounds: Mapping
    key: str
    target: float
    scale: float
    measured: bool


def _mix(
    placed: list[_Placed],
    start: int,
    stop: int,
    block: int,
    rate: int,
    bed=None,
    music_lost: Callable[[MusicError], None] | None = None,
) -> Iterator[numpy.ndarray]:
    """The blocks; ``bed`` (a music.Bed) is mixed under the cues and closed at the end (or
    when it fails and ``music_lost`` is told). Each distinct sound is measured once, when it
    first sounds (by Measured sounds themselves, without reading them)."""
    import numpy as np

    silence = np.zeros(block, np.int16)
    silence.flags.writeable = False
    buffer = np.empty(block, np.float32)
    gains: dict[tuple[int, str, float, float], numpy.float32] = {}
    upcoming = 0  # index into placed of the next sound to start
    active: list = []
    try:
        for begin in range(start, stop, block):
            end = min(begin + block, stop)
            while upcoming < len(placed) and placed[upcoming].start < end:
                p = placed[upcoming]
                sound = p.sounds[p.key]
                known = (id(p.sounds), p.key, p.target, p.scale)
                if known not in gains:
                    how_loud = cast(Measured, p.sounds).level(p.key) if p.measured else level(sound, rate)
                    gains[known] = np.float32(gain_of(how_loud, p.target) * p.scale)
                active.append((p.start, p.end, sound, gains[known]))
                upcoming += 1
            active = [a for a in active if a[1] > begin]
            if not active and bed is None:
                yield silence[: end - begin]
                continue
            mix = buffer[: end - begin]
            if bed is not None:
                try:
                    bed.take(begin, end, out=mix)
                except MusicError as error:
                    if music_lost is None:
                        raise
                    bed, lost = None, bed
                    music_lost(error)
                    lost.close()
            if bed is None:
                mix.fill(0.0)
            for at, until, sound, factor in active:
                lo, hi = max(at, begin), min(until, end)
                mix[lo - begin : hi - begin] += sound[lo - at : hi - at] * factor
            yield _to_int16(mix)
    finally:
        if bed is not None:
            bed.close()


def _to_int16(mix: numpy.ndarray) -> numpy.ndarray:
    """Soft-limit float samples above CEILING (they approach, never reach, full scale),
    then round to int16. ``mix`` is used up (scaled in place)."""
    import numpy as np

    if max(float(mix.max()), -float(mix.min())) > CEILING:  # two passes, no temporary array
        over = np.abs(mix) > CEILING
        excess = np.abs(mix[over]) - CEILING
        room = 1.0 - CEILING
        mix[over] = np.copysign(CEILING + room * np.tanh(excess / room), mix[over])
    mix *= np.float32(32767.0)
    np.rint(mix, out=mix)
    return mix.astype(np.int16)
