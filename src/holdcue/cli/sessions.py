"""The commands of the sessions a person hears, the sound device's side of holdcue: holdcue
play, and the journal of the sessions played (history, resume) and the weekly plan of
those to come (today, plan)."""

from __future__ import annotations

import sys

import click

from holdcue import errors
from holdcue.cli.common import (
    LEAD_IN,
    Failure,
    build_session,
    dump_json,
    echo,
    heard,
    legend_option,
    load,
    music_options,
    output_options,
    overrides,
    settings,
    speech_options,
    volume_option,
    warned,
)
from holdcue.exitcodes import ExitCode
from holdcue.text import clock, length, printable


@click.command()
@click.argument("routine")
@click.option("--start-at", help="Start at this step: its number (1 is the first) or words of its title.")
@volume_option()
@legend_option
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
    from holdcue import play as playback

    with playback.output(keep_alive) as sink:  # opened first: the device settles while the session is made ready
        given = overrides(engine, model, fallback, music_file, no_music, legend)
        play_loaded(load(routine), sink, given, start_at=start_at, volume=volume, lead_in=lead_in)


def play_routine(routine, volume: float = 1.0) -> None:
    """Play a routine that is in no library (holdcue compose --play) as holdcue play plays one."""
    from holdcue import play as playback

    with playback.output() as sink:
        play_loaded(warned(routine), sink, None, start_at=None, volume=volume, lead_in=LEAD_IN)


def play_loaded(routine, sink, given, *, start_at: str | None, volume: float, lead_in: float) -> None:
    """Make the loaded routine ready as it will be heard (``given``: the command line's
    overrides) and play it on ``sink``, from ``start_at``."""
    from holdcue import play as playback

    loaded = heard([routine], given)[0]
    session = build_session(loaded, playback.own_words(loaded))
    if start_at is not None:
        try:
            playback.start_position(session.timeline, start_at)
        except ValueError as error:
            raise click.BadParameter(printable(str(error)), param_hint="--start-at") from error
    play_recorded(session, sink, start_at=start_at, volume=volume, lead_in=lead_in)


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
        if routine.source:
            ref = routine.id if routine.source.startswith("builtin:") else routine.source
            export = f"holdcue export {ref} -o {routine.id}.mp3"
            hint = f"To listen anyway, export the session to a file and play that: {export}"
        else:  # composed, in no file yet
            hint = "To listen anyway, write the session to a file with -o FILE, export that and play the export."
        raise errors.AudioDeviceError(f"{error}\n{hint}") from error


# -- the journal: every session played, history and resume -----------------------------------


def read_journal(read):
    """What ``read(journal)`` gives of the journal opened for reading; a journal that cannot
    be read exits JOURNAL_UNAVAILABLE."""
    from holdcue import journal

    try:
        with journal.Journal.read() as kept:
            return read(kept)
    except journal.JournalError as error:
        raise Failure(str(error), ExitCode.JOURNAL_UNAVAILABLE) from error


@click.command()
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
        for row, record in zip(rows, [None, *records], strict=True):
            cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
            echo("  ".join([*cells, row[4]]))
            if record is not None and record.holds:
                echo(f"  held until pressed: {held_text(record.holds)}")
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


@click.command()
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


def held_text(holds) -> str:
    """ "step 3 left 0:48 of 1:00, right 1:00 (full time)": how long each hold that lasts
    until a press was held, of the most it could last."""
    parts = []
    step = None
    for hold in holds:
        where = [f"step {hold.step}"] if hold.step != step else []
        step = hold.step
        where += [hold.side] if hold.side else []
        where += [f"round {hold.round}"] if hold.round else []
        how = f"{clock(hold.held)} of {clock(hold.longest)}" if hold.pressed else f"{clock(hold.held)} (full time)"
        parts.append(" ".join([*where, how]))
    return ", ".join(parts)


def local_time(seconds: float) -> str:
    """Epoch seconds as local time: "Mon 2026-11-16 07:30"."""
    import datetime as dt

    return f"{dt.datetime.fromtimestamp(seconds):%a %Y-%m-%d %H:%M}"


def clock_minutes(seconds: float) -> str:
    """12:05 (minutes and seconds, rounded), 1:02:03 from an hour."""
    return clock(round(seconds))


# holdcue today and holdcue plan: the weekly plan (plan.py, docs/plan.md).


def _planned(routine_id: str) -> tuple[str, float, bool]:
    """The title and length of a planned routine, (seconds, exact) as holdcue list and the
    page give it (its warnings are shown when it is played, not here)."""
    from holdcue import library, session

    routine = library.load_routine(routine_id)
    return routine.title, *session.heard_length(routine, settings())


@click.command("today")
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
        title, seconds, _ = _planned(day.next.routine) if day.next else ("", 0.0, False)
        echo(weekly.rest_message(day, printable(title), seconds))
    if choice.routine is None:
        return
    if choice.early:
        echo(f"{'Would play' if show_only else 'Playing'} it now ({printable(choice.routine)}).")
    else:
        title, seconds, _ = _planned(choice.routine)
        echo(f"Today: {printable(title)} ({printable(choice.routine)}), {weekly.about(seconds)}.")
    if not show_only:
        ctx.invoke(play, routine=choice.routine, start_at=None, volume=volume)


@click.command("plan")
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
            title, seconds, exact = _planned(routine_id)
            about = f"{length(seconds, exact):>6}  {printable(title)}"
        except errors.HoldcueError:
            about = f"(has errors: run holdcue show {printable(routine_id)} to see them)"
        echo(f"  {name:<9}  {printable(routine_id):<32}  {about}")


COMMANDS = (play, resume, history, today_command, plan_command)
