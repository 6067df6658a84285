"""`holdcue export` end to end: routines by id or path, files and folders, --all, errors.

Speech comes from a clip cache filled beforehand with made-up clips, so these run fast
through the real code path; one test synthesizes with real espeak-ng.
"""

import shutil
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
from speech_support import espeak_test

FIXTURES = Path(__file__).parent / "fixtures" / "routines" / "valid"


def fake_clip(text: str) -> np.ndarray:
    """A made-up clip: a vowel-like buzz about as long as the words would take."""
    n = int(speech.SAMPLE_RATE * (0.3 + 0.06 * len(text)))
    t = np.arange(n) / speech.SAMPLE_RATE
    pitch = 110 + zlib.crc32(text.encode()) % 60
    return (8000 * np.sin(2 * np.pi * pitch * t) * np.sin(np.pi * t * 3) ** 2).astype(np.int16)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Empty cache and config folders; real synthesis is forbidden unless a test allows it."""
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "config"))

    def no_synthesis(self, text, voice):
        raise AssertionError(f"not in the cache: {text!r}")

    monkeypatch.setattr(speech.Pyttsx3Engine, "synthesize", no_synthesis)
    return tmp_path


def cache_speech(*refs: str) -> None:
    cache = speech.ClipCache()
    for ref in refs:
        routine = library.load_routine(ref)
        for said in session.said_texts(routine).values():  # the cache keeps clips by what is said
            cache.put(speech.Pyttsx3Engine.name, routine.voice, said, fake_clip(said))


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


def test_export_a_routine_file_into_an_existing_folder(home):
    cache_speech(str(FIXTURES / "cues-and-voice.yaml"))
    folder = home / "out"
    folder.mkdir()
    result = run(str(FIXTURES / "cues-and-voice.yaml"), "-o", str(folder), "--volume", "0.5")
    assert result.exit_code == 0, result.output
    data, rate = soundfile.read(folder / "cues-and-voice.mp3", dtype="int16")
    assert rate == speech.SAMPLE_RATE and len(data) > 60 * rate and np.abs(data).max() > 1000


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


def test_export_all_with_a_broken_routine_names_its_problems_and_writes_nothing(home):
    user = home / "config" / "routines"
    user.mkdir(parents=True)
    (user / "broken.yaml").write_text("title: Broken\nsteps:\n  - hold: Hold.\n    time: 45\n")
    result = run("--all", "-o", str(home / "all"))
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert 'broken.yaml:4:11: steps[0].time: "45" has no unit; write "45s"' in result.output
    assert not (home / "all").exists()


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

    monkeypatch.setattr("holdcue.cli.progress_bar", progress_bar)
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
