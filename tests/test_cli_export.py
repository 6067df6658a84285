"""`holdcue export` end to end: routines by id or path, files and folders, --all, errors;
several routines side by side (worker processes, --jobs) against one at a time.

Speech comes from a clip cache filled beforehand with made-up clips, so these run fast
through the real code path; one test synthesizes with real espeak-ng.
"""

import io
import shutil
import sys
import wave
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from mutagen.mp3 import MP3

from holdcue import export, library, session, speech
from holdcue.cli import cli
from holdcue.exitcodes import ExitCode
from holdcue.speech import espeak
from holdcue.text import clock
from holdcue.timeline import SAMPLE_RATE
from speech_support import espeak_test

FIXTURES = Path(__file__).parent / "fixtures" / "routines" / "valid"


def fake_clip(text: str) -> np.ndarray:
    """A made-up clip: a vowel-like buzz about as long as the words would take."""
    n = int(SAMPLE_RATE * (0.3 + 0.06 * len(text)))
    t = np.arange(n) / SAMPLE_RATE
    pitch = 110 + zlib.crc32(text.encode()) % 60
    return (8000 * np.sin(2 * np.pi * pitch * t) * np.sin(np.pi * t * 3) ** 2).astype(np.int16)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Empty cache and config folders; real synthesis is forbidden unless a test allows it."""
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "config"))

    def no_synthesis(self, text, voice):
        raise AssertionError(f"not in the cache: {text!r}")

    monkeypatch.setattr(espeak.Pyttsx3Engine, "synthesize", no_synthesis)
    return tmp_path


def cache_speech(*refs: str) -> None:
    cache = speech.ClipCache()
    for ref in refs:
        routine = library.load_routine(ref)
        for said in session.said_texts(routine).values():  # the cache keeps clips by what is said
            cache.put(espeak.Pyttsx3Engine.name, routine.voice, said, fake_clip(said))


def run(*args: str):
    return CliRunner().invoke(cli, ["export", *args], catch_exceptions=False)


def test_export_one_routine_to_mp3_with_transcript(home):
    cache_speech("shoulders-and-chest")
    out, vtt = home / "shoulders.mp3", home / "shoulders.vtt"
    result = run("shoulders-and-chest", "-o", str(out), "--transcript", str(vtt))
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    routine = library.load_routine("shoulders-and-chest")
    timeline = session.build(routine).timeline
    mp3 = MP3(out)
    assert mp3.info.length == pytest.approx(timeline.duration, abs=0.001)
    assert mp3.tags["TIT2"].text == [routine.title]
    assert mp3.tags.getall("COMM")[0].text == [routine.summary]
    assert len(mp3.tags.getall("CHAP")) == len(export.chapters(timeline))
    cues = vtt.read_text().count(" --> ")
    assert cues == sum(e.kind == "speech" for e in timeline.events)
    assert sorted(p.name for p in home.iterdir()) == ["cache", "shoulders.mp3", "shoulders.vtt"]


def test_holds_until_a_press_are_exported_at_their_full_time_and_the_line_says_so(home):
    path = str(FIXTURES / "until-press.yaml")
    cache_speech(path)
    out = home / "until-press.wav"
    result = run(path, "-o", str(out))
    assert result.exit_code == 0, result.output
    routine = library.load_routine(path)
    timeline = session.build(routine).timeline
    with wave.open(str(out)) as written:
        assert written.getnframes() == timeline.length
    waiting = [s for s in timeline.segments if s.until]
    assert [round((s.end - s.start) / timeline.rate) for s in waiting if s.phase == "hold"] == [90, 60, 60, 80]
    assert [round((s.end - s.start) / timeline.rate) for s in waiting if s.phase == "prepare"] == [60, 60, 60, 60]
    line = f"{out}  {clock(timeline.duration, millis=True)}"
    assert result.stdout.splitlines()[-1] == (
        f"{line}  (at full time: 3 steps hold until you press, getting into position waits for a press)"
    )


def test_export_a_routine_file_into_an_existing_folder(home):
    cache_speech(str(FIXTURES / "cues-and-voice.yaml"))
    folder = home / "out"
    folder.mkdir()
    result = run(str(FIXTURES / "cues-and-voice.yaml"), "-o", str(folder), "--volume", "0.5")
    assert result.exit_code == 0, result.output
    data, rate = soundfile.read(folder / "cues-and-voice.mp3", dtype="int16")
    assert rate == SAMPLE_RATE and len(data) > 60 * rate and np.abs(data).max() > 1000


def test_export_several_routines_into_a_new_folder_in_a_given_format(home):
    cache_speech("neck-and-upper-trapezius", "shoulders-and-chest")
    folder = home / "music" / "holdcue"
    result = run("neck-and-upper-trapezius", "shoulders-and-chest", "-o", str(folder), "--format", "wav")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["neck-and-upper-trapezius.wav", "shoulders-and-chest.wav"]
    assert result.output.count(str(folder)) == 2  # a plain line per file
    for path in folder.iterdir():
        timeline = session.build(library.load_routine(path.stem)).timeline
        assert soundfile.info(path).frames == timeline.length


def test_export_all_writes_every_routine_of_the_library(home):
    user = home / "config" / "routines"
    user.mkdir(parents=True)
    shutil.copy(FIXTURES / "durations.yaml", user / "my-durations.yaml")
    ids = [entry.id for entry in library.entries()]
    assert "my-durations" in ids and "shoulders-and-chest" in ids
    cache_speech(*ids)
    result = run("--all", "-o", str(home / "all"), "--format", "flac")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (home / "all").iterdir()) == sorted(f"{i}.flac" for i in ids)
    assert soundfile.info(home / "all" / "my-durations.flac").duration > 600


def test_export_all_with_a_broken_routine_names_its_problems_and_exports_the_rest(home):
    user = home / "config" / "routines"
    user.mkdir(parents=True)
    (user / "broken.yaml").write_text("title: Broken\nsteps:\n  - hold: Hold.\n    time: 45\n")
    ids = [entry.id for entry in library.entries() if entry.id != "broken"]
    cache_speech(*ids)
    result = run("--all", "-o", str(home / "all"), "--format", "wav")
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert 'broken.yaml:4:11: steps[0].time: "45" has no unit; write "45s"' in result.output
    assert result.output.rstrip().endswith("Error: 1 routine not exported: fix the errors above.")
    assert sorted(p.name for p in (home / "all").iterdir()) == sorted(f"{i}.wav" for i in ids)


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "Name the routines to export, or give --all"),
        (("--all", "shoulders-and-chest"), "not both"),
        (("neck-and-upper-trapezius", "shoulders-and-chest", "--transcript", "x.vtt"), "export one routine at a time"),
    ],
)
def test_usage_errors(home, args, message):
    result = run(*args, "-o", str(home / "out"))
    assert result.exit_code == ExitCode.USAGE
    assert message in result.output


def test_two_routines_with_one_id_are_not_written_over_each_other(home):
    for folder in ("a", "b"):
        (home / folder).mkdir()
        shutil.copy(FIXTURES / "durations.yaml", home / folder / "quiet.yaml")
    result = run(str(home / "a" / "quiet.yaml"), str(home / "b" / "quiet.yaml"), "-o", str(home / "out"))
    assert result.exit_code == ExitCode.USAGE
    assert "two routines would both be written to quiet.mp3" in result.output
    assert not (home / "out").exists()


def test_unknown_routine_exits_invalid_routine(home):
    result = run("no-such-routine", "-o", str(home / "x.mp3"))
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert 'no routine called "no-such-routine"' in result.output


@pytest.mark.parametrize(
    "output, message",
    [("nowhere/x.mp3", "the folder"), ("x.aac", "cannot tell the format of")],
)
def test_unwritable_output_exits_output_failed_and_writes_nothing(home, output, message):
    cache_speech("shoulders-and-chest")
    result = run("shoulders-and-chest", "-o", str(home / output))
    assert result.exit_code == ExitCode.OUTPUT_FAILED
    assert message in result.output
    assert sorted(p.name for p in home.iterdir()) == ["cache"]


def test_interrupted_export_keeps_the_old_file(home, monkeypatch):
    cache_speech("shoulders-and-chest")
    target = home / "shoulders.mp3"
    target.write_bytes(b"last week's export")

    seen = []

    def interrupt(done, total):
        seen.append(done)
        if done > total // 3:
            raise KeyboardInterrupt

    def progress_bar(label):  # Ctrl-C a third of the way into the export itself
        return (interrupt if label.startswith("Exporting") else None), lambda: None

    monkeypatch.setattr("holdcue.cli.exporting.progress_bar", progress_bar)
    result = run("shoulders-and-chest", "-o", str(target))
    assert result.exit_code == ExitCode.INTERRUPTED
    assert len(seen) > 10
    assert target.read_bytes() == b"last week's export"
    assert sorted(p.name for p in home.iterdir()) == ["cache", "shoulders.mp3"]


@pytest.mark.speech
@espeak_test
def test_export_with_real_speech(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    routine = tmp_path / "quick.yaml"
    routine.write_text("title: Quick press\nsteps:\n  - hold: Press the ball into your calf.\n    time: 12s\n")
    vtt = tmp_path / "quick.vtt"
    result = run(str(routine), "-o", str(tmp_path / "quick.ogg"), "--transcript", str(vtt))
    assert result.exit_code == 0, result.output
    data, rate = soundfile.read(tmp_path / "quick.ogg", dtype="float32")
    assert len(data) > 12 * rate
    assert "Next: Press the ball into your calf." in vtt.read_text()
    # the first cue is speech from the very start: loud within its first second
    assert np.sqrt(np.mean(data[:rate] ** 2)) > 0.03


# several routines side by side: worker processes (batch.py), --jobs

SHORT = {  # short routines of their own, so that each way runs in moments; one speaks German
    "press": "title: Press\nsteps:\n  - hold: Press the ball into your calf.\n    time: 20s\n    sides: both\n",
    "rest": "title: Rest\ncues: {prep: 2s}\nsteps:\n  - rest: Lie still and breathe.\n    time: 30s\n",
    "drücken": (
        "title: Drücken\nvoice: {language: de}\nsteps:\n"
        "  - hold: Drücke den Ball in deine Wade.\n    time: 15s\n  - rest: Atme ruhig.\n    time: 10s\n"
    ),
}


def short_routines(home) -> list[str]:
    """The SHORT routines as files, their speech cached; their paths, in that order."""
    folder = home / "routines"
    folder.mkdir()
    paths = []
    for rid, text in SHORT.items():
        (folder / f"{rid}.yaml").write_text(text, encoding="utf-8")
        paths.append(str(folder / f"{rid}.yaml"))
    cache_speech(*paths)
    return paths


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_side_by_side_the_files_and_lines_are_those_of_one_at_a_time(home, fmt):
    refs = short_routines(home)
    one = run(*refs, "-o", str(home / "one"), "--format", fmt, "--jobs", "1")
    side = run(*refs, "-o", str(home / "side"), "--format", fmt, "--jobs", "3")
    assert one.exit_code == side.exit_code == 0, side.output
    assert one.stdout.count("\n") == 3
    assert side.stdout == one.stdout.replace(str(home / "one"), str(home / "side"))  # the routines' order
    names = [f"{rid}.{fmt}" for rid in SHORT]
    assert sorted(p.name for p in (home / "one").iterdir()) == sorted(p.name for p in (home / "side").iterdir())
    assert sorted(p.name for p in (home / "side").iterdir()) == sorted(names)
    for name in names:
        assert (home / "side" / name).read_bytes() == (home / "one" / name).read_bytes(), name


@pytest.mark.parametrize("command", ["export", "prepare"])
@pytest.mark.parametrize("jobs", ["0", "-2"])
def test_jobs_must_be_one_or_more(home, command, jobs):
    args = [command, "--all", "--jobs", jobs] + (["-o", str(home / "out")] if command == "export" else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == ExitCode.USAGE
    assert f"Invalid value for '--jobs': {jobs} is not in the range x>=1." in result.stderr
    assert not (home / "out").exists()


def test_the_help_shows_jobs_with_an_example():
    result = CliRunner().invoke(cli, ["export", "--help"])
    assert "--jobs N" in result.stdout and "holdcue export --all -o ~/Music/holdcue --jobs 2" in result.stdout
    result = CliRunner().invoke(cli, ["prepare", "--help"])
    assert "--jobs N" in result.stdout and "holdcue prepare --all --jobs 1" in result.stdout


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_a_routine_that_cannot_be_written_is_named_as_one_at_a_time_names_it(home, jobs):
    refs = short_routines(home)
    out = home / "out"
    (out / "rest.mp3").mkdir(parents=True)  # a folder where the second routine's file goes
    result = run(*refs, "-o", str(out), "--jobs", jobs)
    assert result.exit_code == ExitCode.OUTPUT_FAILED
    target = out / "rest.mp3"
    assert result.stderr == f"Error: {target} is a folder; give a file name in it, e.g. {target / 'session.mp3'}\n"
    # the routines before it are written, as one at a time; side by side the one after it was
    # under way (three at a time): it is finished, and said
    written = ["press.mp3"] if jobs == "1" else ["press.mp3", "drücken.mp3"]
    assert [line.split("  ")[0] for line in result.stdout.splitlines()] == [str(out / name) for name in written]
    assert sorted(p.name for p in out.iterdir()) == sorted([*written, "rest.mp3"])
    assert not any(target.iterdir())


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_full_disk_is_named_as_one_at_a_time_names_it(home, tiny_disk, jobs):
    refs = short_routines(home)
    result = run(*refs, "-o", str(tiny_disk), "--format", "wav", "--jobs", jobs)
    assert result.exit_code == ExitCode.OUTPUT_FAILED
    assert result.stderr == (
        f"Error: cannot write {tiny_disk / 'press.wav'}: the disk is full; free some space and try again; "
        "nothing was written\n"
    )
    assert result.stdout == ""
    assert list(tiny_disk.iterdir()) == []


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_one_bar_stays_below_the_lines_on_a_terminal(monkeypatch):
    from holdcue import cli as cli_module

    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    update, say, finish = cli_module.progress_below_lines("Exporting 2 files")
    update(0, 1000)
    update(400, 1000)
    say("one.mp3  1:00.000")
    update(1000, 1000)
    say("two.mp3  2:00.000")
    finish()
    assert sys.stdout.getvalue() == "one.mp3  1:00.000\ntwo.mp3  2:00.000\n"
    bar = sys.stderr.getvalue()
    assert bar.count("Exporting 2 files") >= 3 and "40%" in bar and "100%" in bar.rsplit("\r", 1)[1]
    assert bar.count("\r\x1b[K") == 1  # the bar cleared for the first line; at 100 % it is left whole


def test_off_a_terminal_only_the_lines(monkeypatch):
    from holdcue import cli as cli_module

    monkeypatch.setattr(sys, "stdout", io.StringIO())
    update, say, finish = cli_module.progress_below_lines("Exporting 2 files")
    assert update is None
    say("one.mp3  1:00.000")
    finish()
    assert sys.stdout.getvalue() == "one.mp3  1:00.000\n"
