"""Clips for many texts: the machinery around the engine (no espeak-ng needed): worker
processes, errors, progress, trimming."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from holdcue.errors import SpeechError
from holdcue.routine import Voice
from holdcue.speech import ClipCache, cache_all, engine, synthesis, synthesize_all
from holdcue.timeline import SAMPLE_RATE
from speech_support import CountingEngine

# Engines for tests of the machinery around the engine. Top-level classes: workers unpickle them.


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


def test_many_phrases_are_spread_over_worker_processes(tmp_path):
    texts = [f"phrase {n}" for n in range(synthesis.SMALL_BATCH + 10)]
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
    made = cache_all(texts, cache=cache, engine_factory=ProcessEngine, workers=2, progress=lambda *c: calls.append(c))
    assert made == 50 > synthesis.SMALL_BATCH
    makers = {made_by(cache.get("process", voice, text)) for voice, said in texts.items() for text in said}
    pids = {pid for pid, _ in makers}
    assert len(pids) == 2 and os.getpid() not in pids
    assert calls == [(done, 50) for done in range(51)]
    calls.clear()
    assert cache_all(texts, cache=cache, engine_factory=ProcessEngine, progress=lambda *c: calls.append(c)) == 0
    assert calls == [(50, 50)]


def test_an_error_in_a_worker_is_raised_as_it_is(tmp_path):
    texts = [f"phrase {n}" for n in range(synthesis.SMALL_BATCH + 10)]
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
    clip = engine.trim_silence(samples)
    assert clip[0] == 20
    assert len(clip) == 4000 + SAMPLE_RATE * engine.TAIL_MS // 1000
