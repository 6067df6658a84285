"""The MPRIS player of `holdcue serve` and `holdcue play` as people reach it: a private
D-Bus session bus (dbus-daemon), playerctl as the client, and the sound heard through a
real audio stack (ALSA -> PulseAudio -> a null sink, recorded): each command is heard to do
what it says (a pause confirmed aloud, then silence), and status and metadata follow."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from audio_stack import NullSink, PtyChild, Recorder, holdcue
from audio_stack import missing as audio_missing
from bus_support import SessionBus
from bus_support import missing as bus_missing
from holdcue.plan import WEEKDAYS
from speech_support import HAVE_ESPEAK

ROOT = Path(__file__).resolve().parents[1]
QUICK = """\
title: Quick check
areas: [feet]
tools: [tennis ball]
voice: {language: en, rate: 220}
cues: {prep: 1s, countdown: 0, halfway: false, time_left: false}
steps:
  - compress: Press the ball under your foot.
    title: Foot press
    time: 8s
  - hold: Relax your hands.
    title: Hands
    time: 8s
"""
LACKING = audio_missing() + bus_missing() + ([] if HAVE_ESPEAK else ["espeak-ng"])

pytestmark = [
    pytest.mark.audio,
    pytest.mark.speech,
    pytest.mark.skipif(bool(LACKING) and os.environ.get("CI") != "true", reason=f"needs {', '.join(LACKING)}"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if LACKING:
        pytest.fail(f"the MPRIS end-to-end tests need {', '.join(LACKING)} (CI=true: they may not be skipped)")
    with NullSink(tmp_path_factory.mktemp("pulse")) as sink:
        yield sink


@pytest.fixture(scope="module")
def prepared(stack, tmp_path_factory):
    """holdcue's folders with the quick routine (today's session, whatever the day) and its speech made."""
    config = tmp_path_factory.mktemp("config")
    (config / "routines").mkdir()
    (config / "routines" / "quick-check.yaml").write_text(QUICK)
    (config / "plan.yaml").write_text("".join(f"{day}: quick-check\n" for day in WEEKDAYS))
    env = {
        **stack.env,
        "HOLDCUE_CONFIG_DIR": str(config),
        "HOLDCUE_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
        "PYTHONPATH": str(ROOT / "src"),
    }
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    subprocess.run(holdcue("prepare", "quick-check"), env=env, check=True, capture_output=True, timeout=120)
    return env


@pytest.fixture
def bus():
    with SessionBus() as started:
        yield started


@pytest.fixture
def env(prepared, bus, tmp_path):
    return {**bus.env(prepared), "HOLDCUE_DATA_DIR": str(tmp_path / "data")}


def loud(samples: np.ndarray) -> bool:
    return samples.size > 0 and int(np.abs(samples.astype(np.int32)).max()) > 1000


def between(recorder: Recorder, start: float, stop: float) -> np.ndarray:
    recording = recorder.recording()
    return recording.samples[max(0, recording.sample_at(start)) : max(0, recording.sample_at(stop))]


def command(bus: SessionBus, what: str, *args: str) -> float:
    """playerctl's command to holdcue; when it was sent."""
    at = time.monotonic()
    bus.playerctl("--player", "holdcue", what, *args)
    return at


class Serve:
    """`holdcue serve` on a free port, its log (stderr) read as it comes."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            holdcue("serve", "--port", "0", "--no-prepare"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            self.log.append(line.rstrip("\n"))
            if text in line:
                return line.strip()
        raise AssertionError(f"{text!r} not in the log:\n" + "\n".join(self.log))

    def stop(self) -> int:
        self.process.terminate()
        code = self.process.wait(timeout=15)
        assert self.process.stderr is not None
        self.log += self.process.stderr.read().splitlines()
        return code


def test_playerctl_steers_holdcue_serve_and_each_command_is_heard(env, bus, stack):
    serve = Serve(env)
    try:
        serve.wait_for("mpris: on the session bus as org.mpris.MediaPlayer2.holdcue")
        assert bus.players() == ["holdcue"]
        assert bus.ask("holdcue", "status") == "Stopped"
        with Recorder(stack.env) as recorder:
            time.sleep(0.5)
            played = command(bus, "play")  # nothing under way: today's session, as the button plays it
            bus.wait_for("holdcue", ("status",), "Playing", timeout=20)
            bus.wait_for("holdcue", ("metadata", "xesam:title"), "Step 1 of 2 · Foot press", timeout=20)
            meta = bus.metadata("holdcue")
            shown = {" ".join(line.split()) for line in bus.ask("holdcue", "metadata").splitlines()}  # docs/controls.md
            assert {"holdcue xesam:title Step 1 of 2 · Foot press", "holdcue xesam:album Quick check"} <= shown
            assert meta["xesam:album"] == "Quick check"
            assert meta["mpris:trackid"] == "/org/holdcue/track/quick_2dcheck/1"
            assert 8_000_000 < int(meta["mpris:length"]) < 20_000_000  # the step, announcement and all
            time.sleep(1.0)
            paused = command(bus, "play-pause")
            bus.wait_for("holdcue", ("status",), "Paused")
            time.sleep(3.0)  # "Paused." said, then silence
            resumed = command(bus, "play-pause")
            bus.wait_for("holdcue", ("status",), "Playing")
            time.sleep(1.5)
            skipped = command(bus, "next")
            bus.wait_for("holdcue", ("metadata", "xesam:title"), "Step 2 of 2 · Hands")
            time.sleep(1.5)
            back = command(bus, "previous")  # in a step's first seconds: the step before
            bus.wait_for("holdcue", ("metadata", "xesam:title"), "Step 1 of 2 · Foot press")
            time.sleep(1.5)
            command(bus, "volume", "0.5")
            bus.wait_for("holdcue", ("volume",), "0.500000")
            stopped = command(bus, "stop")
            bus.wait_for("holdcue", ("status",), "Stopped")
            time.sleep(4.0)  # "Session ended." said, then silence
        assert loud(between(recorder, played, paused)), "nothing was heard after play"
        assert loud(between(recorder, paused, paused + 1.2)), "the pause was not confirmed aloud"
        assert not loud(between(recorder, paused + 1.6, resumed - 0.1)), "sound went on while paused"
        assert loud(between(recorder, resumed, skipped)), "nothing was heard after the resume"
        assert loud(between(recorder, skipped, skipped + 1.5)), "the next step was not heard"
        assert loud(between(recorder, back, back + 1.5)), "the step before was not heard"
        assert loud(between(recorder, stopped, stopped + 1.5)), "the stop was not confirmed aloud"
        assert not loud(between(recorder, stopped + 2.5, stopped + 3.8)), "sound went on after stop"
    finally:
        code = serve.stop()
    assert code == 0
    log = "\n".join(serve.log)
    assert "Traceback" not in log, log
    for line in (
        "mpris: Play: play today's session",
        "mpris: PlayPause: pause",
        "mpris: PlayPause: resume",
        "mpris: Next: next step",
        "mpris: Previous: previous step",
        "mpris: Volume: volume 0.5",
        "mpris: Stop: stop",
    ):
        assert line in log, f"{line!r} not logged:\n{log}"
    # journaled as a session stopped from any other control is
    history = subprocess.run(holdcue("history", "--json"), env=env, capture_output=True, text=True, timeout=60)
    (session,) = json.loads(history.stdout)["sessions"]
    assert session["routine"] == "quick-check" and session["outcome"] == "stopped"


def test_holdcue_serve_without_a_session_bus_says_so_in_one_line(prepared, tmp_path):
    env = {**prepared, "HOLDCUE_DATA_DIR": str(tmp_path / "data")}
    serve = Serve(env)
    try:
        line = serve.wait_for("mpris:")
    finally:
        code = serve.stop()
    assert code == 0
    assert line.endswith(
        "mpris: off, there is no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set); "
        "media keys and headset buttons cannot steer holdcue"
    )
    assert sum("mpris" in entry for entry in serve.log) == 1 and "Traceback" not in "\n".join(serve.log)


def test_playerctl_steers_holdcue_play_on_its_terminal(env, bus, stack, tmp_path):
    routine = tmp_path / "quick.yaml"
    routine.write_text(QUICK)
    with Recorder(stack.env) as recorder:
        child = PtyChild(holdcue("play", str(routine)), env)
        try:
            child.wait_for("Introduction", 30)
            bus.wait_for_player()
            bus.wait_for("holdcue", ("status",), "Playing")
            assert bus.metadata("holdcue")["xesam:album"] == "Quick check"
            bus.wait_for("holdcue", ("metadata", "xesam:title"), "Step 1 of 2 · Foot press", timeout=20)
            time.sleep(1.0)
            paused = command(bus, "play-pause")
            seen = child.wait_for("PAUSED", 5)
            bus.wait_for("holdcue", ("status",), "Paused")
            time.sleep(3.0)
            resumed = command(bus, "play")
            bus.wait_for("holdcue", ("status",), "Playing")
            time.sleep(1.0)
            skipped = command(bus, "next")
            child.wait_for("Hands", 5, seen)
            bus.wait_for("holdcue", ("metadata", "xesam:title"), "Step 2 of 2 · Hands")
            time.sleep(1.5)
            stopped = command(bus, "stop")  # as q: the session ends, said aloud, and holdcue play exits
            code = child.wait(15)
            time.sleep(1.0)
        finally:
            child.close()
    assert code == 0, child.text()
    assert "Session ended at 0:" in child.text()  # (a busy machine's underruns are counted on the line after)
    assert "mpris" not in child.text()  # on the bus: nothing to say
    assert loud(between(recorder, paused, paused + 1.2)), "the pause was not confirmed aloud"
    assert not loud(between(recorder, paused + 1.6, resumed - 0.1)), "sound went on while paused"
    assert loud(between(recorder, resumed, skipped)), "nothing was heard after the resume"
    assert loud(between(recorder, skipped, skipped + 1.5)), "the next step was not heard"
    assert loud(between(recorder, stopped, stopped + 1.2)), "the stop was not confirmed aloud"
    assert "holdcue" not in bus.players()


def test_holdcue_play_without_a_session_bus_says_so_in_one_dim_line(prepared, tmp_path):
    routine = tmp_path / "quick.yaml"
    routine.write_text(QUICK)
    env = {**prepared, "HOLDCUE_DATA_DIR": str(tmp_path / "data")}
    child = PtyChild(holdcue("play", str(routine)), env)
    try:
        child.wait_for("Introduction", 30)
        child.wait_for("\x1b[2mmpris: off, there is no D-Bus session bus", 10)
        child.wait_for("Foot press", 20)  # the session goes on
        child.send(b"q")
        code = child.wait(15)
    finally:
        child.close()
    assert code == 0, child.text()
    assert child.text().count("mpris") == 1


def test_holdcue_list_never_imports_dbus_fast(prepared):
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "holdcue", "list"],
        env=prepared,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    imported = [line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "holdcue.cli" in imported  # the list of what was imported was read
    assert not [name for name in imported if re.match(r"dbus_fast|holdcue\.mpris", name)]
