"""The renderer, judged by the samples it makes: placement, levels, blocks, memory."""

import tracemalloc
import zlib

import numpy as np
import pytest

from compiler_helpers import clip_length, shoulders, tone_length
from holdcue import compiler, render
from holdcue.errors import HoldcueError
from holdcue.timeline import SAMPLE_RATE, Event, Segment, Timeline

RATE = SAMPLE_RATE


def burst(n: int, key: str, amplitude: float = 0.3) -> np.ndarray:
    """A distinct, deterministic noise burst whose first and last samples are loud."""
    x = np.random.default_rng(zlib.crc32(key.encode())).standard_normal(n) * amplitude / 3
    x[0], x[-1] = amplitude, -amplitude
    return np.clip(np.rint(x * 32767), -32767, 32767).astype(np.int16)


def timeline_of(events, length, title="Test") -> Timeline:
    events = tuple(sorted(events, key=lambda e: e.start))
    return Timeline(title, RATE, length, events, (Segment(title, "intro", 0, length),))


def speech(start, text, clips):
    return Event(start, start + len(clips[text]), "speech", text=text)


def tone(start, name, tones):
    return Event(start, start + len(tones[name]), "tone", name=name)


def sound_of(event, clips, tones):
    return clips[event.text] if event.kind == "speech" else tones[event.name]


def correlation(a, b) -> float:
    a, b = a.astype(float), b.astype(float)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def assert_every_sound_in_place(out, timeline, clips, tones):
    """Each event's sound starts and ends at its event's samples, and is its own sound."""
    busy = np.zeros(timeline.length + 1, bool)
    for e in timeline.events:
        busy[e.start : e.end] = True
    for e in timeline.events:
        sound = sound_of(e, clips, tones)
        assert out[e.start] != 0 and out[e.end - 1] != 0, e
        if e.start > 0 and not busy[e.start - 1]:
            assert out[e.start - 1] == 0, e
        if e.end < timeline.length and not busy[e.end]:
            assert out[e.end] == 0, e
        assert correlation(out[e.start : e.end], sound) > 0.999, e
        # one sample early or late would not match: the sound is placed to the sample
        assert correlation(out[e.start + 1 : e.end + 1], sound) < 0.5, e


@pytest.fixture
def sounds():
    clips = {"Hello there.": burst(9000, "a"), "Next step.": burst(15000, "b", 0.02)}
    tones = {"start": burst(4000, "start", 0.9), "tick": burst(1300, "tick", 0.5), "end": burst(6000, "end")}
    return clips, tones


def test_sounds_land_to_the_sample(sounds):
    clips, tones = sounds
    events = [
        speech(1001, "Hello there.", clips),
        tone(17_003, "start", tones),
        tone(30_000, "tick", tones),
        tone(31_300, "tick", tones),  # back to back with the one before
        speech(40_017, "Next step.", clips),
        tone(60_000, "end", tones),
    ]
    timeline = timeline_of(events, 70_000)
    out = render.render(timeline, clips, tones)
    assert out.dtype == np.int16 and len(out) == timeline.length
    assert_every_sound_in_place(out, timeline, clips, tones)
    assert not out[:1001].any() and not out[66_000:].any()


def test_compiled_routine_renders_every_cue_in_place():
    timeline = compiler.compile(shoulders(), clip_length, tone_length, RATE)
    clips = {e.text: burst(e.end - e.start, e.text) for e in timeline.events if e.kind == "speech"}
    tones = {e.name: burst(e.end - e.start, e.name, 0.6) for e in timeline.events if e.kind == "tone"}
    out = render.render(timeline, clips, tones)
    assert len(out) == timeline.length
    assert_every_sound_in_place(out, timeline, clips, tones)
    # and nothing sounds outside the events
    busy = np.zeros(timeline.length, bool)
    for e in timeline.events:
        busy[e.start : e.end] = True
    assert not out[~busy].any()
    # every spoken cue comes out equally loud, the tones 6 dB below
    levels = {e.kind: [] for e in timeline.events}
    for e in timeline.events:
        levels[e.kind].append(20 * np.log10(render.loudness(out[e.start : e.end], RATE)))
    assert np.allclose(levels["speech"], render.SPEECH_DBFS, atol=0.3)
    assert np.allclose(levels["tone"], render.SPEECH_DBFS - render.TONE_BELOW_DB, atol=0.3)


@pytest.mark.parametrize("block", [1, 1000, 4096, render.BLOCK, 100_000])
def test_blocks_put_together_are_the_whole(sounds, block):
    clips, tones = sounds
    timeline = timeline_of(
        [speech(100, "Hello there.", clips), tone(5000, "start", tones), speech(20_000, "Next step.", clips)], 40_000
    )
    whole = render.render(timeline, clips, tones)
    blocks = list(render.render_blocks(timeline, clips, tones, block=block if block > 1 else 997))
    assert all(0 < len(b) <= max(block, 997) and b.dtype == np.int16 for b in blocks)
    assert np.array_equal(np.concatenate(blocks), whole)


def test_windows_are_slices_of_the_whole(sounds):
    clips, tones = sounds
    timeline = timeline_of(
        [speech(100, "Hello there.", clips), tone(5000, "start", tones), speech(20_000, "Next step.", clips)], 40_000
    )
    whole = render.render(timeline, clips, tones)
    for start, stop in [
        (0, 40_000),
        (0, 1),
        (5001, 5002),
        (3000, 25_000),
        (9100, 9100),
        (39_999, 40_000),
        (20_500, 34_999),
    ]:
        assert np.array_equal(render.render(timeline, clips, tones, start=start, stop=stop), whole[start:stop])
        blocks = list(render.render_blocks(timeline, clips, tones, start=start, stop=stop, block=777))
        assert np.array_equal(np.concatenate(blocks) if blocks else np.zeros(0, np.int16), whole[start:stop])
    with pytest.raises(ValueError):
        render.render(timeline, clips, tones, start=10, stop=5)
    with pytest.raises(ValueError):
        render.render(timeline, clips, tones, stop=40_001)


def test_overlapping_cues_do_not_clip(sounds):
    clips, tones = sounds
    clips = {**clips, "Loud.": burst(20_000, "loud", 0.95), "Also loud.": burst(20_000, "also", 0.95)}
    timeline = timeline_of(
        [speech(0, "Loud.", clips), speech(5000, "Also loud.", clips), tone(8000, "start", tones)], 30_000
    )
    for volume in (1.0, 3.0):
        out = render.render(timeline, clips, tones, volume=volume).astype(float)
        mix = np.zeros(30_000)
        for at, sound, target in [
            (0, clips["Loud."], render.SPEECH_DBFS),
            (5000, clips["Also loud."], render.SPEECH_DBFS),
            (8000, tones["start"], render.SPEECH_DBFS - render.TONE_BELOW_DB),
        ]:
            mix[at : at + len(sound)] += sound * render.gain(sound, RATE, target)
        mix *= volume
        quiet = np.abs(mix) <= render.CEILING
        # below the ceiling the mix is exact; above it, peaks bend smoothly towards full
        # scale: no wrap-around, no flat tops, louder stays louder
        assert np.abs(out[quiet] - np.rint(mix[quiet] * 32767)).max() <= 1
        assert np.all(np.sign(out[np.abs(mix) > 0.01]) == np.sign(mix[np.abs(mix) > 0.01]))
        over = np.flatnonzero(~quiet)
        assert (volume == 3.0) == (len(over) > 100)
        if len(over):
            order = over[np.argsort(np.abs(mix[over]))]
            assert np.all(np.diff(np.abs(out[order])) >= -1)
            assert np.all(np.abs(out[over]) >= render.CEILING * 32767 - 1)
            bent = over[np.abs(mix[over]) < 1.2]
            assert len(bent) > 100 and np.all(np.abs(out[bent]) < 32767)
        assert correlation(out[5000:20_000], mix[5000:20_000]) > 0.99


def test_clips_at_very_different_levels_come_out_equally_loud():
    quiet = burst(22050, "quiet", 0.005)
    loud = burst(22050, "loud", 0.9)
    syllables = (np.sin(np.linspace(0, 12 * np.pi, 22050)) > 0).astype(float)  # pauses between words
    clips = {"quiet": (quiet * syllables).astype(np.int16), "loud": (loud * syllables).astype(np.int16)}
    timeline = timeline_of([speech(0, "quiet", clips), speech(30_000, "loud", clips)], 60_000)
    out = render.render(timeline, clips, {})
    first = 20 * np.log10(render.loudness(out[:22050], RATE))
    second = 20 * np.log10(render.loudness(out[30_000:52_050], RATE))
    assert abs(first - render.SPEECH_DBFS) < 0.2 and abs(second - render.SPEECH_DBFS) < 0.2
    half = render.render(timeline, clips, {}, volume=0.5)
    assert abs(20 * np.log10(render.loudness(half[:22050], RATE)) - (render.SPEECH_DBFS - 6.02)) < 0.2


def test_the_voice_volume_sets_speech_against_the_tones(sounds):
    clips, tones = sounds
    events = [speech(0, "Hello there.", clips), tone(10_000, "start", tones), speech(20_000, "Next step.", clips)]
    timeline = timeline_of(events, 40_000)
    full = render.render(timeline, clips, tones).astype(float)
    half = render.render(timeline, clips, tones, speech_volume=0.5).astype(float)
    for event in timeline.events:
        piece = slice(event.start, event.end)
        ratio = np.abs(half[piece]).max() / np.abs(full[piece]).max()
        assert ratio == pytest.approx(0.5 if event.kind == "speech" else 1.0, abs=0.01), event


def test_no_sound_peaks_above_the_ceiling():
    spiky = burst(22050, "spiky", 0.01)
    spiky[1000] = 30_000  # one click in quiet speech: levelling stops at the ceiling
    clips = {"spiky": spiky}
    out = render.render(timeline_of([speech(0, "spiky", clips)], 22050), clips, {})
    assert abs(int(np.abs(out).max()) - render.CEILING * 32767) <= 1
    assert 20 * np.log10(render.loudness(out, RATE)) < render.SPEECH_DBFS - 3


def test_silent_clip_stays_silent():
    clips = {"...": np.zeros(500, np.int16)}
    timeline = timeline_of([speech(10, "...", clips)], 1000)
    assert not render.render(timeline, clips, {}).any()


def test_missing_or_wrong_length_sound_is_a_clear_error_before_any_block(sounds):
    clips, tones = sounds
    timeline = timeline_of([speech(0, "Hello there.", clips), tone(20_000, "start", tones)], 30_000)
    with pytest.raises(HoldcueError, match="no tone for 'start'"):
        render.render_blocks(timeline, clips, {})
    short = {"Hello there.": clips["Hello there."][:-5]}
    with pytest.raises(HoldcueError, match="8995 samples long but its event lasts 9000"):
        render.render_blocks(timeline, short, tones)


def peak_traced_bytes(seconds: int) -> int:
    clips = {"Hold.": burst(RATE * 2, "hold")}
    events = [speech(k * RATE * 600, "Hold.", clips) for k in range(seconds // 600)]
    timeline = timeline_of(events, seconds * RATE)
    tracemalloc.start()
    try:
        total = sum(len(b) for b in render.render_blocks(timeline, clips, {}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == timeline.length
    return peak


def test_memory_does_not_grow_with_the_length():
    short, long = peak_traced_bytes(10 * 60), peak_traced_bytes(3 * 3600)
    assert long < short + 100_000
    assert long < 2_000_000


class Measuring(dict):
    """Sounds that tell their length and level themselves (render.Measured, as the speech
    cache's clips do), noting which are measured and which read."""

    def __init__(self, sounds):
        super().__init__(sounds)
        self.measured: list[str] = []
        self.read: list[str] = []

    def frames(self, key):
        return len(super().__getitem__(key))

    def level(self, key):
        self.measured.append(key)
        return render.level(super().__getitem__(key), RATE)

    def __getitem__(self, key):
        self.read.append(key)
        return super().__getitem__(key)


@pytest.mark.parametrize("told", [False, True])
def test_a_sound_is_measured_when_it_first_sounds_not_before_the_first_block(told, monkeypatch):
    """A take starts at once: its first block waits for no sound that comes later."""
    made = {f"cue {i}": burst(RATE // 2, f"cue {i}", 0.05 * (i + 1)) for i in range(6)}
    events = [speech(i * 2 * RATE, f"cue {i}", made) for i in range(6)]
    timeline = timeline_of(events, 12 * RATE)
    whole = render.render(timeline, made, {})
    measured: list[int] = []
    level = render.level
    monkeypatch.setattr(render, "level", lambda samples, rate: measured.append(len(samples)) or level(samples, rate))
    clips = Measuring(made) if told else made
    blocks = render.render_blocks(timeline, clips, {}, block=RATE)
    first = next(blocks)
    if told:
        assert clips.measured == clips.read == ["cue 0"]
    else:
        assert measured == [RATE // 2]
    rest = list(blocks)
    assert len(clips.measured if told else measured) == 6
    assert np.array_equal(np.concatenate([first, *rest]), whole)


def test_music_that_fails_part_way_is_dropped_when_asked_and_ends_the_blocks_otherwise(sounds, tmp_path, monkeypatch):
    """A FLAC cut short (its header says 20 s, its frames end near 8 s): with ``music_lost``
    the blocks go on to the end, without music from where it failed, and it is told once;
    without it (an export), the failure ends the blocks."""
    import soundfile

    from holdcue.errors import MusicError
    from holdcue.routine import Music

    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    t = np.arange(RATE * 20) / RATE
    whole = tmp_path / "whole.flac"
    soundfile.write(whole, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), RATE)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 5])
    clips, tones = sounds
    timeline = timeline_of([speech(RATE, "Hello there.", clips), speech(15 * RATE, "Next step.", clips)], 16 * RATE)
    music = Music(str(cut))
    lost: list[MusicError] = []
    blocks = list(render.render_blocks(timeline, clips, tones, music=music, music_lost=lost.append))
    out = np.concatenate(blocks)
    assert len(out) == timeline.length
    assert len(lost) == 1 and str(cut) in str(lost[0])
    assert np.abs(out[3 * RATE : 4 * RATE]).max() > 1000  # the music, before it failed
    assert not out[12 * RATE : 15 * RATE].any()  # after: silence between the cues
    assert correlation(out[15 * RATE : timeline.events[-1].end], clips["Next step."]) > 0.999  # the last cue
    with pytest.raises(MusicError, match="cut.flac"):
        list(render.render_blocks(timeline, clips, tones, music=music))
