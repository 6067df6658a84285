"""config.yaml's voice and music are what is heard, whichever way a session starts: `holdcue
play`, `holdcue today`, `holdcue resume`, and `holdcue serve`'s POST /api/play and POST
/api/today (what the button does when idle). End to end: real Piper and espeak-ng speech, the
service or command as its own process, ALSA -> PulseAudio -> a recorded null sink.

The session each way should play is built here, with the choices made as the program makes
them (choices.resolve), and mixed with its music as an export mixes it; each spoken cue of
it, with the music around it, must be found in the recording, all at one offset, and the
recording between cues must be that music. Spoken by espeak-ng instead of the configured
Piper voice, or without the music, the cues are not found."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile

from audio_stack import RATE, NullSink, Recorder, find, holdcue, missing
from holdcue import choices, config, journal, library, session
from holdcue.render import render
from holdcue.speech import ClipCache
from speech_support import HAVE_ESPEAK, HAVE_PIPER, TEST_MODEL

LACKING = missing() + ([] if HAVE_ESPEAK else ["espeak-ng"]) + ([] if HAVE_PIPER else ["the Piper test voice"])
EXACT = RATE // 1000  # 1 ms, in samples

pytestmark = [
    pytest.mark.audio,
    pytest.mark.speech,
    pytest.mark.skipif(bool(LACKING) and os.environ.get("CI") != "true", reason=f"needs {', '.join(LACKING)}"),
]

ROUTINE = """\
title: Heard check
summary: A short routine for checking that what config.yaml chooses is what is heard.
cues:
  prep: 1s
  countdown: 2
  halfway: false
  time_left: false
steps:
  - hold: Relax your hands.
    title: Hands
    time: 3s
  - hold: Relax your shoulders.
    title: Shoulders
    time: 3s
"""
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A config folder (config.yaml with a Piper voice and music, the routine, a plan with it
    every day), a data folder and a speech cache, and the session as it should be heard."""
    if LACKING:
        pytest.fail(f"the audio end-to-end tests need {', '.join(LACKING)} (CI=true: they may not be skipped)")
    root = tmp_path_factory.mktemp("heard")
    folder = root / "config"
    (folder / "routines").mkdir(parents=True)
    (folder / "routines" / "heard.yaml").write_text(ROUTINE)
    (folder / "plan.yaml").write_text("".join(f"{day}: heard\n" for day in DAYS))
    t = np.arange(RATE * 4) / RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (196.0, 246.9, 293.7)) / 3
    soundfile.write(folder / "chord.ogg", np.stack([chord, chord], 1).astype(np.float32), RATE)
    (folder / "config.yaml").write_text(f"music: chord.ogg\nvoice:\n  engine: piper\n  model: {TEST_MODEL}\n")
    env = {
        **os.environ,
        "HOLDCUE_CONFIG_DIR": str(folder),
        "HOLDCUE_DATA_DIR": str(root / "data"),
        "HOLDCUE_CACHE_DIR": str(root / "cache"),
    }
    routine = choices.resolve(
        library.load_routine(str(folder / "routines" / "heard.yaml")), config.load_config(folder / "config.yaml")
    ).routine
    assert routine.voice.engine == "piper" and routine.music is not None
    # the clips made here are the ones the commands find in the cache (Piper's are not the same twice)
    built = session.build(routine, cache=ClipCache(root / "cache" / "speech"))
    plain = render(built.timeline, built.clips, built.tones)
    mixed = render(built.timeline, built.clips, built.tones, music=routine.music)
    return env, root, built, plain, mixed


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    energy = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / energy) if energy else 0.0


def assert_heard_as_configured(recording: np.ndarray, built, plain: np.ndarray, mixed: np.ndarray, least: int):
    """At least ``least`` spoken cues of the session, each with the music before and under it,
    found at one offset; and between the cues, the music."""
    offsets, first = [], None
    for event in (e for e in built.timeline.events if e.kind == "speech" and e.start >= RATE // 10):
        window = mixed[event.start - RATE // 10 : event.start + RATE // 2]
        # 0.9: the window spans the music's duck ramp, where the recording matches less closely
        found = [at - (event.start - RATE // 10) for at in find(recording, window, 0.90)]
        if found and first is None:
            first = event.start - RATE // 10  # a resumed session is heard from about here on
        offsets += found
    assert len(offsets) >= least, f"{len(offsets)} of the configured voice's cues heard with the music"
    assert max(offsets) - min(offsets) <= EXACT, f"cue offsets in samples: {offsets}"
    assert first is not None
    at = min(offsets)
    heard = recording[at + first : at + len(mixed)]
    gaps = plain[first : first + len(heard)] == 0
    assert gaps.sum() > RATE // 2
    assert correlation(heard[gaps], mixed[first : first + len(heard)][gaps]) > 0.98, "the music is not heard"


@pytest.mark.parametrize("args", [("play", "heard"), ("today",)], ids=["play", "today"])
def test_a_command_plays_with_the_configs_voice_and_music(setup, tmp_path, args):
    env, _, built, plain, mixed = setup
    with NullSink(tmp_path / "pulse") as stack, Recorder({**env, **stack.env}) as recorder:
        done = subprocess.run(holdcue(*args), env={**env, **stack.env}, capture_output=True, text=True, timeout=120)
        time.sleep(0.3)
    assert done.returncode == 0, done.stderr
    assert_heard_as_configured(recorder.recording().samples, built, plain, mixed, least=3)


def test_resume_plays_with_the_configs_voice_and_music(setup, tmp_path, monkeypatch):
    env, root, built, plain, mixed = setup
    monkeypatch.setenv("HOLDCUE_DATA_DIR", env["HOLDCUE_DATA_DIR"])
    with journal.Journal.open() as kept:
        row = kept.begin(
            routine_id="heard",
            title="Heard check",
            source=built.routine.source,
            steps=2,
            planned=built.timeline.length / RATE,
        )
        kept.end(row, "stopped", step=2, played=10.0)  # stopped in step 2 of 2 (counted from 1): resume plays it
    with NullSink(tmp_path / "pulse") as stack, Recorder({**env, **stack.env}) as recorder:
        done = subprocess.run(holdcue("resume"), env={**env, **stack.env}, capture_output=True, text=True, timeout=120)
        time.sleep(0.3)
    assert done.returncode == 0, done.stderr
    assert "Shoulders" in done.stdout and "Hands" not in done.stdout, done.stdout
    assert_heard_as_configured(recorder.recording().samples, built, plain, mixed, least=2)


@pytest.mark.parametrize(
    "path, body", [("/api/play", {"routine": "heard"}), ("/api/today", {})], ids=["api-play", "api-today"]
)
def test_the_service_plays_with_the_configs_voice_and_music(setup, tmp_path, path, body):
    env, _, built, plain, mixed = setup
    with NullSink(tmp_path / "pulse") as stack:
        service_env = {**env, **stack.env}
        process = subprocess.Popen(
            holdcue("serve", "--port", "0", "--no-prepare"),
            env=service_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            line = process.stdout.readline().decode()
            found = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            assert found, line
            base = found.group(1)
            with Recorder(service_env) as recorder:
                request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
                with urllib.request.urlopen(request, timeout=30) as answer:
                    assert json.load(answer)["state"] == "playing"
                deadline = time.monotonic() + built.timeline.length / RATE + 20
                while time.monotonic() < deadline and status(base)["state"] == "playing":
                    time.sleep(0.2)
                assert status(base)["state"] != "playing", "the session did not end"
                time.sleep(0.5)
            process.terminate()
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
    assert "Traceback" not in process.stderr.read().decode()
    assert_heard_as_configured(recorder.recording().samples, built, plain, mixed, least=3)


def status(base: str) -> dict:
    with urllib.request.urlopen(base + "/api/status", timeout=10) as answer:
        return json.load(answer)


def test_the_check_tells_espeak_from_the_configured_voice(setup, tmp_path):
    """The same session spoken by espeak-ng, as resume and the service spoke it before: not
    found (so the tests above could fail)."""
    env, root, built, plain, mixed = setup
    other = session.build(
        library.load_routine(str(Path(env["HOLDCUE_CONFIG_DIR"]) / "routines" / "heard.yaml")),
        cache=ClipCache(tmp_path / "speech"),
    )
    spoken = render(other.timeline, other.clips, other.tones, music=built.routine.music)
    with pytest.raises(AssertionError, match="cues heard"):
        assert_heard_as_configured(spoken, built, plain, mixed, least=1)
    silent = render(built.timeline, built.clips, built.tones)  # the voice, but no music
    with pytest.raises(AssertionError):
        assert_heard_as_configured(silent, built, plain, mixed, least=1)
