"""The holdcue command (`holdcue`, `python -m holdcue`): the CLI (cli/), with one thing
first. `holdcue play` opens its sound device before anything else is imported (click, the
routine loader, NumPy): the device's lead-in, counted from its open, then runs while the
rest of the program starts, and the first cue is heard that much sooner."""

from __future__ import annotations

import sys


def main() -> None:
    from holdcue.files import occupy_closed_descriptors

    occupy_closed_descriptors()  # before the device's sockets are opened
    if plays(sys.argv[1:]):
        from holdcue import stream

        stream.open_early(keep_alive="--keep-alive" in sys.argv[2:])
    from holdcue.cli import main as cli_main

    cli_main()


def plays(args: list[str]) -> bool:
    """Whether the command line asks to play a routine (not for help)."""
    return len(args) >= 2 and args[0] == "play" and not {"-h", "--help"} & set(args[1:])


if __name__ == "__main__":
    main()
