#!/usr/bin/env python3
"""Generate holdcue's designed tones into audio_cues/<name>.wav (22050 Hz, mono, 16-bit).

Deterministic: the same code always writes the same samples, so the committed WAV files
can be checked against a fresh run (tests/test_tones.py does). Run it after changing a
design:  .venv/bin/python scripts/make_tones.py

Each tone is told apart by ear at once, eyes closed:
  start    rising two-note chime (C5 -> G5), bright
  end      falling two-note chime (G5 -> C5), the last note ringing longer
  halfway  one soft, low-ish bell (A4) with a slow attack
  tick     a short, high wood-block click (~60 ms)
  switch   three quick notes, up and back down (E5 A5 E5)
Every tone starts and ends at silence: raised-cosine fades at both edges, bell-like decays.
"""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np

from holdcue.timeline import SAMPLE_RATE

RATE = SAMPLE_RATE  # the tones are made at the rate every session plays at
OUT_DIR = Path(__file__).resolve().parents[1] / "audio_cues"

# Partials of a chime: (frequency ratio, amplitude, decay-time ratio). Harmonic, so the
# pitch is clear; the higher partials die away sooner, as on a struck bar.
CHIME = ((1.0, 1.0, 1.0), (2.0, 0.35, 0.5), (3.0, 0.12, 0.3))
SOFT_BELL = ((1.0, 1.0, 1.0), (2.0, 0.12, 0.4))
# A wood block: two inharmonic modes, damped within a few tens of milliseconds.
WOOD = ((1.0, 1.0, 1.0), (1.58, 0.55, 0.7), (2.41, 0.2, 0.45))


def _fade(n: int, length: int) -> np.ndarray:
    """Raised-cosine ramp from 0 to 1 over ``length`` samples, as an array of ``n``."""
    ramp = np.ones(n)
    k = min(length, n)
    ramp[:k] = 0.5 - 0.5 * np.cos(np.pi * np.arange(k) / k)
    return ramp


def _note(freq: float, seconds: float, decay: float, partials, attack: float) -> np.ndarray:
    """One struck note: decaying partials, raised-cosine fades at both ends."""
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    x = np.zeros(n)
    for ratio, amp, decay_ratio in partials:
        x += amp * np.sin(2 * np.pi * freq * ratio * t) * np.exp(-t / (decay * decay_ratio))
    return x * _fade(n, round(attack * RATE)) * _fade(n, round(0.03 * RATE))[::-1]


def _sequence(notes, seconds: float) -> np.ndarray:
    """Notes (onset seconds, note samples) laid over one another in ``seconds`` of sound."""
    out = np.zeros(round(seconds * RATE))
    for onset, note in notes:
        start = round(onset * RATE)
        part = note[: len(out) - start]
        out[start : start + len(part)] += part
    return out


def _finish(x: np.ndarray, peak: float, fade_out: float) -> np.ndarray:
    """Fade the tail out (raised cosine), scale to ``peak``, round to int16."""
    x = x * _fade(len(x), round(fade_out * RATE))[::-1]
    x = x * (peak / np.max(np.abs(x)))
    return np.rint(x * 32767).astype(np.int16)


def generate() -> dict[str, np.ndarray]:
    """Every tone by name, as int16 samples at RATE."""
    c5, e5, g5, a4, a5 = 523.25, 659.26, 783.99, 440.0, 880.0

    def chime(freq: float, decay: float, seconds: float = 0.7) -> np.ndarray:
        return _note(freq, seconds, decay, CHIME, 0.003)

    return {
        "start": _finish(_sequence([(0.0, chime(c5, 0.16)), (0.13, chime(g5, 0.2))], 0.6), 0.9, 0.08),
        "end": _finish(_sequence([(0.0, chime(g5, 0.16)), (0.18, chime(c5, 0.3))], 0.9), 0.9, 0.15),
        "halfway": _finish(_note(a4, 0.65, 0.22, SOFT_BELL, 0.025), 0.6, 0.15),
        "tick": _finish(_note(1900.0, 0.06, 0.012, WOOD, 0.002), 0.8, 0.01),
        "switch": _finish(
            _sequence([(0.0, chime(e5, 0.07, 0.3)), (0.11, chime(a5, 0.07, 0.3)), (0.22, chime(e5, 0.09, 0.3))], 0.5),
            0.85,
            0.06,
        ),
    }


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype("<i2").tobytes())


def main() -> int:
    OUT_DIR.mkdir(exist_ok=True)
    for name, samples in generate().items():
        path = OUT_DIR / f"{name}.wav"
        write_wav(path, samples)
        print(f"{path}: {len(samples) / RATE * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
