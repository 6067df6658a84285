"""Speech: real espeak-ng synthesis through pyttsx3, the clip cache, worker processes."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
import wave
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from holdcue import speech
from holdcue.errors import SpeechError
from holdcue.routine import Voice
from holdcue.speech import SAMPLE_RATE, ClipCache, Pyttsx3Engine, synthesize_all
from speech_support import WITHOUT_ESPEAK, espeak_test

PHRASE = "Thirty seconds left. Keep breathing."


def sound_level(clip: np.ndarray) -> int:
    """The level trim_silence counts as sound, for this clip."""
    return max(1, round(int(np.abs(clip.astype(np.int32)).max()) * speech.ONSET_FRACTION))


# Engines for tests of the machinery around the engine. Top-level classes: workers unpickle them.


class CountingEngine:
    """Says every text as a short tone; counts its calls."""

    name = "counting"
    calls: list[str] = []

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        CountingEngine.calls.append(text)
        n = 400 + 10 * len(text)
        return (8000 * np.sin(np.arange(n) * 0.3)).astype(np.int16) + 1


class ProcessEngine:
    """A clip that tells which process made it, and how many engines that process made."""

    name = "process"
    made_in_this_process = 0

    def __init__(self):
        ProcessEngine.made_in_this_process += 1

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        time.sleep(0.02)  # like a real engine: long enough for every worker to get work
        pid = os.getpid()
        return np.array([1000 + pid // 10000, 1000 + pid % 10000, 1000 + self.made_in_this_process], np.int16)


def made_by(clip: np.ndarray) -> tuple[int, int]:
    """(pid, engines made in that process) of a ProcessEngine clip."""
    return (int(clip[0]) - 1000) * 10000 + int(clip[1]) - 1000, int(clip[2]) - 1000


class SilentEngine:
    name = "silent"

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        return np.zeros(2000, np.int16)


class FailingEngine:
    """Fails on one text, like an engine that cannot say it."""

    name = "failing"

    def synthesize(self, text: str, voice: Voice) -> np.ndarray:
        if text == "phrase 7":
            raise SpeechError("cannot say phrase 7")
        return np.full(100, 500, np.int16)


@pytest.fixture(autouse=True)
def _reset_counts():
    CountingEngine.calls = []


# Real espeak-ng.


@espeak_test
def test_clip_starts_at_the_onset_and_ends_soon_after_the_speech(tmp_path):
    raw = Pyttsx3Engine().synthesize(PHRASE, Voice())
    clip = synthesize_all([PHRASE], Voice(), cache=ClipCache(tmp_path))[PHRASE]

    assert clip.dtype == np.int16 and clip.ndim == 1
    assert 1.0 < len(clip) / SAMPLE_RATE < 4.0
    # espeak-ng starts with silence and ends with a long pause; the clip has neither.
    assert not raw[: SAMPLE_RATE * 5 // 1000].any()
    assert abs(int(clip[0])) >= sound_level(clip)
    loud = np.flatnonzero(np.abs(clip.astype(np.int32)) >= sound_level(clip))
    assert len(clip) - 1 - loud[-1] <= SAMPLE_RATE * speech.TAIL_MS // 1000
    assert len(raw) - len(clip) > SAMPLE_RATE // 10


@espeak_test
def test_cached_clip_is_a_wav_file_any_player_reads(tmp_path):
    import soundfile

    cache = ClipCache(tmp_path)
    clip = synthesize_all([PHRASE], Voice(), cache=cache)[PHRASE]
    path = cache.path(Pyttsx3Engine.name, Voice(), PHRASE)

    with wave.open(str(path)) as file:
        assert (file.getnchannels(), file.getsampwidth(), file.getframerate()) == (1, 2, SAMPLE_RATE)
        assert np.array_equal(np.frombuffer(file.readframes(file.getnframes()), "<i2"), clip)
    data, rate = soundfile.read(path, dtype="int16")
    assert rate == SAMPLE_RATE and np.array_equal(data, clip)


@espeak_test
def test_rate_changes_the_length():
    engine = Pyttsx3Engine()
    slow = engine.synthesize(PHRASE, Voice(rate=110))
    fast = engine.synthesize(PHRASE, Voice(rate=260))
    assert len(slow) > 1.6 * len(fast)


@espeak_test
def test_volume_scales_the_amplitude():
    engine = Pyttsx3Engine()
    loud = engine.synthesize(PHRASE, Voice(volume=1.0)).astype(float)
    quiet = engine.synthesize(PHRASE, Voice(volume=0.25)).astype(float)
    ratio = np.sqrt(np.mean(quiet**2) / np.mean(loud**2))
    assert 0.12 < ratio < 0.45


@espeak_test
def test_the_voice_follows_the_language():
    engine = Pyttsx3Engine()
    lengths = {
        language: [len(engine.synthesize("1234567", Voice(language=language))) for _ in range(2)]
        for language in ("en", "de", "en")
    }
    # The same voice twice gives nearly the same length; German numbers are much longer.
    assert abs(lengths["en"][0] - lengths["en"][1]) < 1000
    assert abs(lengths["de"][0] - lengths["de"][1]) < 1000
    assert lengths["de"][0] - lengths["en"][0] > 4000


@espeak_test
def test_voices_are_found_by_exact_id_name_or_language():
    voices = speech.list_voices()
    find = speech.find_voice
    assert len(voices) > 50 and all(v.id and v.name for v in voices)
    assert voices[0].id != "gmw/en"  # the first voice is not English: it must be chosen
    assert find("en", voices).id == "gmw/en"  # not "aav/vi-vn-x-central", which contains "en"
    assert find("", voices).id == "gmw/en"
    assert find("en-us", voices).id == "gmw/en-us"
    assert find("EN-US", voices).id == "gmw/en-us"
    assert find("gmw/de", voices).id == "gmw/de"
    assert find("en-gb", voices).id == "gmw/en"  # by the language it lists


@espeak_test
def test_an_unknown_language_says_how_to_see_the_voices(tmp_path):
    with pytest.raises(SpeechError, match="holdcue voices"):
        synthesize_all([PHRASE], Voice(language="xx-nowhere"), cache=ClipCache(tmp_path))
    with pytest.raises(SpeechError, match="holdcue voices"):
        Pyttsx3Engine().synthesize(PHRASE, Voice(language="e"))  # no prefix matching either


@espeak_test
def test_text_without_speech_is_an_error(tmp_path):
    with pytest.raises(SpeechError, match="only silence"):
        synthesize_all(["..."], Voice(), cache=ClipCache(tmp_path))
    with pytest.raises(SpeechError, match="empty"):
        synthesize_all(["  "], Voice(), cache=ClipCache(tmp_path))
    assert not list(tmp_path.iterdir())


@espeak_test
def test_nothing_is_printed(tmp_path, capfd):
    texts = [f"Hold for {n} seconds." for n in range(speech.SMALL_BATCH + 3)]
    synthesize_all(texts[:2], Voice(), cache=ClipCache(tmp_path / "here"), workers=1)
    synthesize_all(texts, Voice(), cache=ClipCache(tmp_path / "workers"), workers=2)
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""


@espeak_test
def test_a_slow_utterance_times_out_and_the_next_one_works():
    with pytest.raises(SpeechError, match="took more than"):
        Pyttsx3Engine(timeout=0.001).synthesize("Roll slowly along the muscle. " * 20, Voice())
    assert len(Pyttsx3Engine().synthesize("Relax.", Voice())) > SAMPLE_RATE // 10


@espeak_test
def test_engines_in_threads_do_not_mix_settings():
    engine = Pyttsx3Engine()
    lengths: dict[int, list[int]] = {100: [], 300: []}

    def say(rate: int) -> None:
        for _ in range(4):
            lengths[rate].append(len(engine.synthesize(PHRASE, Voice(rate=rate))))

    threads = [threading.Thread(target=say, args=(rate,)) for rate in lengths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert min(lengths[100]) > 2 * max(lengths[300])


def test_missing_espeak_library_names_the_package_to_install():
    program = (
        WITHOUT_ESPEAK
        + """
from holdcue import speech
from holdcue.errors import SpeechError
from holdcue.routine import Voice

try:
    speech.Pyttsx3Engine().synthesize("Hello", Voice())
except SpeechError as error:
    print(error)
"""
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "espeak-ng" in result.stdout
    assert "sudo apt-get install espeak-ng" in result.stdout


# The cache and the machinery around the engine (no espeak-ng needed).


def test_cache_hit_returns_the_same_samples_without_synthesizing(tmp_path):
    cache = ClipCache(tmp_path)
    texts = ["Switch sides.", "Halfway.", "Switch sides."]
    first = synthesize_all(texts, Voice(), cache=cache, engine_factory=CountingEngine)
    assert CountingEngine.calls == ["Switch sides.", "Halfway."]

    again = synthesize_all(texts, Voice(), cache=ClipCache(tmp_path), engine_factory=CountingEngine)
    assert CountingEngine.calls == ["Switch sides.", "Halfway."]
    assert list(again) == ["Switch sides.", "Halfway."]
    for text in again:
        assert again[text].dtype == np.int16
        assert np.array_equal(again[text], first[text])


def test_the_cache_key_holds_engine_voice_rate_volume_and_text(tmp_path):
    cache = ClipCache(tmp_path)
    paths = {
        cache.path("a", Voice(), "Hold."),
        cache.path("b", Voice(), "Hold."),
        cache.path("a", Voice(language="de"), "Hold."),
        cache.path("a", Voice(rate=180), "Hold."),
        cache.path("a", Voice(volume=0.5), "Hold."),
        cache.path("a", Voice(), "Hold!"),
    }
    assert len(paths) == 6
    assert cache.path("a", Voice(language="EN"), "Hold.") == cache.path("a", Voice(), "Hold.")


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # cut short
        lambda data: data[:-1],
        lambda data: data[:100] + bytes([data[100] ^ 0x40]) + data[101:],  # one bit flipped
        lambda data: b"\0" * len(data),  # zero-filled after a power cut
        lambda data: b"",
        lambda data: b"not a wav file at all",
    ],
)
def test_a_damaged_entry_is_synthesized_again(tmp_path, damage):
    cache = ClipCache(tmp_path)
    clip = synthesize_all(["Hold."], Voice(), cache=cache, engine_factory=CountingEngine)["Hold."]
    path = cache.path(CountingEngine.name, Voice(), "Hold.")
    path.write_bytes(damage(path.read_bytes()))

    assert cache.get(CountingEngine.name, Voice(), "Hold.") is None
    again = synthesize_all(["Hold."], Voice(), cache=cache, engine_factory=CountingEngine)["Hold."]
    assert CountingEngine.calls == ["Hold.", "Hold."]
    assert np.array_equal(again, clip)
    assert np.array_equal(cache.get(CountingEngine.name, Voice(), "Hold."), clip)


def write_many_times(directory: str, writer: int) -> None:
    cache = ClipCache(Path(directory))
    for n in range(60):
        cache.put("shared", Voice(), "Hold.", writer_clip(writer, n))


def writer_clip(writer: int, n: int) -> np.ndarray:
    return np.full(2000 + 500 * writer + n, 100 * writer + n + 1, np.int16)


def test_concurrent_writers_leave_a_valid_entry(tmp_path):
    cache = ClipCache(tmp_path)
    expected = {writer_clip(w, n).tobytes() for w in range(4) for n in range(60)}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, context) as pool:
        writes = [pool.submit(write_many_times, str(tmp_path), w) for w in range(4)]
        seen = 0
        while not all(write.done() for write in writes):
            clip = cache.get("shared", Voice(), "Hold.")
            # Once there, the entry is always whole: a reader never sees a half-written file.
            assert clip is not None or seen == 0
            if clip is not None:
                assert clip.tobytes() in expected
                seen += 1
        for write in writes:
            write.result()
    assert seen > 0
    assert cache.get("shared", Voice(), "Hold.").tobytes() in expected
    assert [p.name for p in tmp_path.iterdir()] == [cache.path("shared", Voice(), "Hold.").name]


def test_many_phrases_are_spread_over_worker_processes(tmp_path):
    texts = [f"phrase {n}" for n in range(speech.SMALL_BATCH + 10)]
    clips = synthesize_all(texts, Voice(), cache=ClipCache(tmp_path), engine_factory=ProcessEngine, workers=2)
    makers = {made_by(clips[text]) for text in texts}
    pids = {pid for pid, _ in makers}
    assert len(pids) == 2 and os.getpid() not in pids
    assert {engines for _, engines in makers} == {1}  # one engine per worker, kept for every phrase


def test_a_small_batch_is_synthesized_in_this_process(tmp_path):
    texts = [f"phrase {n}" for n in range(3)]
    clips = synthesize_all(texts, Voice(), cache=ClipCache(tmp_path), engine_factory=ProcessEngine, workers=2)
    assert {made_by(clip)[0] for clip in clips.values()} == {os.getpid()}


def test_cache_all_says_the_texts_of_every_voice_with_one_set_of_workers(tmp_path):
    """holdcue prepare: neither voice has texts enough for workers, both together have."""
    texts = {Voice(): [f"phrase {n}" for n in range(30)], Voice(language="de"): [f"Satz {n}" for n in range(20)]}
    cache = ClipCache(tmp_path)
    calls = []
    made = speech.cache_all(
        texts, cache=cache, engine_factory=ProcessEngine, workers=2, progress=lambda *c: calls.append(c)
    )
    assert made == 50 > speech.SMALL_BATCH
    makers = {made_by(cache.get("process", voice, text)) for voice, said in texts.items() for text in said}
    pids = {pid for pid, _ in makers}
    assert len(pids) == 2 and os.getpid() not in pids
    assert calls == [(done, 50) for done in range(51)]
    calls.clear()
    assert speech.cache_all(texts, cache=cache, engine_factory=ProcessEngine, progress=lambda *c: calls.append(c)) == 0
    assert calls == [(50, 50)]


def test_an_error_in_a_worker_is_raised_as_it_is(tmp_path):
    texts = [f"phrase {n}" for n in range(speech.SMALL_BATCH + 10)]
    with pytest.raises(SpeechError, match="cannot say phrase 7"):
        synthesize_all(texts, Voice(), cache=ClipCache(tmp_path), engine_factory=FailingEngine, workers=2)


def test_silence_is_an_error(tmp_path):
    with pytest.raises(SpeechError, match="only silence"):
        synthesize_all(["Hold."], Voice(), cache=ClipCache(tmp_path), engine_factory=SilentEngine)


def test_progress_counts_cached_clips_first(tmp_path):
    cache = ClipCache(tmp_path)
    calls = []
    synthesize_all(["a", "b"], Voice(), cache=cache, engine_factory=CountingEngine)
    synthesize_all(
        ["a", "b", "c", "d"], Voice(), cache=cache, engine_factory=CountingEngine, progress=lambda *c: calls.append(c)
    )
    assert calls == [(2, 4), (3, 4), (4, 4)]


def test_trim_keeps_the_onset_and_a_short_tail():
    samples = np.zeros(SAMPLE_RATE, np.int16)
    samples[1000:5000] = 3000
    samples[1000] = 20  # the soft start of a sound is kept
    samples[999] = 2  # below the threshold: silence
    clip = speech.trim_silence(samples)
    assert clip[0] == 20
    assert len(clip) == 4000 + SAMPLE_RATE * speech.TAIL_MS // 1000


def test_the_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path))
    assert ClipCache().directory == tmp_path / "speech"
    monkeypatch.delenv("HOLDCUE_CACHE_DIR")
    assert ClipCache().directory.name == "speech"
    assert ClipCache(tmp_path / "mine").directory == tmp_path / "mine"


def test_an_unwritable_cache_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SpeechError, match="HOLDCUE_CACHE_DIR"):
        synthesize_all(["Hold."], Voice(), cache=ClipCache(blocker / "speech"), engine_factory=CountingEngine)
