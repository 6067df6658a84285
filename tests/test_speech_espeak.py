"""espeak-ng through pyttsx3, for real: clips, voices, rate, volume, languages, timeouts."""

from __future__ import annotations

import subprocess
import sys
import threading
import wave

import numpy as np
import pytest

from holdcue.errors import SpeechError
from holdcue.routine import Voice
from holdcue.speech import ClipCache, engine, synthesis, synthesize_all
from holdcue.speech.espeak import Pyttsx3Engine, find_voice, list_voices
from holdcue.timeline import SAMPLE_RATE
from speech_support import WITHOUT_ESPEAK, espeak_test

PHRASE = "Thirty seconds left. Keep breathing."


def sound_level(clip: np.ndarray) -> int:
    """The level trim_silence counts as sound, for this clip."""
    return max(1, round(int(np.abs(clip.astype(np.int32)).max()) * engine.ONSET_FRACTION))


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
    assert len(clip) - 1 - loud[-1] <= SAMPLE_RATE * engine.TAIL_MS // 1000
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
def test_region_and_variant_spellings_speak_with_the_nearest_voice_that_exists():
    """docs/languages.md: "de-DE", "de_AT" and "de+f3" are German; espeak-ng has no voice by
    those names, so the region, then the variant, is let go until one matches."""
    voices = list_voices()
    for spelling in ("de-DE", "de_AT", "de+f3", "DE_de", "gmw/de-DE", "de-AT+f3"):
        assert find_voice(spelling, voices).id == "gmw/de", spelling
    assert find_voice("en_US", voices).id == "gmw/en-us"  # the region kept where a voice has it
    assert find_voice("en-US-x-nowhere", voices).id == "gmw/en-us"
    assert find_voice("fr_FR", voices).id == "roa/fr"
    assert find_voice("es-MX", voices).id == "roa/es"
    for nothing in ("xx", "xx-DE", "e", "+f3", "x_de"):
        with pytest.raises(SpeechError, match="holdcue voices"):
            find_voice(nothing, voices)
    engine = Pyttsx3Engine()
    english, german = (len(engine.synthesize("1234567", Voice(language=name))) for name in ("en", "de"))
    for spelling in ("de-DE", "de_AT", "de+f3"):
        said = len(engine.synthesize("1234567", Voice(language=spelling)))
        assert abs(said - german) < 1000 and said - english > 4000, spelling


@espeak_test
def test_voices_are_found_by_exact_id_name_or_language():
    voices = list_voices()
    find = find_voice
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
    texts = [f"Hold for {n} seconds." for n in range(synthesis.SMALL_BATCH + 3)]
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
from holdcue.speech import espeak
from holdcue.errors import SpeechError
from holdcue.routine import Voice

try:
    espeak.Pyttsx3Engine().synthesize("Hello", Voice())
except SpeechError as error:
    print(error)
"""
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "espeak-ng" in result.stdout
    assert "sudo apt-get install espeak-ng" in result.stdout
