"""What will be heard, decided once (choices.resolve): the order of the command line, the
routine and config.yaml, and every way a session starts honouring config.yaml's voice: and
music: (play, resume, today, export, show, prepare, list, the service's requests and button)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from holdcue import choices, cli, journal, library, session, speech
from holdcue import play as playback
from holdcue.config import Config
from holdcue.errors import SpeechError
from holdcue.routine import Music, Voice
from play_helpers import short_session
from service_support import RealClock, Sink, make_session, wait_until

ROUTINE = "shoulders-and-chest"
PIPER_MODEL = "en_US-joe-medium"  # the test voice (scripts/setup --test)


def bed(path):
    rate = 22050
    soundfile.write(path, (0.3 * np.sin(np.arange(rate) / rate * 2 * np.pi * 220)).astype(np.float32), rate)
    return path


# -- the order --------------------------------------------------------------------------------


def test_the_routines_own_voice_and_music_come_before_the_configs(tmp_path):
    mine, theirs = Music(str(bed(tmp_path / "a.wav"))), Music(str(bed(tmp_path / "b.wav")))
    routine = dataclasses.replace(library.load_routine(ROUTINE), music=mine, voice=Voice(rate=150))
    settings = Config(music=theirs)
    resolved = choices.resolve(routine, settings)
    assert resolved.routine.music == mine and resolved.routine.voice.rate == 150 and resolved.note == ""
    assert choices.resolve(dataclasses.replace(routine, music=None), settings).routine.music == theirs


def test_the_command_line_comes_before_the_routine_and_no_music_before_all(tmp_path):
    mine, given = Music(str(bed(tmp_path / "a.wav"))), Music(str(bed(tmp_path / "b.wav")))
    routine = dataclasses.replace(library.load_routine(ROUTINE), music=mine)
    assert choices.resolve(routine, Config(), choices.Overrides(music=given)).routine.music == given
    assert choices.resolve(routine, Config(music=given), choices.Overrides(no_music=True)).routine.music is None


def test_a_missing_piper_model_falls_back_to_espeak_only_when_allowed():
    routine = library.load_routine(ROUTINE)
    missing = Config(engine="piper", model="xx_XX-nobody-low")
    with pytest.raises(SpeechError, match="xx_XX-nobody-low"):
        choices.resolve(routine, missing)
    resolved = choices.resolve(routine, dataclasses.replace(missing, fallback=True))
    assert resolved.routine.voice.engine == "" and "Speaking with espeak-ng instead" in resolved.note


# -- every entry point --------------------------------------------------------------------------


@pytest.fixture
def configured(tmp_path, monkeypatch):
    """config.yaml with music and a Piper voice; every session build recorded, none made."""
    folder = tmp_path / "config"
    (folder / "routines").mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(folder))
    bed(folder / "rain.wav")
    (folder / "config.yaml").write_text(f"music: rain.wav\nvoice:\n  engine: piper\n  model: {PIPER_MODEL}\n")
    built = []

    def build(routine, **options):
        built.append(routine)
        return dataclasses.replace(short_session(), routine=routine, music=routine.music)

    monkeypatch.setattr(session, "build", build)
    return folder, built


def heard_as_configured(routine, folder) -> bool:
    return (
        routine.music == Music(str(folder / "rain.wav"))
        and routine.voice.engine == "piper"
        and (routine.voice.model == PIPER_MODEL)
    )


@pytest.fixture
def no_sound(monkeypatch):
    """play, resume and today stop short of the device: what they hand the player is kept."""
    handed = []
    monkeypatch.setattr(playback, "output", lambda keep_alive=False: _Nothing())
    monkeypatch.setattr("holdcue.cli.sessions.play_recorded", lambda ready, sink, **options: handed.append(ready))
    return handed


class _Nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize(
    "args",
    [
        ["play", ROUTINE],
        ["today", "--anyway", "--date", "2025-06-02"],  # a Monday: a planned session
        ["show", ROUTINE],
    ],
)
def test_the_commands_that_play_or_show_hear_the_config(configured, no_sound, args):
    folder, built = configured
    result = CliRunner().invoke(cli.cli, args)
    assert result.exit_code == 0, result.output
    assert len(built) == 1 and heard_as_configured(built[0], folder)


def test_resume_hears_the_config(configured, no_sound):
    folder, built = configured
    routine = library.load_routine(ROUTINE)
    with journal.Journal.open() as kept:
        row = kept.begin(
            routine_id=ROUTINE, title=routine.title, source=routine.source, steps=len(routine.steps), planned=400.0
        )
        kept.end(row, "stopped", step=2, played=60.0)
    result = CliRunner().invoke(cli.cli, ["resume"])
    assert result.exit_code == 0, result.output
    assert len(built) == 1 and heard_as_configured(built[0], folder)
    assert heard_as_configured(no_sound[0].routine, folder)


def test_export_hears_the_config(configured, monkeypatch, tmp_path):
    folder, built = configured
    from holdcue import export

    monkeypatch.setattr(export, "export", lambda ready, target, **options: target)
    result = CliRunner().invoke(cli.cli, ["export", ROUTINE, "-o", str(tmp_path / "x.mp3")])
    assert result.exit_code == 0, result.output
    assert len(built) == 1 and heard_as_configured(built[0], folder)


def test_prepare_hears_the_config(configured, monkeypatch):
    folder, _ = configured
    prepared = []
    monkeypatch.setattr(session, "prepare", lambda routines, **options: prepared.extend(routines) or (0, 0))
    result = CliRunner().invoke(cli.cli, ["prepare", ROUTINE])
    assert result.exit_code == 0, result.output
    assert len(prepared) == 1 and heard_as_configured(prepared[0], folder)


def test_list_gives_the_exact_length_of_the_voice_the_config_chooses(configured, tmp_path, monkeypatch):
    folder, _ = configured
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    routine = choices.resolve(library.load_routine(ROUTINE), Config(engine="piper", model=PIPER_MODEL)).routine
    engine = speech.engine_name(routine.voice)
    assert engine is not None and engine.startswith("piper/")
    cache = speech.ClipCache()
    for text in session.said_texts(routine).values():
        cache.put(engine, routine.voice, text, np.full(2205, 500, np.int16))  # Piper's clips, made up
    shown = CliRunner().invoke(cli.cli, ["list"])
    line = next(line for line in shown.output.splitlines() if line.startswith(ROUTINE))
    assert "~" not in line, line  # exact: the lengths of the Piper clips in the cache
    assert session.exact_seconds(library.load_routine(ROUTINE), cache=cache) is None  # espeak-ng's: not cached


def test_the_service_and_its_button_hear_the_config(configured):
    """POST /api/play, the page's Today, resume and the button all reach Core.play."""
    from holdcue import button, config, core

    folder, _ = configured
    built = []

    def build(routine):
        built.append(routine)
        return make_session(routine)

    clock = RealClock()
    controller = core.Core(
        core.Catalog(), sink=Sink(clock), build=build, clock=clock, settings=config.load_config(), tick=0.05
    )
    controller.start()
    try:
        controller.play(ROUTINE)
        button.Remote(controller).stop()
        wait_until(lambda: controller.state() == "idle", what="the stop")
        assert len(built) == 1 and heard_as_configured(built[0], folder)
    finally:
        controller.close()
