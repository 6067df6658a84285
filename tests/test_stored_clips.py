"""Clips left in the speech cache and read as they sound (StoredClips, the service's
sessions): the same sound as clips held in memory, memory that does not grow with the
session, and a clip gone from the cache mid-session heard as silence, not a stopped session."""

from __future__ import annotations

import hashlib
import logging
import tracemalloc

import numpy as np

from holdcue import render, session, speech
from holdcue.core import controller
from holdcue.library import load_routine
from holdcue.speech import synthesis
from holdcue.speech.stored import StoredClips
from holdcue.timeline import SAMPLE_RATE

STEPS = 60  # distinct texts, far more than StoredClips.KEPT


class VaryingEngine:
    """Stands in for espeak-ng: a clip of its own pitch and length for every text."""

    name = "varying"

    def synthesize(self, text, voice):
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
        length = SAMPLE_RATE + seed % SAMPLE_RATE
        pitch = 150 + seed % 300
        return (np.sin(np.arange(length) * 2 * np.pi * pitch / SAMPLE_RATE) * (4000 + seed % 8000)).astype(np.int16)


def many_texts(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text(
        "title: Many\ncues: {time_left: false, halfway: false, countdown: 0}\nsteps:\n"
        + "".join(f"  - hold: Press point number {i} along the calf.\n    time: 10s\n" for i in range(STEPS))
    )
    return load_routine(str(path))


def built(tmp_path, stored):
    return session.build(
        many_texts(tmp_path), cache=speech.ClipCache(tmp_path / "cache"), engine_factory=VaryingEngine, stored=stored
    )


def test_a_stored_session_sounds_exactly_as_one_held_in_memory(tmp_path):
    held = built(tmp_path, stored=False)
    kept = built(tmp_path, stored=True)
    assert isinstance(kept.clips, StoredClips) and not isinstance(held.clips, StoredClips)
    assert kept.timeline == held.timeline and set(kept.clips) == set(held.clips)
    for text in held.clips:
        assert np.array_equal(kept.clips[text], held.clips[text])
    together = render.render(held.timeline, held.clips, held.tones)
    assert np.array_equal(render.render(kept.timeline, kept.clips, kept.tones), together)


def retained(make):
    """What ``make()`` returns, and the bytes it holds once made."""
    before = tracemalloc.get_traced_memory()[0]
    made = make()
    return made, tracemalloc.get_traced_memory()[0] - before


def test_a_stored_session_holds_only_the_clips_that_sound(tmp_path):
    built(tmp_path, stored=False)  # the cache filled
    tracemalloc.start()
    try:
        held, held_bytes = retained(lambda: built(tmp_path, stored=False))
        speech_bytes = sum(clip.nbytes for clip in held.clips.values())
        del held
        kept, kept_bytes = retained(lambda: built(tmp_path, stored=True))
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        for _ in render.render_blocks(kept.timeline, kept.clips, kept.tones):
            pass
        rendering = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    largest = 2 * 2 * SAMPLE_RATE  # bytes of the longest clip VaryingEngine makes
    assert held_bytes - kept_bytes > 0.9 * speech_bytes, (held_bytes, kept_bytes, speech_bytes)
    assert rendering < (StoredClips.KEPT + 4) * largest < speech_bytes, (rendering, speech_bytes)


def test_a_clip_gone_from_the_cache_sounds_as_silence_and_the_session_goes_on(tmp_path, caplog):
    kept = built(tmp_path, stored=True)
    gone, other = [e for e in kept.timeline.events if e.kind == "speech" and "Press point number" in e.text][:2]
    cache = speech.ClipCache(tmp_path / "cache")
    cache.path(VaryingEngine.name, kept.routine.voice, gone.text).unlink()
    with caplog.at_level(logging.WARNING, logger="holdcue.speech"):
        out = render.render(kept.timeline, kept.clips, kept.tones)
    assert len(out) == kept.timeline.length
    assert not out[gone.start : gone.end].any()
    assert np.abs(out[other.start : other.end].astype(np.int32)).max() > 1000
    assert f"the clip of {gone.text!r} is gone from the speech cache" in caplog.text


def test_a_clip_the_cache_could_not_keep_stays_in_memory(tmp_path):
    routine = many_texts(tmp_path)
    cache = speech.ClipCache(tmp_path / "cache")
    text = "Next: Press point number 3 along the calf. Ten seconds. Get into position."
    blocked = cache.path(VaryingEngine.name, routine.voice, session.said_texts(routine, [text])[text])
    blocked.mkdir(parents=True)
    (blocked / "someone's file").write_text("not ours")  # a folder in the clip's place: put() leaves it
    kept = session.build(routine, cache=cache, engine_factory=VaryingEngine, stored=True)
    held = session.build(routine, cache=speech.ClipCache(tmp_path / "elsewhere"), engine_factory=VaryingEngine)
    assert np.array_equal(kept.clips[text], held.clips[text])
    assert (blocked / "someone's file").exists()


def test_the_service_builds_its_sessions_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(synthesis, "factory_for", lambda voice: VaryingEngine)
    assert isinstance(controller._build_stored(many_texts(tmp_path)).clips, StoredClips)
