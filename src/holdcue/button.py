"""One button on a GPIO pin drives the player, for a Pi without a screen or keyboard:

- a press when idle (or finished) plays today's session; while playing it pauses, while
  paused it resumes;
- a double press (the second press within 0.4 s of releasing the first) skips to the next step;
- a long press (held 1 s) stops.

The button is a front end of the core (``Remote`` over core.Core; any object with the
methods of ``Controller`` will do).
gpiozero reads the pin (lgpio underneath, which works on every Pi including the Pi 5); the
gestures are worked out in ``Gestures``, which knows nothing of GPIO.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from holdcue.config import Config

if TYPE_CHECKING:
    from holdcue.core import Core

DOUBLE_PRESS_SECONDS = 0.4  # most people double-press with under 0.3 s between presses
LONG_PRESS_SECONDS = 1.0  # held this long: stop (clearly longer than a deliberate single press, ~0.1-0.3 s)
BOUNCE_SECONDS = 0.02  # a tactile switch's contacts settle within 5-10 ms; edges closer than this are ignored

Log = Callable[[str], None]


class Controller(Protocol):
    """What the button drives. Its methods are called from gpiozero's and timer threads:
    they must be thread-safe and return at once."""

    def state(self) -> str:
        """ "idle", "playing", "paused" or "finished"."""
        ...

    def play_today(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def next(self) -> None: ...

    def stop(self) -> None: ...


class Gestures:
    """Press, hold and release events in; single, double and long presses out, as controller calls.

    A single press acts only once the double-press window has passed without a second
    press, so it acts 0.4 s after the release. Acting at once would make every double press
    first pause (or start) and then skip, an audible stutter; the 0.4 s is a small delay
    for someone lying on a foam roller, not watching anything.
    """

    def __init__(self, controller: Controller, log: Log, double_press: float = DOUBLE_PRESS_SECONDS):
        self.controller = controller
        self.log = log
        self.double_press = double_press
        self._lock = threading.Lock()
        self._waiting: threading.Timer | None = None  # a released single press, waiting out the window
        self._done = False  # the press that is down was acted on already (second of a double, or held)

    def pressed(self) -> None:
        with self._lock:
            second = self._waiting is not None
            if second:
                self._waiting.cancel()  # type: ignore[union-attr]
                self._waiting = None
            self._done = second
        if second:
            self._act("double press", self._double)

    def held(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._act("long press", self._long)

    def released(self) -> None:
        with self._lock:
            if self._done:
                return
            timer = threading.Timer(self.double_press, self._window_passed)
            timer.daemon = True  # never keeps the service from exiting
            self._waiting = timer
        timer.start()

    def close(self) -> None:
        with self._lock:
            if self._waiting is not None:
                self._waiting.cancel()
                self._waiting = None

    def _window_passed(self) -> None:
        with self._lock:
            if self._waiting is not threading.current_thread():
                return  # a second press cancelled it while this timer was already running
            self._waiting = None
        self._act("press", self._single)

    def _single(self, state: str) -> str | None:
        actions = {"idle": "play_today", "finished": "play_today", "playing": "pause", "paused": "resume"}
        return actions.get(state)

    def _double(self, state: str) -> str | None:
        return "next" if state in ("playing", "paused") else None

    def _long(self, state: str) -> str | None:
        return "stop" if state in ("playing", "paused") else None

    def _act(self, gesture: str, choose: Callable[[str], str | None]) -> None:
        """Calls the controller method ``choose`` picks for its state; an error is logged, never
        raised, so that the button keeps working."""
        try:
            state = self.controller.state()
            method = choose(state)
            if method is None:
                self.log(f"button: {gesture} ignored while {state}")
                return
            self.log(f"button: {gesture}: {method.replace('_', ' ')}")
            getattr(self.controller, method)()
        except Exception as error:
            self.log(f"button: {gesture} failed: {type(error).__name__}: {error}")


class Button:
    """A gpiozero button wired to ``Gestures``; ``close()`` releases the pin."""

    def __init__(self, device: Any, gestures: Gestures, pin: int):
        self.device = device
        self.pin = pin  # the GPIO (BCM) number
        self.gestures = gestures
        device.when_pressed = gestures.pressed
        device.when_held = gestures.held
        device.when_released = gestures.released

    def close(self) -> None:
        self.gestures.close()
        self.device.close()


def start_button(config: Config, controller: Controller, log: Log, pin_factory: Any = None) -> Button | None:
    """The button of ``config`` driving ``controller``; None, with one line logged, when there is
    no button: none configured, gpiozero missing, no GPIO here (not a Pi, or lgpio not
    installed), or the pin cannot be used. The service then runs without it.
    ``pin_factory``: gpiozero's (default: its own choice; a MockFactory in tests)."""
    pin = config.button_pin
    if pin is None:
        log("button: none configured (button: false in the config file)")
        return None
    try:
        from gpiozero import Button as GpioButton
        from gpiozero.exc import BadPinFactory
    except ImportError:
        log("button: gpiozero is not installed; running without the button")
        return None
    try:
        with warnings.catch_warnings():
            # gpiozero warns once for each pin library it tries and lacks; the one line below says it all
            warnings.simplefilter("ignore")
            device = GpioButton(
                pin,
                pull_up=True,  # the internal pull-up holds the pin high; a press connects it to ground
                bounce_time=BOUNCE_SECONDS,
                hold_time=LONG_PRESS_SECONDS,
                pin_factory=pin_factory,
            )
    except BadPinFactory:
        log("button: no GPIO here (not a Raspberry Pi, or lgpio is not installed); running without the button")
        return None
    except Exception as error:  # any pin library's error (pin in use, no permission): the service runs on
        log(f"button: GPIO{pin} cannot be used ({type(error).__name__}: {error}); running without the button")
        return None
    log(f"button: on GPIO{pin}: press to play, pause or resume; double press: next step; hold 1 s: stop")
    return Button(device, Gestures(controller, log), pin)


class Remote:
    """The core as the button drives it: commands that answer nothing; a press on a rest day
    says why in the log (Gestures logs what fails)."""

    def __init__(self, core: Core):
        self.core = core

    def state(self) -> str:
        return self.core.state()

    def play_today(self) -> None:
        self.core.play_today()

    def pause(self) -> None:
        self.core.pause()

    def resume(self) -> None:
        self.core.resume()

    def next(self) -> None:
        self.core.next()

    def stop(self) -> None:
        self.core.stop()
