"""The commands that make files of routines ahead of time: holdcue export (audio files,
side by side on every core when there are several) and holdcue prepare (the speech cache)."""

from __future__ import annotations

from pathlib import Path

import click

from holdcue import errors
from holdcue.cli.common import (
    Failure,
    build_session,
    echo,
    heard,
    jobs_option,
    load,
    music_options,
    overrides,
    progress_bar,
    progress_below_lines,
    speech_options,
    until_press_note,
    volume_option,
    warned,
)
from holdcue.exitcodes import ExitCode
from holdcue.text import clock, printable


@click.command()
@click.argument("routines", nargs=-1)
@click.option("-o", "--output", required=True, type=click.Path(), help="File, or folder for several routines.")
@click.option("--all", "all_", is_flag=True, help="Export every built-in and user routine.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["wav", "flac", "ogg", "mp3"]),
    help="Default: from the file's suffix; mp3 into a folder.",
)
@click.option(
    "--transcript", type=click.Path(dir_okay=False), help="Also write the spoken cues as WebVTT (one routine)."
)
@volume_option()
@music_options
@speech_options
@jobs_option("Routines exported at once, each by a process of its own (default: one per core).")
def export(
    routines, output, all_, fmt, transcript, volume, music_file, no_music, engine, model, fallback, jobs
) -> None:
    """Export routines as audio files, with chapters and tags.

    Into a folder (several routines, --all, or an existing folder as -o), each routine
    becomes <id>.<format>. Several routines are exported side by side, one process per
    core (--jobs N: N at a time; --jobs 1: one after another); the files are the same.

    \b
    holdcue export glutes-and-piriformis -o glutes.mp3
    holdcue export neck.yaml -o neck.flac --transcript neck.vtt
    holdcue export --all -o ~/Music/holdcue --format mp3
    holdcue export --all -o ~/Music/holdcue --jobs 2
    """
    from holdcue import export as exporter
    from holdcue.speech import workers

    if all_ == bool(routines):
        raise click.UsageError("Name the routines to export, or give --all (not both).")
    given = overrides(engine, model, fallback, music_file, no_music)
    output = Path(output).expanduser()
    into_folder = all_ or len(routines) > 1 or output.is_dir()
    if into_folder and transcript:
        raise click.UsageError("--transcript names one file: export one routine at a time to get its transcript.")
    # every routine is loaded and checked before anything is written; with --all, those
    # with errors are named and the rest exported
    broken = 0
    if all_:
        loaded, broken = every_routine()
        routines = [warned(routine) for routine in loaded]
    else:
        routines = [load(ref) for ref in routines]
    routines = heard(routines, given)
    targets = [output / f"{routine.id}.{fmt or 'mp3'}" if into_folder else output for routine in routines]
    clashes = sorted({printable(target.name) for target in targets if targets.count(target) > 1})
    if clashes:
        raise click.UsageError(
            f"two routines would both be written to {', '.join(clashes)}: export them one at a time."
        )
    if into_folder:
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise errors.OutputError(f"cannot create the folder {output}: {error.strerror or error}") from error
    if len(routines) > 1 and (jobs or workers.cores()) > 1:
        export_side_by_side(routines, targets, fmt, volume, jobs)
        not_done(broken, "exported")
        return
    for routine, target in zip(routines, targets, strict=True):
        ready = build_session(routine)
        update, finish = progress_bar(f"Exporting {printable(target.name)}")
        try:
            written = exporter.export(ready, target, format=fmt, volume=volume, transcript=transcript, progress=update)
        finally:
            finish()
        echo(
            f"{printable(str(written))}  {clock(ready.timeline.duration, millis=True)}"
            + (f"  (transcript: {printable(transcript)})" if transcript else "")
            + at_full_time(routine)
        )
    not_done(broken, "exported")


def every_routine() -> tuple[list, int]:
    """Every built-in and user routine that loads, the problems of the others written to
    stderr; and how many of those there are."""
    from holdcue import session

    everything = session.load_all()
    for problem in everything.problems:
        echo(str(problem), err=True)
    return list(everything.routines), len(everything.broken)


def not_done(broken: int, done: str) -> None:
    """With routines that could not be loaded, the command fails once it did the rest."""
    if broken:
        message = f"{broken} routine{'s' * (broken != 1)} not {done}: fix the errors above."
        raise Failure(message, ExitCode.INVALID_ROUTINE)


def at_full_time(routine) -> str:
    """What an export line adds for a routine with parts that last until a press."""
    waits = until_press_note(routine)
    return f"  (at full time: {waits})" if waits else ""


def export_side_by_side(routines, targets, fmt, volume: float, jobs: int | None) -> None:
    """export's routines, each by a worker process (batch.py), with one progress bar; the
    line of each file written comes in the order of the routines."""
    from holdcue import batch

    speech_update, speech_finish = progress_bar("Preparing speech")
    update, say, finish = progress_below_lines(f"Exporting {len(routines)} files")

    def written(index: int, seconds: float) -> None:
        say(f"{printable(str(targets[index]))}  {clock(seconds, millis=True)}{at_full_time(routines[index])}")

    work = [batch.Job(routine, target) for routine, target in zip(routines, targets, strict=True)]
    try:
        batch.export_all(
            work, format=fmt, volume=volume, workers=jobs, progress=update, written=written, preparing=speech_update
        )
    finally:
        speech_finish()
        finish()


@click.command()
@click.argument("routines", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Prepare every built-in and user routine.")
@speech_options
@jobs_option("Texts synthesized at once, each by a process of its own (default: one per core).")
def prepare(
    routines: tuple[str, ...], all_: bool, engine: str | None, model: str | None, fallback: bool, jobs: int | None
) -> None:
    """Synthesize and cache the speech of routines so they start at once (and decode
    their music, when they have some, so that it does not slow the first export).

    \b
    holdcue prepare --all
    holdcue prepare neck-and-upper-trapezius my-routine.yaml
    holdcue prepare --all --engine piper --model en_US-joe-medium
    holdcue prepare --all --jobs 1
    """
    from holdcue import play as playback
    from holdcue import session

    if all_ == bool(routines):
        raise click.UsageError("Name the routines to prepare, or give --all (not both).")
    broken = 0
    if all_:
        loaded, broken = every_routine()
    else:
        loaded = [load(ref) for ref in routines]
    loaded = heard(loaded, overrides(engine, model, fallback))
    update, finish = progress_bar("Preparing speech")
    try:
        needed, made = session.prepare(
            loaded,
            progress=update,
            also=playback.own_words,  # "Paused." and the like, said by play: ready too
            workers=jobs,
        )
    finally:
        finish()
    echo(
        f"{len(loaded)} routine{'s' * (len(loaded) != 1)} ready: {needed} spoken cues, "
        f"{made} synthesized now, {needed - made} already in the cache."
    )
    not_done(broken, "prepared")


COMMANDS = (export, prepare)
