"""The holdcue command. Each command loads what it needs from the core, calls it, and turns
the core's own exceptions into messages and the exit codes of exitcodes.py."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import click

from holdcue import __version__, errors
from holdcue.exitcodes import ExitCode
from holdcue.text import clock


class Failure(click.ClickException):
    """A message for the user and the exit code that goes with it."""

    def __init__(self, message: str, code: ExitCode):
        super().__init__(message)
        self.code = int(code)

    # click declares exit_code a class attribute (ClassVar); each Failure carries its own code
    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return self.code


class RoutineProblems(Failure):
    """Prints each problem on its own line, compiler style, then exits INVALID_ROUTINE."""

    def __init__(self, error: errors.RoutineError):
        super().__init__(str(error), ExitCode.INVALID_ROUTINE)
        self.problems = error.problems

    def show(self, file=None) -> None:
        for problem in self.problems:
            click.echo(str(problem), err=True)
        count = sum(p.severity == "error" for p in self.problems)
        click.echo(f"Error: {count} problem{'s' * (count != 1)}; fix them and try again.", err=True)


def _translate(error: errors.HoldcueError) -> click.ClickException:
    if isinstance(error, errors.RoutineError):
        return RoutineProblems(error)
    codes = {
        errors.RoutineNotFound: ExitCode.INVALID_ROUTINE,
        errors.ToneError: ExitCode.INVALID_ROUTINE,
        errors.SpeechError: ExitCode.SPEECH_UNAVAILABLE,
        errors.AudioDeviceError: ExitCode.AUDIO_UNAVAILABLE,
        errors.OutputError: ExitCode.OUTPUT_FAILED,
    }
    return Failure(str(error), codes.get(type(error), ExitCode.ERROR))


DEBUG_VARIABLE = "HOLDCUE_DEBUG"  # set to 1: the traceback of an unexpected error, as --debug


class HoldcueGroup(click.Group):
    """The one place where core errors, unexpected errors and Ctrl-C become messages and exit codes."""

    def invoke(self, ctx: click.Context):
        try:
            with _signals_as_exceptions():
                return super().invoke(ctx)
        except errors.HoldcueError as error:
            raise _translate(error) from error
        except KeyboardInterrupt:
            _say_on_the_way_out("\nInterrupted.")
            raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None
        except errors.Terminated as stop:
            _say_on_the_way_out(f"\nStopped ({signal.Signals(stop.signum).name}).")
            raise click.exceptions.Exit(128 + stop.signum) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as error:
            debug = ctx.params.get("debug") or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
            if debug:
                traceback.print_exc()
            hint = "" if debug else " Run it again with --debug to see where, for a bug report."
            raise Failure(f"unexpected error: {type(error).__name__}: {error}.{hint}", ExitCode.ERROR) from error


@contextlib.contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """SIGTERM (a service manager or kill) and SIGHUP (the terminal gone) raise Terminated,
    so every command stops as on Ctrl-C: sound silenced, partial files and worker processes
    removed, the terminal restored. Only the first raises: a second must not cut the
    cleanup short."""
    raised = False

    def handler(signum: int, frame: object) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise errors.Terminated(signum)

    saved = {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, previous in saved.items():
            signal.signal(signum, previous)


def _say_on_the_way_out(message: str) -> None:
    try:
        click.echo(message, err=True)
    except OSError:  # the terminal hung up
        pass


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


def load(ref: str):
    """Load a routine by id or path; warnings go to stderr."""
    from holdcue import library

    return warned(library.load_routine(ref))


def warned(routine):
    """The routine, its warnings shown on stderr."""
    for warning in routine.warnings:
        click.echo(str(warning), err=True)
    return routine


def progress_bar(label: str):
    """A progress callback (done, total) drawn as a bar on a terminal, silent otherwise."""
    if not sys.stderr.isatty():
        return None, _nothing
    state: dict = {}

    def update(done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)

    def finish() -> None:
        if "bar" in state and not state["bar"].finished:
            state["bar"].__exit__(None, None, None)

    return update, finish


def _nothing() -> None:
    pass


def speech_options(command):
    """--engine, --model and --fallback: the voice engine to speak with (docs/voices.md)."""
    command = click.option(
        "--fallback", is_flag=True, help="Speak with espeak-ng when the chosen engine or model is missing."
    )(command)
    command = click.option("--model", help="The Piper model, by name (holdcue voices --engine piper).")(command)
    return click.option(
        "--engine", type=click.Choice(["espeak", "piper"]), help="Speech engine (default: the routine's, the config's)."
    )(command)


def voiced(routines, engine: str | None, model: str | None, fallback: bool) -> list:
    """The routines with the engine and model they speak with: the command line's, the
    routine's, the config's (in that order); a fallback to espeak-ng is said once on stderr."""
    import dataclasses

    from holdcue import config, speech

    settings = config.load_config()
    command = speech.Choice(engine or "", model or "", fallback)
    defaults = speech.Choice(settings.engine, settings.model, settings.fallback)
    out, said = [], set()
    for routine in routines:
        voice, note = speech.choose(routine.voice, command, defaults)
        if note and note not in said:
            said.add(note)
            click.echo(f"holdcue: {note}", err=True)
        out.append(dataclasses.replace(routine, voice=voice))
    return out


def build_session(routine, also: tuple[str, ...] = ()):
    """The routine made ready to hear, with a progress bar while speech is synthesized;
    ``also``: more texts to have clips for (the player's own words)."""
    from holdcue import session

    update, finish = progress_bar(f"Preparing speech for {routine.id}")
    try:
        return session.build(routine, also=also, progress=update)
    finally:
        finish()


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for programs.")
def list_(as_json: bool) -> None:
    """List built-in and user routines: id, title, total time, tools.

    \b
    holdcue list
    holdcue list --json
    """
    from holdcue import compiler, library

    entries = library.entries()
    if as_json:
        click.echo(json.dumps([_entry_json(entry) for entry in entries], indent=2, ensure_ascii=False))
        return
    rows = [("id", "title", "time", "from", "tools")]
    for entry in entries:
        origin = "built-in" if entry.builtin else "yours"
        routine = entry.routine
        if routine is None:
            rows.append((entry.id, "(has errors)", "", origin, f"run: holdcue validate {entry.source}"))
        else:
            seconds = compiler.estimate_seconds(routine)
            rows.append((entry.id, routine.title, clock(seconds), origin, ", ".join(routine.tools)))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        click.echo(
            "  ".join([cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)] + [row[4]]).rstrip()
        )


def _entry_json(entry) -> dict:
    from holdcue import compiler

    routine = entry.routine
    seconds = compiler.estimate_seconds(routine) if routine else None
    return {
        "id": entry.id,
        "title": routine.title if routine else "",
        "summary": routine.summary if routine else "",
        "areas": list(routine.areas) if routine else [],
        "tools": list(routine.tools) if routine else [],
        "builtin": entry.builtin,
        "source": entry.source,
        "steps": len(entry.routine.steps) if entry.routine else None,
        "duration": round(seconds, 1) if seconds is not None else None,
        "problems": [str(problem) for problem in entry.problems],
    }


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check routine files and report every problem with its line and column.

    \b
    holdcue validate neck.yaml
    holdcue validate ~/.config/holdcue/routines/*.yaml
    """
    from holdcue import library

    failed = 0
    for file in files:
        try:
            loaded = library.load_file(file)
        except errors.RoutineError as error:
            failed += 1
            for problem in error.problems:
                click.echo(str(problem), err=True)
            continue
        except errors.RoutineNotFound as error:
            failed += 1
            click.echo(str(error), err=True)
            continue
        for warning in loaded.warnings:
            click.echo(str(warning), err=True)
        warned = len(loaded.warnings)
        click.echo(
            f"{file}: ok, {len(loaded.steps)} steps" + (f", {warned} warning{'s' * (warned != 1)}" if warned else "")
        )
    if failed:
        raise Failure(f"errors in {failed} of {len(files)} file{'s' * (len(files) != 1)}.", ExitCode.INVALID_ROUTINE)


@cli.command()
@click.argument("routine")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON (docs/timeline.md).")
@speech_options
def show(routine: str, as_json: bool, engine: str | None, model: str | None, fallback: bool) -> None:
    """Show the timeline of a routine: every cue with its time, step and side.

    Speech not yet in the cache is synthesized first.

    \b
    holdcue show shoulders-and-chest
    holdcue show my-routine.yaml --json
    """
    timeline = build_session(voiced([load(routine)], engine, model, fallback)[0]).timeline
    if as_json:
        click.echo(json.dumps(timeline.to_json(), indent=2))
    else:
        click.echo(format_table(timeline))


@cli.command()
@click.argument("routines", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Prepare every built-in and user routine.")
@speech_options
def prepare(routines: tuple[str, ...], all_: bool, engine: str | None, model: str | None, fallback: bool) -> None:
    """Synthesize and cache the speech of routines so they start at once.

    \b
    holdcue prepare --all
    holdcue prepare neck-and-upper-trapezius my-routine.yaml
    holdcue prepare --all --engine piper --model en_US-joe-medium
    """
    from holdcue import session

    if all_ == bool(routines):
        raise click.UsageError("Name the routines to prepare, or give --all (not both).")
    broken: tuple = ()
    if all_:
        everything = session.load_all()
        broken, loaded = everything.broken, list(everything.routines)
        for problem in everything.problems:
            click.echo(str(problem), err=True)
    else:
        loaded = [load(ref) for ref in routines]
    loaded = voiced(loaded, engine, model, fallback)
    update, finish = progress_bar("Preparing speech")
    try:
        needed, made = session.prepare(loaded, progress=update)
    finally:
        finish()
    click.echo(
        f"{len(loaded)} routine{'s' * (len(loaded) != 1)} ready: {needed} spoken cues, "
        f"{made} synthesized now, {needed - made} already in the cache."
    )
    if broken:
        raise Failure(
            f"{len(broken)} routine{'s' * (len(broken) != 1)} not prepared: fix the errors above.",
            ExitCode.INVALID_ROUTINE,
        )


@cli.command()
@click.option("--language", help="Only voices for this language, e.g. en or de.")
@click.option("--engine", type=click.Choice(["espeak", "piper"]), help="Only this engine's voices.")
def voices(language: str | None, engine: str | None) -> None:
    """List the speech voices: espeak-ng's languages and the Piper models installed.

    \b
    holdcue voices
    holdcue voices --language en
    holdcue voices --engine piper
    """
    shown = 0
    if engine in (None, "espeak"):
        shown += _espeak_voices(language)
    if engine in (None, "piper"):
        shown += _piper_voices(language, blank_line=shown > 0)
    if not shown:
        raise Failure(
            f'no voice for the language "{language}"; run "holdcue voices" to see them all.',
            ExitCode.SPEECH_UNAVAILABLE,
        )


def _espeak_voices(language: str | None) -> int:
    from holdcue import speech

    found = speech.list_voices(language)
    if not found:
        return 0
    rows = [("id", "languages", "name")] + [(v.id, ", ".join(v.languages), v.name) for v in found]
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    for voice_id, languages, name in rows:
        click.echo(f"{voice_id:<{widths[0]}}  {languages:<{widths[1]}}  {name}")
    if language:
        try:
            click.echo(
                f'A routine with "language: {language}" speaks with {speech.find_voice(language, found).id}.', err=True
            )
        except errors.SpeechError:
            pass  # a prefix of languages ("en-gb-x"), not one itself
    click.echo('Set a routine\'s voice language to an id or a language above, e.g. "language: en-us".', err=True)
    return len(found)


def _piper_voices(language: str | None, blank_line: bool) -> int:
    """The Piper models found by name (piper.py), with where each comes from."""
    from holdcue import piper

    wanted = (language or "").lower().replace("_", "-")
    models = [
        m
        for m in piper.list_models()
        if not wanted or (m.language() or m.name).lower().replace("_", "-").startswith(wanted)
    ]
    if not piper.available():
        click.echo(f"Piper (neural voices) is not installed: {piper.INSTALL_ENGINE} (docs/voices.md).", err=True)
    if not models:
        folder = piper.voices_dir()
        click.echo(
            f"No Piper model{' for ' + language if language else ''}: "
            + piper.INSTALL_MODEL.format(folder=folder)
            + ".",
            err=True,
        )
        return 0
    if blank_line:
        click.echo("")
    rows = [("piper model", "language", "from")] + [(m.name, m.language(), m.origin) for m in models]
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    for name, lang, origin in rows:
        click.echo(f"{name:<{widths[0]}}  {lang:<{widths[1]}}  {origin}")
    click.echo(
        "Speak with one: voice: {engine: piper, model: NAME} in a routine, or --engine piper --model NAME.", err=True
    )
    return len(models)


@cli.command()
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
@click.option("--volume", type=click.FloatRange(0, 1), default=1.0, show_default=True, help="Master volume.")
@speech_options
def export(routines, output, all_, fmt, transcript, volume, engine, model, fallback) -> None:
    """Export routines as audio files, with chapters and tags.

    Into a folder (several routines, --all, or an existing folder as -o), each routine
    becomes <id>.<format>.

    \b
    holdcue export glutes-and-piriformis -o glutes.mp3
    holdcue export neck.yaml -o neck.flac --transcript neck.vtt
    holdcue export --all -o ~/Music/holdcue --format mp3
    """
    from holdcue import export as exporter
    from holdcue import session

    if all_ == bool(routines):
        raise click.UsageError("Name the routines to export, or give --all (not both).")
    output = Path(output).expanduser()
    into_folder = all_ or len(routines) > 1 or output.is_dir()
    if into_folder and transcript:
        raise click.UsageError("--transcript names one file: export one routine at a time to get its transcript.")
    # every routine is loaded and checked before anything is written
    if all_:
        everything = session.load_all()
        if everything.problems:
            raise errors.RoutineError(everything.problems)
        routines = [warned(routine) for routine in everything.routines]
    else:
        routines = [load(ref) for ref in routines]
    routines = voiced(routines, engine, model, fallback)
    targets = [output / f"{routine.id}.{fmt or 'mp3'}" if into_folder else output for routine in routines]
    clashes = sorted({target.name for target in targets if targets.count(target) > 1})
    if clashes:
        raise click.UsageError(
            f"two routines would both be written to {', '.join(clashes)}: export them one at a time."
        )
    if into_folder:
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise errors.OutputError(f"cannot create the folder {output}: {error.strerror or error}") from error
    for routine, target in zip(routines, targets, strict=True):
        ready = build_session(routine)
        update, finish = progress_bar(f"Exporting {target.name}")
        try:
            written = exporter.export(ready, target, format=fmt, volume=volume, transcript=transcript, progress=update)
        finally:
            finish()
        click.echo(
            f"{written}  {clock(ready.timeline.duration, millis=True)}"
            + (f"  (transcript: {transcript})" if transcript else "")
        )


def _volume(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """--volume: a number from 0 to 2 (nan passes click's range check: refuse it here)."""
    import math

    if not math.isfinite(value) or not 0 <= value <= 2:
        raise click.BadParameter(f"{value} is not a volume: give a number from 0 (silent) to 2 (twice as loud).")
    return value


@cli.command()
@click.argument("routine")
@click.option("--start-at", help="Start at this step: its number (1 is the first) or words of its title.")
@click.option(
    "--volume", type=float, default=1.0, show_default=True, callback=_volume, help="Master volume, 0 to 2 (2: +6 dB)."
)
@speech_options
def play(
    routine: str, start_at: str | None, volume: float, engine: str | None, model: str | None, fallback: bool
) -> None:
    """Play a routine live, hands-free.

    Keys (optional; a presenter remote or foot pedal that sends keys works too):
    space pause/resume, n or right arrow next step, p or left arrow restart the step
    (in its first seconds: the step before), + and - volume, q or Esc end.

    SIGTERM and SIGHUP stop it like Ctrl-C (exit codes 143 and 129; Ctrl-C: 130).

    \b
    holdcue play shoulders-and-chest
    holdcue play my-routine.yaml --start-at 3
    """
    from holdcue import play as playback

    loaded = voiced([load(routine)], engine, model, fallback)[0]
    session = build_session(loaded, playback.own_words(loaded))
    if start_at is not None:
        try:
            playback.start_position(session.timeline, start_at)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--start-at") from error
    play_recorded(session, start_at=start_at, volume=volume)


def format_table(timeline) -> str:
    """The timeline as a table a person reads: time, step, side, cue."""
    rows = [("time", "step", "side", "cue")]
    for event in timeline.events:
        segment = timeline.segments[event.segment] if event.segment >= 0 else None
        cue = event.text if event.kind == "speech" else f"[{event.name} tone]"
        rows.append(
            (clock(timeline.seconds(event.start), millis=True), event.step, segment.side if segment else "", cue)
        )
    step_width = min(36, max(len(r[1]) for r in rows))
    lines = [f"{t:>8}  {s[:step_width]:<{step_width}}  {side:<5}  {cue}" for t, s, side, cue in rows]
    lines.append(f"total {clock(timeline.duration, millis=True)}")
    return "\n".join(lines)


def main() -> None:
    cli(prog_name="holdcue")


# -- the journal: every session played, history and resume -----------------------------------


def play_recorded(session, *, start_at: str | None, volume: float, resumed_from: int | None = None) -> None:
    """Play a session, with keys when stdin is a terminal, and record it in the journal. A
    journal that cannot be written is reported once, in one line on stderr, and the session
    plays on."""
    from holdcue import controls, display, journal, speech
    from holdcue import play as playback

    def speak(text: str):  # words the session has no clip for: the time left, said on resume
        # by espeak-ng, instantly: Piper is for speech prepared ahead, never made mid-session
        return speech.synthesize_all([text], speech.live_voice(session.routine.voice), workers=1)[text]

    keys = controls.terminal_keys(sys.stdin)
    clock = playback.SystemClock()  # shared, so that the seconds recorded as played are the player's
    shown = display.for_stream(sys.stdout, controls=keys is not None)
    recorder = journal.Recorder.start(shown, session, clock=clock.now, resumed_from=resumed_from)
    early = recorder.error
    if early is not None:
        click.echo(f"Not recorded in the journal: {early}", err=True)
    try:
        playback.play(session, keys=keys, clock=clock, display=recorder, start_at=start_at, volume=volume, speak=speak)
    except errors.AudioDeviceError as error:
        routine = session.routine
        ref = routine.id if routine.source.startswith("builtin:") or not routine.source else routine.source
        hint = f"To listen anyway, export the session to a file and play that: holdcue export {ref} -o {routine.id}.mp3"
        raise errors.AudioDeviceError(f"{error}\n{hint}") from error
    finally:
        if recorder.error is not None and recorder.error is not early:
            click.echo(f"Not recorded in the journal: {recorder.error}", err=True)


def read_journal(read):
    """What ``read(journal)`` gives of the journal opened for reading; a journal that cannot
    be read exits JOURNAL_UNAVAILABLE."""
    from holdcue import journal

    try:
        with journal.Journal.read() as kept:
            return read(kept)
    except journal.JournalError as error:
        raise Failure(str(error), ExitCode.JOURNAL_UNAVAILABLE) from error


@cli.command()
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many recent sessions.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for programs.")
def history(limit: int, as_json: bool) -> None:
    """Show the sessions played: the most recent ones, and this week's minutes and sessions per day.

    Weeks start on Monday; times are local.

    \b
    holdcue history
    holdcue history --limit 50
    holdcue history --json
    """
    records, week = read_journal(lambda kept: (kept.recent(limit), kept.week()))
    if as_json:
        click.echo(json.dumps(history_json(records, week), indent=2, ensure_ascii=False))
        return
    if records:
        rows = [("started", "routine", "ended", "step", "played")]
        for record in records:
            step = f"{record.step}/{record.steps}"
            played = f"{clock_minutes(record.played)} of {clock_minutes(record.planned)}"
            rows.append((local_time(record.started), record.routine_id, record.outcome, step, played))
        widths = [max(len(row[column]) for row in rows) for column in range(4)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
            click.echo("  ".join([*cells, row[4]]))
    else:
        click.echo("No sessions recorded yet: every session played is recorded from now on.")
    click.echo()
    sessions = f"{week.sessions} session{'s' * (week.sessions != 1)}"
    click.echo(f"This week (from {week.start:%a %Y-%m-%d}): {week.played / 60:.0f} minutes in {sessions}")
    for day in week.days:
        count = f"{day.sessions} session{'s' * (day.sessions != 1)}" if day.sessions else "-"
        click.echo(f"  {day.date:%a %Y-%m-%d}  {count:<11}  {day.played / 60:.0f} min".rstrip())


def history_json(records, week) -> dict:
    """An object, so that later parts (the weekly plan and whether it was followed) are new keys."""
    return {
        "sessions": [record_json(record) for record in records],
        "week": {
            "start": week.start.isoformat(),
            "sessions": week.sessions,
            "minutes": round(week.played / 60, 1),
            "days": [
                {
                    "date": day.date.isoformat(),
                    "weekday": f"{day.date:%A}",
                    "sessions": day.sessions,
                    "minutes": round(day.played / 60, 1),
                }
                for day in week.days
            ],
        },
    }


def record_json(record) -> dict:
    return {
        "id": record.id,
        "routine": record.routine_id,
        "title": record.title,
        "source": record.source,
        "started": iso_time(record.started),
        "ended": iso_time(record.ended) if record.ended is not None else None,
        "outcome": record.outcome,
        "step": record.step,
        "steps": record.steps,
        "planned": round(record.planned, 1),
        "played": round(record.played, 1),
        "resumed_from": record.resumed_from,
    }


@cli.command()
@click.option("--volume", type=click.FloatRange(0, 1), default=1.0, show_default=True, help="Master volume.")
def resume(volume: float) -> None:
    """Go on with the last stopped or interrupted session, from the start of its step.

    A session whose routine was played again since is not resumed. Exits 3 when there is
    nothing to resume.

    \b
    holdcue resume
    holdcue resume --volume 0.6
    """
    from holdcue import play as playback

    record = read_journal(lambda kept: kept.to_resume())
    if record is None:
        raise Failure(
            "nothing to resume: no session was stopped or interrupted since its routine was last played. "
            'See "holdcue history".',
            ExitCode.INVALID_ROUTINE,
        )
    loaded = load(record.ref)
    session = build_session(loaded, playback.own_words(loaded))
    start_at = str(record.step) if record.step else None
    if start_at is not None:
        try:
            playback.start_position(session.timeline, start_at)
        except ValueError as error:
            raise Failure(
                f"cannot resume {record.routine_id} at step {record.step}, the routine has changed ({error}); "
                f"play it with: holdcue play {record.ref} --start-at STEP",
                ExitCode.INVALID_ROUTINE,
            ) from error
    where = f"step {record.step} of {record.steps}" if record.step else "its start"
    click.echo(f"Resuming {record.title} at {where} ({record.outcome} {local_time(record.updated)}).")
    play_recorded(session, start_at=start_at, volume=volume, resumed_from=record.id)


def local_time(seconds: float) -> str:
    """Epoch seconds as local time: "Mon 2026-11-16 07:30"."""
    import datetime as dt

    return f"{dt.datetime.fromtimestamp(seconds):%a %Y-%m-%d %H:%M}"


def iso_time(seconds: float) -> str:
    """Epoch seconds as local time with its UTC offset: "2026-11-16T07:30:00+01:00"."""
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


def clock_minutes(seconds: float) -> str:
    """12:05 (minutes and seconds, rounded), 1:02:03 from an hour."""
    return clock(round(seconds))


# holdcue today and holdcue plan: the weekly plan (plan.py, docs/plan.md).


def _planned(routine_id: str) -> tuple[str, float]:
    """The title and estimated length in seconds of a planned routine (its warnings are
    shown when it is played, not here)."""
    from holdcue import compiler, library

    routine = library.load_routine(routine_id)
    return routine.title, compiler.estimate_seconds(routine)


@cli.command("today")
@click.option("--anyway", is_flag=True, help="On a rest day, play the next session now.")
@click.option("--show", "--dry-run", "show_only", is_flag=True, help="Only say what would play; no sound.")
@click.option(
    "--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]), help="Act as if today were this date (YYYY-MM-DD)."
)
@click.option("--volume", type=click.FloatRange(0, 1), default=1.0, show_default=True, help="Master volume.")
@click.pass_context
def today_command(ctx: click.Context, anyway: bool, show_only: bool, on, volume: float) -> None:
    """Play today's session of the weekly plan; on a rest day, name the next one.

    The plan is plan.yaml in your config folder if you have one, else the built-in week
    (see `holdcue plan` and docs/plan.md).

    \b
    holdcue today
    holdcue today --anyway
    holdcue today --show --date 2025-06-04
    """
    import datetime

    from holdcue import plan as weekly

    choice = weekly.play_today(weekly.current(), on.date() if on else datetime.date.today(), anyway=anyway)
    day = choice.day
    if day.rest:
        title, seconds = _planned(day.next.routine) if day.next else ("", 0.0)
        click.echo(weekly.rest_message(day, title, seconds))
    if choice.routine is None:
        return
    if choice.early:
        click.echo(f"{'Would play' if show_only else 'Playing'} it now ({choice.routine}).")
    else:
        title, seconds = _planned(choice.routine)
        click.echo(f"Today: {title} ({choice.routine}), {weekly.about(seconds)}.")
    if not show_only:
        ctx.invoke(play, routine=choice.routine, start_at=None, volume=volume)


@cli.command("plan")
def plan_command() -> None:
    """Show the weekly plan: each day's routine and how long it takes.

    Your own plan.yaml in the config folder replaces the built-in one (docs/plan.md).

    \b
    holdcue plan
    """
    from holdcue import plan as weekly

    week = weekly.current()
    where = weekly.user_plan_path()
    click.echo(f"Your plan, {week.source}:" if not week.builtin else f"The built-in plan (yours would be {where}):")
    for name, routine_id in zip(weekly.WEEKDAYS, week.routines, strict=True):
        if routine_id is None:
            click.echo(f"  {name:<9}  rest")
            continue
        try:
            title, seconds = _planned(routine_id)
            about = f"{clock(seconds):>5}  {title}"
        except errors.HoldcueError:
            about = f"(has errors: run holdcue show {routine_id} to see them)"
        click.echo(f"  {name:<9}  {routine_id:<32}  {about}")


# holdcue service: start `holdcue serve` at boot as a systemd user service (systemd.py).
# Its own errors are turned into messages and exit codes here, so the block stands alone.


@cli.group()
def service() -> None:
    """Start holdcue at boot: a systemd user service that runs `holdcue serve`.

    \b
    holdcue service install      write the unit, enable and start it
    holdcue service status       installed? enabled? running? lingering?
    holdcue service uninstall    stop, disable and remove it
    """


def _service_failure(error: errors.HoldcueError) -> Failure:
    if isinstance(error, errors.UnitConflict):
        return Failure(str(error), ExitCode.OUTPUT_FAILED)
    return Failure(str(error), ExitCode.SERVICE_UNAVAILABLE)


@service.command("install")
@click.option("--force", is_flag=True, help="Replace a different holdcue.service that is already there.")
def service_install(force: bool) -> None:
    """Install and start the user service that runs `holdcue serve` at every start.

    It runs as you, in your session, where the sound server is. With lingering on, it
    starts at boot without a login and keeps running after you log out.
    """
    from holdcue import systemd

    command = systemd.holdcue_command()
    try:
        done = systemd.install(command, force=force)
    except (errors.ServiceManagerError, errors.UnitConflict) as error:
        raise _service_failure(error) from error
    if done.replaced:
        click.echo(f"Replaced {done.path} (--force): the unit that was there differed.")
    elif done.changed:
        click.echo(f"Wrote {done.path}.")
    else:
        click.echo(f"{done.path} is up to date.")
    click.echo(f"{systemd.UNIT_NAME} is enabled and started: it runs {' '.join(command)} serve.")
    click.echo("Its log: journalctl --user -u holdcue -f")
    _show_lingering(done.lingering, done.user)


def _show_lingering(lingering: bool | None, user: str) -> None:
    from holdcue import systemd

    if lingering:
        click.echo(f"Lingering is on for {user}: holdcue starts at boot, without a login.")
    elif lingering is None:
        click.echo(
            f"Could not tell whether lingering is on for {user} (loginctl show-user {user}). "
            f"To start at boot without a login:\n    sudo loginctl enable-linger {user}",
            err=True,
        )
    else:
        click.echo(systemd.linger_advice(user), err=True)


@service.command("uninstall")
def service_uninstall() -> None:
    """Stop and disable the user service and remove its unit file."""
    from holdcue import systemd

    try:
        removed = systemd.uninstall()
    except errors.ServiceManagerError as error:
        raise _service_failure(error) from error
    if removed:
        click.echo(f"Stopped and disabled {systemd.UNIT_NAME}; removed {systemd.unit_path()}.")
    else:
        click.echo(f"Not installed: there is no {systemd.unit_path()}.")


@service.command("status")
def service_status() -> None:
    """Whether the user service is installed, enabled and running, and lingering is on."""
    from holdcue import systemd

    state = systemd.status(systemd.holdcue_command())
    if not state.installed:
        unit = f"{state.path} (not installed: run holdcue service install)"
    elif not state.current:
        unit = f"{state.path} (differs from what this holdcue writes: holdcue service install --force)"
    else:
        unit = f"{state.path}"
    lingering = {True: "yes", False: "no", None: "unknown"}[state.lingering]
    for label, value in (("unit file", unit), ("enabled", state.enabled), ("active", state.active)):
        click.echo(f"{label + ':':<11}{value}")
    click.echo(f"{'lingering:':<11}{lingering}")
    if state.problem:
        raise Failure(state.problem, ExitCode.SERVICE_UNAVAILABLE)
    if state.summary:
        click.echo(state.summary)
    if state.installed and state.lingering is not True:
        _show_lingering(state.lingering, state.user)


# -- holdcue serve and holdcue pair: the long-running player and its phone remote ---------
# (docs/service.md). Kept together here; the core is service.py and web.py.


def _token_file():
    from holdcue import library, web

    return web.TokenFile(library.user_routine_dir().parent / "token")


def _show_pairing(url: str) -> None:
    """The pairing link and its QR code: half-block characters, light modules drawn in the
    text colour (right for the usual light-on-dark terminal), about 45 columns wide."""
    import io

    import segno

    click.echo(f"Open this link on your phone, or scan the code:\n{url}")
    drawn = io.StringIO()
    segno.make(url, error="m").terminal(out=drawn, compact=True, border=2)
    try:
        click.echo(drawn.getvalue(), nl=False)
    except UnicodeEncodeError:
        click.echo("(this terminal cannot draw the QR code; type the link instead)")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; 0.0.0.0 for phones.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free).")
@click.option("--volume", type=click.FloatRange(0, 2), default=1.0, show_default=True, help="Master volume at start.")
@click.option("--prepare/--no-prepare", default=True, help="Synthesize every routine's speech in the background.")
def serve(host: str, port: int, volume: float, prepare: bool) -> None:
    """Run the player as a service, controlled from a phone's browser or its HTTP API.

    On 127.0.0.1 (the default) only this machine can reach it. With --host 0.0.0.0
    phones on the network can, and every request needs the token: open the link it
    shows (or `holdcue pair` shows) once on each phone. Logs go to stderr.

    \b
    holdcue serve
    holdcue serve --host 0.0.0.0 --port 8765
    """
    import logging
    import signal

    from holdcue import play as playback
    from holdcue import service, session, web

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    log = logging.getLogger("holdcue.serve")
    token = None
    if not web.is_loopback(host):
        token = _token_file()
        token.load()
    controller = service.Controller(
        service.Catalog(),
        sink=playback.SimpleaudioSink(),
        warm=(lambda routine: session.prepare([routine])) if prepare else None,
        volume=volume,
    )
    try:
        server = web.Server(controller, host, port, token=token)
    except OSError as error:
        raise Failure(f"cannot listen on {host} port {port}: {error.strerror or error}.", ExitCode.ERROR) from error

    try:
        controller.start()
        if token is None:
            click.echo(f"holdcue is listening on http://{host}:{server.port}/ (this machine only)")
        elif sys.stdout.isatty():
            _show_pairing(web.pairing_url(host, server.port, token.current()))
        else:  # the journal is no place for the token
            click.echo(
                f"holdcue is listening on {web.pairing_url(host, server.port, None)}; run holdcue pair for the link"
            )
        sys.stdout.flush()
        server.serve_forever(poll_interval=0.5)
    except errors.Terminated as stopped:  # SIGTERM or SIGHUP (HoldcueGroup): a service stopping is no failure
        log.info("stopping (%s)", signal.Signals(stopped.signum).name)
    finally:
        controller.close("interrupted")  # silence first
        server.close()
        log.info("stopped")


@cli.command()
@click.option("--host", help="The address phones use to reach this machine (default: its address on the network).")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="The port serve uses.")
@click.option("--renew", is_flag=True, help="Make a new token: phones paired before must pair again.")
def pair(host: str | None, port: int, renew: bool) -> None:
    """Show the link (and QR code) that pairs a phone with `holdcue serve --host 0.0.0.0`.

    The token it holds is made on first use and kept in the config folder, readable by
    you only. --renew replaces it at once, also for a service that is running.

    \b
    holdcue pair
    holdcue pair --renew
    """
    from holdcue import web

    token_file = _token_file()
    token = token_file.renew() if renew else token_file.load()
    _show_pairing(web.pairing_url(host or "0.0.0.0", port, token))
