"""The speech cache: hits, keys, damaged entries, writers side by side, its folder."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from holdcue.errors import SpeechError
from holdcue.routine import Voice
from holdcue.speech import ClipCache, synthesize_all
from speech_support import CountingEngine


@pytest.fixture(autouse=True)
def _reset_counts():
    CountingEngine.calls = []


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
