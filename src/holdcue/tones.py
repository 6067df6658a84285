"""The designed tones (audio_cues/*.wav, made by scripts/make_tones.py) and a routine's own.

A routine may replace any tone with a WAV file of its own (``cues.tones``): any sample
rate, channel count or sample width; it is mixed down to mono and resampled to the
session's rate.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from holdcue import files
from holdcue.errors import HoldcueError, ToneError
from holdcue.routine import MIN_HOLD_MS, TONE_NAMES
from holdcue.timeline import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy


def load_tones(rate: int = SAMPLE_RATE, overrides: Iterable[tuple[str, str]] = ()) -> dict[str, numpy.ndarray]:
    """Every tone by name (see ``TONE_NAMES``) as mono int16 samples at ``rate``.

    ``overrides`` are (tone name, WAV file path) pairs that replace designed tones. A file
    that cannot be used raises ToneError naming the file and what to do.
    """
    own = dict(overrides)
    tones = {}
    for name, path in own.items():
        if name not in TONE_NAMES:
            raise ToneError(path, f"there is no tone called {name!r}; use one of {', '.join(TONE_NAMES)}")
        tones[name] = _read_own(path, rate)
    for name in TONE_NAMES:
        if name not in tones:
            tones[name] = _designed(name, rate)
    return tones


def tone_lengths(rate: int = SAMPLE_RATE, overrides: Iterable[tuple[str, str]] = ()) -> dict[str, int]:
    """How many samples at ``rate`` each tone of ``load_tones`` has, from the WAV headers
    alone (no numpy, nothing decoded: ``holdcue list`` asks this for every routine).
    ValueError when a file cannot be used (load_tones says why)."""
    own = dict(overrides)
    return {
        name: _length(wav_info(own[name]), rate) if name in own else _designed_length(name, rate) for name in TONE_NAMES
    }


@functools.lru_cache(maxsize=16)
def _designed_length(name: str, rate: int) -> int:
    return _length(wav_info(tones_dir() / f"{name}.wav"), rate)


def _length(info: WavInfo, rate: int = SAMPLE_RATE) -> int:
    """Samples at ``rate`` of a sound of ``info``, resampled as _resample does."""
    return info.frames if info.rate == rate else max(1, round(info.frames * rate / info.rate))


def tones_dir() -> Path:
    """Where the designed tones are: inside the installed package, else in the source tree.
    (A file path, as the built-in routines are found: holdcue is never run from a zip.)"""
    packaged = Path(__file__).with_name("audio_cues")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "audio_cues"


@functools.lru_cache(maxsize=8)
def _designed(name: str, rate: int) -> numpy.ndarray:
    file = tones_dir() / f"{name}.wav"
    try:
        with wave.open(io.BytesIO(file.read_bytes())) as w:
            source_rate = w.getframerate()
            frames = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as error:
        raise HoldcueError(f"the tone file {file} is missing or damaged ({error}); reinstall holdcue") from error
    import numpy as np

    samples = _resample(np.frombuffer(frames, "<i2").astype(np.float32) / 32768, source_rate, rate)
    samples.flags.writeable = False  # shared by every caller through the cache
    return samples


def _read_own(path: str, rate: int) -> numpy.ndarray:
    import numpy as np
    import soundfile

    try:
        info = wav_info(path)
    except ValueError as error:
        raise ToneError(path, f"the tone file {error}") from None
    if info.seconds > MIN_HOLD_MS / 1000:
        message = f"the tone lasts {info.seconds:.1f}s; a tone may last at most 1s, to fit the shortest hold"
        raise ToneError(path, message)
    try:
        data, source_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        raise ToneError(
            path, f"cannot read this tone file ({error}); give a WAV file (any rate, mono or stereo)"
        ) from error
    if not len(data):
        raise ToneError(path, "the tone file has no sound in it; give a WAV file with the tone")
    if len(data) > source_rate * MIN_HOLD_MS // 1000:
        seconds = len(data) / source_rate
        raise ToneError(
            path, f"the tone lasts {seconds:.1f}s; a tone may last at most 1s, so it fits the shortest hold"
        )
    return _resample(np.asarray(data.mean(axis=1), dtype=np.float32), source_rate, rate)


def _resample(samples: numpy.ndarray, source_rate: int, rate: int) -> numpy.ndarray:
    """Float samples in [-1, 1] at ``source_rate`` -> int16 at ``rate`` (linear interpolation)."""
    import numpy as np

    if source_rate != rate:
        count = max(1, round(len(samples) * rate / source_rate))
        samples = np.interp(np.arange(count) * (source_rate / rate), np.arange(len(samples)), samples)
    return np.clip(np.rint(samples * 32768), -32768, 32767).astype(np.int16)


MAX_TONE_BYTES = 8_000_000  # more than 1 s of 8 channels of 32-bit sound at 192 kHz: no tone is larger
_WAV_FORMATS = {1: "PCM", 3: "float", 0xFFFE: "extensible"}  # what soundfile reads of WAV


@dataclass(frozen=True)
class WavInfo:
    channels: int
    rate: int  # frames per second
    bits: int  # per sample
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def wav_info(path: str | os.PathLike) -> WavInfo:
    """The header of a tone file, checked for everything playing it needs; ValueError with a
    message saying what is wrong otherwise. Reads at most MAX_TONE_BYTES of a regular file."""
    try:
        data = files.read_regular(path, MAX_TONE_BYTES)
    except FileNotFoundError:
        raise ValueError("does not exist") from None
    except files.NotARegularFile:
        raise ValueError("is not a regular file; give a .wav file") from None
    except files.TooLarge as error:
        raise ValueError(f"is {error.size // 1_000_000} MB; a tone of at most 1 s is far smaller") from None
    except OSError as error:
        raise ValueError(f"cannot be read ({error.strerror or error})") from None
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("is not a WAV file; use a .wav sound")
    fmt = None
    at = 12
    while at + 8 <= len(data):
        name, size = data[at : at + 4], int.from_bytes(data[at + 4 : at + 8], "little")
        body = data[at + 8 : at + 8 + size]
        if name == b"fmt ":
            if len(body) < 16:
                raise ValueError("has a damaged header (its format chunk is too short)")
            fmt = struct.unpack_from("<HHIIHH", body)
        elif name == b"data":
            if fmt is None:
                raise ValueError("has its sound before its format; save it again as a WAV file")
            if size > len(body):
                raise ValueError(f"says it holds {size} bytes of sound but has {len(body)}; the file is damaged")
            return _checked(fmt, size)
        at += 8 + size + size % 2
    raise ValueError("has no sound data; give a WAV file with the tone")


def _checked(fmt: tuple[int, ...], size: int) -> WavInfo:
    code, channels, rate, _, align, bits = fmt
    if code not in _WAV_FORMATS:
        raise ValueError(f"uses an encoding holdcue cannot read (format {code}); save it as plain PCM WAV")
    if not 1 <= channels <= 8:
        raise ValueError(f"has {channels} channels; a tone has 1 to 8 (mono is best)")
    if not 8000 <= rate <= 192_000:
        raise ValueError(f"has a sample rate of {rate} Hz; use one from 8000 to 192000 Hz")
    if bits not in (8, 16, 24, 32, 64) or align != channels * bits // 8:
        raise ValueError(f"has {bits}-bit samples in {align}-byte frames; save it as 16-bit PCM WAV")
    frames = size // align
    if frames == 0:
        raise ValueError("has no sound in it; give a WAV file with the tone")
    return WavInfo(channels, rate, bits, frames)
