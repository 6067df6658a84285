"""config.yaml: the button's pin and the MQTT broker, read from real files, every problem with file, line and column."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from holdcue import config
from holdcue.errors import ConfigError


def load(tmp_path, text: str) -> config.Config:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return config.load_config(path)


def problems(tmp_path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return [str(problem).replace(str(tmp_path), "DIR") for problem in caught.value.problems]


def test_the_pin_is_read(tmp_path):
    assert load(tmp_path, "button:\n  pin: 22\n").button_pin == 22


def test_no_file_an_empty_file_or_no_button_key_is_gpio17(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path))
    assert config.config_path() == tmp_path / "config.yaml"
    assert config.load_config().button_pin == 17
    assert load(tmp_path, "").button_pin == 17
    assert load(tmp_path, "# nothing set\n").button_pin == 17


def test_false_means_no_button(tmp_path):
    assert load(tmp_path, "button: false\n").button_pin is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "button:\n  pin: 40\n",
            "DIR/config.yaml:2:8: button.pin: 40 is out of range; use a whole number from 2 to 27",
        ),
        ("button:\n  pn: 17\n", 'DIR/config.yaml:2:3: button.pn: unknown key; did you mean "pin"?'),
        ("buton:\n  pin: 17\n", 'DIR/config.yaml:1:1: buton: unknown key; did you mean "button"?'),
        ("button: {}\n", "DIR/config.yaml:1:9: button.pin: missing; write the GPIO number, e.g. pin: 17"),
        ("button: true\n", "DIR/config.yaml:1:9: button: must be like {pin: 17}, or false for none, not true"),
        (
            "button:\n  pin: GPIO17\n",
            'DIR/config.yaml:2:8: button.pin: must be a whole number from 2 to 27, not "GPIO17"',
        ),
    ],
)
def test_each_problem_names_file_line_column_and_what_to_write(tmp_path, text, expected):
    assert problems(tmp_path, text) == [expected]


def test_a_yaml_syntax_error_has_its_place(tmp_path):
    [problem] = problems(tmp_path, "button:\n  pin: [17\n")
    assert problem.startswith("DIR/config.yaml:3:1: YAML syntax error")


def test_a_file_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"button:\n  pin: \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load_config(path)


# -- mqtt: Home Assistant's broker ------------------------------------------------------------------


def test_mqtt_needs_only_a_host(tmp_path):
    assert load(tmp_path, "").mqtt is None
    assert load(tmp_path, "mqtt:\n  host: homeassistant.local\n").mqtt == config.Mqtt("homeassistant.local", 1883)
    assert load(tmp_path, "mqtt: {host: 10.0.0.2, tls: true}\n").mqtt == config.Mqtt("10.0.0.2", 8883, tls=True)


def test_mqtt_reads_the_password_from_its_file_and_never_shows_it(tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "mqtt").write_text("pa ss:word\n")
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    text = (
        "mqtt:\n  host: broker\n  port: 1884\n  username: holdcue\n  password_file: secrets/mqtt\n"
        "  tls: true\n  ca_file: ca.pem\n  discovery_prefix: ha/discovery\n  node_id: living-room_pi\n"
    )
    settings = load(tmp_path, text).mqtt
    assert settings == config.Mqtt(
        "broker",
        1884,
        username="holdcue",
        password="pa ss:word",
        tls=True,
        ca_file=str(tmp_path / "ca.pem"),
        discovery_prefix="ha/discovery",
        node_id="living-room_pi",
    )
    assert "pa ss:word" not in repr(settings) and "pa ss:word" not in repr(load(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mqtt: broker\n", 'DIR/config.yaml:1:7: mqtt: must be like {host: homeassistant.local}, not "broker"'),
        (
            "mqtt:\n  port: 1883\n",
            "DIR/config.yaml:2:3: mqtt.host: missing; write the broker's address, e.g. host: homeassistant.local",
        ),
        ("mqtt:\n  hostname: a\n", 'DIR/config.yaml:2:3: mqtt.hostname: unknown key; did you mean "host"?'),
        (
            "mqtt:\n  host: a\n  password: x\n",
            'DIR/config.yaml:3:3: mqtt.password: unknown key; did you mean "password_file"?',
        ),
        (
            "mqtt:\n  host: mqtt://a\n",
            'DIR/config.yaml:2:9: mqtt.host: "mqtt://a" is not a host name or address; '
            "write it alone, e.g. 192.168.1.10",
        ),
        (
            "mqtt:\n  host: a\n  port: 1883x\n",
            'DIR/config.yaml:3:9: mqtt.port: must be a whole number from 1 to 65535, not "1883x"',
        ),
        (
            "mqtt:\n  host: a\n  tls: yes please\n",
            'DIR/config.yaml:3:8: mqtt.tls: must be true or false, not "yes please"',
        ),
        (
            "mqtt:\n  host: a\n  username: u\n  password_file: nothere\n",
            "DIR/config.yaml:4:18: mqtt.password_file: "
            '"nothere" does not exist (a relative path starts at the config folder)',
        ),
        (
            "mqtt:\n  host: a\n  password_file: pw\n",
            "DIR/config.yaml:3:18: mqtt.password_file: needs a username "
            "too (MQTT sends a password only with one): add username: NAME",
        ),
        (
            "mqtt:\n  host: a\n  ca_file: ca.pem\n",
            "DIR/config.yaml:3:12: mqtt.ca_file: is used only over TLS: add tls: true",
        ),
        (
            "mqtt:\n  host: a\n  node_id: my pi\n",
            'DIR/config.yaml:3:12: mqtt.node_id: "my pi" may hold only letters, digits, _ and -, e.g. pi-livingroom',
        ),
        (
            "mqtt:\n  host: a\n  discovery_prefix: ha/#\n",
            'DIR/config.yaml:3:21: mqtt.discovery_prefix: "ha/#" may '
            "hold only letters, digits, _ and - between slashes, e.g. homeassistant",
        ),
    ],
)
def test_each_mqtt_problem_names_its_line_and_field(tmp_path, text, expected):
    (tmp_path / "pw").write_text("secret\n")
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    assert problems(tmp_path, text) == [expected]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty; write the password on its first line"),
        (b"one\ntwo\n", "the file has more than one line; keep the password alone on the first"),
        (b"\xff\n", "the file is not UTF-8 text; save the password as UTF-8"),
        (b"x" * 5000, '"pw" is over 4096 bytes; is it the right file?'),
    ],
)
def test_a_password_file_that_is_no_password_is_refused_without_showing_it(tmp_path, content, problem):
    (tmp_path / "pw").write_bytes(content)
    found = problems(tmp_path, "mqtt:\n  host: a\n  username: u\n  password_file: pw\n")
    assert found == [f"DIR/config.yaml:4:18: mqtt.password_file: {problem}"]


def test_a_password_file_that_is_a_folder_is_refused(tmp_path):
    (tmp_path / "pw").mkdir()
    found = problems(tmp_path, "mqtt:\n  host: a\n  username: u\n  password_file: pw\n")
    assert found == ['DIR/config.yaml:4:18: mqtt.password_file: "pw" is not a regular file (a folder, FIFO or device)']


@pytest.mark.parametrize("doc", ["README.md", "docs/controls.md"])
def test_the_mqtt_example_of_the_docs_is_read_as_they_say(tmp_path, doc):
    text = (Path(__file__).resolve().parents[1] / doc).read_text()
    blocks = [textwrap.dedent(b) for b in re.findall(r"^ *```yaml\n(.*?)^ *```", text, re.M | re.S)]
    [example] = [b for b in blocks if b.startswith("mqtt:")]
    (tmp_path / "mqtt-password").write_text("secret\n")
    settings = load(tmp_path, example).mqtt
    assert settings == config.Mqtt("homeassistant.local", 1883, username="holdcue", password="secret")
