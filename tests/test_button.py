"""The button: gestures read from a real gpiozero Button on gpiozero's mock pins (MockFactory),
driven low and high with real timing, and what the controller is told to do."""

from __future__ import annotations

import threading
import time
import warnings

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from holdcue import button
from holdcue.config import Config

WINDOW = button.DOUBLE_PRESS_SECONDS


class Player:
    """A controller that changes state the way the service's does, and records each call."""

    def __init__(self, state: str = "idle"):
        self._state = state
        self.calls: list[str] = []
        self.changed = threading.Event()

    def state(self) -> str:
        return self._state

    def _call(self, name: str, state: str) -> None:
        self.calls.append(name)
        self._state = state
        self.changed.set()

    def play_today(self) -> None:
        self._call("play_today", "playing")

    def pause(self) -> None:
        self._call("pause", "paused")

    def resume(self) -> None:
        self._call("resume", "playing")

    def next(self) -> None:
        self._call("next", self._state)

    def stop(self) -> None:
        self._call("stop", "idle")


@pytest.fixture
def factory():
    made = MockFactory()
    yield made
    made.close()


@pytest.fixture
def wired(factory):
    """start_button on the mock GPIO17 with a Player; gives (pin, player, log lines)."""

    def wire(state: str = "idle"):
        player, lines = Player(state), []
        pressable = button.start_button(Config(button_pin=17), player, lines.append, pin_factory=factory)
        assert pressable is not None and pressable.pin == 17
        made.append(pressable)
        return factory.pin(17), player, lines

    made: list[button.Button] = []
    yield wire
    for pressable in made:
        pressable.close()


def press(pin, seconds: float = 0.08) -> None:
    """Down for ``seconds`` (longer than the 20 ms debounce), then up."""
    pin.drive_low()
    time.sleep(seconds)
    pin.drive_high()


def settle(player: Player, seconds: float = WINDOW + 0.6) -> list[str]:
    """The calls once nothing more can come from the presses so far."""
    time.sleep(seconds)
    return player.calls


def test_a_press_when_idle_plays_today_after_the_double_press_window(wired):
    pin, player, lines = wired("idle")
    press(pin)
    released = time.monotonic()
    time.sleep(WINDOW / 3)
    assert player.calls == []  # still waiting: this could be the first of a double press
    assert player.changed.wait(5)
    assert time.monotonic() - released >= WINDOW - 0.01
    assert settle(player) == ["play_today"]
    assert lines[-1] == "button: press: play today"


@pytest.mark.parametrize(
    ("state", "expected"), [("playing", "pause"), ("paused", "resume"), ("finished", "play_today")]
)
def test_a_press_pauses_resumes_or_plays_again(wired, state, expected):
    pin, player, _ = wired(state)
    press(pin)
    assert settle(player) == [expected]


def test_presses_in_turn_pause_and_resume(wired):
    pin, player, _ = wired("playing")
    press(pin)
    settle(player)
    press(pin)
    assert settle(player) == ["pause", "resume"]


def test_a_double_press_skips_to_the_next_step_at_once_and_does_not_pause(wired):
    pin, player, lines = wired("playing")
    press(pin)
    time.sleep(0.1)
    press(pin)
    assert player.calls == ["next"]  # on the second press, not after a window
    assert settle(player) == ["next"]
    assert "button: double press: next" in lines


def test_two_presses_further_apart_than_the_window_are_two_single_presses(wired):
    pin, player, _ = wired("playing")
    press(pin)
    time.sleep(WINDOW + 0.3)
    press(pin)
    assert settle(player) == ["pause", "resume"]


def test_a_long_press_stops_while_held_and_nothing_else(wired):
    pin, player, lines = wired("playing")
    pin.drive_low()
    assert player.changed.wait(button.LONG_PRESS_SECONDS + 2)
    assert player.calls == ["stop"]  # while still held
    pin.drive_high()
    assert settle(player) == ["stop"]
    assert "button: long press: stop" in lines


def test_a_press_shorter_than_a_long_press_is_a_single_press(wired):
    pin, player, _ = wired("playing")
    press(pin, button.LONG_PRESS_SECONDS / 2)
    assert settle(player) == ["pause"]


def test_gestures_that_mean_nothing_now_are_ignored_and_logged(wired):
    pin, player, lines = wired("idle")
    pin.drive_low()
    time.sleep(button.LONG_PRESS_SECONDS + 0.3)
    pin.drive_high()
    assert settle(player) == []
    assert "button: long press ignored while idle" in lines


def test_a_failing_controller_is_logged_and_the_button_keeps_working(wired):
    pin, player, lines = wired("playing")

    def broken() -> None:
        raise RuntimeError("no audio device")

    player.pause = broken  # type: ignore[method-assign]
    press(pin)
    settle(player)
    assert "button: press failed: RuntimeError: no audio device" in lines
    player._state = "paused"
    press(pin)
    assert settle(player) == ["resume"]


def test_without_gpio_there_is_no_button_and_one_line_in_the_log(monkeypatch):
    """No pin factory (here: one gpiozero cannot find, as on a machine without GPIO, where
    gpiozero raises BadPinFactory): None, one line, no warnings on stderr."""
    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    lines: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert button.start_button(Config(button_pin=17), Player(), lines.append) is None
    assert lines == ["button: no GPIO here (not a Raspberry Pi, or lgpio is not installed); running without the button"]
    assert caught == []


def test_on_a_machine_without_gpio_the_default_factory_search_fails_quietly(monkeypatch):
    """gpiozero's own search through lgpio, RPi.GPIO, pigpio and its native factory, as the
    service does it; on a Raspberry Pi the search succeeds, so this is for other machines."""
    try:
        with open("/proc/device-tree/model", "rb") as model:
            on_a_pi = b"Raspberry Pi" in model.read()
    except OSError:
        on_a_pi = False
    if on_a_pi:
        pytest.skip("a Raspberry Pi has GPIO")
    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    lines: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert button.start_button(Config(button_pin=17), Player(), lines.append) is None
    assert len(lines) == 1 and "running without the button" in lines[0]
    assert caught == []


def test_a_pin_that_cannot_be_used_is_logged_not_raised(factory):
    lines: list[str] = []
    first = button.start_button(Config(button_pin=17), Player(), lines.append, pin_factory=factory)
    assert first is not None
    try:
        assert button.start_button(Config(button_pin=17), Player(), lines.append, pin_factory=factory) is None
    finally:
        first.close()
    assert lines[-1].startswith("button: GPIO17 cannot be used (GPIOPinInUse") and "without the button" in lines[-1]


def test_no_button_configured(factory):
    lines: list[str] = []
    assert button.start_button(Config(button_pin=None), Player(), lines.append, pin_factory=factory) is None
    assert lines == ["button: none configured (button: false in the config file)"]


def test_closing_the_button_cancels_a_waiting_press_and_frees_the_pin(factory):
    player, lines = Player("playing"), []
    pressable = button.start_button(Config(button_pin=17), player, lines.append, pin_factory=factory)
    assert pressable is not None
    press(factory.pin(17))
    pressable.close()
    assert settle(player) == []  # the press was still waiting out the double-press window
    again = button.start_button(Config(button_pin=17), player, lines.append, pin_factory=factory)
    assert again is not None
    again.close()
