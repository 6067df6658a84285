"""The config file, ``config.yaml`` in holdcue's config folder (~/.config/holdcue, or
$HOLDCUE_CONFIG_DIR): settings of the appliance, read like a routine file (yamlsafe's
composer, fields.Checker), with every problem reported by file, line and column.

    button:
      pin: 17        # the GPIO (BCM) number the button is wired to; false: no button
    music: ~/Music/rain.ogg   # music under the voice of every routine without its own music:
                              # (or {file: ..., level: -18 dB, duck: -12 dB, loop: true}; false: none)
    voice:
      engine: piper             # the engine of routines that name none: espeak (default) or piper
      model: en_US-joe-medium   # the Piper model to use (docs/voices.md)
      fallback: true            # speak with espeak-ng when Piper or the model is missing
    mqtt:                       # Home Assistant over MQTT (homeassistant.py, docs/controls.md)
      host: homeassistant.local # the broker
      port: 1883                # default 1883; 8883 with tls
      username: holdcue
      password_file: mqtt-password   # a file holding the password (never the password itself)
      tls: true                 # optional; ca_file: the broker's CA certificate (default: the system's)
      discovery_prefix: homeassistant
      node_id: pi-livingroom    # default: this machine's name

A missing file is the defaults: a button on GPIO17, no music, espeak-ng, no fallback, no
MQTT. Relative paths (music, password_file, ca_file) start at the config folder.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from holdcue import files
from holdcue.errors import ConfigError, RoutineError, RoutineNotFound
from holdcue.fields import Checker, given, optional
from holdcue.routine import ENGINES, MODEL_PATTERN, Music
from holdcue.yamlsafe import NULL, describe, scalar

FILE_NAME = "config.yaml"
MAX_FILE_BYTES = 100_000  # a config file is a few lines
DEFAULT_PIN = 17  # GPIO17 is physical pin 11, beside a ground pin (9)
# The GPIO numbers on the 40-pin header (BCM numbering); 0 and 1 are the HAT EEPROM's I2C
FIRST_PIN, LAST_PIN = 2, 27
MQTT_PORT, MQTT_TLS_PORT = 1883, 8883  # the ports IANA gave MQTT and MQTT over TLS
MAX_SECRET_BYTES = 4096  # a password file holds one line
MAX_CERTIFICATE_BYTES = 1_000_000  # Debian's whole bundle of CA certificates is some 200 kB
# Home Assistant's discovery topics allow these characters in a node id and between the
# slashes of the prefix (MQTT's wildcards + and # and an empty level would break them).
TOPIC_WORD = re.compile(r"[A-Za-z0-9_-]{1,64}")
HOST = re.compile(r"[A-Za-z0-9._:-]{1,253}")  # a name, an IPv4 or an IPv6 address


@dataclass(frozen=True)
class Mqtt:
    """The MQTT broker Home Assistant listens on, and how holdcue appears there."""

    host: str
    port: int = MQTT_PORT
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # from password_file; never shown or logged
    tls: bool = False
    ca_file: str | None = None  # None with tls: the system's certificate authorities
    discovery_prefix: str = "homeassistant"  # Home Assistant's default
    node_id: str | None = None  # None: this machine's name


@dataclass(frozen=True)
class Config:
    button_pin: int | None = DEFAULT_PIN  # None: no button
    source: str = ""  # the file it was read from; "" for the defaults
    music: Music | None = None  # under routines that have no music of their own
    engine: str = ""  # speech engine of routines that name none; "" : espeak-ng
    model: str = ""  # the Piper model for them
    fallback: bool = False  # espeak-ng when the chosen engine or model is missing
    mqtt: Mqtt | None = None  # Home Assistant over MQTT; None: not used


def config_path() -> Path:
    """config.yaml in the config folder (folders.py)."""
    from holdcue import folders

    return folders.config_dir() / FILE_NAME


def load_config(path: Path | None = None) -> Config:
    """The config in ``path`` (default: config_path()); the defaults when there is no file.
    Raises ConfigError with every problem."""
    path = path or config_path()
    from holdcue import loader  # read as routine files are: regular, bounded, UTF-8

    try:
        text = loader.read_text(path, MAX_FILE_BYTES, "config file")
    except RoutineNotFound:
        return Config()
    except RoutineError as error:
        raise ConfigError(error.problems) from None
    return parse(text, str(path))


def parse(text: str, source: str) -> Config:
    from holdcue import loader

    checker = Checker(source)
    root = loader.compose(checker, text, empty=None, kind="a config file")  # an empty file: the defaults
    config = Config(source=source)
    if root is not None and not (isinstance(root, yaml.ScalarNode) and root.tag == NULL):
        keys = checker.mapping(root, "", ("button", "music", "voice", "mqtt"))
        if "button" in keys:
            config = dataclasses.replace(config, button_pin=_button_pin(checker, keys["button"]))
        if "music" in keys:
            from holdcue import music  # only for a config with music: the others start without it

            folder = Path(source).parent
            bed = music.from_yaml(checker, keys["music"], "music", folder, "the config folder")
            config = dataclasses.replace(config, music=bed)
        if "voice" in keys:
            config = dataclasses.replace(config, **_voice(checker, keys["voice"]))
        if "mqtt" in keys:
            config = dataclasses.replace(config, mqtt=_mqtt(checker, keys["mqtt"], Path(source).parent))
    problems = [p for p in checker.all_problems() if p.severity == "error"]
    if problems:
        raise ConfigError(problems)
    return config


def _button_pin(checker: Checker, node: yaml.Node) -> int | None:
    """``button: {pin: N}``, or ``button: false`` for none."""
    if not isinstance(node, yaml.MappingNode):
        if scalar(node) is not False:
            checker.report(
                node, "button", f"must be like {{pin: {DEFAULT_PIN}}}, or false for none, not {describe(node)}"
            )
        return None
    keys = checker.mapping(node, "button", ("pin",))
    if "pin" not in keys:
        checker.missing(node, "button.pin", f"write the GPIO number, e.g. pin: {DEFAULT_PIN}")
        return None
    return optional(keys, "pin", "button", checker.integer, FIRST_PIN, LAST_PIN)


def _voice(checker: Checker, node: yaml.Node) -> dict:
    """``voice: {engine: piper, model: NAME, fallback: true}``: what routines that name no
    engine speak with, and whether a missing engine or model falls back to espeak-ng."""
    if not isinstance(node, yaml.MappingNode):
        checker.report(node, "voice", f"must be like {{engine: piper, model: en_US-joe-medium}}, not {describe(node)}")
        return {}
    keys = checker.mapping(node, "voice", ("engine", "model", "fallback"))
    engine = checker.choice(keys["engine"], "voice.engine", ENGINES) if "engine" in keys else None
    model = optional(keys, "model", "voice", checker.text)
    if model is not None and not MODEL_PATTERN.fullmatch(model):
        checker.report(keys["model"], "voice.model", f'"{model}" is not a model name: name a Piper model, not a path')
        model = None
    if engine == "piper" and "model" not in keys:
        checker.missing(
            keys["engine"], "voice.model", "Piper needs a model: write its name, e.g. model: en_US-joe-medium"
        )
    fallback = checker.boolean(keys["fallback"], "voice.fallback") if "fallback" in keys else None
    return given(engine=engine, model=model, fallback=fallback)


MQTT_KEYS = ("host", "port", "username", "password_file", "tls", "ca_file", "discovery_prefix", "node_id")


def _mqtt(checker: Checker, node: yaml.Node, folder: Path) -> Mqtt | None:
    """``mqtt: {host: NAME, port: 1883, username: NAME, password_file: FILE, tls: true,
    ca_file: FILE, discovery_prefix: homeassistant, node_id: NAME}``: only host is needed.
    The password file is read here, so that one that cannot be read is a problem of the
    config file, with its line."""
    if not isinstance(node, yaml.MappingNode):
        checker.report(node, "mqtt", f"must be like {{host: homeassistant.local}}, not {describe(node)}")
        return None
    keys = checker.mapping(node, "mqtt", MQTT_KEYS)
    if "host" not in keys:
        checker.missing(node, "mqtt.host", "write the broker's address, e.g. host: homeassistant.local")
    host = optional(keys, "host", "mqtt", _host, checker)
    port = optional(keys, "port", "mqtt", checker.integer, 1, 65535)
    username = optional(keys, "username", "mqtt", checker.text)
    password = optional(keys, "password_file", "mqtt", _password, checker, folder)
    if "password_file" in keys and "username" not in keys:
        advice = "needs a username too (MQTT sends a password only with one): add username: NAME"
        checker.report(keys["password_file"], "mqtt.password_file", advice)
    tls = optional(keys, "tls", "mqtt", checker.boolean)
    ca_file = optional(keys, "ca_file", "mqtt", _certificate, checker, folder)
    if "ca_file" in keys and (tls is False or "tls" not in keys):
        checker.report(keys["ca_file"], "mqtt.ca_file", "is used only over TLS: add tls: true")
    prefix = optional(keys, "discovery_prefix", "mqtt", _topic, checker, "homeassistant", "/")
    node_id = optional(keys, "node_id", "mqtt", _topic, checker, "pi-livingroom")
    if host is None:
        return None
    chosen = given(username=username, password=password, tls=tls, ca_file=ca_file, discovery_prefix=prefix)
    port = port or (MQTT_TLS_PORT if tls else MQTT_PORT)
    return Mqtt(host, port, node_id=node_id, **chosen)


def _host(node: yaml.Node, path: str, checker: Checker) -> str | None:
    host = checker.text(node, path, "write the broker's address, e.g. host: homeassistant.local")
    if host is None:
        return None
    if "://" in host or not HOST.fullmatch(host):
        checker.report(node, path, f'"{host}" is not a host name or address; write it alone, e.g. 192.168.1.10')
        return None
    return host


def _topic(node: yaml.Node, path: str, checker: Checker, example: str, levels: str = "") -> str | None:
    """A node id, or (``levels`` "/") a topic prefix of such words between slashes."""
    text = checker.text(node, path, f"write a name, e.g. {example}")
    if text is None:
        return None
    if not all(TOPIC_WORD.fullmatch(word) for word in (text.split(levels) if levels else [text])):
        allowed = "letters, digits, _ and -" + (" between slashes" if levels else "")
        checker.report(node, path, f'"{text}" may hold only {allowed}, e.g. {example}')
        return None
    return text


def _file(node: yaml.Node, path: str, checker: Checker, folder: Path, limit: int) -> tuple[Path, bytes] | None:
    """The file a key names (a relative path starts at ``folder``) and what it holds, or None
    with the problem reported (never its contents)."""
    text = checker.text(node, path, "name the file")
    if text is None:
        return None
    try:
        file = folder / files.expand_user(text)
        return file, files.read_regular(file, limit)
    except ValueError as error:
        checker.report(node, path, str(error))
    except FileNotFoundError:
        checker.report(node, path, f'"{text}" does not exist (a relative path starts at the config folder)')
    except files.NotARegularFile:
        checker.report(node, path, f'"{text}" is not a regular file (a folder, FIFO or device)')
    except files.TooLarge:
        checker.report(node, path, f'"{text}" is over {limit} bytes; is it the right file?')
    except OSError as error:
        checker.report(node, path, f'"{text}" cannot be read: {error.strerror}')
    return None


def _password(node: yaml.Node, path: str, checker: Checker, folder: Path) -> str | None:
    """The file's first line (the newline at its end is not part of the password)."""
    read = _file(node, path, checker, folder, MAX_SECRET_BYTES)
    if read is None:
        return None
    try:
        lines = read[1].decode("utf-8").splitlines()
    except UnicodeDecodeError:
        checker.report(node, path, "the file is not UTF-8 text; save the password as UTF-8")
        return None
    if not lines or not lines[0]:
        checker.report(node, path, "the file is empty; write the password on its first line")
        return None
    if any(lines[1:]):
        checker.report(node, path, "the file has more than one line; keep the password alone on the first")
        return None
    return lines[0]


def _certificate(node: yaml.Node, path: str, checker: Checker, folder: Path) -> str | None:
    """The broker's CA certificate file, readable now, as an absolute path."""
    read = _file(node, path, checker, folder, MAX_CERTIFICATE_BYTES)
    return str(read[0].resolve()) if read is not None else None
