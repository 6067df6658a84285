"""The holdcue command (`holdcue`, `python -m holdcue`): the CLI (cli/), with one thing
first. `holdcue play` opens its sound device before anything else is imported (click, the
routine loader, NumPy): the device's lead-in, counted from its open, then runs while the
rest of the program starts, and the first cue is heard that much sooner. And the commands
that play keep ALSA's own lines out of the terminal and the log (alsa_lines.py), saying at
the end how many there were."""

from __future__ import annotations

import sys


def main() -> None:
    from holdcue.files import occupy_closed_descriptors

    occupy_closed_descriptors()  # before the device's sockets are opened
    if sys.argv[1:2] and sys.argv[1] in SOUNDING:
        quiet_alsa(serves=sys.argv[1] == "serve")
    if plays(sys.argv[1:]):
        from holdcue import stream

        stream.open_early(keep_alive="--keep-alive" in sys.argv[2:])
    from holdcue.cli import main as cli_main

    cli_main()


SOUNDING = {"play", "resume", "today", "tones", "serve"}  # the commands that open a sound device


def quiet_alsa(serves: bool) -> None:
    """ALSA's lines counted, not shown: the service logs the first of each (and the 10th,
    100th, ...) as it runs; at the end, one line says how many there were."""
    import atexit
    import logging

    from holdcue import alsa_lines

    log = logging.getLogger("holdcue.serve")
    alsa_lines.divert(log.warning if serves else None)

    def summarize() -> None:
        said = alsa_lines.summary()
        alsa_lines.restore()
        if said and serves:
            log.info("%s", said)
        elif said:
            print(f"holdcue: {said}", file=sys.stderr)

    atexit.register(summarize)


def plays(args: list[str]) -> bool:
    """Whether the command line asks to play a routine (not for help)."""
    return len(args) >= 2 and args[0] == "play" and not {"-h", "--help"} & set(args[1:])


if __name__ == "__main__":
    main()
