"""A real MQTT broker for the tests (Debian's mosquitto on a free loopback port, no system
service), and a stand-in for Home Assistant: a paho client that hears every message."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

PROGRAMS = ("mosquitto", "mosquitto_passwd", "openssl")


def missing() -> list[str]:
    return [f"{p} (apt-get install mosquitto openssl)" for p in PROGRAMS if shutil.which(p) is None]


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the certificate authority's certificate, for the clients
    cert: Path  # the broker's, for 127.0.0.1, signed by it
    key: Path


def make_certificates(folder: Path) -> Certificates:
    """A throwaway certificate authority and the broker's certificate for 127.0.0.1."""
    folder.mkdir(parents=True, exist_ok=True)
    made = Certificates(folder / "ca.pem", folder / "broker.pem", folder / "broker.key")
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for command in (
        ["req", "-x509", *curve, "-keyout", folder / "ca.key", "-out", made.ca, "-days", "2", "-subj", "/CN=test CA"],
        ["req", *curve, "-keyout", made.key, "-out", folder / "broker.csr", "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", folder / "broker.csr", "-CA", made.ca, "-CAkey", folder / "ca.key"]
        + ["-CAcreateserial", "-out", made.cert, "-days", "2", "-extfile", folder / "san.cnf"],
    ):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True, timeout=60)
    return made


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    """mosquitto on 127.0.0.1:``port``, anonymous, or with a password file (``users``:
    name -> password). Stopped and started again at will, on the same port."""

    def __init__(
        self,
        folder: Path,
        port: int | None = None,
        users: dict[str, str] | None = None,
        tls: Certificates | None = None,
    ):
        self.folder = folder
        self.port = port or free_port()
        self.users = users
        self.process: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", f"user {getpass.getuser()}"]  # as root: no drop to "mosquitto"
        if tls:
            lines += [f"cafile {tls.ca}", f"certfile {tls.cert}", f"keyfile {tls.key}"]
        if users:
            passwords = folder / "passwords"
            for i, (name, password) in enumerate(users.items()):
                create = ["-c"] if i == 0 else []
                subprocess.run(["mosquitto_passwd", *create, "-b", str(passwords), name, password], check=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines += ["allow_anonymous true"]
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> Broker:
        self.log = open(self.folder / "mosquitto.log", "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.config)], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.folder / "mosquitto.log").read_text()
                    raise RuntimeError(f"mosquitto did not start: {log}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.log.close()
        self.process = None

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass(frozen=True)
class Message:
    at: float  # monotonic time of arrival
    topic: str
    payload: str
    retain: bool


class HomeAssistantStandIn:
    """Hears every message on the broker, as Home Assistant would, and publishes commands."""

    def __init__(self, port: int, username: str | None = None, password: str | None = None, ca: Path | None = None):
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ha-stand-in")
        if username:
            self.client.username_pw_set(username, password)
        if ca:
            self.client.tls_set(ca_certs=str(ca))
        subscribed = threading.Event()
        self.client.on_connect = lambda client, *_: client.subscribe("#", qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._heard
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not subscribed.wait(timeout=10):
            raise RuntimeError("the stand-in could not subscribe")

    def _heard(self, client, userdata, message) -> None:
        with self.lock:
            self.messages.append(Message(time.monotonic(), message.topic, message.payload.decode(), message.retain))

    def heard(self, topic: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def latest(self, topic: str) -> str | None:
        found = self.heard(topic)
        return found[-1].payload if found else None

    def wait_for(self, topic: str, payload: str | None = None, timeout: float = 15.0, since: float = 0.0) -> Message:
        """The first message on ``topic`` (saying ``payload``, when given) after ``since``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.heard(topic):
                if message.at >= since and (payload is None or message.payload == payload):
                    return message
            time.sleep(0.02)
        raise AssertionError(f"no {payload!r} on {topic} within {timeout} s; last: {self.latest(topic)!r}")

    def sync(self) -> None:
        """Wait until every message sent before now has arrived: the broker sends what a
        client is owed in order, so a marker published now comes after them."""
        marker = f"stand-in/sync/{uuid.uuid4()}"
        self.publish(marker, "")
        self.wait_for(marker)

    def publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
