"""The MPRIS player on a real D-Bus session bus (a private dbus-daemon), steered and read
with playerctl, the client people use: a core of the test's own plays into a sink that keeps
what it is given, so that what each command made the player say ("Paused.", "Session
ended.") is checked as well as what the bus shows. holdcue serve and holdcue play with real
sound: test_mpris_e2e.py."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

import play_helpers
from bus_support import SessionBus, missing
from holdcue import mpris, session
from holdcue.core import Catalog, Core
from holdcue.mpris import showing
from holdcue.routine import Routine
from mpris_support import ON, Rig, tiny
from service_support import RealClock, Sink, make_session, wait_until

LACKING = missing()
pytestmark = pytest.mark.skipif(bool(LACKING) and os.environ.get("CI") != "true", reason=f"needs {', '.join(LACKING)}")


@pytest.fixture
def bus():
    if LACKING:
        pytest.fail(f"the MPRIS tests need {', '.join(LACKING)} (CI=true: they may not be skipped)")
    with SessionBus() as started:
        yield started


@pytest.fixture
def rig(bus, monkeypatch):
    made = Rig(bus, monkeypatch)
    bus.wait_for_player()
    yield made
    made.close()


def mpris_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("holdcue-mpris")]


def test_idle_the_player_is_there_stopped_with_no_track(rig, bus):
    assert rig.notes == []
    assert rig.log == [ON]
    assert bus.ask("holdcue", "status") == "Stopped"
    assert bus.metadata("holdcue")["mpris:trackid"] == showing.NO_TRACK
    assert float(bus.ask("holdcue", "volume")) == 1.0


class Follow:
    """``playerctl --follow status``: a line each time the player announces a new status."""

    def __init__(self, bus: SessionBus):
        self.process = subprocess.Popen(
            ["playerctl", "--player", "holdcue", "--follow", "status"],
            env=bus.env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.strip())

    def close(self) -> list[str]:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.thread.join(timeout=10)
        return [line for i, line in enumerate(self.lines) if i == 0 or line != self.lines[i - 1]]


def step_length(routine: Routine, step: int) -> int:
    """The length of step ``step`` (0 is the first) in microseconds."""
    timeline = make_session(routine).timeline
    first = next(i for i, segment in enumerate(timeline.segments) if segment.step == step)
    start, end = timeline.step_span(first)
    return round(timeline.seconds(end - start) * showing.MICROSECONDS)


def test_commands_act_through_the_core_and_every_change_is_announced(rig, bus):
    follow = Follow(bus)
    bus.wait_for("holdcue", ("status",), "Stopped")
    bus.playerctl("--player", "holdcue", "play")  # nothing under way: today's session, as the button plays it
    bus.wait_for("holdcue", ("status",), "Playing")
    assert bus.metadata("holdcue")["mpris:trackid"] == "/org/holdcue/track/tiny_2dfeet/intro"
    wait_until(lambda: rig.core.status().step == 1, timeout=15, what="the first step")
    assert bus.metadata("holdcue") == {
        "mpris:trackid": "/org/holdcue/track/tiny_2dfeet/1",
        "xesam:title": "Step 1 of 2 · Foot · left side",
        "xesam:album": "Tiny feet",
        "mpris:length": str(step_length(tiny(), 0)),
        "xesam:trackNumber": "1",
    }

    bus.playerctl("--player", "holdcue", "play-pause")
    bus.wait_for("holdcue", ("status",), "Paused")
    assert rig.core.state() == "paused" and rig.said("Paused.")  # confirmed aloud, as a key press is
    position = int(bus.ask("holdcue", "position", "--format", "{{position}}"))
    assert 0 < position <= step_length(tiny(), 0)
    takes = len(rig.sink.takes)
    bus.playerctl("--player", "holdcue", "play")
    bus.wait_for("holdcue", ("status",), "Playing")
    resumed = rig.sink.takes[takes:]  # "Resuming.", then the step goes on in the same take
    assert len(resumed) == 1 and len(resumed[0].samples) > len(play_helpers.fake_clip("Resuming."))

    bus.playerctl("--player", "holdcue", "next")
    bus.wait_for("holdcue", ("metadata", "xesam:title"), "Step 2 of 2 · Hands")
    assert bus.metadata("holdcue")["mpris:length"] == str(step_length(tiny(), 1))
    bus.playerctl("--player", "holdcue", "previous")  # in a step's first seconds: the step before
    bus.wait_for("holdcue", ("metadata", "xesam:title"), "Step 1 of 2 · Foot · left side")

    bus.playerctl("--player", "holdcue", "volume", "0.5")
    wait_until(lambda: rig.core.volume == 0.5, what="the volume set")
    bus.wait_for("holdcue", ("volume",), "0.500000")

    bus.playerctl("--player", "holdcue", "stop")
    bus.wait_for("holdcue", ("status",), "Stopped")
    assert rig.core.state() == "idle"
    wait_until(lambda: rig.said("Session ended."), what="the stop said aloud")
    assert bus.metadata("holdcue")["mpris:trackid"] == showing.NO_TRACK
    assert follow.close() == ["Stopped", "Playing", "Paused", "Playing", "Stopped"]
    assert rig.log == [
        ON,
        "mpris: Play: play today's session",
        "mpris: PlayPause: pause",
        "mpris: Play: resume",
        "mpris: Next: next step",
        "mpris: Previous: previous step",
        "mpris: Volume: volume 0.5",
        "mpris: Stop: stop",
    ]


def test_what_does_not_fit_does_nothing_and_a_rest_day_says_why(bus, monkeypatch):
    rig = Rig(bus, monkeypatch, plan=None)  # every day a rest day
    try:
        bus.wait_for_player()
        for method in ("Pause", "Next", "Previous", "Stop"):  # playerctl sends none of these with nothing under way
            assert bus.call("holdcue", method).returncode == 0, method
        refused = bus.playerctl("--player", "holdcue", "play", check=False)
        assert "rest day" in refused.stderr.lower() or "rest day" in refused.stdout.lower(), refused
        assert bus.ask("holdcue", "status") == "Stopped" and rig.core.state() == "idle"
        assert rig.sink.takes == []  # nothing was played, nothing said
        assert rig.log[:5] == [ON] + [f"mpris: {m} ignored while idle" for m in ("Pause", "Next", "Previous", "Stop")]
        assert rig.log[5] == "mpris: Play: play today's session"
        assert "rest day" in rig.log[6].lower()
    finally:
        rig.close()


def test_what_the_player_is_and_what_it_cannot_do(rig, bus):
    root, player = "org.mpris.MediaPlayer2", "org.mpris.MediaPlayer2.Player"
    assert bus.get("holdcue", root, "Identity") == 'variant string "holdcue"'
    assert bus.get("holdcue", root, "DesktopEntry") == 'variant string "holdcue"'
    for name in ("CanQuit", "CanRaise", "HasTrackList"):  # the service keeps running: no Quit
        assert bus.get("holdcue", root, name) == "variant boolean false", name
    for name in ("SupportedUriSchemes", "SupportedMimeTypes"):
        assert bus.get("holdcue", root, name) == "variant array [ ]", name
    assert bus.get("holdcue", player, "CanSeek") == "variant boolean false"
    assert bus.get("holdcue", player, "CanControl") == "variant boolean true"
    assert bus.get("holdcue", player, "CanPlay") == "variant boolean true"  # plays today's session
    assert bus.get("holdcue", player, "CanPause") == "variant boolean false"  # nothing under way
    for name in ("Rate", "MinimumRate", "MaximumRate"):
        assert bus.get("holdcue", player, name) == "variant double 1", name
    # what it does not support is answered, and changes nothing
    for method, args in (
        ("Seek", ["int64:5000000"]),
        ("SetPosition", ["objpath:/x", "int64:0"]),
        ("OpenUri", ["string:file:///x.mp3"]),
    ):
        assert bus.call("holdcue", method, *args).returncode == 0, method
    quit = subprocess.run(
        [
            "dbus-send",
            "--print-reply",
            "--dest=org.mpris.MediaPlayer2.holdcue",
            "/org/mpris/MediaPlayer2",
            f"{root}.Quit",
        ],
        env=bus.env(),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert quit.returncode == 0 and rig.core.state() == "idle"
    assert rig.sink.takes == []
    assert rig.log == [ON, "mpris: Quit ignored: the service keeps running"]


def test_holdcue_play_s_player_can_quit_and_plays_nothing_when_idle(bus, monkeypatch):
    rig = Rig(bus, monkeypatch, play_when_idle=False, can_quit=True)
    try:
        bus.wait_for_player()
        assert bus.get("holdcue", "org.mpris.MediaPlayer2", "CanQuit") == "variant boolean true"
        assert bus.get("holdcue", "org.mpris.MediaPlayer2.Player", "CanPlay") == "variant boolean false"
        assert bus.call("holdcue", "Play").returncode == 0  # playerctl sends no Play while CanPlay is false
        assert rig.core.state() == "idle" and rig.log == [ON, "mpris: Play ignored while idle"]
        rig.core.play("tiny-feet")
        bus.wait_for("holdcue", ("status",), "Playing")
        assert bus.get("holdcue", "org.mpris.MediaPlayer2.Player", "CanPlay") == "variant boolean true"
        quit = subprocess.run(
            [
                "dbus-send",
                "--print-reply",
                "--dest=org.mpris.MediaPlayer2.holdcue",
                "/org/mpris/MediaPlayer2",
                "org.mpris.MediaPlayer2.Quit",
            ],
            env=bus.env(),
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert quit.returncode == 0, quit.stderr
        assert rig.core.state() == "idle"
        wait_until(lambda: rig.said("Session ended."), what="the stop said aloud")
    finally:
        rig.close()


def test_a_second_holdcue_takes_a_name_of_its_own(rig, bus, monkeypatch):
    second = Rig(bus, monkeypatch)
    try:
        bus.wait_for_player(f"holdcue.instance{os.getpid()}")
        assert second.log == [ON.replace("holdcue:", f"holdcue.instance{os.getpid()}:")]
        bus.playerctl("--player", f"holdcue.instance{os.getpid()}", "play")
        bus.wait_for(f"holdcue.instance{os.getpid()}", ("status",), "Playing")
        assert second.core.state() == "playing" and rig.core.state() == "idle"  # each steers its own
    finally:
        second.close()
    wait_until(lambda: bus.players() == ["holdcue"], what="the second player gone from the bus")


def test_the_bus_of_the_user_s_systemd_session_is_found_without_an_address(tmp_path, monkeypatch):
    if LACKING:
        pytest.fail(f"the MPRIS tests need {', '.join(LACKING)} (CI=true: they may not be skipped)")
    assert mpris.session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) is None  # no bus there
    with SessionBus(socket=str(tmp_path / "bus")) as bus:
        assert mpris.session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) == f"unix:path={tmp_path}/bus"
        monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
        rig = Rig.__new__(Rig)
        Rig.__init__(rig, bus, monkeypatch)
        monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")  # set by Rig: this test is without it
        try:
            bus.wait_for_player()
        finally:
            rig.close()


@pytest.mark.parametrize("where", ["unset", "refused"])
def test_without_a_session_bus_one_line_says_so_and_all_else_goes_on(where, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # no bus there either
    if where == "unset":
        monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    else:
        import socket

        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(tmp_path / "deaf"))  # bound, not listening: a connection is refused
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/deaf")
    sink = Sink(RealClock())
    core = Core(Catalog(load=lambda: session.Library((tiny(),), ())), sink=sink, build=make_session, speaker=None)
    core.start()
    notes: list[str] = []
    player = mpris.start(core, note=notes.append, play_when_idle=True, can_quit=False)
    try:
        wait_until(lambda: notes, what="the note")
        wait_until(lambda: not mpris_threads(), what="the thread's end")
        core.play("tiny-feet")  # the rest goes on
        assert core.state() == "playing"
    finally:
        player.close()
        core.close()
    reason = "there is no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
    if where == "refused":
        reason = "the D-Bus session bus cannot be reached (Connection refused)"
    assert notes == [f"mpris: off, {reason}; media keys and headset buttons cannot steer holdcue"]


def test_the_bus_going_away_is_said_once_and_ends_the_thread(rig, bus):
    bus.stop()
    wait_until(lambda: rig.notes, what="the note")
    assert rig.notes == [
        "mpris: the D-Bus session bus went away; media keys and headset buttons no longer steer holdcue"
    ]
    wait_until(lambda: not mpris_threads(), what="the thread's end")
    rig.core.play("tiny-feet")
    assert rig.core.state() == "playing"


def test_close_leaves_no_thread_behind(bus, monkeypatch):
    rig = Rig(bus, monkeypatch)
    bus.wait_for_player()
    bus.playerctl("--player", "holdcue", "play")
    bus.wait_for("holdcue", ("status",), "Playing")
    began = time.monotonic()
    rig.close()
    assert time.monotonic() - began < 2.0
    assert mpris_threads() == []
    wait_until(lambda: "holdcue" not in bus.players(), what="the player gone from the bus")


def test_a_close_before_the_bus_is_reached_ends_the_thread_too(bus, monkeypatch):
    rig = Rig(bus, monkeypatch)
    rig.close()  # at once: the thread may not have connected yet
    assert mpris_threads() == []
