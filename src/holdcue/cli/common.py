"""What every command of holdcue's command line shares: output made safe for the terminal
(echo, dump_json), the translation of the core's errors, Ctrl-C and signals into messages
and exit codes (HoldcueGroup, Failure), progress bars, the options several commands take,
and the steps from a routine's name to a session ready to hear (load, heard, build_session).

Light to import: click and holdcue's small modules only; everything else is imported by
the function that needs it, so that a command starts quickly."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator

import click

from holdcue import errors
from holdcue.exitcodes import ExitCode
from holdcue.text import json_text, printable


def echo(message: object = "", err: bool = False, nl: bool = True) -> None:
    """click.echo with every control character but newlines and tabs made visible: routine
    files, file names and the journal are other people's text, and none of it may make the
    terminal do something (clear the screen, set the clipboard, reorder what is shown).
    Fields that must stay on their line go through printable() themselves."""
    try:
        click.echo(printable(str(message), keep="\n\t"), err=err, nl=nl)
    except BrokenPipeError:
        if err:  # nobody reads stderr any more: nothing to tell anyone
            return
        raise click.exceptions.Exit(stdout_gone()) from None
    except OSError as error:
        if err:
            return
        raise Failure(f"cannot write the output: {error.strerror or error}.", ExitCode.OUTPUT_FAILED) from error


def dump_json(value: object) -> None:
    """JSON on stdout: control characters escaped; all of non-ASCII escaped when stdout
    cannot encode it (a Latin-1 terminal), so that the JSON stays whole and exact."""
    encoding = (getattr(sys.stdout, "encoding", None) or "ascii").lower().replace("-", "").replace("_", "")
    click.echo(json_text(value, ascii_only=encoding not in ("utf8", "utf16", "utf32")))


class Failure(click.ClickException):
    """A message for the user and the exit code that goes with it."""

    def __init__(self, message: str, code: ExitCode):
        super().__init__(printable(message, keep="\n"))
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
            echo(str(problem), err=True)
        count = sum(p.severity == "error" for p in self.problems)
        echo(f"Error: {count} problem{'s' * (count != 1)}; fix them and try again.", err=True)


def _translate(error: errors.HoldcueError) -> click.ClickException:
    if isinstance(error, errors.RoutineError):
        return RoutineProblems(error)
    codes = {
        errors.RoutineNotFound: ExitCode.INVALID_ROUTINE,
        errors.ToneError: ExitCode.INVALID_ROUTINE,
        errors.MusicError: ExitCode.INVALID_ROUTINE,
        errors.SpeechError: ExitCode.SPEECH_UNAVAILABLE,
        errors.AudioDeviceError: ExitCode.AUDIO_UNAVAILABLE,
        errors.OutputError: ExitCode.OUTPUT_FAILED,
        errors.ComposeError: ExitCode.USAGE,
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
            say_on_the_way_out("\nInterrupted.")
            raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None
        except errors.Terminated as stop:
            say_on_the_way_out(f"\nStopped ({signal.Signals(stop.signum).name}).")
            raise click.exceptions.Exit(128 + stop.signum) from None
        except BrokenPipeError:  # stdout's reader went away while something else wrote to it
            raise click.exceptions.Exit(stdout_gone()) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as error:
            debug = ctx.params.get("debug") or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
            if debug:
                import traceback  # only here: most runs never need it

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


def say_on_the_way_out(message: str) -> None:
    try:
        echo(message, err=True)
    except OSError:  # the terminal hung up
        pass


def stdout_gone() -> int:
    """The reader of stdout went away (`holdcue list | head -1`): nothing more is written
    there, quietly (the flush at exit would fail again), and the exit code says so."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return ExitCode.BROKEN_PIPE


def load(ref: str):
    """Load a routine by id or path; warnings go to stderr."""
    from holdcue import library

    return warned(library.load_routine(ref))


def warned(routine):
    """The routine, its warnings shown on stderr."""
    for warning in routine.warnings:
        echo(str(warning), err=True)
    return routine


def until_press_note(routine) -> str:
    """ "2 steps hold until you press, getting into position waits for a press"
    (routine.Step.until, Cues.prep_press), or "" for none."""
    steps = sum(bool(step.until) for step in routine.steps)
    parts = [f"{steps} step{'s' * (steps != 1)} hold{'s' * (steps == 1)} until you press"] if steps else []
    if routine.cues.prep_press:
        parts.append("getting into position waits for a press")
    return ", ".join(parts)


def progress_bar(label: str):
    """A progress callback (done, total) drawn as a bar on a terminal, silent otherwise."""
    if not sys.stderr.isatty():
        return None, _nothing
    state: dict = {}

    def update(done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is None and done >= total:  # all done at the first report (every clip cached): nothing to show
            return
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


def progress_below_lines(label: str):
    """(update(done, total), say(line), finish()): a progress bar on stderr at a terminal, kept
    on the last line below the lines said on stdout as the work goes; elsewhere only the lines."""
    if not sys.stderr.isatty():
        return None, echo, _nothing
    bar = click.progressbar(length=1, label=label, file=sys.stderr)
    state = {"shown": False}

    def update(done: int, total: int) -> None:
        if not state["shown"]:
            state["shown"] = True
            bar.length = total
            bar.__enter__()
        bar.update(done - bar.pos)

    def say(line: str) -> None:
        if state["shown"] and not bar.finished:
            click.echo("\r\x1b[K", file=sys.stderr, nl=False)  # the bar's line, cleared for the line said
        echo(line)
        if state["shown"] and not bar.finished:
            bar._last_line = None  # drawn again now, not at its next step
            bar.render_progress()

    def finish() -> None:
        if state["shown"]:
            bar.__exit__(None, None, None)

    return update, say, finish


def speech_options(command):
    """--engine, --model and --fallback: the voice engine to speak with (docs/voices.md)."""
    command = click.option(
        "--fallback", is_flag=True, help="Speak with espeak-ng when the chosen engine or model is missing."
    )(command)
    command = click.option("--model", help="The Piper model, by name (holdcue voices --engine piper).")(command)
    return click.option(
        "--engine", type=click.Choice(["espeak", "piper"]), help="Speech engine (default: the routine's, the config's)."
    )(command)


def settings():
    """config.yaml, read once per command (its defaults when there is none); ConfigError
    with every problem."""
    meta = click.get_current_context().meta
    if "holdcue.config" not in meta:
        from holdcue import config

        meta["holdcue.config"] = config.load_config()
    return meta["holdcue.config"]


def overrides(engine=None, model=None, fallback=False, music_file=None, no_music=False, legend=False):
    """What the command line says over the routine and config.yaml (choices.Overrides);
    --music's file is checked now."""
    from holdcue import choices

    return choices.Overrides(engine or "", model or "", fallback, given_music(music_file, no_music), no_music, legend)


def heard(routines, given=None) -> list:
    """The routines as they will be heard (choices.resolve): the voice and the music of the
    command line (``given``), the routine and config.yaml; a fallback to espeak-ng is said
    once on stderr."""
    from holdcue import choices

    out, said = [], set()
    for routine in routines:
        resolved = choices.resolve(routine, settings(), given or choices.Overrides())
        if resolved.note and resolved.note not in said:
            said.add(resolved.note)
            echo(f"holdcue: {resolved.note}", err=True)
        out.append(resolved.routine)
    return out


def build_session(routine, also: tuple[str, ...] = ()):
    """The routine (as heard) made ready to hear, with a progress bar while speech is
    synthesized; ``also``: more texts to have clips for (the player's own words)."""
    from holdcue import session

    update, finish = progress_bar(f"Preparing speech for {printable(routine.id)}")
    try:
        return session.build(routine, also=also, progress=update)
    finally:
        finish()


def _volume(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """--volume: a number from 0 to 2 (nan passes click's range check: refuse it here)."""
    import math

    if not math.isfinite(value) or not 0 <= value <= 2:
        raise click.BadParameter(f"{value} is not a volume: give a number from 0 (silent) to 2 (twice as loud).")
    return value


legend_option = click.option("--legend", is_flag=True, help="Begin by playing each tone after saying what it means.")


def volume_option(help: str = "Master volume, 0 to 2 (2: +6 dB; the limiter keeps peaks below clipping)."):
    """--volume, the same for every command that makes sound."""
    return click.option("--volume", type=float, default=1.0, show_default=True, callback=_volume, help=help)


def music_options(command):
    """--music FILE and --no-music, for the commands that make sound from a session."""
    command = click.option("--no-music", is_flag=True, help="No music, whatever the routine or config.yaml says.")(
        command
    )
    return click.option(
        "--music",
        "music_file",
        type=click.Path(dir_okay=False),
        help="Music under the voice (WAV, FLAC, OGG, MP3): instead of the routine's music: or config.yaml's.",
    )(command)


def given_music(music_file: str | None, no_music: bool):
    """The music --music names (checked now); None when it names none."""
    if music_file is not None and no_music:
        raise click.UsageError("Give --music FILE or --no-music, not both.")
    if music_file is None:
        return None
    from holdcue import music  # only now: a session without music starts without it
    from holdcue.files import expand_user
    from holdcue.routine import Music

    try:
        path = expand_user(music_file).resolve()
        music.music_info(path)
    except ValueError as error:
        raise click.BadParameter(f'"{music_file}" {error}', param_hint="--music") from None
    return Music(str(path))


LEAD_IN = 0.15  # play.LEAD_IN: not imported here, to keep the command's start quick


LEAD_IN_HELP = (
    "Seconds the device plays after it opens before the first sound, for a speaker that swallows its first moments."
)


def output_options(command):
    """--lead-in and --keep-alive: for speakers that wake slowly or fall asleep (Bluetooth, USB)."""
    return _output_options(command, LEAD_IN, LEAD_IN_HELP)


def service_output_options(command):
    """serve's --lead-in and --keep-alive. Its streaming output opens the device once, when the
    service starts, and keeps it running: nothing is swallowed at a take's start, so no lead-in
    unless asked for (then after that open; a speaker that sleeps on silence needs --keep-alive)."""
    default = f"[default: 0 with the stream output, kept running; {LEAD_IN:g} with simpleaudio]"
    return _output_options(command, None, f"{LEAD_IN_HELP} {default}")


def _output_options(command, lead_in: float | None, lead_in_help: str):
    command = click.option(
        "--keep-alive",
        is_flag=True,
        help="Play a very quiet 30 Hz tone throughout, so that a sleeping speaker stays awake.",
    )(command)
    return click.option(
        "--lead-in",
        type=click.FloatRange(0, 5),
        default=lead_in,
        show_default=lead_in is not None,
        help=lead_in_help,
    )(command)


def jobs_option(help: str):
    """--jobs N: how many worker processes (N >= 1), for export and prepare."""
    return click.option("--jobs", type=click.IntRange(min=1), metavar="N", help=help)
