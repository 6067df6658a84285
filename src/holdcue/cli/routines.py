"""The commands about routines and what they are heard with: holdcue list, validate, show,
voices and tones."""

from __future__ import annotations

import click

from holdcue import errors
from holdcue.cli.common import (
    Failure,
    build_session,
    dump_json,
    echo,
    heard,
    legend_option,
    load,
    overrides,
    progress_bar,
    settings,
    speech_options,
    until_press_note,
    volume_option,
)
from holdcue.exitcodes import ExitCode
from holdcue.text import clock, length, printable


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for programs.")
def list_(as_json: bool) -> None:
    """List built-in and user routines: id, title, total time, tools.

    \b
    holdcue list
    holdcue list --json
    """
    from holdcue import library

    entries = library.entries()
    if as_json:
        dump_json([_entry_json(entry) for entry in entries])
        return
    rows = [("id", "title", "time", "from", "tools")]
    for entry in entries:
        origin = "built-in" if entry.builtin else "yours"
        routine, rid = entry.routine, printable(entry.id)
        if entry.rename:
            rows.append((rid, "(not found by id)", "", origin, f"rename it to {printable(entry.rename)}"))
        elif routine is None:
            rows.append((rid, "(has errors)", "", origin, f"run: holdcue validate {printable(entry.source)}"))
        else:
            seconds, exact = _length(routine)
            shown = length(seconds, exact)  # ~: estimated, the speech is not prepared
            tools = printable(", ".join(routine.tools))
            rows.append((rid, printable(routine.title), shown, origin, tools))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        echo("  ".join([cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)] + [row[4]]).rstrip())


def _length(routine) -> tuple[float, bool]:
    """(seconds, exact), as the page and the API show it (session.heard_length)."""
    from holdcue import session

    return session.heard_length(routine, settings())


def _entry_json(entry) -> dict:
    routine = entry.routine
    seconds, exact = _length(routine) if routine else (None, False)
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
        "exact": exact,
        "problems": [str(problem) for problem in entry.problems],
    }


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check routine files and report every problem with its line and column.

    \b
    holdcue validate neck.yaml
    holdcue validate ~/.config/holdcue/routines/*.yaml
    """
    from holdcue import library
    from holdcue.speech import espeak

    failed = 0
    for file in files:
        try:
            loaded = library.load_file(file, voice_check=espeak.cannot_speak)
        except errors.RoutineError as error:
            failed += 1
            for problem in error.problems:
                echo(str(problem), err=True)
            continue
        except errors.RoutineNotFound as error:
            failed += 1
            echo(str(error), err=True)
            continue
        for warning in loaded.warnings:
            echo(str(warning), err=True)
        warned = len(loaded.warnings)
        count = f", {warned} warning{'s' * (warned != 1)}" if warned else ""
        waits = until_press_note(loaded)
        waits = f"; {waits} (an export plays them at full time)" if waits else ""
        echo(f"{printable(file)}: ok, {len(loaded.steps)} steps{count}{waits}")
    if failed:
        raise Failure(f"errors in {failed} of {len(files)} file{'s' * (len(files) != 1)}.", ExitCode.INVALID_ROUTINE)


@click.command()
@click.argument("routine")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON (docs/timeline.md).")
@legend_option
@speech_options
def show(routine: str, as_json: bool, legend: bool, engine: str | None, model: str | None, fallback: bool) -> None:
    """Show the timeline of a routine: every cue with its time, step and side.

    Speech not yet in the cache is synthesized first. A part that lasts until you press
    Next is marked where it starts, and shown (and exported) at its full time.

    \b
    holdcue show shoulders-and-chest
    holdcue show my-routine.yaml --json
    holdcue show shoulders-and-chest --legend
    """
    from holdcue import phrases

    ready = build_session(heard([load(routine)], overrides(engine, model, fallback, legend=legend))[0])
    if as_json:
        dump_json(ready.timeline.to_json())
    else:
        echo(format_table(ready.timeline, phrases.for_language(ready.routine.voice.language)))


def format_table(timeline, words) -> str:
    """The timeline as a table a person reads: time, step, side (in the routine's language),
    cue; a part that lasts until a press is marked where it starts."""
    from holdcue.timeline import Segment

    rows = [("time", "step", "side", "cue")]
    marks = [(s.start, -1, s) for s in timeline.segments if s.until]  # before the sounds at its start
    cues = [(e.start, n, e) for n, e in enumerate(timeline.events)]
    for start, _, item in sorted(marks + cues, key=lambda row: row[:2]):
        segment: Segment | None
        if isinstance(item, Segment):
            segment, step = item, item.title
            longest = clock(timeline.seconds(item.end - item.start))
            what = "get into position" if item.phase == "prepare" else "hold"
            cue = f"({what} until you press Next, at most {longest})"
        else:
            segment = timeline.segments[item.segment] if item.segment >= 0 else None
            step = item.step
            cue = item.text if item.kind == "speech" else f"[{item.name} tone]"
        side = words.label_side_short(segment.side) if segment and segment.side else ""
        rows.append((clock(timeline.seconds(start), millis=True), printable(step), side, printable(cue)))
    step_width = min(36, max(len(r[1]) for r in rows))
    lines = [f"{t:>8}  {s[:step_width]:<{step_width}}  {side:<5}  {cue}" for t, s, side, cue in rows]
    total = f"total {clock(timeline.duration, millis=True)}"
    if marks:
        total += " at most (each part that lasts until you press at its full time, as an export plays it)"
    lines.append(total)
    return "\n".join(lines)


@click.command()
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
    from holdcue.speech import espeak

    found = espeak.list_voices(language)
    if not found:
        return 0
    rows = [("id", "languages", "name")]
    rows += [(printable(v.id), printable(", ".join(v.languages)), printable(v.name)) for v in found]
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    for voice_id, languages, name in rows:
        echo(f"{voice_id:<{widths[0]}}  {languages:<{widths[1]}}  {name}")
    if language:
        try:
            echo(
                f'A routine with "language: {language}" speaks with {espeak.find_voice(language, found).id}.', err=True
            )
        except errors.SpeechError:
            pass  # a prefix of languages ("en-gb-x"), not one itself
    echo('Set a routine\'s voice language to an id or a language above, e.g. "language: en-us".', err=True)
    return len(found)


def _piper_voices(language: str | None, blank_line: bool) -> int:
    """The Piper models found by name (speech/piper.py), with where each comes from."""
    from holdcue.speech import piper

    wanted = (language or "").lower().replace("_", "-")
    models = [
        m
        for m in piper.list_models()
        if not wanted or (m.language() or m.name).lower().replace("_", "-").startswith(wanted)
    ]
    if not piper.available():
        echo(f"Piper (neural voices) is not installed: {piper.INSTALL_ENGINE} (docs/voices.md).", err=True)
    if not models:
        folder = piper.voices_dir()
        echo(
            f"No Piper model{' for ' + language if language else ''}: "
            + piper.INSTALL_MODEL.format(folder=folder)
            + ".",
            err=True,
        )
        return 0
    if blank_line:
        echo("")
    rows = [("piper model", "language", "from")] + [
        (printable(m.name), printable(m.language()), printable(m.origin)) for m in models
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    for name, lang, origin in rows:
        echo(f"{name:<{widths[0]}}  {lang:<{widths[1]}}  {origin}")
    echo("Speak with one: voice: {engine: piper, model: NAME} in a routine, or --engine piper --model NAME.", err=True)
    return len(models)


@click.command()
@click.option("--language", default="en", show_default=True, help="Say the meanings in this voice's language, e.g. de.")
@click.option("--list", "list_only", is_flag=True, help="Only print each tone's meaning; no sound.")
@volume_option()
def tones(language: str, list_only: bool, volume: float) -> None:
    """Play each tone right after saying what it means (the tones' legend).

    \b
    holdcue tones
    holdcue tones --list
    holdcue tones --language de --list
    """
    from holdcue import compiler, phrases

    words = phrases.for_language(language)
    if list_only:
        for name in compiler.LEGEND_TONES:
            echo(f"{name:<8} {words.legend(name)}")
        return
    from holdcue import session

    update, finish = progress_bar("Preparing speech for the tones")
    try:
        ready = session.legend(language, progress=update)
    finally:
        finish()
    from holdcue import terminal

    terminal.play(ready, volume=volume)


@click.command()
@click.argument("areas", nargs=-1, required=True, metavar="AREA...")
@click.option("--minutes", type=float, required=True, metavar="N", help="The session's length (within 5 %, or 20 s).")
@click.option("--tool", "tools", multiple=True, metavar="TOOL", help="A tool you have (again for more); none: any.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the routine to this file.")
@click.option("--force", is_flag=True, help="With -o: replace the file if it is there.")
@click.option("--play", "play_now", is_flag=True, help="Play the session at once.")
@volume_option()
def compose(
    areas: tuple[str, ...],
    minutes: float,
    tools: tuple[str, ...],
    output: str | None,
    force: bool,
    play_now: bool,
    volume: float,
) -> None:
    """Compose a session for these areas from the built-in routines' steps, as long as asked.

    The areas are those `holdcue list --json` names (write "upper back" or upper-back).
    Without -o the routine file is printed; the same ask always gives the same routine.
    The rules it follows are in docs/compose.md.

    \b
    holdcue compose neck shoulders --minutes 8
    holdcue compose upper-back glutes calves --minutes 15 --tool "foam roller"
    holdcue compose calves --minutes 6 -o calves.yaml
    holdcue compose neck --minutes 5 --play
    """
    from holdcue import compose as composing

    if force and output is None:
        raise click.UsageError("--force replaces the file of -o FILE; give -o FILE too.")
    made = composing.compose(areas, minutes, tools, measure=_spoken_length())
    if output is None and not play_now:
        echo(made.text, nl=False)
        return
    routine = made.routine
    if output is not None:
        _write_new(output, made.text, force)
        echo(f"Wrote {printable(output)}: {printable(routine.title)}, {clock(made.seconds)}.", err=play_now)
    if play_now:
        from holdcue import library
        from holdcue.cli.sessions import play_routine

        # from the file when there is one, so that holdcue resume finds it again
        play_routine(library.load_file(output) if output is not None else routine, volume=volume)


def _spoken_length():
    """compose's measure: a session's length with its speech as it will be heard (the voice
    of the config file), synthesized into the cache where it is not there yet."""
    from holdcue import choices, session

    def measure(routine) -> float:
        update, finish = progress_bar("Preparing speech to measure the session")
        try:
            return session.spoken_seconds(choices.resolve(routine, settings()).routine, progress=update)
        finally:
            finish()

    return measure


def _write_new(output: str, text: str, force: bool) -> None:
    """Write ``text`` to ``output`` whole or not at all; an existing file only with --force
    (through a symbolic link: the link is kept and the file it names replaced)."""
    import os
    from pathlib import Path

    from holdcue import atomic

    target = Path(os.path.realpath(Path(output).expanduser()))  # a folder: refused by click.Path
    if target.exists() and not force:
        raise Failure(f"{output} is already there; add --force to replace it.", ExitCode.OUTPUT_FAILED)
    try:
        with atomic.replacing(target) as file:
            file.write(text.encode("utf-8"))
    except OSError as error:
        reason = error.strerror or str(error)
        raise Failure(f"cannot write {output}: {reason}; nothing was written.", ExitCode.OUTPUT_FAILED) from error


COMMANDS = (list_, validate, show, voices, tones, compose)
