"""``music:`` in routine files and config.yaml: what is read, and every problem with file,
line, column and field; session.build attaches it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile

from holdcue import config, session
from holdcue.errors import ConfigError, RoutineError
from holdcue.loader import load
from holdcue.routine import Music

STEPS = "steps:\n  - hold: Hold it.\n    time: 5s\n"


def make_music(path, seconds: float = 2.0):
    t = np.arange(round(seconds * 22050)) / 22050
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22050)
    return path


def refused(text: str, folder) -> list[str]:
    with pytest.raises(RoutineError) as error:
        load(text, "r.yaml", base_dir=folder)
    return [str(p) for p in error.value.problems]


def test_a_file_name_is_relative_to_the_routine_and_takes_the_defaults(tmp_path):
    (tmp_path / "sounds").mkdir()
    bed = make_music(tmp_path / "sounds" / "rain.flac")
    loaded = load(f"title: T\nmusic: sounds/rain.flac\n{STEPS}", "r.yaml", base_dir=tmp_path)
    assert loaded.music == Music(str(bed.resolve()))
    assert (loaded.music.level_db, loaded.music.duck_db, loaded.music.loop) == (-18.0, -12.0, True)


def test_a_mapping_sets_level_duck_and_loop(tmp_path):
    bed = make_music(tmp_path / "rain.wav")
    text = f"title: T\nmusic:\n  file: {bed}\n  level: -24 dB\n  duck: 0.5\n  loop: false\n{STEPS}"
    loaded = load(text, "r.yaml")  # an absolute path needs no folder
    assert loaded.music == Music(str(bed.resolve()), level_db=-24.0, duck_db=pytest.approx(-6.0206), loop=False)


def test_no_music_key_or_false_is_no_music(tmp_path):
    assert load(f"title: T\n{STEPS}", "r.yaml").music is None
    assert load(f"title: T\nmusic: false\n{STEPS}", "r.yaml").music is None


def test_every_music_problem_is_reported_where_it_is_written(tmp_path):
    (tmp_path / "notes.txt").write_text("not music")
    make_music(tmp_path / "blip.wav", seconds=0.2)
    assert refused(f"title: T\nmusic: rain.ogg\n{STEPS}", tmp_path) == [
        'r.yaml:2:8: music: "rain.ogg" does not exist (a relative path starts at the routine file\'s folder)'
    ]
    assert refused(f"title: T\nmusic: notes.txt\n{STEPS}", tmp_path) == [
        'r.yaml:2:8: music: "notes.txt" is not a sound file holdcue can read; use WAV, FLAC, OGG or MP3'
    ]
    assert refused(f"title: T\nmusic: blip.wav\n{STEPS}", tmp_path) == [
        'r.yaml:2:8: music: "blip.wav" lasts 0.20s; music must last at least 1s'
    ]
    assert refused(f"title: T\nmusic: .\n{STEPS}", tmp_path) == [
        'r.yaml:2:8: music: "." is not a regular file; give a sound file'
    ]
    make_music(tmp_path / "rain.wav")
    text = f"title: T\nmusic:\n  file: rain.wav\n  level: loud\n  duck: +6 dB\n  lop: true\n{STEPS}"
    assert refused(text, tmp_path) == [
        'r.yaml:4:10: music.level: "loud" is not a level; write one like "-18 dB" or a factor like 0.3',
        "r.yaml:5:9: music.duck: 6 dB is out of range; use -60 dB to 0 dB (0 dB: as the file is)",
        'r.yaml:6:3: music.lop: unknown key; did you mean "loop"?',
    ]
    assert refused(f"title: T\nmusic:\n  level: -20 dB\n{STEPS}", tmp_path) == [
        "r.yaml:3:3: music.file: missing; name the sound file, e.g. file: forest.ogg"
    ]
    assert refused(f"title: T\nmusic: [a, b]\n{STEPS}", tmp_path)[0].startswith(
        'r.yaml:2:8: music: must be a sound file or a mapping, like "music: forest.ogg"'
    )


def test_a_relative_path_without_a_routine_file_is_refused(tmp_path):
    assert refused(f"title: T\nmusic: rain.ogg\n{STEPS}", None) == [
        'r.yaml:2:8: music: "rain.ogg" is a relative path, but there is no folder to start from; use an absolute path'
    ]


def test_config_music_is_relative_to_the_config_folder(tmp_path):
    bed = make_music(tmp_path / "bed.wav")
    path = tmp_path / "config.yaml"
    path.write_text("music:\n  file: bed.wav\n  level: -30 dB\n")
    assert config.load_config(path).music == Music(str(bed.resolve()), level_db=-30.0)
    path.write_text("button: false\n")
    assert config.load_config(path).music is None


def test_config_music_problems_name_the_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("button:\n  pin: 17\nmusic: missing.mp3\n")
    with pytest.raises(ConfigError) as error:
        config.load_config(path)
    assert [str(p).replace(str(tmp_path), "DIR") for p in error.value.problems] == [
        'DIR/config.yaml:3:8: music: "missing.mp3" does not exist (a relative path starts at the config folder)'
    ]


def test_build_attaches_the_routines_music_unless_told_otherwise(tmp_path):
    bed = make_music(tmp_path / "rain.wav")
    routine = load(f"title: T\nmusic: rain.wav\n{STEPS}", "r.yaml", base_dir=tmp_path)
    clips: dict[str, np.ndarray] = {}

    class Engine:
        name = "fake"

        def synthesize(self, text, voice):
            return clips.setdefault(text, np.full(2205, 1000, np.int16))

        def close(self):
            pass

    from holdcue import speech

    cache = speech.ClipCache(tmp_path / "cache")
    built = session.build(routine, cache=cache, engine_factory=Engine)
    assert built.music == routine.music
    other = Music(str(bed), level_db=-6)  # as choices.resolve gives it: --music, config.yaml's
    assert session.build(dataclasses.replace(routine, music=other), cache=cache, engine_factory=Engine).music == other
    assert session.build(dataclasses.replace(routine, music=None), cache=cache, engine_factory=Engine).music is None


def test_the_schema_knows_music():
    import json

    import jsonschema

    from holdcue.loader import SCHEMA_PATH

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    steps = [{"hold": "Hold it.", "time": "5s"}]
    for music in ("rain.ogg", False, {"file": "rain.ogg", "level": "-20 dB", "duck": 0.5, "loop": False}):
        assert validator.is_valid({"title": "T", "music": music, "steps": steps}), music
    for music in ({"level": "-20 dB"}, {"file": "a.ogg", "lop": True}, {"file": "a.ogg", "level": "loud"}, ["a"]):
        assert not validator.is_valid({"title": "T", "music": music, "steps": steps}), music
