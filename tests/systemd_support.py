"""systemctl and loginctl, recorded: a runner for systemd.Manager that keeps each command
and answers as they would (test_systemd.py, test_headset.py)."""

from __future__ import annotations

import subprocess


class Recorder:
    """A runner that records each command and answers like systemctl and loginctl would."""

    def __init__(self, linger: str = "yes", bus: bool = True, **answers: tuple[int, str]):
        self.calls: list[list[str]] = []
        self.linger, self.bus, self.answers = linger, bus, answers

    def __call__(self, args):
        args = list(args)
        self.calls.append(args)
        if args[0] == "systemctl" and not self.bus:
            return subprocess.CompletedProcess(args, 1, "", "Failed to connect to bus: No medium found\n")
        if args[0] == "loginctl":
            return subprocess.CompletedProcess(args, 0, f"{self.linger}\n", "")
        code, out = self.answers.get(args[2].replace("-", "_"), (0, ""))
        return subprocess.CompletedProcess(args, code, out, "")

    def systemctl(self) -> list[list[str]]:
        return [call[2:] for call in self.calls if call[0] == "systemctl"]
