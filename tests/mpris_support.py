"""A core of the test's own with its MPRIS player on a private session bus: it plays in real
time into a sink that keeps what it is given (test_mpris.py, test_headset_proxy.py)."""

from __future__ import annotations

from bus_support import SessionBus
from holdcue import mpris, session
from holdcue import plan as weekly
from holdcue.core import Catalog, Core
from holdcue.plan import WEEKDAYS
from holdcue.routine import Cues, Routine, Step
from service_support import RealClock, Sink, make_session, says

ON = (
    "mpris: on the session bus as org.mpris.MediaPlayer2.holdcue: "
    "media keys, playerctl and headset buttons steer holdcue"
)
QUICK = Cues(prep_ms=1000, countdown=0, halfway=False, time_left_every_ms=0, switch_ms=1000)


def tiny() -> Routine:
    return Routine(
        id="tiny-feet",
        title="Tiny feet",
        steps=(
            Step("compress", "Press the ball under your {side} foot.", 6000, title="Foot", sides=("left", "right")),
            Step("hold", "Relax your hands.", 6000, title="Hands"),
        ),
        cues=QUICK,
    )


def every_day(routine: str | None) -> weekly.Plan:
    return weekly.Plan((routine,) * len(WEEKDAYS), "<test>")


class Rig:
    """A core playing in real time into a Sink, with its MPRIS player on ``bus``."""

    def __init__(self, bus: SessionBus, monkeypatch, plan: str | None = "tiny-feet", **options):
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
        self.bus = bus
        self.sink = Sink(RealClock())
        self.core = Core(
            Catalog(load=lambda: session.Library((tiny(),), ())),
            sink=self.sink,
            build=make_session,
            clock=RealClock(),
            tick=0.05,
            speaker=None,
            plan=lambda: every_day(plan),
        )
        self.core.start()
        self.notes: list[str] = []
        self.log: list[str] = []
        options = {"play_when_idle": True, "can_quit": False, **options}
        self.player = mpris.start(self.core, note=self.notes.append, log=self.log.append, **options)

    def close(self) -> None:
        self.player.close()
        self.core.close()

    def said(self, text: str) -> bool:
        return any(says(take, text) for take in self.sink.takes)
