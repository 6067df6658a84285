"""Home Assistant over MQTT, end to end: a real mosquitto on a free loopback port, a real
`holdcue serve` playing into a PulseAudio null sink, and a paho client in Home Assistant's
place that reads the discovery configs, presses the buttons and hears the states."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from audio_stack import NullSink, Recorder, between, holdcue, loud
from audio_stack import missing as audio_missing
from holdcue import homeassistant
from holdcue.plan import WEEKDAYS
from mqtt_support import Broker, HomeAssistantStandIn, free_port, make_certificates
from mqtt_support import missing as mqtt_missing
from speech_support import HAVE_ESPEAK

ROOT = Path(__file__).resolve().parents[1]
NODE = "bench"
BASE = f"holdcue/{NODE}"
PASSWORD = "correct horse battery"
QUICK = """\
title: Quick check
areas: [feet]
tools: [tennis ball]
voice: {language: en, rate: 220}
cues: {prep: 1s, countdown: 0, halfway: false, time_left: false}
steps:
  - compress: Press the ball under your foot.
    title: Foot press
    time: 20s
  - hold: Relax your hands.
    title: Hands
    time: 20s
"""
LACKING = mqtt_missing() + audio_missing() + ([] if HAVE_ESPEAK else ["espeak-ng"])

pytestmark = [
    pytest.mark.audio,
    pytest.mark.speech,
    pytest.mark.skipif(bool(LACKING) and os.environ.get("CI") != "true", reason=f"needs {', '.join(LACKING)}"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if LACKING:
        pytest.fail(f"the Home Assistant tests need {', '.join(LACKING)} (CI=true: they may not be skipped)")
    with NullSink(tmp_path_factory.mktemp("pulse")) as sink:
        yield sink


@pytest.fixture(scope="module")
def cache(stack, tmp_path_factory):
    """The speech cache with the quick routine's speech in it: sessions start at once."""
    folder = tmp_path_factory.mktemp("cache")
    config = tmp_path_factory.mktemp("prepare")
    (config / "routines").mkdir()
    (config / "routines" / "quick-check.yaml").write_text(QUICK)
    env = {**stack.env, "HOLDCUE_CONFIG_DIR": str(config), "HOLDCUE_CACHE_DIR": str(folder)}
    env["PYTHONPATH"] = str(ROOT / "src")
    subprocess.run(holdcue("prepare", "quick-check"), env=env, check=True, capture_output=True, timeout=120)
    return folder


class Service:
    """`holdcue serve` with config.yaml's mqtt: pointing at a broker; its log in a file."""

    def __init__(self, env: dict[str, str], folder: Path):
        self.folder = folder
        self.log_path = folder / "serve.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                holdcue("serve", "--port", "0", "--no-prepare"), env=env, stdout=subprocess.PIPE, stderr=log
            )
        line = self.process.stdout.readline().decode()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, f"serve said {line!r}; {self.log()}"
        self.port = int(found.group(1))

    def log(self) -> str:
        return self.log_path.read_text()

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        return json.loads(connection.getresponse().read())

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=15)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


@pytest.fixture
def serve(stack, cache, tmp_path):
    """Starts `holdcue serve` with ``mqtt`` (the lines under mqtt: in config.yaml)."""
    config = tmp_path / "config"
    (config / "routines").mkdir(parents=True)
    (config / "routines" / "quick-check.yaml").write_text(QUICK)
    (config / "plan.yaml").write_text("".join(f"{day}: quick-check\n" for day in WEEKDAYS))  # today, whatever day
    env = {
        **stack.env,
        "HOLDCUE_CONFIG_DIR": str(config),
        "HOLDCUE_DATA_DIR": str(tmp_path / "data"),
        "HOLDCUE_CACHE_DIR": str(cache),
        "PYTHONPATH": str(ROOT / "src"),
    }
    started: list[Service] = []

    def start(mqtt: str) -> Service:
        (config / "config.yaml").write_text(f"button: false\nmqtt:\n{mqtt}")
        started.append(Service(env, tmp_path))
        return started[-1]

    start.config = config
    start.env = env
    yield start
    for service in started:
        service.close()


@pytest.fixture
def broker(tmp_path):
    with Broker(tmp_path / "broker") as running:
        yield running


@pytest.fixture
def home(broker):
    stand_in = HomeAssistantStandIn(broker.port)
    yield stand_in
    stand_in.close()


def settings(port: int, extra: str = "") -> str:
    return f"  host: 127.0.0.1\n  port: {port}\n  node_id: {NODE}\n{extra}"


def retained(port: int) -> dict[str, str]:
    """What the broker keeps (and gives Home Assistant when it starts): a new client's
    retained messages."""
    later = HomeAssistantStandIn(port)
    try:
        later.sync()  # the retained messages come right after the subscription, before the marker
        with later.lock:
            return {m.topic: m.payload for m in later.messages if m.retain}
    finally:
        later.close()


# -- discovery --------------------------------------------------------------------------------


def test_discovery_announces_one_device_whose_topics_tie_together(serve, broker, home):
    service = serve(settings(broker.port))
    home.wait_for(f"{BASE}/availability", "online")
    home.wait_for(f"{BASE}/volume")  # the last state sent on connecting: the broker keeps them all now
    kept = retained(broker.port)
    found = {topic: json.loads(payload) for topic, payload in kept.items() if topic.endswith("/config")}
    by_id = {config["unique_id"]: (topic, config) for topic, config in found.items()}
    assert len(by_id) == len(found) == 14  # a select, 7 buttons, 5 sensors, a number; no two share an id
    kinds = sorted(topic.split("/")[1] for topic in found)
    assert kinds == ["button"] * 7 + ["number"] + ["select"] + ["sensor"] * 5
    for topic, config in found.items():
        prefix, component, node, object_id, last = topic.split("/")
        assert (prefix, node, last) == ("homeassistant", NODE, "config")
        assert config["unique_id"] == f"holdcue_{NODE}_{object_id}"
        assert config["device"]["identifiers"] == [f"holdcue_{NODE}"] and config["device"]["name"] == "holdcue"
        assert config["availability_topic"] == f"{BASE}/availability"
        assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
        if component in ("select", "sensor", "number"):  # its state is kept for Home Assistant
            assert config["state_topic"] in kept
    select = found[f"homeassistant/select/{NODE}/play/config"]
    assert "quick-check" in select["options"] and "foam-rolling" in select["options"]
    assert select["options"] == sorted(r["id"] for r in service.api("GET", "/api/routines"))
    buttons = {t.split("/")[3]: c for t, c in found.items() if t.split("/")[1] == "button"}
    assert set(buttons) == {"play_today", "resume_last", "pause", "resume", "next", "previous", "stop"}
    assert {c["command_topic"] for c in buttons.values()} == {f"{BASE}/command"}
    assert all(c["payload_press"] == key for key, c in buttons.items())
    volume = found[f"homeassistant/number/{NODE}/volume/config"]
    assert (volume["min"], volume["max"], volume["unit_of_measurement"]) == (0, 200, "%")
    state = found[f"homeassistant/sensor/{NODE}/state/config"]
    assert state["device_class"] == "enum" and state["options"] == ["idle", "playing", "paused", "finished"]
    assert kept[f"{BASE}/availability"] == "online"
    assert kept[f"{BASE}/state"] == "idle" and kept[f"{BASE}/volume"] == "100"
    assert kept[f"{BASE}/routine_id"] == "None" == kept[f"{BASE}/left"]
    assert service.stop() == 0


def test_home_assistant_restarting_hears_everything_again(serve, broker, home):
    serve(settings(broker.port))
    home.wait_for(f"{BASE}/availability", "online")
    since = time.monotonic()
    home.publish("homeassistant/status", "online")  # Home Assistant's birth message
    home.wait_for(f"homeassistant/select/{NODE}/play/config", since=since)
    home.wait_for(f"{BASE}/state", "idle", since=since)


# -- commands and states ---------------------------------------------------------------------------


def press(home: HomeAssistantStandIn, topic: str, payload: str, expect: tuple[str, str]) -> None:
    since = time.monotonic()
    home.publish(topic, payload)
    home.wait_for(f"{BASE}/{expect[0]}", expect[1], since=since)


def test_each_command_acts_on_the_service_and_is_journaled(serve, broker, home):
    service = serve(settings(broker.port))
    home.wait_for(f"{BASE}/availability", "online")
    command = f"{BASE}/command"

    press(home, f"{BASE}/routine/set", "quick-check", ("state", "playing"))
    assert service.api("GET", "/api/status")["routine"] == "quick-check"
    home.wait_for(f"{BASE}/routine", "Quick check")
    home.wait_for(f"{BASE}/routine_id", "quick-check")
    home.wait_for(f"{BASE}/step", "1 of 2: Foot press")
    press(home, command, "pause", ("state", "paused"))
    assert service.api("GET", "/api/status")["state"] == "paused"
    press(home, command, "resume", ("state", "playing"))
    press(home, command, "next", ("step", "2 of 2: Hands"))
    assert service.api("GET", "/api/status")["step"] == 2
    press(home, command, "previous", ("step", "1 of 2: Foot press"))
    press(home, f"{BASE}/volume/set", "55", ("volume", "55"))
    assert service.api("GET", "/api/status")["volume"] == 0.55
    press(home, command, "stop", ("state", "idle"))
    home.wait_for(f"{BASE}/routine_id", "None")
    press(home, command, "play_today", ("state", "playing"))
    press(home, command, "stop", ("state", "idle"))
    press(home, command, "resume_last", ("state", "playing"))
    press(home, command, "stop", ("state", "idle"))

    # what does not fit is logged and changes nothing; the front end goes on
    home.publish(command, "pause")
    home.publish(f"{BASE}/routine/set", "../../etc/passwd")
    home.publish(f"{BASE}/routine/set", "x\nERROR holdcue.serve: forged")
    home.publish(f"{BASE}/volume/set", "loud")
    press(home, f"{BASE}/volume/set", "80", ("volume", "80"))
    assert service.stop() == 0
    log = service.log()
    assert "home assistant: pause: cannot pause: nothing is playing" in log
    assert "home assistant: play '../../etc/passwd'" in log and "is not a routine id" in log
    assert not re.search("^ERROR holdcue.serve: forged", log, re.M)  # a payload is one line of the log
    assert "'loud' on holdcue/bench/volume/set is not a command" in log
    assert "Traceback" not in log, log

    history = subprocess.run(
        holdcue("history", "--json"), env=serve.env, capture_output=True, text=True, check=True, timeout=60
    )
    sessions = json.loads(history.stdout)["sessions"]
    assert [s["outcome"] for s in sessions] == ["stopped"] * 3
    assert {s["routine"] for s in sessions} == {"quick-check"}
    resumed = [s for s in sessions if s["resumed_from"] is not None]
    assert len(resumed) == 1 and resumed[0]["resumed_from"] in {s["id"] for s in sessions}


def test_pause_and_stop_from_home_assistant_are_confirmed_aloud(serve, broker, home, stack):
    serve(settings(broker.port))
    home.wait_for(f"{BASE}/availability", "online")
    with Recorder(stack.env) as recorder:
        press(home, f"{BASE}/routine/set", "quick-check", ("state", "playing"))
        home.wait_for(f"{BASE}/step", "1 of 2: Foot press")
        press(home, f"{BASE}/command", "pause", ("state", "paused"))
        paused = time.monotonic()
        time.sleep(3.0)  # "Paused." said, then silence
        press(home, f"{BASE}/command", "stop", ("state", "idle"))
        stopped = time.monotonic()
        time.sleep(3.0)  # "Session ended." said, then silence
    assert loud(between(recorder, paused, paused + 1.2)), "the pause was not confirmed aloud"
    assert not loud(between(recorder, paused + 1.6, stopped - 0.1)), "sound went on while paused"
    assert loud(between(recorder, stopped, stopped + 1.5)), "the stop was not confirmed aloud"
    assert not loud(between(recorder, stopped + 2.2, stopped + 2.9)), "sound went on after stop"


def test_states_are_sent_on_change_and_the_time_left_at_most_once_a_second(serve, broker, home):
    service = serve(settings(broker.port))
    home.wait_for(f"{BASE}/availability", "online")
    since = time.monotonic()
    home.publish(f"{BASE}/routine/set", "quick-check")
    home.wait_for(f"{BASE}/state", "playing", since=since)
    for _ in range(3):  # skipping about makes the time left jump within a second
        time.sleep(0.3)
        home.publish(f"{BASE}/command", "next")
        time.sleep(0.3)
        home.publish(f"{BASE}/command", "previous")
    time.sleep(5)  # then a steady countdown
    assert service.stop() == 0
    left = [m for m in home.heard(f"{BASE}/left") if m.at >= since]
    numbers = [int(m.payload) for m in left if m.payload != "None"]
    assert len(numbers) >= 4 and all(0 < n <= 20 for n in numbers)
    gaps = [b.at - a.at for a, b in zip(left, left[1:], strict=False)]
    assert min(gaps) > 0.9, gaps
    topics = {m.topic for m in home.messages if m.topic.startswith(BASE) and m.topic.count("/") == 2}
    for topic in topics - {f"{BASE}/availability"}:
        payloads = [m.payload for m in home.heard(topic)]
        repeats = [a for a, b in zip(payloads, payloads[1:], strict=False) if a == b]
        assert not repeats, f"{topic} sent {payloads}"


# -- availability ---------------------------------------------------------------------------------


def test_offline_on_a_clean_stop(serve, broker, home):
    service = serve(settings(broker.port))
    home.wait_for(f"{BASE}/availability", "online")
    began = time.monotonic()
    assert service.stop() == 0 and time.monotonic() - began < 5
    home.wait_for(f"{BASE}/availability", "offline", since=began)
    assert retained(broker.port)[f"{BASE}/availability"] == "offline"  # for a Home Assistant starting now
    log = service.log()
    assert "home assistant: offline; disconnecting" in log and "Traceback" not in log
    assert "lost the MQTT broker" not in log  # the disconnect asked for is no failure


def test_offline_when_the_service_dies_by_its_last_will(serve, broker, home):
    service = serve(settings(broker.port))
    home.wait_for(f"{BASE}/availability", "online")
    began = time.monotonic()
    assert service.stop(signal.SIGKILL) == -signal.SIGKILL
    home.wait_for(f"{BASE}/availability", "offline", since=began, timeout=10)


# -- a broker that is down, and comes back ------------------------------------------------------------


def test_a_broker_down_at_start_and_lost_later_is_logged_once_and_reconnected(serve, tmp_path):
    port = free_port()
    service = serve(settings(port))
    deadline = time.monotonic() + 15
    while "cannot reach the MQTT broker" not in service.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert service.api("POST", "/api/play", {"routine": "quick-check"})["state"] == "playing"  # it plays on
    time.sleep(3.5)  # a few tries (1 s, 2 s, ...)
    broker = Broker(tmp_path / "broker", port=port).start()
    try:
        home = HomeAssistantStandIn(port)
        home.wait_for(f"{BASE}/availability", "online", timeout=20)
        home.wait_for(f"{BASE}/state", "playing")  # what happened meanwhile is sent on connecting
        broker.stop()
        time.sleep(3.5)
        broker.start()
        home.close()
        home = HomeAssistantStandIn(port)
        home.wait_for(f"{BASE}/availability", "online", timeout=20)
        home.close()
        assert service.stop() == 0
    finally:
        broker.stop()
    log = service.log()
    assert len(re.findall("cannot reach the MQTT broker", log)) == 1, log
    assert len(re.findall("lost the MQTT broker", log)) == 1, log
    assert len(re.findall("trying again", log)) == 2, log
    assert len(re.findall("connected to the MQTT broker", log)) == 2 and "Traceback" not in log, log


# -- credentials ----------------------------------------------------------------------------------


def test_a_username_and_password_file_log_in_and_the_password_is_never_logged(serve, tmp_path):
    users = {"holdcue": PASSWORD, "hass": "hass-password"}
    with Broker(tmp_path / "broker", users=users) as broker:
        home = HomeAssistantStandIn(broker.port, "hass", "hass-password")
        try:
            (tmp_path / "config").mkdir(exist_ok=True)
            (tmp_path / "config" / "mqtt-password").write_text(PASSWORD + "\n")
            service = serve(settings(broker.port, "  username: holdcue\n  password_file: mqtt-password\n"))
            home.wait_for(f"{BASE}/availability", "online")
            press(home, f"{BASE}/command", "play_today", ("state", "playing"))
            assert service.stop() == 0
        finally:
            home.close()
        assert PASSWORD not in service.log()

        (tmp_path / "config" / "mqtt-password").write_text("wrong " + PASSWORD + "\n")
        refused = serve(settings(broker.port, "  username: holdcue\n  password_file: mqtt-password\n"))
        time.sleep(5)  # several tries
        assert refused.api("GET", "/api/status")["state"] == "idle"
        assert refused.stop() == 0
    log = refused.log()
    assert len(re.findall("refused the connection", log)) == 1, log
    assert "Not authorized; check mqtt.username and mqtt.password_file" in log
    assert PASSWORD not in log and "Traceback" not in log


def test_tls_with_the_brokers_certificate_authority_and_a_clear_line_without_it(serve, tmp_path):
    made = make_certificates(tmp_path / "certificates")
    with Broker(tmp_path / "broker", tls=made) as broker:
        home = HomeAssistantStandIn(broker.port, ca=made.ca)
        try:
            service = serve(settings(broker.port, f"  tls: true\n  ca_file: {made.ca}\n"))
            home.wait_for(f"{BASE}/availability", "online")
            press(home, f"{BASE}/command", "play_today", ("state", "playing"))
            assert service.stop() == 0
            home.wait_for(f"{BASE}/availability", "offline")
        finally:
            home.close()
        untrusted = serve(settings(broker.port, "  tls: true\n"))  # the system's authorities know no such CA
        time.sleep(4)  # several tries
        assert untrusted.stop() == 0
    log = untrusted.log()
    assert len(re.findall("cannot reach the MQTT broker", log)) == 1, log
    assert "certificate verify failed" in log and "Traceback" not in log


def test_a_password_file_that_cannot_be_read_is_named_with_its_line_and_the_service_runs_on(serve, broker):
    (serve.config / "folder").mkdir()
    service = serve(settings(broker.port, "  username: holdcue\n  password_file: folder\n"))
    assert service.api("GET", "/api/status")["state"] == "idle"
    assert service.stop() == 0
    log = service.log()
    assert "running on the defaults, without the button or Home Assistant" in log
    assert 'config.yaml:7:18: mqtt.password_file: "folder" is not a regular file' in log
    assert "MQTT broker" not in log


# -- pieces ----------------------------------------------------------------------------------------


def test_the_node_defaults_to_this_machines_name_made_fit_for_a_topic(monkeypatch):
    from holdcue.config import Mqtt

    monkeypatch.setattr(homeassistant.socket, "gethostname", lambda: "pi.local")
    assert homeassistant.node_name(Mqtt("h")) == "pi_local"
    assert homeassistant.node_name(Mqtt("h", node_id="bench")) == "bench"


def test_a_ca_file_that_is_no_certificate_is_one_log_line_and_no_connection(tmp_path, caplog):
    from holdcue.config import Config, Mqtt

    (tmp_path / "ca.pem").write_text("not a certificate\n")
    settings = Mqtt("127.0.0.1", free_port(), tls=True, ca_file=str(tmp_path / "ca.pem"))
    with caplog.at_level("INFO", logger="holdcue.homeassistant"):
        assert homeassistant.start_homeassistant(None, Config(mqtt=settings)) is None  # no core needed: it stops first
    [line] = caplog.messages
    assert line.startswith(f"home assistant: TLS cannot be set up with {tmp_path / 'ca.pem'} (")
    assert line.endswith("; running without Home Assistant")
