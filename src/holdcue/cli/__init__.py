"""The holdcue command. Each command loads what it needs from the core, calls it, and turns
the core's own exceptions into messages and the exit codes of exitcodes.py."""

from __future__ import annotations

import contextlib
import sys

import click

from holdcue import __version__, errors
from holdcue.cli import exporting, routines
from holdcue.cli.common import (
    DEBUG_VARIABLE,
    LEAD_IN,
    Failure,
    HoldcueGroup,
    build_session,
    dump_json,
    echo,
    heard,
    load,
    music_options,
    output_options,
    overrides,
    progress_bar,
    progress_below_lines,
    say_on_the_way_out,
    service_output_options,
    speech_options,
    stdout_gone,
    volume_option,
)
from holdcue.exitcodes import ExitCode
from holdcue.files import occupy_closed_descriptors
from holdcue.text import clock, printable

__all__ = ["cli", "main", "progress_bar", "progress_below_lines"]


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


for command in (*routines.COMMANDS, *exporting.COMMANDS):
    cli.add_command(command)


@cli.command()
@click.argument("routine")
@click.option("--start-at", help="Start at this step: its number (1 is the first) or words of its title.")
@volume_option()
@click.option("--legend", is_flag=True, help="Begin by playing each tone after saying what it means.")
@music_options
@speech_options
@output_options
def play(
    routine: str,
    start_at: str | None,
    volume: float,
    legend: bool,
    music_file: str | None,
    no_music: bool,
    engine: str | None,
    model: str | None,
    fallback: bool,
    lead_in: float,
    keep_alive: bool,
) -> None:
    """Play a routine live, hands-free.

    Keys (optional; a presenter remote or foot pedal that sends keys works too):
    space pause/resume, n or right arrow next step, p or left arrow restart the step
    (in its first seconds: the step before), + and - volume, q or Esc end.

    SIGTERM and SIGHUP stop it like Ctrl-C (exit codes 143 and 129; Ctrl-C: 130).

    \b
    holdcue play shoulders-and-chest
    holdcue play my-routine.yaml --start-at 3
    holdcue play shoulders-and-chest --legend
    """
    import dataclasses

    from holdcue import play as playback

    with playback.output(keep_alive) as sink:  # opened first: the device settles while the session is made ready
        given = overrides(engine, model, fallback, music_file, no_music)
        loaded = heard([load(routine)], given)[0]
        if legend:
            loaded = dataclasses.replace(loaded, cues=dataclasses.replace(loaded.cues, legend=True))
        session = build_session(loaded, playback.own_words(loaded))
        if start_at is not None:
            try:
                playback.start_position(session.timeline, start_at)
            except ValueError as error:
                raise click.BadParameter(printable(str(error)), param_hint="--start-at") from error
        play_recorded(session, sink, start_at=start_at, volume=volume, lead_in=lead_in)


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


# -- the journal: every session played, history and resume -----------------------------------


def play_recorded(
    session,
    sink,
    *,
    start_at: str | None,
    volume: float,
    resumed_from: int | None = None,
    lead_in: float = LEAD_IN,
) -> None:
    """Play a session on ``sink`` (play.output's) through the terminal front end, with keys
    when stdin is a terminal, recorded in the journal. A journal that cannot be written is
    reported in one line on stderr, and the session plays on."""
    from holdcue import controls, journal, speech, terminal
    from holdcue.core import JournalWriter

    recorder = JournalWriter(
        journal.default_path(),
        threaded=False,  # each step's row committed before the step is shown
        report=lambda error: echo(f"Not recorded in the journal: {error}", err=True),
    )
    try:
        terminal.play(
            session,
            sink=sink,
            keys=controls.terminal_keys(sys.stdin),
            start_at=start_at,
            volume=volume,
            speak=speech.live_speaker(session.routine.voice),
            lead_in=lead_in,
            recorder=recorder,
            resumed_from=resumed_from,
        )
    except errors.AudioDeviceError as error:
        routine = session.routine
        ref = routine.id if routine.source.startswith("builtin:") or not routine.source else routine.source
        hint = f"To listen anyway, export the session to a file and play that: holdcue export {ref} -o {routine.id}.mp3"
        raise errors.AudioDeviceError(f"{error}\n{hint}") from error


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
    import datetime as dt

    from holdcue import journal

    routines, plan_error = _plan_routines()
    today = dt.date.today()

    def read(kept):
        followed = journal.plan_followed(kept, routines, today) if routines is not None else None
        return kept.recent(limit), kept.week(), followed

    records, week, followed = read_journal(read)
    if as_json:
        dump_json(journal.history_json(records, week, followed, plan_error))
        return
    if records:
        rows = [("started", "routine", "ended", "step", "played")]
        for record in records:
            step = f"{record.step}/{record.steps}"
            played = f"{clock_minutes(record.played)} of {clock_minutes(record.planned)}"
            rows.append((local_time(record.started), printable(record.routine_id), record.outcome, step, played))
        widths = [max(len(row[column]) for row in rows) for column in range(4)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
            echo("  ".join([*cells, row[4]]))
    else:
        echo("No sessions recorded yet: every session played is recorded from now on.")
    echo()
    sessions = f"{week.sessions} session{'s' * (week.sessions != 1)}"
    echo(f"This week (from {week.start:%a %Y-%m-%d}): {week.played / 60:.0f} minutes in {sessions}")
    for day in week.days:
        count = f"{day.sessions} session{'s' * (day.sessions != 1)}" if day.sessions else "-"
        echo(f"  {day.date:%a %Y-%m-%d}  {count:<11}  {day.played / 60:.0f} min".rstrip())
    echo()
    _show_plan_followed(followed, plan_error)


def _plan_routines() -> tuple[tuple[str | None, ...] | None, str]:
    """The current weekly plan's routine for each weekday, or None and why it cannot be read."""
    from holdcue import plan as weekly

    try:
        return weekly.current().routines, ""
    except errors.PlanError as error:
        return None, f"the weekly plan has errors: {error}"


def _show_plan_followed(followed, plan_error: str) -> None:
    from holdcue import journal

    if followed is None:
        echo(f"Plan followed: unknown, {plan_error.splitlines()[0]} (run holdcue plan)")
        return
    share = f"{journal.FOLLOWED_FRACTION:.0%}"
    echo(f"Plan followed: {sum(d.followed for d in followed)} of {len(followed)} planned days so far")
    echo(f"  (a day counts when a session of its routine finished, or played {share} of it)")
    for day in followed:
        mark = "done" if day.followed else "not done"
        echo(f"  {day.date:%a %Y-%m-%d}  {printable(day.routine):<32}  {mark}")


@cli.command()
@volume_option()
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
    with playback.output() as sink:  # opened first: the device settles while the session is made ready
        resume_session(record, sink, volume)


def resume_session(record, sink, volume: float) -> None:
    """Play the journal's ``record`` again from the start of its step."""
    from holdcue import play as playback

    loaded = heard([load(record.ref)])[0]
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
    echo(f"Resuming {printable(record.title)} at {where} ({record.outcome} {local_time(record.updated)}).")
    play_recorded(session, sink, start_at=start_at, volume=volume, resumed_from=record.id)


def local_time(seconds: float) -> str:
    """Epoch seconds as local time: "Mon 2026-11-16 07:30"."""
    import datetime as dt

    return f"{dt.datetime.fromtimestamp(seconds):%a %Y-%m-%d %H:%M}"


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
@volume_option()
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
        echo(weekly.rest_message(day, printable(title), seconds))
    if choice.routine is None:
        return
    if choice.early:
        echo(f"{'Would play' if show_only else 'Playing'} it now ({printable(choice.routine)}).")
    else:
        title, seconds = _planned(choice.routine)
        echo(f"Today: {printable(title)} ({printable(choice.routine)}), {weekly.about(seconds)}.")
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
    yours = f"Your plan, {printable(week.source)}:"
    echo(yours if not week.builtin else f"The built-in plan (yours would be {printable(str(where))}):")
    for name, routine_id in zip(weekly.WEEKDAYS, week.routines, strict=True):
        if routine_id is None:
            echo(f"  {name:<9}  rest")
            continue
        try:
            title, seconds = _planned(routine_id)
            about = f"{clock(seconds):>5}  {printable(title)}"
        except errors.HoldcueError:
            about = f"(has errors: run holdcue show {printable(routine_id)} to see them)"
        echo(f"  {name:<9}  {printable(routine_id):<32}  {about}")


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
@click.option("--host", help="Give serve this address: 0.0.0.0 for phones on the network (then a token is needed).")
@click.option("--port", type=click.IntRange(1, 65535), help="Give serve this port (default 8765).")
@service_output_options
def service_install(force: bool, host: str | None, port: int | None, lead_in: float | None, keep_alive: bool) -> None:
    """Install and start the user service that runs `holdcue serve` at every start.

    It runs as you, in your session, where the sound server is. With lingering on, it
    starts at boot without a login and keeps running after you log out. The options
    after --force go to serve.

    
    holdcue service install --host 0.0.0.0 --keep-alive
    """
    from holdcue import systemd

    command = systemd.holdcue_command()
    options = [*(["--host", host] if host else []), *(["--port", str(port)] if port else [])]
    options += [*(["--lead-in", f"{lead_in:g}"] if lead_in is not None else [])]
    options += ["--keep-alive"] if keep_alive else []
    try:
        done = systemd.install(command, serve=options, force=force)
    except (errors.ServiceManagerError, errors.UnitConflict) as error:
        raise _service_failure(error) from error
    if done.replaced:
        echo(f"Replaced {done.path} (--force): the unit that was there differed.")
    elif done.changed:
        echo(f"Wrote {done.path}.")
    else:
        echo(f"{done.path} is up to date.")
    echo(f"{systemd.UNIT_NAME} is enabled and started: it runs {' '.join([*command, 'serve', *options])}.")
    echo("Its log: journalctl --user -u holdcue -f")
    _show_lingering(done.lingering, done.user)


def _show_lingering(lingering: bool | None, user: str) -> None:
    from holdcue import systemd

    if lingering:
        echo(f"Lingering is on for {user}: holdcue starts at boot, without a login.")
    elif lingering is None:
        echo(
            f"Could not tell whether lingering is on for {user} (loginctl show-user {user}). "
            f"To start at boot without a login:\n    sudo loginctl enable-linger {user}",
            err=True,
        )
    else:
        echo(systemd.linger_advice(user), err=True)


@service.command("uninstall")
def service_uninstall() -> None:
    """Stop and disable the user service and remove its unit file."""
    from holdcue import systemd

    try:
        removed = systemd.uninstall()
    except errors.ServiceManagerError as error:
        raise _service_failure(error) from error
    if removed:
        echo(f"Stopped and disabled {systemd.UNIT_NAME}; removed {systemd.unit_path()}.")
    else:
        echo(f"Not installed: there is no {systemd.unit_path()}.")


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
        echo(f"{label + ':':<11}{value}")
    echo(f"{'lingering:':<11}{lingering}")
    if state.problem:
        raise Failure(state.problem, ExitCode.SERVICE_UNAVAILABLE)
    if state.summary:
        echo(state.summary)
    if state.installed and state.lingering is not True:
        _show_lingering(state.lingering, state.user)


# -- holdcue serve and holdcue pair: the long-running player and its phone remote ---------
# (docs/service.md). Kept together here; the core is core/, its front ends web.py and button.py.


def _token_file():
    from holdcue import library, web

    return web.TokenFile(library.user_routine_dir().parent / "token")


def _show_pairing(url: str) -> None:
    """The pairing link and its QR code: half-block characters, light modules drawn in the
    text colour (right for the usual light-on-dark terminal), about 45 columns wide."""
    import io

    import segno

    echo(f"Open this link on your phone, or scan the code:\n{url}")
    drawn = io.StringIO()
    segno.make(url, error="m").terminal(out=drawn, compact=True, border=2)
    try:
        click.echo(drawn.getvalue(), nl=False)  # holdcue's own link: no text from files
    except UnicodeEncodeError:
        echo("(this terminal cannot draw the QR code; type the link instead)")


SINKS = ("simpleaudio", "stream")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; 0.0.0.0 for phones.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free).")
@volume_option("Master volume at start, 0 to 2 (2: +6 dB).")
@click.option("--prepare/--no-prepare", default=True, help="Synthesize every routine's speech in the background.")
@service_output_options
@click.option(
    "--sink",
    "sink_name",
    type=click.Choice(SINKS),
    default="stream",
    show_default=True,
    help="Sound output: stream (the device kept open, memory flat) or simpleaudio (a buffer a take).",
)
def serve(
    host: str, port: int, volume: float, prepare: bool, lead_in: float | None, keep_alive: bool, sink_name: str
) -> None:
    """Run the player as a service, controlled from a phone's browser or its HTTP API.

    On 127.0.0.1 (the default) only this machine can reach it. With --host 0.0.0.0
    phones on the network can, and every request needs the token: open the link it
    shows (or `holdcue pair` shows) once on each phone. Logs go to stderr.

    Every session is recorded in the journal (holdcue history); "today" is the weekly
    plan's session (holdcue plan); a button on GPIO plays it (config.yaml, docs/service.md).

    \b
    holdcue serve
    holdcue serve --host 0.0.0.0 --port 8765
    """
    import logging
    import signal

    from holdcue import core, journal, session, web
    from holdcue import plan as weekly

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    log = logging.getLogger("holdcue.serve")
    token = None
    if not web.is_loopback(host):
        token = _token_file()
        token.load()
    configured = _service_settings(log)
    controller = core.Core(
        core.Catalog(),
        settings=configured,
        sink=_sink(sink_name, keep_alive),
        warm=(lambda routine: session.prepare([routine])) if prepare else None,
        volume=volume,
        lead_in=lead_in if lead_in is not None else (0.0 if sink_name == "stream" else LEAD_IN),
        journal_path=journal.default_path(),
        plan=weekly.current,
    )
    try:
        server = web.Server(controller, host, port, token=token)
    except OSError as error:
        controller.close()
        raise Failure(f"cannot listen on {host} port {port}: {error.strerror or error}.", ExitCode.ERROR) from error

    button = None
    try:
        controller.start()
        button = _start_button(controller, configured, log)
        if token is None:
            echo(f"holdcue is listening on http://{host}:{server.port}/ (this machine only)")
        elif sys.stdout.isatty():
            _show_pairing(web.pairing_url(host, server.port, token.current()))
        else:  # the journal is no place for the token
            echo(f"holdcue is listening on {web.pairing_url(host, server.port, None)}; run holdcue pair for the link")
        sys.stdout.flush()
        server.serve_forever(poll_interval=0.5)
    except errors.Terminated as stopped:  # SIGTERM or SIGHUP (HoldcueGroup): a service stopping is no failure
        log.info("stopping (%s)", signal.Signals(stopped.signum).name)
    finally:
        if button is not None:
            button.close()
        controller.close("interrupted")  # silence first; the journal records the session as interrupted
        server.close()
        log.info("stopped")


def _sink(name: str, keep_alive: bool):
    """The sound output ``serve --sink`` names: the stream (the device kept open, takes
    pulled block by block: docs/playback.md), or simpleaudio (one buffer a take)."""
    from holdcue import play as playback

    if name == "stream":
        return playback.StreamSink(keep_alive=keep_alive)
    if keep_alive:
        raise click.UsageError("--keep-alive plays through the streaming output: add --sink stream.")
    return playback.SimpleaudioSink()


def _service_settings(log):
    """config.yaml for the service, read once; None when it has errors, which are logged: the
    service runs on its defaults, without the button, until it is fixed and restarted
    (exiting would make systemd, Restart=on-failure, start it again and again)."""
    from holdcue import config

    try:
        return config.load_config()
    except errors.ConfigError as error:
        log.error("the config file has errors; running on the defaults, without the button:\n%s", error)
        return None


def _start_button(controller, configured, log):
    """The GPIO button of config.yaml driving the controller, or None (no config, or one with errors)."""
    from holdcue import button

    if configured is None:
        return None
    return button.start_button(configured, button.Remote(controller), log.info)


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
