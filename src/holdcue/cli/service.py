"""The commands of holdcue as a service, the long-running player a phone or a button
controls: holdcue serve, holdcue pair (the phone's link) and holdcue service (start serve at
boot with systemd)."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

import click

from holdcue import errors
from holdcue.cli.common import LEAD_IN, Failure, echo, service_output_options, volume_option
from holdcue.exitcodes import ExitCode

# holdcue service: start `holdcue serve` at boot as a systemd user service (systemd.py).
# Its own errors are turned into messages and exit codes here, so the block stands alone.


@click.group()
def service() -> None:
    """Start holdcue at boot: a systemd user service that runs `holdcue serve`.

    \b
    holdcue service install      write the unit, enable and start it (and mpris-proxy)
    holdcue service install --bluetooth    also PipeWire for a Bluetooth speaker (Lite)
    holdcue service status       installed? enabled? running? lingering? headset buttons?
    holdcue service check        this machine's release and what plays the sound
    holdcue service uninstall    stop, disable and remove it (and undo the rest)
    """


def _service_failure(error: errors.HoldcueError) -> Failure:
    if isinstance(error, errors.UnitConflict):
        return Failure(str(error), ExitCode.OUTPUT_FAILED)
    return Failure(str(error), ExitCode.SERVICE_UNAVAILABLE)


@service.command("install")
@click.option("--force", is_flag=True, help="Replace a different holdcue.service that is already there.")
@click.option("--host", help="Give serve this address: 0.0.0.0 for phones on the network (then a token is needed).")
@click.option("--port", type=click.IntRange(1, 65535), help="Give serve this port (default 8765).")
@click.option(
    "--bluetooth",
    is_flag=True,
    help="Also install and start PipeWire with its Bluetooth plugin, and turn lingering on (for Lite).",
)
@service_output_options
@click.option(
    "--no-headset-buttons",
    "headset_buttons",
    flag_value=False,
    default=True,
    help="Leave BlueZ's mpris-proxy alone (a desktop whose own media keys handling suffices).",
)
def service_install(
    force: bool,
    host: str | None,
    port: int | None,
    bluetooth: bool,
    lead_in: float | None,
    keep_alive: bool,
    headset_buttons: bool,
) -> None:
    """Install and start the user service that runs `holdcue serve` at every start.

    It runs as you, in your session, where the sound server is. With lingering on, it
    starts at boot without a login and keeps running after you log out. The options
    from --host to --keep-alive go to serve.

    Where bluez is installed, it also has BlueZ's mpris-proxy run in your session, so
    that a Bluetooth headset's buttons reach holdcue (docs/controls.md), and says what it
    did; uninstall undoes it.

    Raspberry Pi OS Lite plays to ALSA: USB speakers and the headphone jack work as they
    are. A Bluetooth speaker needs PipeWire: --bluetooth installs it with apt-get (through
    sudo), starts it and turns lingering on, then says how to pair the speaker.

    \b
    holdcue service install --host 0.0.0.0 --keep-alive
    holdcue service install --bluetooth --keep-alive
    """
    from holdcue import machine, systemd

    echo(machine.detect().describe())
    if bluetooth:
        _set_up_bluetooth()
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
    if headset_buttons:
        _set_up_headset()
    if bluetooth:
        from holdcue import bluetooth as bt

        echo(bt.PAIRING)


def _set_up_headset() -> None:
    """mpris-proxy for a Bluetooth headset's buttons (headset.py), and what was done."""
    from holdcue import headset

    try:
        done = headset.set_up()
    except (errors.ServiceManagerError, errors.OutputError) as error:
        raise Failure(
            f"holdcue.service is installed, but headset buttons are not set up: {error}",
            ExitCode.SERVICE_UNAVAILABLE,
        ) from error
    unit, undo = headset.UNIT_NAME, headset.UNDO
    said = {
        "no-bluez": "Headset buttons: bluez is not installed (no mpris-proxy), so nothing was set up for them. "
        "For a Bluetooth headset: sudo apt install bluez, then holdcue service install again.",
        "enabled": f"Headset buttons: enabled {unit} (bluez's), which passes a Bluetooth headset's buttons to "
        f"holdcue; the note {done.path} says holdcue did. To undo it: holdcue service uninstall "
        f"(or {undo}, and remove the note).",
        "written": f"Headset buttons: wrote {done.path} (bluez ships no unit for mpris-proxy here) and enabled it: "
        f"it passes a Bluetooth headset's buttons to holdcue. To undo it: holdcue service uninstall "
        f"(or {undo}, and remove the file).",
    }
    if done.done != "left":
        echo(said[done.done])
    elif done.state.startswith("masked"):
        echo(
            f"Headset buttons: {unit} is masked, so it was left as it is. Headset buttons need it: "
            f"systemctl --user unmask {unit}, then holdcue service install again."
        )
    else:
        echo(f"Headset buttons: {unit} was enabled already ({done.state}), so it was left as it is.")


def _headset_state() -> str:
    """The status line of mpris-proxy: "mpris-proxy.service enabled, active (set up by holdcue)"."""
    from holdcue import headset

    try:
        proxy = headset.state()
    except errors.ServiceManagerError as error:
        return f"unknown ({error})"
    if proxy.program is None:
        return "no mpris-proxy (bluez is not installed): a Bluetooth headset's buttons cannot reach holdcue"
    by = {"unit": " (holdcue's unit)", "note": " (enabled by holdcue)", "": ""}[proxy.ours]
    return f"{headset.UNIT_NAME} {proxy.enabled}, {proxy.active}{by}"


def _set_up_bluetooth() -> None:
    """PipeWire, its Bluetooth plugin and BlueZ installed where missing, PipeWire's user units
    started, lingering on; each step says what it did."""
    from holdcue import bluetooth as bt
    from holdcue import machine, systemd

    try:
        missing = bt.missing_packages()
        if missing:
            echo(f"Installing {' '.join(missing)} with apt-get (for a Bluetooth speaker):")
            bt.install_packages(missing)
        else:
            echo(f"For a Bluetooth speaker: {', '.join(machine.BLUETOOTH_PACKAGES)} are installed.")
        bt.start_pipewire()
        echo(f"Started {' '.join(machine.PIPEWIRE_UNITS)} (they start with your session from now on).")
        user = systemd.user_name()
        if systemd.Manager().lingering(user) is not True:
            bt.enable_lingering(user)
            echo(f"Turned lingering on for {user}: your session, PipeWire and holdcue run from boot, without a login.")
    except errors.ServiceManagerError as error:
        raise _service_failure(error) from error


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
    from holdcue import headset, systemd

    try:
        removed = systemd.uninstall()
        undone = headset.undo()
    except errors.ServiceManagerError as error:
        raise _service_failure(error) from error
    if removed:
        echo(f"Stopped and disabled {systemd.UNIT_NAME}; removed {systemd.unit_path()}.")
    else:
        echo(f"Not installed: there is no {systemd.unit_path()}.")
    if undone is not None and undone.done == "written":
        echo(f"Stopped and disabled {headset.UNIT_NAME}; removed {undone.path}, which holdcue service install wrote.")
    elif undone is not None:
        echo(
            f"Stopped and disabled {headset.UNIT_NAME} again (holdcue service install had enabled it); "
            f"removed the note {undone.path}."
        )


@service.command("check")
def service_check() -> None:
    """Say which machine this is (release, Raspberry Pi model), what plays the sound (a sound
    server, or ALSA alone as on Raspberry Pi OS Lite) and ALSA's sound cards.

    \b
    holdcue service check
    """
    from holdcue import machine

    echo(machine.detect().describe())


@service.command("status")
def service_status() -> None:
    """Whether the user service is installed, enabled and running, lingering is on, and
    mpris-proxy (a Bluetooth headset's buttons) runs."""
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
    echo(f"{'headset:':<11}{_headset_state()}")
    if state.summary:
        echo(state.summary)
    if state.installed and state.lingering is not True:
        _show_lingering(state.lingering, state.user)


# -- holdcue serve and holdcue pair: the long-running player and its phone remote ---------
# (docs/service.md). Kept together here; the core is core/, its front ends web/ and button.py.


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


@click.command()
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
        proxies = configured.trusted_proxies if configured is not None else ()
        server = web.Server(controller, host, port, token=token, trusted_proxies=proxies)
    except OSError as error:
        controller.close()
        raise Failure(f"cannot listen on {host} port {port}: {error.strerror or error}.", ExitCode.ERROR) from error

    _log_output(sink_name, log)
    button = assistant = remote = None
    try:
        controller.start()
        button = _start_button(controller, configured, log)
        assistant = _start_homeassistant(controller, configured)
        remote = _start_mpris(controller, log)
        if token is None:
            echo(f"holdcue is listening on http://{host}:{server.port}/ (this machine only)")
        elif sys.stdout.isatty():
            _show_pairing(web.pairing_url(host, server.port, token.current()))
        else:  # the journal is no place for the token
            echo(f"holdcue is listening on {web.pairing_url(host, server.port, None)}; run holdcue pair for the link")
        sys.stdout.flush()
        server.serve_forever()
    except errors.Terminated as stopped:  # SIGTERM or SIGHUP (HoldcueGroup): a service stopping is no failure
        log.info("stopping (%s)", signal.Signals(stopped.signum).name)
    finally:
        if button is not None:
            button.close()
        if assistant is not None:
            assistant.close()  # "offline" while the core still runs: no command arrives at a closed core
        if remote is not None:
            remote.close()
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


def _log_output(sink_name: str, log) -> None:
    """Which device the sound goes to, and what this machine plays through (Lite's ALSA, or a
    sound server), once at the start: the first thing to read in the log when nothing is heard."""
    from holdcue import machine, stream

    found = machine.detect()
    server = found.sound_server or ("no sound server, ALSA only" if found.lite else "PipeWire, not running")
    if sink_name != "stream":
        device = "ALSA's default device (simpleaudio)"
    else:
        try:
            device = f"PortAudio's {stream.device_description()} output device"
        except errors.AudioDeviceError as error:
            device = f"no output device yet ({error})"
    cards = "; ".join(found.cards) or "none"
    log.info("sound goes to %s; %s; ALSA sound cards: %s", device, server, cards)


def _service_settings(log):
    """config.yaml for the service, read once; None when it has errors, which are logged: the
    service runs on its defaults, without the button or Home Assistant, until it is fixed and
    restarted (exiting would make systemd, Restart=on-failure, start it again and again)."""
    from holdcue import config

    try:
        return config.load_config()
    except errors.ConfigError as error:
        log.error(
            "the config file has errors; running on the defaults, without the button or Home Assistant:\n%s", error
        )
        return None


def _start_button(controller, configured, log):
    """The GPIO button of config.yaml driving the controller, or None (no config, or one with errors)."""
    from holdcue import button

    if configured is None:
        return None
    return button.start_button(configured, button.Remote(controller), log.info)


def _start_mpris(controller, log):
    """The MPRIS player on the session bus, connecting in the background (docs/controls.md):
    Play with nothing under way plays today's session, as the button does; Quit is refused
    (the service keeps running). Its commands and whether it is on go to the log."""
    from holdcue import mpris

    return mpris.start(controller, note=log.info, log=log.info, play_when_idle=True, can_quit=False)


def _start_homeassistant(controller, configured):
    """Home Assistant over MQTT as config.yaml's mqtt: says, or None (none there, or a config with errors)."""
    from holdcue import homeassistant

    return homeassistant.start_homeassistant(controller, configured)


@click.command()
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
    url = web.pairing_url(host or "0.0.0.0", port, token)
    _show_pairing(url)
    _check_reachable(str(urlsplit(url).hostname), port)


def _check_reachable(host: str, port: int) -> None:
    """Say so when phones cannot open the link: serve listens on loopback only, or not at
    all; and the command that makes it listen on the network."""
    from holdcue import systemd, web

    if web.answers(host, port):
        return
    options = "--host 0.0.0.0" + (f" --port {port}" if port != 8765 else "")
    if systemd.unit_path().exists():
        fix = f"holdcue service install --force {options}"
    else:
        fix = f"holdcue serve {options}"
    if web.answers("127.0.0.1", port):
        why = "holdcue serve listens on 127.0.0.1 only (this machine), so phones cannot open this link"
    else:
        why = f"nothing answers on port {port} yet"
    echo(f"Note: {why}. For phones on the network (every request then needs the token), run:\n    {fix}", err=True)


COMMANDS = (serve, pair, service)
