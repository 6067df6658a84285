"""The designed tones (audio_cues/*.wav, made by scripts/make_tones.py) and a routine's own.

A routine may replace any tone with a WAV file of its own (``cues.tones``): any sample
rate, channel count or sample width; it is mixed down to mono and resampled to the
session's rate.
"""

from __future__ import annotations

import functools
import io
import wave
from collections.abc import Iterable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING

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


def tones_dir() -> Traversable:
    """Where the designed tones are: inside the installed package, else in the source tree."""
    packaged = resources.files("holdcue") / "audio_cues"
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

    if not Path(path).is_file():
        raise ToneError(path, "tone file not found; check the path in cues.tones")
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


def wav_seconds(file: Path) -> float | None:
    """How long a WAV file plays, from its header; None when it is not a WAV file."""
    try:
        with open(file, "rb") as f:
            head = f.read(12)
            if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            byte_rate = 0
            while len(chunk := f.read(8)) == 8:
                name, size = chunk[:4], int.from_bytes(chunk[4:], "little")
                if name == b"fmt ":
                    byte_rate = int.from_bytes(f.read(16)[8:12], "little")
                    f.seek(size - 16 + size % 2, 1)
                elif name == b"data":
                    return size / byte_rate if byte_rate else None
                else:
                    f.seek(size + size % 2, 1)
    except OSError:
        return None
    return None
