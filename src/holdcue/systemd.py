"""Starting holdcue at boot: the systemd user unit that runs ``holdcue serve``, and its
installation with ``systemctl --user``.

A user unit (not a system one) because the sound server, PipeWire on Raspberry Pi OS
bookworm, runs in the user's session: a user service reaches it like a program in that
session does. With lingering on (``loginctl enable-linger``) the user's manager starts at
boot and stays after logout, which a headless Pi needs.

Every systemctl and loginctl call goes through a ``Runner`` (``run`` by default), so tests
record the calls instead of making them.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from holdcue import files
from holdcue.errors import OutputError, ServiceManagerError, UnitConflict

UNIT_NAME = "holdcue.service"
TIMEOUT_SECONDS = 30  # a systemctl call that takes longer is stuck (enable --now waits for the start)

# The session's sound server: PipeWire and its PulseAudio server, with WirePlumber, which
# makes the devices appear. Wants= starts them (they are socket-activated and may not run
# yet) without failing where one is missing; After= orders holdcue's start behind them.
# sound.target is a system unit: a user manager has none.
SOUND_SERVER = "pipewire.service pipewire-pulse.service wireplumber.service"

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]

# Words in systemctl's stderr that mean there is no user manager to talk to
_NO_MANAGER = re.compile(r"failed to connect to bus|not been booted with systemd|XDG_RUNTIME_DIR", re.IGNORECASE)
# Characters that need no quotes in an ExecStart word; anything else gets double quotes
_PLAIN = re.compile(r"[A-Za-z0-9/_.:+,=@-]+")
# What systemd refuses in a program's path ("Executable name contains special characters")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f'\"\\]")


def run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Runs a command and captures its output; a missing program or a hang is a ServiceManagerError."""
    try:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    except FileNotFoundError:
        raise ServiceManagerError(
            f"{args[0]} is not installed: starting at boot needs systemd (Raspberry Pi OS and Debian have it)."
        ) from None
    except subprocess.TimeoutExpired:
        raise ServiceManagerError(f"{' '.join(args)} did not answer within {TIMEOUT_SECONDS} s") from None


def unit_path() -> Path:
    """Where the user unit goes: $XDG_CONFIG_HOME/systemd/user (default ~/.config)."""
    config = os.environ.get("XDG_CONFIG_HOME") or ""
    base = Path(config) if os.path.isabs(config) else Path.home() / ".config"  # the spec ignores relative paths
    return base / "systemd" / "user" / UNIT_NAME


def holdcue_command() -> list[str]:
    """The absolute command that starts this holdcue: the ``holdcue`` script it was started
    as, else the one beside the running Python (a virtual environment's bin), else the one on
    PATH, else this Python with ``-m holdcue``."""
    started_as = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if started_as and started_as.name == "holdcue" and os.access(started_as, os.X_OK):
        return [os.path.abspath(started_as)]
    beside = Path(sys.executable).parent / "holdcue"
    if os.access(beside, os.X_OK):
        return [os.path.abspath(beside)]
    found = shutil.which("holdcue")
    if found:
        return [os.path.abspath(found)]
    return [os.path.abspath(sys.executable), "-m", "holdcue"]


def quote(word: str, program: bool = False) -> str:
    """One word of an ExecStart= line: in double quotes with C escapes when it is not plain.
    systemd expands % specifiers in every word, so % is doubled; it expands $ variables in the
    arguments only, so $ is doubled there and left as it is in the ``program``'s path."""
    if _PLAIN.fullmatch(word):
        return word
    escaped = []
    for char in word:
        if char in '\\"':
            escaped.append("\\" + char)
        elif char == "%" or (char == "$" and not program):
            escaped.append(char * 2)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\x{ord(char):02x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def unit_text(command: Sequence[str], serve: Sequence[str] = ()) -> str:
    """The unit that runs ``command serve`` (with the options ``serve``) in the user's
    session. Raises OutputError when systemd could not run the program at that path."""
    program, *arguments = command
    if _UNSAFE.search(program):
        raise OutputError(
            f"systemd refuses to run a program whose path holds quotes, backslashes or control characters: "
            f"{program!r}. Put holdcue in a folder without them (e.g. ~/holdcue) and install again."
        )
    exec_start = " ".join([quote(program, program=True)] + [quote(word) for word in [*arguments, "serve", *serve]])
    return f"""\
# Written by "holdcue service install"; "holdcue service uninstall" removes it.
[Unit]
Description=holdcue, hands-free spoken guide for self-massage (holdcue serve)
Wants={SOUND_SERVER}
After={SOUND_SERVER}

[Service]
ExecStart={exec_start}
# A crash restarts it after 5 s; a clean stop (holdcue service uninstall, systemctl stop) does not
Restart=on-failure
RestartSec=5s
# Output goes to the journal (journalctl --user -u holdcue), unbuffered so lines arrive as written
StandardOutput=journal
StandardError=journal
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=default.target
"""


def user_name() -> str:
    """The account this process runs as (not $USER, which sudo and su may leave behind)."""
    return pwd.getpwuid(os.getuid()).pw_name


def linger_advice(user: str) -> str:
    return (
        f"Lingering is off for {user}: holdcue starts only when {user} logs in, and stops at logout. "
        f"For a Pi without a screen, turn it on with:\n    sudo loginctl enable-linger {user}"
    )


@dataclass(frozen=True)
class Installed:
    path: Path
    changed: bool  # the file was written (new, or replacing a different one)
    replaced: bool  # a different unit was there and --force replaced it
    lingering: bool | None  # None: loginctl could not tell
    user: str


@dataclass(frozen=True)
class Status:
    path: Path
    installed: bool  # the unit file exists
    current: bool  # it is the unit this holdcue would write
    enabled: str  # systemctl is-enabled: "enabled", "disabled", "not-found"...
    active: str  # systemctl is-active: "active", "inactive", "failed", "activating"...
    lingering: bool | None
    user: str
    summary: str  # the first lines of systemctl --user status
    problem: str = ""  # why the manager could not be asked (then enabled and active are "unknown")


class Manager:
    """The user's systemd manager, reached through ``runner``."""

    def __init__(self, runner: Runner | None = None):
        self.runner = runner or run  # looked up at call time, so a test can replace systemd.run

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = self.runner(["systemctl", "--user", *args])
        if _NO_MANAGER.search(result.stderr or ""):
            # The line that says so; "enable --now" may first say which links it made
            said = next(line for line in (result.stderr or "").splitlines() if _NO_MANAGER.search(line))
            raise ServiceManagerError(
                "there is no systemd user manager to talk to "
                f"({said.strip()}). Run this as the user who will listen, "
                "in a login session (on the Pi itself or over ssh), not through sudo or su, and not in a container."
            )
        if check and result.returncode != 0:
            said = (result.stderr or result.stdout or "").strip() or f"exit status {result.returncode}"
            raise ServiceManagerError(f"systemctl --user {' '.join(args)} failed: {said}")
        return result

    def reachable(self) -> None:
        """Raises ServiceManagerError when the user manager cannot be used (before any file is written)."""
        self.systemctl("show", "--property=Version")

    def lingering(self, user: str) -> bool | None:
        """Whether the user's manager runs without a login; None when loginctl cannot tell."""
        try:
            result = self.runner(["loginctl", "show-user", user, "--property=Linger", "--value"])
        except ServiceManagerError:
            return None
        value = result.stdout.strip()
        if result.returncode != 0 or value not in ("yes", "no"):
            return None
        return value == "yes"


def install(
    command: Sequence[str],
    *,
    serve: Sequence[str] = (),
    force: bool = False,
    runner: Runner | None = None,
    path: Path | None = None,
) -> Installed:
    """Writes the unit (atomically), reloads the user manager, enables and starts holdcue.

    A different unit file already there is left alone (UnitConflict) unless ``force``; the
    same one is not rewritten. Raises ServiceManagerError, before writing anything, when the
    user manager cannot be reached."""
    manager = Manager(runner)
    path = path or unit_path()
    text = unit_text(command, serve)
    manager.reachable()
    old = read_text(path)
    if old is not None and old != text and not force:
        raise UnitConflict(
            f"{path} exists and differs from the unit holdcue writes; it was left alone. "
            "Run again with --force to replace it."
        )
    if old != text:
        write_atomically(path, text)
    manager.systemctl("daemon-reload")
    manager.systemctl("enable", "--now", UNIT_NAME)
    if old is not None and old != text:
        manager.systemctl("try-restart", UNIT_NAME)  # a running holdcue started with the old unit
    user = user_name()
    return Installed(path, old != text, old is not None and old != text, manager.lingering(user), user)


def uninstall(*, runner: Runner | None = None, path: Path | None = None) -> bool:
    """Stops and disables holdcue, removes the unit and reloads. False when it was not installed."""
    manager = Manager(runner)
    path = path or unit_path()
    manager.reachable()
    if not path.exists():
        return False
    manager.systemctl("disable", "--now", UNIT_NAME)
    path.unlink()
    manager.systemctl("daemon-reload")
    return True


def _without_options(unit: str) -> str:
    """The unit's text with its ExecStart line ending at "serve": the options given to
    ``service install`` (--host, --keep-alive...) make no other unit of it."""
    return re.sub(r"^(ExecStart=.* serve)( .*)?$", r"\1", unit, flags=re.M)


def status(command: Sequence[str], *, runner: Runner | None = None, path: Path | None = None) -> Status:
    """What is installed and running. When the manager cannot be reached, ``problem`` says why
    and the file's state is still given."""
    manager = Manager(runner)
    path = path or unit_path()
    old = read_text(path)
    try:  # the same unit, whatever options it gives serve
        current = old is not None and _without_options(old) == _without_options(unit_text(command))
    except OutputError:
        current = False  # this holdcue's path is one systemd cannot run: install says so
    user = user_name()
    try:
        manager.reachable()
        enabled = manager.systemctl("is-enabled", UNIT_NAME, check=False).stdout.strip() or "not-found"
        active = manager.systemctl("is-active", UNIT_NAME, check=False).stdout.strip() or "unknown"
        summary = manager.systemctl("status", "--no-pager", "--lines=0", UNIT_NAME, check=False).stdout.rstrip()
    except ServiceManagerError as error:
        return Status(path, old is not None, current, "unknown", "unknown", None, user, "", str(error))
    return Status(path, old is not None, current, enabled, active, manager.lingering(user), user, summary)


def write_atomically(path: Path, text: str) -> None:
    """The file complete or not at all: written beside it under a temporary name, then renamed.
    Raises OutputError when it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from error
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600; a unit file is normally world-readable
        os.replace(temporary, path)
    except BaseException as error:
        os.unlink(temporary)
        if isinstance(error, OSError):
            raise OutputError(f"cannot write {path}: {error.strerror or error}") from error
        raise


def read_text(path: Path) -> str | None:
    """A unit file's text; None when there is none, "" when it cannot be read."""
    try:  # a FIFO or device there is not waited on, a huge file not read whole (a unit is 1 kB)
        return files.read_regular(path, 100_000).decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return ""  # unreadable counts as different: --force replaces it
