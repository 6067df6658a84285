"""Music through the commands and the live player: --music and --no-music on export and play,
the routine's music: and config.yaml's default, and the player's takes with music under them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from holdcue import cli, compiler, library, play, render, session, speech, terminal
from holdcue.controls import Command
from holdcue.exitcodes import ExitCode
from holdcue.routine import Music
from holdcue.speech import espeak
from play_helpers import RATE as PLAY_RATE
from play_helpers import run, short_session
from test_cli_export import fake_clip

ROUTINE = "shoulders-and-chest"


def tone_file(path, hz: float, seconds: float = 4.0, rate: int = 44100):
    t = np.arange(round(seconds * rate)) / rate
    soundfile.write(path, (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate)
    return path


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Cache and config folders of the test's own, the routine's speech made up and cached."""
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "config"))
    (tmp_path / "config").mkdir()
    cache = speech.ClipCache()
    routine = library.load_routine(ROUTINE)
    for text in compiler.spoken_texts(routine):
        cache.put(espeak.Pyttsx3Engine.name, routine.voice, text, fake_clip(text))
    return tmp_path


def export(*args: str):
    return CliRunner().invoke(cli.cli, ["export", ROUTINE, *args], catch_exceptions=False)


def gaps(samples: np.ndarray, rate: int = 22050) -> list[slice]:
    """Stretches of a whole second of silence: between the cues of a session without music."""
    quiet = []
    for start in range(rate, len(samples) - 2 * rate, rate):
        if not samples[start : start + rate].any():
            quiet.append(slice(start, start + rate))
    return quiet


def pitch(samples: np.ndarray, rate: int = 22050) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.argmax(spectrum) * rate / len(samples))


def test_export_music_fills_the_silence_between_cues_and_no_music_leaves_it(home):
    bed = tone_file(home / "bed.wav", 330)
    assert export("-o", str(home / "plain.wav")).exit_code == 0
    result = export("-o", str(home / "music.wav"), "--music", str(bed))
    assert result.exit_code == 0, result.output
    plain = soundfile.read(home / "plain.wav", dtype="int16")[0]
    scored = soundfile.read(home / "music.wav", dtype="int16")[0]
    quiet = gaps(plain)
    assert len(quiet) > 10
    assert all(scored[g].any() and pitch(scored[g]) == pytest.approx(330, abs=2) for g in quiet)


def test_the_routines_music_then_the_config_default_then_none(home, tmp_path):
    own = tone_file(home / "own.wav", 440)
    tone_file(home / "config" / "default.wav", 550)  # config.yaml names it relative to its folder
    (home / "config" / "config.yaml").write_text("music: default.wav\n")
    routine_file = tmp_path / "mine.yaml"
    text = library.find_id(ROUTINE)[0]
    routine_file.write_text(f"music: {own}\n{text}", encoding="utf-8")

    def heard(*args: str) -> np.ndarray:
        out = home / "out.wav"
        result = CliRunner().invoke(cli.cli, ["export", *args, "-o", str(out)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return soundfile.read(out, dtype="int16")[0]

    plain = heard(ROUTINE, "--no-music")
    quiet = gaps(plain)[3]
    assert pitch(heard(str(routine_file))[quiet]) == pytest.approx(440, abs=2)  # its own wins
    assert pitch(heard(ROUTINE)[quiet]) == pytest.approx(550, abs=2)  # none of its own: the config's
    assert pitch(heard(ROUTINE, "--music", str(own))[quiet]) == pytest.approx(440, abs=2)
    assert not heard(str(routine_file), "--no-music")[quiet].any()


def test_music_options_are_checked_before_anything_is_made(home):
    out = home / "x.wav"
    both = export("-o", str(out), "--music", str(tone_file(home / "a.wav", 300)), "--no-music")
    assert both.exit_code == ExitCode.USAGE and "Give --music FILE or --no-music, not both." in both.output
    missing = export("-o", str(out), "--music", str(home / "rain.ogg"))
    assert missing.exit_code == ExitCode.USAGE
    assert "--music" in missing.output and 'rain.ogg" does not exist' in missing.output
    (home / "notes.txt").write_text("words")
    wrong = export("-o", str(out), "--music", str(home / "notes.txt"))
    assert wrong.exit_code == ExitCode.USAGE and "is not a sound file holdcue can read" in wrong.output
    assert not out.exists() and "Traceback" not in missing.output + wrong.output


def test_a_broken_config_stops_the_export_with_its_line(home):
    (home / "config" / "config.yaml").write_text("music: nowhere.mp3\n")
    result = export("-o", str(home / "x.wav"))
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert 'config.yaml:1:8: music: "nowhere.mp3" does not exist' in result.output
    # the config also says which voice engine to use: a broken one is reported even without music
    assert export("-o", str(home / "x.wav"), "--no-music").exit_code == ExitCode.INVALID_ROUTINE


def test_play_passes_the_music_it_is_given_to_the_player(home, monkeypatch):
    bed = tone_file(home / "bed.wav", 300)
    played = []
    short = short_session()
    monkeypatch.setattr(session, "build", lambda routine, **kw: dataclasses.replace(short, music=routine.music))
    monkeypatch.setattr(terminal, "play", lambda ready, **kw: played.append(ready.music) or play.PlayResult(True, 0))
    for args, expected in (
        (["--music", str(bed)], Music(str(bed.resolve()))),
        (["--no-music"], None),
        ([], None),  # the routine has none, nor has the config
    ):
        result = CliRunner().invoke(cli.cli, ["play", ROUTINE, *args])
        assert result.exit_code == 0, result.output
        assert played.pop() == expected


def test_the_players_takes_carry_the_music_the_take_after_a_pause_too(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))  # decoded music: not in the user's cache
    bed = Music(str(tone_file(tmp_path / "bed.wav", 200, seconds=6)))
    scored = dataclasses.replace(short_session(), music=bed)
    timeline = scored.timeline
    t = 40.0
    _, sink, _, _ = run(scored, [(t, Command.PAUSE), (t + 5, Command.PAUSE), (t + 8, Command.QUIT)])
    first = sink.takes[0]
    resumed = max(sink.takes[1:], key=lambda take: len(take.samples))  # not the words said aside
    lead = round(play.LEAD_IN * PLAY_RATE)
    expected = render.render(timeline, scored.clips, scored.tones, music=bed)
    assert np.array_equal(first.samples[lead : lead + len(expected) // 2], expected[: len(expected) // 2])
    # the take after the pause: music again, rising from silence where it picks up
    plain = dataclasses.replace(scored, music=None)
    _, quiet_sink, _, _ = run(plain, [(t, Command.PAUSE), (t + 5, Command.PAUSE), (t + 8, Command.QUIT)])
    without = max(quiet_sink.takes[1:], key=lambda take: len(take.samples)).samples
    assert len(without) == len(resumed.samples)
    silent = np.flatnonzero(without == 0)
    assert resumed.samples[silent[silent > len(without) // 2]].any()


def test_prepare_decodes_the_music_ahead_so_the_export_decodes_none(home, monkeypatch):
    from holdcue import music

    tone_file(home / "config" / "default.wav", 550, seconds=30)  # longer than a loop kept whole: streamed
    (home / "config" / "config.yaml").write_text("music: {file: default.wav, loop: false}\n")
    folder = home / "cache" / "music"
    result = CliRunner().invoke(cli.cli, ["prepare", ROUTINE], catch_exceptions=False)
    assert result.exit_code == ExitCode.OK, result.output
    assert len(list(folder.iterdir())) == 1  # decoded as far as the session lasts

    def refuse(*args):
        raise AssertionError("the music was decoded again")

    monkeypatch.setattr(music.source, "_Resampled", refuse)
    assert export("-o", str(home / "out.wav")).exit_code == ExitCode.OK


def test_prepare_without_music_decodes_nothing(home):
    result = CliRunner().invoke(cli.cli, ["prepare", ROUTINE], catch_exceptions=False)
    assert result.exit_code == ExitCode.OK, result.output
    assert not (home / "cache" / "music").exists()


def test_prepare_of_routines_with_their_own_music_decodes_it(home):
    """A user routine with music: of its own (prepare once took its music for a config's)."""
    tone_file(home / "config" / "own.wav", 440, seconds=30)
    (home / "config" / "routines").mkdir()
    text = library.find_id(ROUTINE)[0]
    (home / "config" / "routines" / "mine.yaml").write_text(f"music: {{file: ../own.wav, loop: false}}\n{text}")
    for args in (["prepare", "mine"], ["prepare", "--all"]):
        result = CliRunner().invoke(cli.cli, args, catch_exceptions=False)
        assert result.exit_code == ExitCode.OK, result.output
    assert len(list((home / "cache" / "music").iterdir())) == 1
