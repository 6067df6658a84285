"""Which machine it is: made-up machines (os-release, a process list, the device tree's model,
ALSA's cards, PipeWire's program) in files, read by machine.detect as it reads the real ones;
and `holdcue service check` on this machine."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from holdcue import machine
from holdcue.cli import cli

TRIXIE = """\
PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
VERSION="13 (trixie)"
VERSION_CODENAME=trixie
DEBIAN_VERSION_FULL=13.1
ID=debian
"""
BOOKWORM = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
"""
PI_CARDS = """\
 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0
                      vc4-hdmi-0
 1 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
 2 [Device         ]: USB-Audio - USB Audio Device
                      C-Media Electronics Inc. USB Audio Device at usb-xhci-hcd.1-1, full speed
"""


class Made:
    """A made-up machine in a folder: its files, and processes by name."""

    def __init__(self, root: Path):
        self.root = root
        for d in ("etc", "proc", "model", "asound", "bin"):
            (root / d).mkdir()

    def release(self, text: str) -> Made:
        (self.root / "etc/os-release").write_text(text)
        return self

    def process(self, pid: int, name: str) -> Made:
        (self.root / "proc" / str(pid)).mkdir()
        (self.root / "proc" / str(pid) / "comm").write_text(name + "\n")
        return self

    def pi(self, model: str = "Raspberry Pi 4 Model B Rev 1.4") -> Made:
        (self.root / "model/model").write_text(model + "\x00")
        return self

    def cards(self, text: str) -> Made:
        (self.root / "asound/cards").write_text(text)
        return self

    def with_pipewire(self) -> Made:
        (self.root / "bin/pipewire").write_text("")
        return self

    def detect(self, uid: int | None = None) -> machine.Machine:
        return machine.detect(
            os_release=self.root / "etc/os-release",
            proc=self.root / "proc",
            model=self.root / "model/model",
            alsa_cards=self.root / "asound/cards",
            pipewire=self.root / "bin/pipewire",
            uid=uid,
        )


def test_a_pi_with_lite_on_trixie_is_alsa_only(tmp_path):
    made = Made(tmp_path).release(TRIXIE).pi().cards(PI_CARDS).process(1, "systemd").process(412, "bash")
    found = made.detect(uid=os.getuid())
    assert (found.codename, found.system) == ("trixie", "Debian GNU/Linux 13 (trixie)")
    assert found.model == "Raspberry Pi 4 Model B Rev 1.4"
    assert (found.sound_server, found.pipewire_installed, found.lite) == ("", False, True)
    assert found.cards == ("0 vc4hdmi0: vc4-hdmi-0", "1 Headphones: bcm2835 Headphones", "2 Device: USB Audio Device")
    said = found.describe()
    assert said.startswith("Machine: Raspberry Pi 4 Model B Rev 1.4, Debian GNU/Linux 13 (trixie).\n")
    assert "no sound server, ALSA only (as on Raspberry Pi OS Lite)" in said
    assert "holdcue service install --bluetooth" in said
    cards = "0 vc4hdmi0: vc4-hdmi-0; 1 Headphones: bcm2835 Headphones; 2 Device: USB Audio Device"
    assert said.endswith(f"ALSA sound cards: {cards}.")


def test_a_desktop_image_on_bookworm_has_pipewire_running_for_the_user(tmp_path):
    made = Made(tmp_path).release(BOOKWORM).pi("Raspberry Pi 5 Model B Rev 1.0").with_pipewire()
    made.process(900, "pipewire").process(901, "wireplumber").process(902, "pipewire-pulse")
    found = made.detect(uid=os.getuid())
    assert (found.codename, found.sound_server, found.lite) == ("bookworm", "PipeWire", False)
    assert "PipeWire runs in this session (as on a desktop image)" in found.describe()
    assert "ALSA sound cards: none found (aplay -l lists them)." in found.describe()


def test_another_users_pipewire_is_not_this_users(tmp_path):
    made = Made(tmp_path).release(BOOKWORM).with_pipewire().process(900, "pipewire")
    theirs = made.detect(uid=os.getuid() + 1)
    assert (theirs.sound_server, theirs.pipewire_installed, theirs.lite) == ("", True, False)
    assert "PipeWire is installed but not running for this user" in theirs.describe()
    # root has no session of its own: anyone's sound server counts
    assert made.detect(uid=0).sound_server == "PipeWire"


def test_pulseaudio_counts_as_a_sound_server(tmp_path):
    found = Made(tmp_path).release(BOOKWORM).process(77, "pulseaudio").detect(uid=os.getuid())
    assert (found.sound_server, found.lite) == ("PulseAudio", False)


def test_nothing_readable_is_an_unknown_machine_and_no_failure(tmp_path):
    found = Made(tmp_path).detect(uid=os.getuid())
    assert found == machine.Machine("", "", "", "", False, ())
    assert found.describe().startswith("Machine: an unknown release.\nSound: no sound server, ALSA only")


def test_a_release_holdcue_is_not_checked_on_is_named(tmp_path):
    release = 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nVERSION_CODENAME=bullseye\n# x\nbad line\n'
    made = Made(tmp_path).release(release)
    said = made.detect(uid=os.getuid()).describe()
    assert said.startswith("Machine: Debian GNU/Linux 11 (bullseye) (holdcue is checked on bookworm and trixie).")


def test_service_check_says_what_this_machine_is():
    result = CliRunner().invoke(cli, ["service", "check"])
    assert result.exit_code == 0, result.output
    assert result.stdout == machine.detect().describe() + "\n"
    assert result.stdout.startswith("Machine: ") and "\nSound: " in result.stdout
