"""Home Assistant over MQTT: holdcue as one device there, with MQTT discovery.

With ``mqtt:`` in config.yaml, ``holdcue serve`` connects to the broker Home Assistant uses
and announces (retained config messages under ``homeassistant/``) a select of the routines
(choosing one plays it), buttons for today's session, the last unfinished session, pause,
resume, next, previous and stop, sensors for the state, the routine, the step, the side
and the time left, and a number for the volume. Its availability topic says ``online``
while it runs and ``offline`` when it stops; the broker says ``offline`` for it (its last
will) when it dies.

A front end of the core like the button and the phone page: each command is a call of
``core.Core`` (confirmed aloud and journaled there), and what Home Assistant shows comes
from the core's status (``Core.wait``), each value sent when it changes, the time left at
most once a second. paho-mqtt's network loop runs on a thread of its own and reconnects
with a growing wait while the service plays on; a lost or unreachable broker is logged
once, not at every try. The password is never logged.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from holdcue import __version__
from holdcue.config import Config, Mqtt
from holdcue.errors import HoldcueError

if TYPE_CHECKING:
    from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

    from holdcue.core import Core, Snapshot

log = logging.getLogger("holdcue.homeassistant")

KEEPALIVE = 30  # seconds; a broker that hears nothing for 1.5 times this sends the last will
RECONNECT_DELAYS = (1, 60)  # seconds: the first wait before trying again, doubled up to the second
LEFT_EVERY = 1.0  # seconds: the time left is sent at most this often
LOOK = 0.25  # seconds between looks at a deferred time left and at the stop request
ROUTINES_EVERY = 10.0  # seconds between looks for routines added or removed (the select's options)
ONLINE, OFFLINE = "online", "offline"
NONE = "None"  # what Home Assistant reads as "no value" (a select with nothing chosen, an unknown sensor)
STATES = ("idle", "playing", "paused", "finished")
MAX_PAYLOAD = 200  # characters of a command's payload that are looked at (and logged)
COMMANDS_WAITING = 32  # commands held while one is carried out; more are dropped

# The buttons: object id -> (name, icon, the core's method). Pause and resume are two buttons,
# not one toggle, so that an automation's "pause" never resumes a session already paused.
BUTTONS: dict[str, tuple[str, str, str]] = {
    "play_today": ("Play today", "mdi:calendar-today", "play_today"),  # the weekly plan's session
    "resume_last": ("Resume last session", "mdi:history", "resume_last"),
    "pause": ("Pause", "mdi:pause", "pause"),
    "resume": ("Resume", "mdi:play", "resume"),
    "next": ("Next step", "mdi:skip-next", "next"),
    "previous": ("Previous step", "mdi:skip-previous", "previous"),
    "stop": ("Stop", "mdi:stop", "stop"),
}


def node_name(settings: Mqtt) -> str:
    """The node id of config.yaml, else this machine's name made fit for a topic."""
    if settings.node_id:
        return settings.node_id
    name = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64].strip("_")
    return name or "holdcue"


@dataclass(frozen=True)
class Topics:
    """Where everything is: holdcue's own topics under ``holdcue/NODE/``, the discovery
    configs under ``PREFIX/COMPONENT/NODE/OBJECT/config``."""

    prefix: str
    node: str

    @property
    def base(self) -> str:
        return f"holdcue/{self.node}"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def command(self) -> str:  # the buttons' presses
        return f"{self.base}/command"

    @property
    def play(self) -> str:  # the select: a routine id
        return f"{self.base}/routine/set"

    @property
    def volume(self) -> str:  # the number: the volume in per cent
        return f"{self.base}/volume/set"

    @property
    def birth(self) -> str:  # Home Assistant says "online" here when it starts
        return f"{self.prefix}/status"

    def state(self, key: str) -> str:
        return f"{self.base}/{key}"

    def config(self, component: str, object_id: str) -> str:
        return f"{self.prefix}/{component}/{self.node}/{object_id}/config"


def discovery(topics: Topics, routines: list[str]) -> dict[str, dict[str, Any]]:
    """Every entity's discovery config (Home Assistant's MQTT discovery), by its topic."""
    device = {
        "identifiers": [f"holdcue_{topics.node}"],
        "name": "holdcue",
        "model": "holdcue serve",
        "sw_version": __version__,
    }
    shared = {
        "device": device,
        "origin": {"name": "holdcue", "sw_version": __version__},
        "availability_topic": topics.availability,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
    }

    def entity(component: str, object_id: str, name: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        unique = {"name": name, "unique_id": f"holdcue_{topics.node}_{object_id}"}
        return topics.config(component, object_id), {**unique, **fields, **shared}

    configs = [
        entity(
            "select",
            "play",
            "Play routine",
            icon="mdi:playlist-play",
            options=routines,
            state_topic=topics.state("routine_id"),
            command_topic=topics.play,
        ),
        *(
            entity("button", key, name, icon=icon, command_topic=topics.command, payload_press=key)
            for key, (name, icon, _) in BUTTONS.items()
        ),
        entity(
            "sensor",
            "state",
            "State",
            icon="mdi:state-machine",
            device_class="enum",
            options=list(STATES),
            state_topic=topics.state("state"),
        ),
        entity("sensor", "routine", "Routine", icon="mdi:human", state_topic=topics.state("routine")),
        entity("sensor", "step", "Step", icon="mdi:format-list-numbered", state_topic=topics.state("step")),
        entity("sensor", "side", "Side", icon="mdi:swap-horizontal", state_topic=topics.state("side")),
        entity(
            "sensor",
            "left",
            "Time left",
            icon="mdi:timer-sand",
            device_class="duration",
            unit_of_measurement="s",
            state_topic=topics.state("left"),
        ),
        entity(
            "number",
            "volume",
            "Volume",
            icon="mdi:volume-high",
            min=0,
            max=200,  # per cent of the core's master volume, 0 to 2, as the phone page shows it
            step=5,
            mode="slider",
            unit_of_measurement="%",
            state_topic=topics.state("volume"),
            command_topic=topics.volume,
        ),
    ]
    return dict(configs)


def states(status: Snapshot) -> dict[str, str]:
    """What each state topic (below ``holdcue/NODE/``) says of the core's status."""
    under_way = status.state in ("playing", "paused")
    if status.step:
        step = f"{status.step} of {status.steps}: {status.step_title}"
    else:
        step = status.step_title if under_way and status.step_title else NONE
    return {
        "state": status.state,
        "routine_id": status.routine or NONE,
        "routine": status.title or NONE,
        "step": step,
        "side": status.side if under_way and status.side else NONE,
        "left": str(status.left) if under_way else NONE,
        "volume": f"{round(status.volume * 100, 1):g}",
    }


class HomeAssistant:
    """The MQTT connection and its two threads: one sends the core's status, one carries out
    the commands (so a session being made ready never holds up the network loop)."""

    def __init__(self, core: Core, settings: Mqtt, client: Client):
        self.core = core
        self.settings = settings
        self.client = client
        self.topics = Topics(settings.discovery_prefix, node_name(settings))
        self.where = f"{settings.host} port {settings.port}"
        self._lock = threading.RLock()  # what was sent, sent from the network loop and the status thread
        self._sent: dict[str, str] = {}  # state key -> the payload last sent
        self._left_at = -math.inf  # when the time left was last sent (monotonic)
        self._routines: list[str] = []  # the select's options as last announced
        self._trouble = False  # a failure was logged: quiet until connected again
        self._stopping = threading.Event()
        self._commands: queue.Queue[tuple[str, str] | None] = queue.Queue(COMMANDS_WAITING)
        self._threads: list[threading.Thread] = []
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message

    # -- life -----------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (the first try too: a broker that is down at start is
        tried again, and the service plays on meanwhile)."""
        self.client.will_set(self.topics.availability, OFFLINE, qos=1, retain=True)
        self.client.reconnect_delay_set(*RECONNECT_DELAYS)
        log.info("home assistant: connecting to the MQTT broker at %s as node %s", self.where, self.topics.node)
        self.client.connect_async(self.settings.host, self.settings.port, keepalive=KEEPALIVE)
        self.client.loop_start()
        for name, target in (("holdcue-mqtt-status", self._run_status), ("holdcue-mqtt-commands", self._run_commands)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def close(self) -> None:
        """Stop the threads, say ``offline`` (when connected) and disconnect."""
        self._stopping.set()
        try:
            self._commands.put_nowait(None)
        except queue.Full:
            pass  # the worker looks at _stopping after each command
        for thread in self._threads:
            thread.join(timeout=10)
        from paho.mqtt.client import MQTT_ERR_SUCCESS

        with self._lock:
            self._trouble = True  # the disconnect below is no failure to log
        if self.client.is_connected():
            sent = self.client.publish(self.topics.availability, OFFLINE, qos=1, retain=True)
            if sent.rc == MQTT_ERR_SUCCESS:
                try:
                    sent.wait_for_publish(timeout=2)
                    log.info("home assistant: offline; disconnecting")
                except (RuntimeError, ValueError):
                    pass  # the connection went as it was sent: the broker's last will says offline instead
        self.client.disconnect()
        self.client.loop_stop()

    # -- the network loop's callbacks (on paho's thread) ---------------------------------------

    def _on_connect(
        self, client: Client, userdata: object, flags: ConnectFlags, reason: ReasonCode, properties: Properties | None
    ) -> None:
        if self._stopping.is_set():
            return  # connected while shutting down: close() says offline and disconnects
        if reason.is_failure:
            refused = str(reason) in ("Bad user name or password", "Not authorized")  # paho's names, v3 and v5 alike
            hint = "; check mqtt.username and mqtt.password_file" if refused else ""
            self._failed(f"the MQTT broker at {self.where} refused the connection: {reason}{hint}")
            return
        with self._lock:
            self._trouble = False
        log.info("home assistant: connected to the MQTT broker at %s", self.where)
        topics = self.topics
        client.subscribe([(topics.command, 1), (topics.play, 1), (topics.volume, 1), (topics.birth, 1)])
        self._announce()

    def _on_connect_fail(self, client: Client, userdata: object) -> None:
        # paho calls this while it handles the connection's OSError: the error is at hand
        error = sys.exc_info()[1]
        why = f" ({error})" if error is not None else ""
        self._failed(f"cannot reach the MQTT broker at {self.where}{why}")

    def _on_disconnect(
        self,
        client: Client,
        userdata: object,
        flags: DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._failed(f"lost the MQTT broker at {self.where} ({reason})")

    def _failed(self, message: str) -> None:
        """Log the first failure only: paho tries again and again, with a growing wait."""
        with self._lock:
            if self._trouble:
                return
            self._trouble = True
        log.warning("home assistant: %s; trying again in the background", message)

    def _on_message(self, client: Client, userdata: object, message: MQTTMessage) -> None:
        payload = message.payload[: MAX_PAYLOAD * 4].decode("utf-8", "replace")[:MAX_PAYLOAD].strip()
        if message.topic == self.topics.birth:
            if payload == ONLINE:  # Home Assistant (re)started: it hears everything again
                self._announce()
            return
        try:
            self._commands.put_nowait((message.topic, payload))
        except queue.Full:
            log.warning("home assistant: too many commands at once; %r dropped", payload)

    # -- what is sent ---------------------------------------------------------------------

    def _announce(self) -> None:
        """The discovery configs, ``online``, and every state: on each connection, and when
        Home Assistant starts."""
        with self._lock:
            self._routines = self._routine_ids()
            for topic, config in discovery(self.topics, self._routines).items():
                self.client.publish(topic, json.dumps(config), qos=1, retain=True)
            self.client.publish(self.topics.availability, ONLINE, qos=1, retain=True)
            self._sent.clear()
            self._send(self.core.status(), force=True)

    def _routine_ids(self) -> list[str]:
        return self.core.catalog.ids()

    def _send(self, status: Snapshot, force: bool = False) -> None:
        """Each state that changed since it was last sent (all, with ``force``); the time
        left waits until a second has passed since it was last sent."""
        from paho.mqtt.client import MQTT_ERR_SUCCESS

        now = time.monotonic()
        with self._lock:
            for key, payload in states(status).items():
                if self._sent.get(key) == payload:
                    continue
                if key == "left" and not force and now - self._left_at < LEFT_EVERY:
                    continue  # sent at the next look
                if self.client.publish(self.topics.state(key), payload, qos=0, retain=True).rc != MQTT_ERR_SUCCESS:
                    continue  # not connected: everything is sent again on connecting
                self._sent[key] = payload
                if key == "left":
                    self._left_at = now

    def _run_status(self) -> None:
        version = -1
        next_look = time.monotonic() + ROUTINES_EVERY
        while not self._stopping.is_set():
            version, status = self.core.wait(version, LOOK)
            if self.core.closed or self._stopping.is_set():
                return
            if self.client.is_connected():
                self._send(status)
                if time.monotonic() >= next_look:
                    next_look = time.monotonic() + ROUTINES_EVERY
                    self._refresh_routines()

    def _refresh_routines(self) -> None:
        """A routine added to the library or removed from it: the select's options anew."""
        routines = self._routine_ids()
        with self._lock:
            if routines == self._routines:
                return
            self._routines = routines
            topic = self.topics.config("select", "play")
            self.client.publish(topic, json.dumps(discovery(self.topics, routines)[topic]), qos=1, retain=True)

    # -- commands -------------------------------------------------------------------------

    def _run_commands(self) -> None:
        while not self._stopping.is_set():
            command = self._commands.get()
            if command is None:
                return
            self._act(*command)

    def _act(self, topic: str, payload: str) -> None:
        """Carry out one command through the core; what cannot be done is logged, and the
        front end goes on."""
        action: Callable[[], object] | None = None
        what = payload
        if topic == self.topics.command and payload in BUTTONS:
            action = getattr(self.core, BUTTONS[payload][2])
            what = payload.replace("_", " ")
        elif topic == self.topics.play:
            action, what = (lambda: self.core.play(payload)), f"play {payload!r}"
        elif topic == self.topics.volume:
            percent = _number(payload)
            action = (lambda: self.core.set_volume(percent / 100)) if percent is not None else None
            what = f"volume {payload!r}"
        if action is None:
            log.warning("home assistant: %r on %s is not a command; ignored", payload, topic)
            return
        log.info("home assistant: %s", what)
        try:
            action()
        except HoldcueError as error:
            log.warning("home assistant: %s: %s", what, error)
        except Exception as error:  # never the end of the front end: the next command may work
            log.error("home assistant: %s failed: %s: %s", what, type(error).__name__, error)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def start_homeassistant(core: Core, config: Config | None) -> HomeAssistant | None:
    """The Home Assistant front end of config.yaml's ``mqtt:``, connecting in the background;
    None when there is none, or when its TLS settings cannot be used (logged)."""
    settings = config.mqtt if config is not None else None
    if settings is None:
        return None
    import ssl

    from paho.mqtt.client import CallbackAPIVersion, Client, MQTTv311

    node = node_name(settings)
    client = Client(CallbackAPIVersion.VERSION2, client_id=f"holdcue-{node}", protocol=MQTTv311)
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        try:
            client.tls_set(ca_certs=settings.ca_file)
        except (ssl.SSLError, OSError, ValueError) as error:
            where = settings.ca_file or "the system's certificates"
            log.error("home assistant: TLS cannot be set up with %s (%s); running without Home Assistant", where, error)
            return None
    front = HomeAssistant(core, settings, client)
    front.start()
    return front
