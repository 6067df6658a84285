"""holdcue list shows a routine's exact length when its speech is cached, read cheaply from
the cache files' headers, and marks an estimate as one."""

from __future__ import annotations

import json
import os

import numpy as np
import soundfile
from click.testing import CliRunner

from holdcue import library, pronounce, session, speech, tones
from holdcue.cli import cli
from holdcue.routine import Voice
from holdcue.speech import choice
from holdcue.text import clock


class ToneEngine:
    """Stands in for espeak-ng: a clip whose length depends on its text."""

    name = "tone"

    def synthesize(self, text, voice):
        return np.full(4000 + 37 * len(text), 3000, np.int16)


def test_the_cache_tells_a_clips_length_from_its_header(tmp_path):
    cache = speech.ClipCache(tmp_path)
    voice = Voice()
    cache.put("e", voice, "Hello.", np.arange(1234, dtype=np.int16))
    assert cache.frames("e", voice, "Hello.") == 1234 == len(cache.get("e", voice, "Hello."))
    assert cache.frames("e", voice, "Other.") is None
    path = cache.path("e", voice, "Hello.")
    data = path.read_bytes()
    path.write_bytes(data[:-3])  # cut short: no check chunk at the end
    assert cache.frames("e", voice, "Hello.") is None
    path.write_bytes(data[:40] + (999).to_bytes(4, "little") + data[44:])  # data size disagrees with the check
    assert cache.frames("e", voice, "Hello.") is None
    path.unlink()
    os.mkfifo(path)  # not an ordinary file: not waited on
    assert cache.frames("e", voice, "Hello.") is None


def test_tone_lengths_from_the_headers_are_the_loaded_lengths(tmp_path):
    rate = 22050
    own = tmp_path / "own.wav"
    soundfile.write(own, np.zeros((10_007, 2), np.float32), 44100)  # another rate, stereo
    overrides = (("start", str(own)),)
    loaded = tones.load_tones(rate, overrides)
    assert tones.tone_lengths(rate, overrides) == {name: len(samples) for name, samples in loaded.items()}
    assert tones.tone_lengths(rate)["start"] != tones.tone_lengths(rate, overrides)["start"]


def test_exact_seconds_is_the_built_sessions_length_once_everything_is_cached(tmp_path):
    cache = speech.ClipCache(tmp_path)
    routine = library.load_routine("glutes-and-piriformis")
    assert session.exact_seconds(routine, cache=cache, engine_name="tone") is None
    built = session.build(routine, cache=cache, engine_factory=ToneEngine)
    assert session.exact_seconds(routine, cache=cache, engine_name="tone") == built.timeline.duration
    # the clips are found by what is said ("piriformis" respelled), and one gone is not exact any more
    words = pronounce.lexicon(routine)
    last = [e.text for e in built.timeline.events if e.kind == "speech"][-1]
    assert cache.frames("tone", routine.voice, pronounce.said(last, words)) == len(built.clips[last])
    cache.path("tone", routine.voice, pronounce.said(last, words)).unlink()
    assert session.exact_seconds(routine, cache=cache, engine_name="tone") is None


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_list_marks_estimates_and_shows_exact_lengths_once_prepared(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setattr(choice, "Pyttsx3Engine", ToneEngine)
    rid = "neck-and-upper-trapezius"

    def row():
        line = next(line for line in run("list").stdout.splitlines() if line.startswith(f"{rid} "))
        item = next(item for item in json.loads(run("list", "--json").stdout) if item["id"] == rid)
        return line, item

    line, item = row()
    assert "  ~" in line and item["exact"] is False
    assert run("prepare", rid).exit_code == 0
    built = session.build(library.load_routine(rid))
    line, item = row()
    assert item["exact"] is True and item["duration"] == round(built.timeline.duration, 1)
    assert f"  {clock(built.timeline.duration)}  " in line and "~" not in line
    others = [i for i in json.loads(run("list", "--json").stdout) if i["id"] != rid and i["steps"]]
    assert others and not any(i["exact"] for i in others)
