"""The holdcue command. Each command loads what it needs from the core, calls it, and turns
the core's own exceptions into messages and the exit codes of exitcodes.py.

    __init__.py    the group (cli, `holdcue`) with every command on it, and main()
    common.py      what every command shares: echo, the core's errors and signals made
                   messages and exit codes (HoldcueGroup, Failure), progress bars, the
                   options several commands take, settings(), load, heard, build_session
    routines.py    list, validate, show, voices, tones, compose
    sessions.py    play; history and resume (the journal); today and plan (the weekly plan)
    exporting.py   export, prepare
    service.py     serve, pair, service install/uninstall/status

Each module names its COMMANDS; they are added to the one group here. Every module is light
to import (click and holdcue's small modules; the rest is imported by the function that
needs it), so that a command starts quickly. A test that stands in for a function patches
it in the module whose code calls it (cli.sessions.play_recorded), not here.
"""

from __future__ import annotations

import contextlib
import sys

import click

from holdcue import __version__
from holdcue.cli import exporting, routines, service, sessions
from holdcue.cli.common import (
    DEBUG_VARIABLE,
    HoldcueGroup,
    progress_bar,
    progress_below_lines,
    say_on_the_way_out,
    stdout_gone,
)
from holdcue.cli.sessions import play
from holdcue.exitcodes import ExitCode
from holdcue.files import occupy_closed_descriptors

__all__ = ["cli", "main", "play", "progress_bar", "progress_below_lines"]


@click.group(cls=HoldcueGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="holdcue")
@click.option("--debug", is_flag=True, help=f"Show the traceback of an unexpected error (or set {DEBUG_VARIABLE}=1).")
def cli(debug: bool) -> None:
    """Hands-free spoken guide for self-massage and trigger-point routines.

    \b
    holdcue play shoulders-and-chest      be talked through a built-in routine
    holdcue list                          see every routine and how long it takes
    holdcue show neck.yaml                see the timeline of your own routine
    holdcue export glutes-and-piriformis -o glutes.mp3

    A ROUTINE is a built-in or user routine's id (see `holdcue list`) or the path
    of a routine file (see docs/routines.md).
    """


for _command in (*routines.COMMANDS, *sessions.COMMANDS, *exporting.COMMANDS, *service.COMMANDS):
    cli.add_command(_command)


def main() -> None:
    """The holdcue command, its standard streams made safe first: a closed one is not left
    for a file opened later to take its number; text the terminal's encoding cannot show is
    replaced (a Latin-1 terminal gets "?" for an emoji, not a crash); output that cannot be
    written is an error, not silently lost."""
    occupy_closed_descriptors()
    if sys.stdout is None:  # `holdcue list >&-`: the output would go nowhere
        if sys.stderr is not None:
            sys.stderr.write("holdcue: standard output is closed; nothing could be shown.\n")
        sys.exit(ExitCode.OUTPUT_FAILED)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):  # not a TextIOWrapper, or closed
            stream.reconfigure(errors="replace")  # type: ignore[union-attr]
    try:
        cli(prog_name="holdcue")
        status: int | str | None = 0
    except SystemExit as done:
        status = done.code
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        status = stdout_gone()
    except OSError as error:
        say_on_the_way_out(f"Error: cannot write the output: {error.strerror or error}.")
        status = status or ExitCode.OUTPUT_FAILED
    sys.exit(status)
