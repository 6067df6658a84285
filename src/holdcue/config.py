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
    service:
      trusted_proxies: [192.168.1.5]   # TLS proxies on other machines whose X-Forwarded-Proto
                                       # is believed (one on this machine always is)

A missing file is the defaults: a button on GPIO17, no music, espeak-ng, no fallback. A
relative music path starts at the config folder.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml

from holdcue.errors import ConfigError, RoutineError, RoutineNotFound
from holdcue.fields import Checker, given, optional
from holdcue.routine import ENGINES, MODEL_PATTERN, Music
from holdcue.yamlsafe import NULL, describe, scalar

FILE_NAME = "config.yaml"
MAX_FILE_BYTES = 100_000  # a config file is a few lines
DEFAULT_PIN = 17  # GPIO17 is physical pin 11, beside a ground pin (9)
# The GPIO numbers on the 40-pin header (BCM numbering); 0 and 1 are the HAT EEPROM's I2C
FIRST_PIN, LAST_PIN = 2, 27


@dataclass(frozen=True)
class Config:
    button_pin: int | None = DEFAULT_PIN  # None: no button
    source: str = ""  # the file it was read from; "" for the defaults
    music: Music | None = None  # under routines that have no music of their own
    engine: str = ""  # speech engine of routines that name none; "" : espeak-ng
    model: str = ""  # the Piper model for them
    fallback: bool = False  # espeak-ng when the chosen engine or model is missing
    trusted_proxies: tuple[str, ...] = ()  # addresses or networks of TLS proxies in front of holdcue serve


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
        keys = checker.mapping(root, "", ("button", "music", "voice", "service"))
        if "button" in keys:
            config = dataclasses.replace(config, button_pin=_button_pin(checker, keys["button"]))
        if "music" in keys:
            from holdcue import music  # only for a config with music: the others start without it

            folder = Path(source).parent
            bed = music.from_yaml(checker, keys["music"], "music", folder, "the config folder")
            config = dataclasses.replace(config, music=bed)
        if "voice" in keys:
            config = dataclasses.replace(config, **_voice(checker, keys["voice"]))
        if "service" in keys:
            config = dataclasses.replace(config, trusted_proxies=_service(checker, keys["service"]))
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


def _service(checker: Checker, node: yaml.Node) -> tuple[str, ...]:
    """``service: {trusted_proxies: [ADDRESS or NETWORK, ...]}``."""
    if not isinstance(node, yaml.MappingNode):
        checker.report(node, "service", f"must be like {{trusted_proxies: [192.168.1.5]}}, not {describe(node)}")
        return ()
    keys = checker.mapping(node, "service", ("trusted_proxies",))
    if "trusted_proxies" not in keys:
        return ()
    proxies, path = keys["trusted_proxies"], "service.trusted_proxies"
    found = []
    for text in checker.texts(proxies, path):
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            checker.report(proxies, path, f'"{text}" is not an address (192.168.1.5) or a network (192.168.1.0/24)')
            continue
        found.append(text)
    return tuple(found)
