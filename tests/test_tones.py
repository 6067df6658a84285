"""The designed tones: reproducible, click-free, told apart at once; a routine's own tones."""

import importlib.util
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from holdcue import tones
from holdcue.errors import ToneError
from holdcue.routine import TONE_NAMES
from holdcue.timeline import SAMPLE_RATE

ROOT = Path(__file__).resolve().parents[1]
RATE = SAMPLE_RATE


def make_tones_module():
    spec = importlib.util.spec_from_file_location("make_tones", ROOT / "scripts" / "make_tones.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_wav(path: Path) -> tuple[np.ndarray, int, int, int]:
    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        return data, w.getframerate(), w.getnchannels(), w.getsampwidth()


def dominant_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), 1 << 15))
    return float(np.argmax(spectrum) * RATE / (1 << 15))


def onsets(x: np.ndarray) -> int:
    """Struck notes: the 5 ms envelope jumping by half again over its level 10 ms before."""
    frame = RATE // 200
    env = np.sqrt(np.mean(x[: len(x) // frame * frame].astype(float).reshape(-1, frame) ** 2, axis=1))
    before = np.r_[0.0, 0.0, env[:-2]]
    rising = (env > 1.5 * before) & (env > 0.05 * env.max())
    return int(np.count_nonzero(rising & ~np.r_[False, rising[:-1]]))


@pytest.fixture(scope="module")
def committed():
    return {name: read_wav(ROOT / "audio_cues" / f"{name}.wav") for name in TONE_NAMES}


def test_committed_tones_are_what_the_script_makes(committed):
    generated = make_tones_module().generate()
    assert sorted(generated) == sorted(TONE_NAMES)
    for name in TONE_NAMES:
        data, rate, channels, width = committed[name]
        assert (rate, channels, width) == (RATE, 1, 2)
        assert len(data) == len(generated[name])
        # Bit-identical here; at most one step of rounding where another libm differs.
        assert np.max(np.abs(data.astype(int) - generated[name].astype(int))) <= 1, name


def test_generation_is_deterministic():
    module = make_tones_module()
    first, second = module.generate(), module.generate()
    assert all(np.array_equal(first[n], second[n]) for n in TONE_NAMES)


def test_tones_start_and_end_at_silence(committed):
    for name in TONE_NAMES:
        x = committed[name][0].astype(int)
        peak = np.max(np.abs(x))
        assert peak > 16000, name
        # no step at either edge: the first and last millisecond rise from / fall to zero
        assert abs(x[0]) <= 1 and abs(x[-1]) <= 1, name
        edge = RATE // 1000
        assert np.max(np.abs(x[:edge])) < 0.5 * peak and np.max(np.abs(x[-edge:])) < 0.02 * peak, name


def test_tones_differ_in_length_pitch_and_shape(committed):
    x = {name: committed[name][0].astype(float) for name in TONE_NAMES}
    ms = {name: 1000 * len(x[name]) / RATE for name in TONE_NAMES}
    assert 40 <= ms["tick"] <= 80
    assert all(ms[n] >= 400 for n in TONE_NAMES if n != "tick")
    assert ms["end"] > ms["start"]

    def pitch(name, a, b):
        return dominant_hz(x[name][int(a * RATE) : int(b * RATE)])

    assert pitch("start", 0.0, 0.12) < pitch("start", 0.2, 0.5) / 1.3  # rising
    assert pitch("end", 0.0, 0.17) > pitch("end", 0.3, 0.8) * 1.3  # falling
    assert pitch("tick", 0.0, 0.06) > 1500  # high
    halfway = pitch("halfway", 0.0, 0.6)
    assert all(halfway < pitch(n, 0.0, ms[n] / 1000) / 1.15 for n in TONE_NAMES if n != "halfway")

    notes = {name: onsets(x[name]) for name in TONE_NAMES}
    assert notes == {"start": 2, "end": 2, "halfway": 1, "tick": 1, "switch": 3}


def test_load_tones_gives_every_tone_as_int16_at_the_asked_rate(committed):
    loaded = tones.load_tones()
    assert sorted(loaded) == sorted(TONE_NAMES)
    for name in TONE_NAMES:
        assert loaded[name].dtype == np.int16
        assert np.array_equal(loaded[name], committed[name][0])
    doubled = tones.load_tones(44100)
    for name in TONE_NAMES:
        assert abs(len(doubled[name]) - 2 * len(loaded[name])) <= 1
        assert np.array_equal(doubled[name][::2][: len(loaded[name])], loaded[name][: len(doubled[name][::2])])


def test_tones_dir_holds_the_tones():
    folder = tones.tones_dir()
    assert all((folder / f"{name}.wav").is_file() for name in TONE_NAMES)


def test_own_tone_in_any_wav_layout_is_mixed_down_and_resampled(tmp_path):
    seconds, rate = 0.5, 48000
    t = np.arange(int(seconds * rate)) / rate
    sine = 0.5 * np.sin(2 * np.pi * 1000 * t)
    path = tmp_path / "bell.wav"
    soundfile.write(path, np.stack([sine, sine], axis=1), rate, subtype="PCM_24")
    loaded = tones.load_tones(RATE, [("start", str(path))])
    own = loaded["start"]
    assert own.dtype == np.int16
    assert len(own) == round(seconds * RATE)
    assert abs(dominant_hz(own.astype(float)) - 1000) < 5
    assert abs(np.max(np.abs(own)) / 32768 - 0.5) < 0.01
    assert np.array_equal(loaded["end"], tones.load_tones()["end"])  # the others stay designed


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda d: d / "missing.wav", "does not exist"),
        (lambda d: (d / "text.wav").write_text("not audio") and d / "text.wav", "is not a WAV file"),
        (lambda d: soundfile.write(d / "empty.wav", np.zeros(0), RATE) or d / "empty.wav", "no sound"),
        (lambda d: soundfile.write(d / "long.wav", np.zeros(RATE + 1), RATE) or d / "long.wav", "at most 1s"),
    ],
)
def test_unusable_own_tone_is_a_tone_error_naming_the_file(tmp_path, make, expect):
    path = make(tmp_path)
    with pytest.raises(ToneError) as caught:
        tones.load_tones(RATE, [("end", str(path))])
    assert caught.value.path == str(path) and str(caught.value).startswith(f"{path}: ")
    assert expect in str(caught.value)


def test_unknown_tone_name_is_a_tone_error(tmp_path):
    with pytest.raises(ToneError, match="no tone called 'gong'"):
        tones.load_tones(RATE, [("gong", str(ROOT / "audio_cues" / "start.wav"))])


def test_built_wheel_installs_the_tones(built_wheel):
    names = set(zipfile.ZipFile(built_wheel).namelist())
    assert {f"holdcue/audio_cues/{name}.wav" for name in TONE_NAMES} <= names
    assert "holdcue/tones.py" in names
