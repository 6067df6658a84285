"""The core: one session at a time, driven from any thread, with a clock
the test moves and a sink that keeps what it is given. What the sink receives and what
observers hear are checked, not only the status."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

import play_helpers
from holdcue import compiler, library, play, session
from holdcue.core import BadValue, Catalog, Change, Core, Snapshot, UnknownRoutine, WrongState
from holdcue.errors import AudioDeviceError
from holdcue.routine import Cues, Routine, Step
from play_helpers import FakeSpeak
from service_support import FakeClock, Sink, make_session, says, wait_until

QUICK = Cues(prep_ms=1000, countdown=0, halfway=False, time_left_every_ms=0, switch_ms=1000)


def tiny() -> Routine:
    return Routine(
        id="tiny",
        title="Tiny",
        steps=(
            Step("compress", "Press the ball under your {side} foot.", 4000, title="Foot", sides=("left", "right")),
            Step("hold", "Relax your hands.", 3000, title="Hands"),
        ),
        cues=QUICK,
    )


def other() -> Routine:
    return Routine(
        id="other", title="Other", steps=(Step("hold", "Breathe slowly.", 5000, title="Breathe"),), cues=QUICK
    )


class Rig:
    def __init__(self, tmp_path, observers=(), **options):
        self.clock = FakeClock()
        self.sink = Sink(self.clock)
        self.changes: list[Change] = []
        self.speak = FakeSpeak()  # the time left, said on resume
        broken = library.Entry("broken", str(tmp_path / "broken.yaml"), False, None, ())
        self.catalog = Catalog(load=lambda: session.Library((tiny(), other()), (broken,)))
        self.controller = Core(
            self.catalog,
            sink=self.sink,
            build=make_session,
            clock=self.clock,
            observers=[*observers, self.changes.append],
            tick=0.02,
            speaker=lambda voice: self.speak,
            **options,
        )
        self.controller.start()

    def kinds(self) -> list[tuple[str, str, str]]:
        return [(c.kind, c.routine, c.outcome) for c in self.changes]

    def settle(self) -> Snapshot:
        """The status once the ticker has looked at the player since the clock moved."""
        version = self.controller.version
        wait_until(lambda: self.controller.version != version, what="a new status")
        return self.controller.status()


@pytest.fixture
def rig(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path))
    made = Rig(tmp_path)
    yield made
    made.controller.close()


def test_play_starts_one_take_and_reports_the_routine(rig):
    status = rig.controller.play("tiny")
    timeline = make_session(tiny()).timeline
    assert status.state == "playing" and status.routine == "tiny" and status.title == "Tiny"
    assert status.steps == 2 and status.position == 0 and status.volume == 1.0
    assert status.duration == round(timeline.duration, 1)
    assert status.step_title == "Introduction" and status.next == "step 1: Foot"
    assert len(rig.sink.takes) == 1 and rig.sink.takes[0].handle.is_playing()
    assert rig.kinds() == [("start", "tiny", "")]
    assert rig.controller.status() == status


def test_a_new_play_stops_the_one_playing(rig):
    rig.controller.play("tiny")
    rig.clock.advance(2)
    status = rig.controller.play("other")
    first, second = rig.sink.takes
    assert first.handle.stopped and not second.handle.stopped
    assert status.routine == "other" and status.state == "playing"
    assert rig.kinds() == [("start", "tiny", ""), ("end", "tiny", "replaced"), ("start", "other", "")]


def test_pause_resume_next_previous_and_stop(rig):
    c = rig.controller
    with pytest.raises(WrongState, match="nothing is playing"):
        c.pause()
    c.play("tiny")
    with pytest.raises(WrongState, match="cannot resume: the session is playing"):
        c.resume()
    rig.clock.advance(3)
    assert c.pause().state == "paused"
    (confirmation,) = rig.sink.playing()  # the session's take stopped; "Paused." said, as the keys do
    assert says(confirmation, "Paused.") and rig.sink.takes[0].handle.stopped
    rig.clock.advance(2)
    assert rig.sink.playing() == []
    with pytest.raises(WrongState, match="paused"):
        c.pause()
    resumed = c.resume()
    assert resumed.state == "playing" and len(rig.sink.playing()) == 1
    assert resumed.step == 1
    assert c.next().step == 2
    assert c.previous().step == 1  # at the start of a step, "previous" goes to the one before
    assert c.pause().state == "paused"
    assert c.next().state == "playing"  # skipping plays from the new place
    stopped = c.stop()
    assert stopped.state == "idle" and stopped.routine is None
    (confirmation,) = rig.sink.playing()
    assert says(confirmation, "Session ended.")
    rig.clock.advance(2)
    assert rig.sink.playing() == []
    assert c.stop().state == "idle"  # nothing to stop is no error
    assert [k for k in rig.kinds() if k[0] == "end"] == [("end", "tiny", "stopped")]


def test_pause_and_resume_in_a_hold_are_said_as_the_keys_say_them(rig):
    """Whoever asks (the page, the API, the button): "Paused.", then on resume "Resuming."
    and the time the hold has left, from the very sample where it paused."""
    c = rig.controller
    c.play("tiny")
    rig.clock.advance(10)  # the first hold: 8.2 s to 12.2 s, after the lead-in
    assert c.status().phase == "hold"
    c.pause()
    assert says(rig.sink.takes[-1], "Paused.")
    rig.clock.advance(2)
    c.resume()
    (left,) = rig.speak.said
    assert left.endswith("seconds left.") or left.endswith("second left.")
    resumed = rig.sink.takes[-1].samples
    words = play_helpers.fake_clip("Resuming.")
    assert len(resumed) > len(words) and resumed.any()


def test_a_session_played_to_its_end_finishes_and_tells_each_step(rig):
    rig.controller.play("tiny")
    duration = make_session(tiny()).timeline.duration
    for _ in range(int(duration) + 2):  # a second at a time, so the ticker sees every step
        rig.clock.advance(1)
        rig.settle()
    status = rig.controller.status()
    assert status.state == "finished" and status.position == int(duration) and status.left == 0
    steps = [(c.status.step, c.status.side) for c in rig.changes if c.kind == "step"]
    assert steps[:3] == [(1, "left"), (1, "right"), (2, "")]
    wait_until(lambda: rig.kinds()[-1] == ("end", "tiny", "finished"), what="the end to be told")
    rig.controller.stop()
    assert [k for k in rig.kinds() if k[0] == "end"] == [("end", "tiny", "finished")]  # told once


def test_volume_goes_on_from_the_same_place_in_a_new_take(rig):
    c = rig.controller
    c.play("tiny")
    rig.clock.advance(6.5)
    at = c.status().position
    status = c.set_volume(0.5)
    old, new = rig.sink.takes
    assert old.handle.stopped and new.handle.is_playing()
    assert status.state == "playing" and status.volume == 0.5 and status.position == at
    ready = make_session(tiny())
    reference_player = play.Player(ready, sink=Sink(FakeClock()), clock=FakeClock(), volume=1.0)
    reference = reference_player.buffer(round((6.5 - play.LEAD_IN) * ready.timeline.rate))[0]  # after the lead-in
    assert len(new.samples) == len(reference)  # from the same sample of the timeline
    ratio = np.sqrt(np.mean(new.samples.astype(float) ** 2) / np.mean(reference.astype(float) ** 2))
    assert 0.45 < ratio < 0.55


def test_volume_while_paused_stays_paused_and_applies_on_resume(rig):
    c = rig.controller
    c.play("tiny")
    rig.clock.advance(6.5)
    c.pause()
    rig.clock.advance(2)  # "Paused." said
    takes = len(rig.sink.takes)
    status = c.set_volume(1.5)
    assert status.state == "paused" and rig.sink.playing() == []
    assert len(rig.sink.takes) == takes  # a change of volume says nothing and plays nothing while paused
    resumed = c.resume()
    assert resumed.state == "playing" and resumed.volume == 1.5
    louder = rig.sink.takes[-1].samples
    assert np.abs(louder.astype(int)).max() > np.abs(rig.sink.takes[0].samples.astype(int)).max()


def test_volume_when_idle_is_kept_for_the_next_session(rig):
    assert rig.controller.set_volume(0.25).volume == 0.25
    assert rig.sink.takes == []
    assert rig.controller.play("other").volume == 0.25


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -0.1, 2.01, "1", True, None, [1]])
def test_bad_volumes_are_refused(rig, bad):
    with pytest.raises(BadValue, match="from 0 to 2"):
        rig.controller.set_volume(bad)
    assert rig.controller.status().volume == 1.0


@pytest.mark.parametrize("ref", ["../tiny", "/etc/passwd", "tiny.yaml", "Tiny", "", 5, None, "nope", "builtin:tiny"])
def test_routines_are_named_by_library_id_only(rig, ref):
    with pytest.raises(UnknownRoutine):
        rig.controller.play(ref)
    assert rig.sink.takes == []


def test_a_routine_with_errors_is_refused_with_what_to_do(rig):
    with pytest.raises(WrongState, match="holdcue validate"):
        rig.controller.play("broken")


def test_start_at_a_step(rig):
    status = rig.controller.play("tiny", start_at=2)
    assert status.step == 2 and status.step_title == "Hands"
    with pytest.raises(BadValue, match="there is no step 3"):
        rig.controller.play("other", start_at=3)
    assert rig.controller.status().routine == "tiny"  # a refused play leaves the session alone


def test_no_device_at_start_is_raised_and_shown_in_the_status(rig):
    rig.sink.fail = AudioDeviceError("No sound device could be opened")
    with pytest.raises(AudioDeviceError):
        rig.controller.play("tiny")
    status = rig.controller.status()
    assert status.state == "idle" and "No sound device" in status.error
    rig.sink.fail = None
    assert rig.controller.play("tiny").error == ""


def test_a_device_lost_while_playing_ends_the_session(rig):
    rig.controller.play("tiny")
    rig.clock.advance(2)
    rig.sink.takes[0].handle.stop()  # the device let go long before the take's end
    wait_until(lambda: rig.controller.status().state == "idle", what="the loss to be noticed")
    assert "sound device stopped playing" in rig.controller.status().error
    wait_until(lambda: rig.kinds()[-1] == ("end", "tiny", "failed"), what="the observers")


def test_close_silences_at_once_and_tells_interrupted(rig):
    rig.controller.play("tiny")
    rig.clock.advance(1)
    rig.controller.close()
    assert rig.sink.takes[0].handle.stopped
    assert rig.kinds()[-1] == ("end", "tiny", "interrupted")
    assert not any(t.is_alive() for t in rig.controller._threads)
    with pytest.raises(WrongState, match="shutting down"):
        rig.controller.play("tiny")


def test_wait_wakes_on_a_change_and_times_out_without_one(rig):
    c = rig.controller
    version = c.version
    assert c.wait(version, timeout=0.05) == (version, c.status())
    seen = {}
    waiter = threading.Thread(target=lambda: seen.update(result=c.wait(version, timeout=5)))
    waiter.start()
    c.play("tiny")
    waiter.join(timeout=5)
    latest, status = seen["result"]
    assert latest > version and status.state == "playing"


def test_the_warm_up_prepares_every_routine_in_the_background(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path))
    warmed: list[str] = []
    made = Rig(tmp_path, warm=lambda routine: warmed.append(routine.id))
    try:
        wait_until(lambda: len(warmed) == 2, what="the warm-up")
        assert sorted(warmed) == ["other", "tiny"]
    finally:
        made.controller.close()


def test_an_observer_that_fails_does_not_stop_playback(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path))

    def failing(change):
        raise RuntimeError("journal full")

    made = Rig(tmp_path, observers=[failing])
    try:
        assert made.controller.play("tiny").state == "playing"
        assert made.kinds() == [("start", "tiny", "")]  # the next observer still heard it
        assert "an observer failed on start tiny" in caplog.text
    finally:
        made.controller.close()


def test_the_catalog_is_the_library_and_follows_the_users_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path))
    catalog = Catalog()
    estimated = lambda routine: (compiler.estimate_seconds(routine), False)  # noqa: E731
    listed = catalog.summaries(estimated)
    assert [r["id"] for r in listed] == library.builtin_ids()
    first = library.load_routine(listed[0]["id"])
    assert listed[0]["duration"] == round(compiler.estimate_seconds(first), 1) and listed[0]["exact"] is False
    assert listed[0]["areas"] == list(first.areas) and listed[0]["tools"] == list(first.tools)
    folder = tmp_path / "routines"
    folder.mkdir()
    (folder / "mine.yaml").write_text("title: Mine\nsteps:\n  - hold: Breathe.\n    time: 10s\n")
    (folder / "bad.yaml").write_text("title: Bad\nsteps: 3\n")
    listed = {r["id"]: r for r in catalog.summaries(estimated)}
    assert "mine" in listed and not listed["mine"]["problem"]
    # a routine with errors is listed with its first problem, not dropped
    assert listed["bad"]["duration"] is None and "steps" in listed["bad"]["problem"]
    assert catalog.get("mine").title == "Mine"
    with pytest.raises(WrongState, match="has errors"):
        catalog.get("bad")


def test_go_to_a_step_of_the_session_under_way(rig):
    c = rig.controller
    with pytest.raises(WrongState, match="nothing is playing"):
        c.go_to(2)
    c.play("tiny")
    listed = c.steps()
    timeline = make_session(tiny()).timeline
    assert listed["routine"] == "tiny"
    assert [(s["step"], s["title"]) for s in listed["steps"]] == [(1, "Foot"), (2, "Hands")]
    assert listed["steps"][0]["start"] < listed["steps"][0]["end"] <= listed["steps"][1]["start"]
    assert listed["steps"][1]["start"] == round(timeline.seconds(play.start_position(timeline, "2")), 1)
    status = c.go_to(2)
    assert (status.state, status.step, status.step_title) == ("playing", 2, "Hands")
    assert rig.sink.takes[-1].handle.is_playing() and rig.sink.takes[-2].handle.stopped
    c.pause()
    status = c.go_to(1)  # from a pause: plays from there
    assert (status.state, status.step) == ("playing", 1)
    for bad in (0, 3, -1, "2", 1.5, True, None):
        with pytest.raises(BadValue):
            c.go_to(bad)
    assert rig.kinds() == [("start", "tiny", ""), ("step", "tiny", ""), ("step", "tiny", "")]  # one session
    c.stop()
    assert c.steps() == {"routine": None, "steps": []}
