"""The speech cache: hits, keys, damaged entries, writers side by side, its folder."""

from __future__ import annotations

import errno
import multiprocessing
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from holdcue.errors import SpeechError
from holdcue.routine import Voice
from holdcue.speech import ClipCache, synthesize_all
from holdcue.speech.espeak import Pyttsx3Engine
from speech_support import CountingEngine, espeak_test


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
        first = None
        while not all(write.done() for write in writes):
            clip = cache.get("shared", Voice(), "Hold.")
            # Once there, the entry is always whole: a reader never sees a half-written file.
            assert clip is not None or seen == 0
            if clip is not None:
                assert clip.tobytes() in expected
                # ... and always the same: the first clip stored under a key stays.
                first = first or clip.tobytes()
                assert clip.tobytes() == first
                seen += 1
        for write in writes:
            write.result()
    assert seen > 0
    assert cache.get("shared", Voice(), "Hold.").tobytes() in expected
    assert cache.get("shared", Voice(), "Hold.").tobytes() == first
    assert [p.name for p in tmp_path.iterdir()] == [cache.path("shared", Voice(), "Hold.").name]


def without_tmpfile(monkeypatch):
    """A system or file system without O_TMPFILE: a hidden named file is written instead."""
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)


def without_hard_links(monkeypatch):
    """A file system without hard links (FAT): link(2) fails with EPERM, as there."""
    without_tmpfile(monkeypatch)  # FAT has no O_TMPFILE either

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", refuse)


@pytest.mark.parametrize("system", [None, without_tmpfile, without_hard_links])
def test_the_first_clip_stored_under_a_key_stays(tmp_path, monkeypatch, system):
    if system is not None:
        system(monkeypatch)
    cache = ClipCache(tmp_path)
    first, second = writer_clip(0, 0), writer_clip(1, 0)
    path = cache.path("shared", Voice(), "Hold.")
    assert np.array_equal(cache.put("shared", Voice(), "Hold.", first), first)
    stored = path.stat()
    # A second writer is given the clip already there, and the file is left as it was.
    assert np.array_equal(cache.put("shared", Voice(), "Hold.", second), first)
    assert np.array_equal(cache.get("shared", Voice(), "Hold."), first)
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (stored.st_ino, stored.st_mtime_ns)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    # What is not a clip is still replaced, by the next clip stored.
    path.write_bytes(path.read_bytes()[:-1])
    assert np.array_equal(cache.put("shared", Voice(), "Hold.", second), second)
    assert np.array_equal(cache.get("shared", Voice(), "Hold."), second)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


RACE_TEXTS = [f"Press the ball into your calf for {n} breaths." for n in range(2, 10)]
RACERS = 3


def _race(folder: str, turn: int, barrier, results) -> None:
    """In a process of its own, as a session is planned (the service's, or holdcue prepare's
    beside it): the texts said, starting at its own place in the list (espeak-ng gives a text
    slightly different samples after other texts, so each process makes clips of its own),
    stored, and their lengths planned with; then, once every process has stored its clips,
    each clip read back as it would sound."""
    texts = RACE_TEXTS[turn:] + RACE_TEXTS[:turn]
    barrier.wait()
    clips = synthesize_all(texts, Voice(), cache=ClipCache(Path(folder)), workers=1, stored=True)
    planned = {text: clips.frames(text) for text in texts}
    barrier.wait()
    heard = {text: what_sounds(clips[text]) for text in texts}
    results.put((turn, planned, heard))


def what_sounds(clip: np.ndarray) -> tuple[int, int, int]:
    """A clip's length, peak (0: silence) and CRC-32."""
    return len(clip), int(np.abs(clip.astype(np.int32)).max()), zlib.crc32(clip.tobytes())


@espeak_test
def test_processes_racing_on_a_cold_cache_hear_the_clips_they_planned_with(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(RACERS), context.Queue()
    racers = [context.Process(target=_race, args=(str(tmp_path), turn, barrier, results)) for turn in range(RACERS)]
    for racer in racers:
        racer.start()
    try:
        outcomes = [results.get(timeout=120) for _ in racers]
    finally:
        for racer in racers:
            racer.join(10)
            if racer.is_alive():
                racer.kill()
                racer.join()
    cache = ClipCache(tmp_path)
    for text in RACE_TEXTS:
        kept = cache.get(Pyttsx3Engine.name, Voice(), text)
        assert kept is not None
        for turn, planned, heard in outcomes:
            # Every process planned with the clip the cache keeps, and hears it: no silence.
            assert planned[text] == len(kept), (turn, text)
            assert heard[text] == what_sounds(kept), (turn, text)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        cache.path(Pyttsx3Engine.name, Voice(), text).name for text in RACE_TEXTS
    )


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
