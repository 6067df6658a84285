"""Hostile destinations and arguments for export, and exports stopped by signals: refused
before anything is written, or written whole; nothing left behind."""

from __future__ import annotations

import dataclasses
import errno
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from holdcue import atomic, export
from holdcue.errors import OutputError
from holdcue.routine import Routine, Voice
from holdcue.timeline import SAMPLE_RATE, Event, Segment, Session, Timeline

RATE = SAMPLE_RATE
OLD = b"the old export"


def quiet(seconds: float, length: int | None = None) -> Session:
    """A session of ``seconds`` (or ``length`` samples) with one cue, and its clip."""
    length = round(seconds * RATE) if length is None else length
    timeline = Timeline(
        "T", RATE, length, (Event(0, RATE, "speech", text="Hold."),), (Segment("T", "intro", 0, length),)
    )
    clip = (8000 * np.sin(np.arange(RATE) * 0.3)).astype(np.int16)
    return Session(Routine("t", "T", ()), timeline, {"Hold.": clip}, {})


@pytest.fixture
def session():
    return quiet(3)


def listing(folder: Path) -> dict[str, str]:
    """Every name in a folder, hidden ones included, with what it is."""
    kinds = {stat.S_ISREG: "file", stat.S_ISDIR: "folder", stat.S_ISLNK: "link", stat.S_ISFIFO: "pipe"}
    out = {}
    for entry in folder.iterdir():
        mode = entry.lstat().st_mode
        out[entry.name] = next((kind for test, kind in kinds.items() if test(mode)), "special")
    return out


# (a) the transcript is the audio file


def same_name(folder: Path) -> tuple[Path, Path]:
    return folder / "s.wav", folder / "s.wav"


def other_spelling(folder: Path) -> tuple[Path, Path]:
    (folder / "sub").mkdir()
    return folder / "s.wav", folder / "sub" / ".." / "." / "s.wav"


def through_a_link(folder: Path) -> tuple[Path, Path]:
    (folder / "s.vtt").symlink_to("s.wav")
    return folder / "s.wav", folder / "s.vtt"


def through_a_linked_folder(folder: Path) -> tuple[Path, Path]:
    (folder / "alias").symlink_to(".")
    return folder / "s.wav", folder / "alias" / "s.wav"


def a_hard_link(folder: Path) -> tuple[Path, Path]:
    os.link(folder / "s.wav", folder / "s.vtt")
    return folder / "s.wav", folder / "s.vtt"


@pytest.mark.parametrize("spelling", [same_name, other_spelling, through_a_link, through_a_linked_folder, a_hard_link])
def test_a_transcript_that_is_the_audio_file_is_refused_before_writing(session, tmp_path, spelling):
    (tmp_path / "s.wav").write_bytes(OLD)
    audio, transcript = spelling(tmp_path)
    before = listing(tmp_path)
    with pytest.raises(OutputError, match="the transcript .* is the audio file"):
        export.export(session, audio, transcript=transcript)
    assert (tmp_path / "s.wav").read_bytes() == OLD
    assert listing(tmp_path) == before


# (b) what is at the destination


def pipe(path: Path) -> None:
    os.mkfifo(path)


def unix_socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays


def link_to_dev_null(path: Path) -> None:
    path.symlink_to("/dev/null")


def device_node(path: Path) -> None:
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the device /dev/null is
    except PermissionError:
        pytest.skip("making a device node needs root; the link to /dev/null covers a device")


def folder(path: Path) -> None:
    path.mkdir()


SPECIAL = [pipe, unix_socket, link_to_dev_null, device_node, folder]


@pytest.mark.parametrize("which", ["audio", "transcript"])
@pytest.mark.parametrize("make", SPECIAL)
def test_a_special_file_at_the_destination_is_refused_and_kept(session, tmp_path, make, which):
    audio, transcript = tmp_path / "s.wav", tmp_path / "s.vtt"
    make(audio if which == "audio" else transcript)
    before = listing(tmp_path)
    with pytest.raises(OutputError, match="is a folder|not an ordinary file"):
        export.export(session, audio, transcript=transcript)
    assert listing(tmp_path) == before
    if make is link_to_dev_null:
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_write_transcript_refuses_a_pipe(session, tmp_path):
    os.mkfifo(tmp_path / "s.vtt")
    with pytest.raises(OutputError, match="a named pipe, not an ordinary file"):
        export.write_transcript(session.timeline, tmp_path / "s.vtt")
    assert listing(tmp_path) == {"s.vtt": "pipe"}


@pytest.mark.parametrize("target_exists", [True, False], ids=["to a file", "dangling"])
def test_a_link_is_written_through_and_kept(session, tmp_path, target_exists):
    (tmp_path / "music").mkdir()
    real = tmp_path / "music" / "real.wav"
    if target_exists:
        real.write_bytes(OLD)
    (tmp_path / "s.wav").symlink_to(real)
    (tmp_path / "s.vtt").symlink_to("music/real.vtt")
    export.export(session, tmp_path / "s.wav", transcript=tmp_path / "s.vtt")
    assert listing(tmp_path) == {"s.wav": "link", "s.vtt": "link", "music": "folder"}
    assert listing(tmp_path / "music") == {"real.wav": "file", "real.vtt": "file"}
    assert real.read_bytes()[:4] == b"RIFF"
    assert (tmp_path / "music" / "real.vtt").read_text().startswith("WEBVTT")


# (c) volumes


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), -0.5])
@pytest.mark.parametrize("name", ["volume", "speech_volume"])
def test_a_volume_that_is_not_a_finite_level_is_refused(session, tmp_path, name, value):
    (tmp_path / "s.wav").write_bytes(OLD)
    if name == "speech_volume":  # the routine's voice volume
        routine = dataclasses.replace(session.routine, voice=Voice(volume=value))
        session, options = dataclasses.replace(session, routine=routine), {}
    else:
        options = {name: value}
    with pytest.raises(OutputError, match=f"{name.replace('_', ' ')} must be a number from 0"):
        export.export(session, tmp_path / "s.wav", transcript=tmp_path / "s.vtt", **options)
    assert listing(tmp_path) == {"s.wav": "file"} and (tmp_path / "s.wav").read_bytes() == OLD


# (d) the transcript's disk is full


def test_a_full_disk_under_the_transcript_names_the_transcript(session, tmp_path, tiny_disk):
    audio, transcript = tmp_path / "s.wav", tiny_disk / "s.vtt"
    audio.write_bytes(OLD)
    with open(tiny_disk / "filler", "wb", buffering=0) as filler:  # the tiny disk full to the last block
        try:
            while True:
                filler.write(bytes(4096))
        except OSError as error:
            assert error.errno == errno.ENOSPC
    with pytest.raises(OutputError) as raised:
        export.export(session, audio, transcript=transcript)
    assert str(raised.value).startswith(f"cannot write {transcript}: the disk is full")
    assert audio.read_bytes() == OLD and listing(tmp_path) == {"s.wav": "file", "tiny": "folder"}
    assert listing(tiny_disk) == {"filler": "file"}


# (e) nothing left behind: signals, kill -9, no O_TMPFILE, stale files of a killed export

CHILD = textwrap.dedent(
    """
    import signal, sys
    sys.path.insert(0, sys.argv[2])
    from test_export_faults import quiet
    from holdcue import export

    def on_term(signum, frame):  # as the CLI handles SIGTERM and SIGHUP: like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    def progress(done, total):
        print(done, flush=True)

    try:
        export.export(quiet(4 * 3600), sys.argv[1], transcript=sys.argv[1] + ".vtt", progress=progress)
    except KeyboardInterrupt:
        sys.exit(130)
    """
)


@pytest.mark.parametrize("fmt", export.FORMATS)
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP], ids=["kill -9", "TERM", "HUP"])
def test_an_export_stopped_by_a_signal_leaves_the_old_files_and_nothing_else(tmp_path, how, fmt):
    target = tmp_path / f"s.{fmt}"
    target.write_bytes(OLD)
    Path(f"{target}.vtt").write_bytes(OLD)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(target), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(3):  # well into the mix: both files are being written
        assert child.stdout.readline(), child.communicate()[1]
    child.send_signal(how)
    child.communicate(timeout=30)
    assert child.returncode == (-signal.SIGKILL if how == signal.SIGKILL else 130)
    assert listing(tmp_path) == {target.name: "file", f"{target.name}.vtt": "file"}
    assert target.read_bytes() == OLD and Path(f"{target}.vtt").read_bytes() == OLD


@pytest.fixture
def without_tmpfile(monkeypatch):
    """A system or file system without O_TMPFILE: the hidden named file instead."""
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)


class Midway(Exception):
    pass


def stop_midway(done: int, total: int) -> None:
    if done > total // 2:
        raise Midway


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_without_o_tmpfile_a_stopped_export_leaves_nothing(session, tmp_path, fmt, without_tmpfile):
    target = tmp_path / f"s.{fmt}"
    target.write_bytes(OLD)
    seen = []

    def progress(done, total):
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        stop_midway(done, total)

    with pytest.raises(Midway):
        export.export(session, target, progress=progress)
    assert any(len(names) == 2 for names in seen)  # the hidden file was there while writing
    assert listing(tmp_path) == {target.name: "file"} and target.read_bytes() == OLD
    export.export(session, target)
    mask = os.umask(0o022)
    os.umask(mask)
    assert listing(tmp_path) == {target.name: "file"} and stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_the_unnamed_file_is_invisible_while_writing(session, tmp_path):
    target = tmp_path / "s.mp3"
    seen = []
    export.export(session, target, progress=lambda done, total: seen.append(sorted(os.listdir(tmp_path))))
    assert seen and all(names == [] for names in seen)
    assert listing(tmp_path) == {"s.mp3": "file"}


def test_stale_part_files_of_a_killed_export_are_removed(session, tmp_path):
    target = tmp_path / "s.wav"
    hour_ago = time.time() - 3600
    stale = [tmp_path / ".s.wav.ab12cd34.part", tmp_path / ".s.wav.x_y9z8w7.part"]
    kept = {
        ".s.wav.0123abcd.part": "file",  # fresh: another export may be writing it
        ".s.wav.keep.part": "file",  # not a name holdcue makes
        ".other.wav.ab12cd34.part": "file",  # another target's
        ".s.wav.ffff0000.part": "folder",  # not a file
    }
    for path in stale:
        path.write_bytes(b"half an export")
        os.utime(path, (hour_ago, hour_ago))
    for name, kind in kept.items():
        (tmp_path / name).mkdir() if kind == "folder" else (tmp_path / name).write_bytes(b"x")
        if name != ".s.wav.0123abcd.part":
            os.utime(tmp_path / name, (hour_ago, hour_ago))
    export.export(session, target)
    assert listing(tmp_path) == {"s.wav": "file", **kept}
    assert atomic.STALE_AFTER <= 3600


# (f) WAV's 4 GiB


def test_a_session_too_long_for_wav_is_refused_before_writing(tmp_path):
    too_long = quiet(1, length=export.WAV_MAX_SAMPLES + 1)
    with pytest.raises(OutputError, match="too long for a WAV file.*FLAC, OGG or MP3"):
        export.export(too_long, tmp_path / "long.wav")
    assert listing(tmp_path) == {}


def test_the_longest_wav_session_is_written(tmp_path):
    """At the bound the header fits: the export starts (stopped after the first block)."""
    longest = quiet(1, length=export.WAV_MAX_SAMPLES)
    assert 36 + 2 * export.WAV_MAX_SAMPLES <= 0xFFFFFFFF < 36 + 2 * (export.WAV_MAX_SAMPLES + 1)

    def first_block(done, total):
        if done:
            raise Midway

    with pytest.raises(Midway):
        export.export(longest, tmp_path / "long.wav", progress=first_block)
    assert listing(tmp_path) == {}
