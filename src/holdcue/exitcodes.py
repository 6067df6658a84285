"""Every exit code the holdcue command uses, in one place (documented in README.md)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # an unexpected failure
    USAGE = 2  # bad options or arguments (click's own code), or a session compose cannot make
    INVALID_ROUTINE = 3  # a routine file has errors, no routine has that name, or nothing to resume
    SPEECH_UNAVAILABLE = 4  # espeak-ng missing, unknown voice, synthesis failed
    AUDIO_UNAVAILABLE = 5  # no audio device, or it is busy
    OUTPUT_FAILED = 6  # an export, the service unit or the output could not be written (nothing partial is left)
    JOURNAL_UNAVAILABLE = 7  # the journal of sessions cannot be read (history, resume)
    SERVICE_UNAVAILABLE = 8  # no user systemd manager (systemctl missing, no user bus) or systemctl failed
    HANGUP = 129  # SIGHUP: the terminal went away (128 + 1)
    INTERRUPTED = 130  # Ctrl-C
    BROKEN_PIPE = 141  # stdout's reader went away (`holdcue list | head -1`), as SIGPIPE gives (128 + 13)
    TERMINATED = 143  # SIGTERM: a service manager or kill stopped it (128 + 15)
