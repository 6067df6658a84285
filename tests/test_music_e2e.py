"""`holdcue play --music` end to end through a real audio stack (ALSA -> PulseAudio -> a
recorded null sink) with real espeak-ng speech: the music is heard as the renderer mixes it
(the same as an export), and every cue still starts on its sample."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from audio_stack import RATE, NullSink, Recorder, find, holdcue, missing
from holdcue import library, session
from holdcue.render import render
from holdcue.routine import Music
from holdcue.speech import ClipCache
from speech_support import HAVE_ESPEAK

FIXTURE = str(Path(__file__).parent / "fixtures" / "play" / "short.yaml")
LACKING = missing() + ([] if HAVE_ESPEAK else ["espeak-ng"])
EXACT = RATE // 1000  # 1 ms, in samples

pytestmark = [
    pytest.mark.audio,
    pytest.mark.speech,
    pytest.mark.skipif(bool(LACKING) and os.environ.get("CI") != "true", reason=f"needs {', '.join(LACKING)}"),
]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def test_music_is_heard_as_mixed_and_the_cues_keep_their_samples(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))  # decoded music: not in the user's cache
    if LACKING:
        pytest.fail(f"the audio end-to-end tests need {', '.join(LACKING)} (CI=true: they may not be skipped)")
    t = np.arange(44100 * 5) / 44100
    chord = sum(np.sin(2 * np.pi * f * t) for f in (196.0, 246.9, 293.7)) / 3
    bed = tmp_path / "bed.ogg"
    soundfile.write(bed, np.stack([chord, chord], 1).astype(np.float32), 44100)
    built = session.build(library.load_routine(FIXTURE), cache=ClipCache(tmp_path / "cache" / "speech"))
    timeline = built.timeline
    plain = render(timeline, built.clips, built.tones)
    mixed = render(timeline, built.clips, built.tones, music=Music(str(bed.resolve())))
    with NullSink(tmp_path / "pulse") as stack:
        env = {**stack.env, "HOLDCUE_CACHE_DIR": str(tmp_path / "cache")}
        with Recorder(env) as recorder:
            done = subprocess.run(
                holdcue("play", FIXTURE, "--music", str(bed)), env=env, capture_output=True, text=True, timeout=120
            )
            time.sleep(0.3)
    assert done.returncode == 0, done.stderr
    recording = recorder.recording().samples
    # each spoken cue, with the music before and under it, found where the mix puts it
    offsets = []
    for event in (e for e in timeline.events if e.kind == "speech" and e.start >= RATE // 10):
        window = mixed[event.start - RATE // 10 : event.start + RATE // 2]
        # 0.9: the window spans the music's duck ramp, where the recording matches less closely
        found = [at - (event.start - RATE // 10) for at in find(recording, window, 0.90)]
        assert found, f"not heard with its music: {event.text!r}"
        offsets.append(min(found, key=lambda o: abs(o - offsets[0]) if offsets else 0))
    assert max(offsets) - min(offsets) <= EXACT, f"cue offsets in samples: {offsets}"
    # where the mix without music is silent, the recording is the music, as mixed
    at = offsets[0]
    heard = recording[at : at + len(mixed)]
    gaps = plain[: len(heard)] == 0
    assert gaps.sum() > RATE * 3
    assert correlation(heard[gaps], mixed[: len(heard)][gaps]) > 0.98


def test_music_damaged_part_way_is_dropped_and_the_session_plays_on(tmp_path, monkeypatch):
    """A FLAC cut short by an interrupted copy: its header promises 30 s, its frames end at
    about 12 s. The session goes on without the music from there, says once why (naming
    the file), and ends as it should: not "the sound device stopped playing"."""
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    if LACKING:
        pytest.fail(f"the audio end-to-end tests need {', '.join(LACKING)} (CI=true: they may not be skipped)")
    t = np.arange(44100 * 30) / 44100
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    whole = tmp_path / "whole.flac"
    soundfile.write(whole, np.stack([tone, tone], 1), 44100)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 5])
    built = session.build(library.load_routine(FIXTURE), cache=ClipCache(tmp_path / "cache" / "speech"))
    assert built.timeline.length > 15 * RATE  # the music fails within the session
    with NullSink(tmp_path / "pulse") as stack:
        env = {**stack.env, "HOLDCUE_CACHE_DIR": str(tmp_path / "cache")}
        with Recorder(env) as recorder:
            done = subprocess.run(
                holdcue("play", FIXTURE, "--music", str(cut)), env=env, capture_output=True, text=True, timeout=120
            )
            time.sleep(0.3)
    assert done.returncode == 0, done.stdout + done.stderr
    said = [line for line in done.stdout.splitlines() if "music stopped" in line]
    assert len(said) == 1 and str(cut) in said[0], done.stdout
    assert "Session complete" in done.stdout.splitlines()[-1]
    # the last cue is heard: the session played to its end
    plain = render(built.timeline, built.clips, built.tones)
    last = built.timeline.events[-1]
    assert find(recorder.recording().samples, plain[last.start : last.start + RATE // 2], 0.9), "the end was not heard"
