"""The core's own exceptions. Only the CLI turns them into messages and exit codes."""

from __future__ import annotations

from dataclasses import dataclass

from holdcue.text import printable


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) in a routine file, with where it is."""

    file: str
    line: int  # 1-based; 0 when the problem is about the whole file
    column: int  # 1-based; 0 when unknown
    path: str  # the field's path, e.g. "steps[2].time"; "" for the whole file
    message: str  # what is wrong and what to do
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        """file:line:column: field: message, with every control character in them (a key,
        a file name or a value quoted from the file) shown as a visible escape."""
        where = printable(self.file)
        if self.line:
            where += f":{self.line}:{self.column}" if self.column else f":{self.line}"
        field = f" {printable(self.path)}:" if self.path else ""
        label = " warning:" if self.severity == "warning" else ""
        return f"{where}:{label}{field} {printable(self.message)}"


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived (see cli/common.py). Like KeyboardInterrupt it is no
    Exception, so only cleanup (``finally:``) runs on its way out: sound stopped, files and
    workers removed, the terminal restored. ``signum`` says which signal."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum

    def __reduce__(self):  # pickled whole, as a worker process's errors are (batch.py)
        return type(self), (self.signum,)


class HoldcueError(Exception):
    """Base of every error the core raises on purpose."""


class RoutineError(HoldcueError):
    """A routine file is invalid. Carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]):
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self):  # pickled with its problems (an exception pickles its message alone)
        return type(self), (self.problems,)


class RoutineNotFound(HoldcueError):
    """No built-in routine, user routine or file has this name."""


class ToneError(HoldcueError):
    """A tone file cannot be used (it changed since the routine was checked, or is damaged)."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")

    def __reduce__(self):
        return type(self), (self.path, self.message)


class SpeechError(HoldcueError):
    """Speech could not be synthesized (engine missing, voice unknown, timeout)."""


class AudioDeviceError(HoldcueError):
    """No audio device could be opened for playback, or it is busy."""


class OutputError(HoldcueError):
    """An output file could not be written; nothing partial was left behind."""


class PlanError(RoutineError):
    """The weekly plan file is invalid (plan.py). Carries every problem found, like RoutineError."""


class ServiceManagerError(HoldcueError):
    """The user's systemd service manager cannot be used: systemctl is missing, there is no
    user bus (a container, or run through sudo), or a systemctl call failed."""


class UnitConflict(HoldcueError):
    """A different unit file is where holdcue's would go; it is left alone unless forced."""


class ConfigError(RoutineError):
    """The config file (config.yaml) is invalid. Carries every problem found, like RoutineError."""


class MusicError(HoldcueError):
    """A music file cannot be used (it changed since it was checked, or is damaged)."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")

    def __reduce__(self):
        return type(self), (self.path, self.message)


class ComposeError(HoldcueError):
    """A session cannot be composed as asked (compose.py): an unknown area or tool, or a
    length the library's steps cannot meet; the message says what can be asked instead."""
