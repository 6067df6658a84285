"""config.yaml: the button's pin, read from real files, every problem with file, line and column."""

from __future__ import annotations

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


def test_trusted_proxies_are_addresses_or_networks(tmp_path):
    text = "service:\n  trusted_proxies: [192.168.1.5, 10.0.0.0/8, 'fd00::1']\n"
    assert load(tmp_path, text).trusted_proxies == ("192.168.1.5", "10.0.0.0/8", "fd00::1")
    assert load(tmp_path, "button: false\n").trusted_proxies == ()
    assert problems(tmp_path, "service:\n  trusted_proxies: [pi.local]\n") == [
        'DIR/config.yaml:2:20: service.trusted_proxies: "pi.local" is not an address (192.168.1.5) '
        "or a network (192.168.1.0/24)"
    ]
