"""Music under the voice (music/bed.py), judged by the samples: ducking in and out of cues,
loops and fades, cue onsets unchanged, every input format, flat memory; and the levels a
``music:`` gives (music/schema.py). The checks on a file's header are in test_music_source.py."""

import dataclasses
import tracemalloc
import zlib

import numpy as np
import pytest
import soundfile

from compiler_helpers import clip_length, shoulders, tone_length
from holdcue import compiler, export, music, render
from holdcue.errors import MusicError
from holdcue.routine import Music
from holdcue.timeline import SAMPLE_RATE, Event, Segment, Session, Timeline

RATE = SAMPLE_RATE
FILE_RATE = 44100  # music files are made at the usual rate, so they are resampled


def chord(seconds: float, rate: int = FILE_RATE, channels: int = 2, seed: int = 1) -> np.ndarray:
    """A steady A-minor chord with a little noise: float32 frames, one column per channel."""
    t = np.arange(round(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.6, 329.6)) / 4
    noise = np.random.default_rng(seed).standard_normal((len(t), channels)) * 0.02
    return (tone[:, None] + noise).astype(np.float32)


def write_music(path, frames: np.ndarray, rate: int = FILE_RATE) -> str:
    """``frames`` as a file of the format its suffix names (MP3 through lameenc)."""
    if str(path).endswith(".mp3"):
        import lameenc

        encoder = lameenc.Encoder()
        encoder.set_channels(frames.shape[1])
        encoder.set_in_sample_rate(rate)
        encoder.set_bit_rate(128)
        pcm = np.rint(frames * 32767).astype(np.int16).tobytes()
        path.write_bytes(encoder.encode(pcm) + encoder.flush())
    else:
        subtype = {".wav": "PCM_16", ".flac": "PCM_16", ".ogg": "VORBIS"}[path.suffix]
        soundfile.write(path, frames, rate, subtype)
    return str(path)


def voice(n: int, key: str) -> np.ndarray:
    """A voice-like buzz: loud from its first sample to its last."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    x = rng.standard_normal(n) * 0.1 + np.sign(np.sin(np.arange(n) * 2 * np.pi * 140 / RATE)) * 0.2
    x[0], x[-1] = 0.3, -0.3
    return np.rint(x * 32767).astype(np.int16)


def timeline_of(events, length) -> Timeline:
    return Timeline(
        "Test", RATE, length, tuple(sorted(events, key=lambda e: e.start)), (Segment("T", "hold", 0, length),)
    )


def db(samples) -> float:
    x = np.asarray(samples, np.float64)
    return 10 * np.log10(np.mean(x**2))


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Decoded music goes to a cache folder of the test's own, never the user's."""
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "music"


@pytest.fixture(scope="module")
def flac(tmp_path_factory):
    return write_music(tmp_path_factory.mktemp("music") / "bed.flac", chord(45))  # no seam in a 40 s session


@pytest.fixture(scope="module")
def spoken():
    """Three cues 10 s apart in a 40 s session, their clips, and the music alone (cues silent)."""
    clips = {f"Cue {k}.": voice(RATE * 2, f"Cue {k}.") for k in range(3)}
    events = [Event(RATE * (8 + 10 * k), RATE * (10 + 10 * k), "speech", text=f"Cue {k}.") for k in range(3)]
    return timeline_of(events, RATE * 40), clips


def test_music_is_turned_down_under_cues_by_the_depth_and_back_up_between(spoken, flac):
    timeline, clips = spoken
    silent = {text: np.zeros_like(clip) for text, clip in clips.items()}  # the music alone, ducked as with the cues
    bed = render.render(timeline, silent, {}, music=Music(flac, level_db=-12, duck_db=-15))
    for event in timeline.events:
        under = db(bed[event.start : event.end])
        before = db(bed[event.start - 3 * RATE : event.start - RATE])  # well before the attack
        assert under - before == pytest.approx(-15, abs=0.5)
        # look-ahead: fully down at the cue's first sample, not yet moving ATTACK before it
        at, ahead = abs(int(bed[event.start])), event.start - round(music.ATTACK * RATE)
        assert db(bed[ahead - 2000 : ahead]) == pytest.approx(before, abs=0.3)
        assert db(bed[event.start : event.start + 2000]) == pytest.approx(under, abs=0.3)
        assert at < 32767 * 10 ** ((-12 - 15) / 20)
        # back up within RELEASE after the cue
        back = event.end + round(music.RELEASE * RATE)
        assert db(bed[back : back + 2 * RATE]) == pytest.approx(before, abs=0.5)


def test_cue_samples_are_the_same_with_music_on(spoken, flac):
    timeline, clips = spoken
    without = render.render(timeline, clips, {}).astype(np.int32)
    silent = {text: np.zeros_like(clip) for text, clip in clips.items()}
    alone = render.render(timeline, silent, {}, music=Music(flac)).astype(np.int32)
    both = render.render(timeline, clips, {}, music=Music(flac)).astype(np.int32)
    assert np.abs(alone).max() > 300  # the music is there
    # nothing reaches the limiter here: with music is without plus the music alone, to rounding
    assert np.abs(both - alone - without).max() <= 1
    for event in timeline.events:
        assert np.array_equal(without[event.start - 100 : event.start], np.zeros(100))
        assert without[event.start] != 0


def test_blocks_and_windows_do_not_change_the_music(spoken, flac):
    timeline, clips = spoken
    whole = render.render(timeline, clips, {}, music=Music(flac))
    small = np.concatenate(list(render.render_blocks(timeline, clips, {}, music=Music(flac), block=999)))
    assert np.array_equal(whole, small)
    # a window from later (a take after a pause) matches once its short fade-in is over
    start = RATE * 15
    window = render.render(timeline, clips, {}, start=start, music=Music(flac))
    settled = round(music.RESUME_FADE * RATE)
    assert np.array_equal(window[settled:], whole[start + settled :])
    assert abs(int(window[0])) < 50


def test_a_short_file_loops_with_a_seamless_crossfade_and_fades_out_at_the_end(tmp_path):
    frames = chord(3, rate=RATE, channels=1)
    path = write_music(tmp_path / "loop.wav", frames, RATE)
    length = RATE * 20
    out = render.render(timeline_of([], length), {}, {}, music=Music(path, level_db=0)).astype(np.float64) / 32767
    overlap = min(round(music.CROSSFADE * RATE), 3 * RATE // 4)
    period = 3 * RATE - overlap
    # between seams each lap is the file itself (a lap after the fade-in)
    lap = out[period + overlap : 2 * period]
    assert np.allclose(lap, frames[overlap:period, 0], atol=2 / 32767)
    assert np.allclose(out[2 * period + overlap : 3 * period], lap, atol=2 / 32767)
    # at a seam the level holds (equal power) and nothing jumps
    steps = np.abs(np.diff(out[RATE * 3 : RATE * 15]))
    assert steps.max() < 3 * np.abs(np.diff(frames[:, 0])).max()
    seam = out[2 * period : 2 * period + overlap]
    assert db(seam) == pytest.approx(db(lap), abs=1.5)
    # it fades in at the start and out to silence at the end
    assert abs(out[0]) < 0.001 and abs(out[-1]) < 0.001
    assert db(out[-RATE // 2 :]) < db(lap) - 20
    assert db(out[: RATE // 4]) < db(lap) - 10


def test_music_played_once_stops_at_its_end(tmp_path):
    frames = chord(3, rate=RATE, channels=1)
    path = write_music(tmp_path / "once.wav", frames, RATE)
    out = render.render(timeline_of([], RATE * 10), {}, {}, music=Music(path, level_db=0, loop=False))
    assert np.allclose(out[RATE * 2 : RATE * 3] / 32767, frames[RATE * 2 :, 0], atol=2 / 32767)  # to its last sample
    assert not out[3 * RATE :].any()


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3"])
def test_every_format_is_heard_at_the_same_level(tmp_path, suffix):
    reference = write_music(tmp_path / "reference.wav", chord(6))
    path = write_music(tmp_path / f"bed{suffix}", chord(6))
    info = music.music_info(path)
    assert (info.channels, info.rate) == (2, FILE_RATE)
    assert info.format == {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}[suffix]
    timeline = timeline_of([], RATE * 5)
    heard = render.render(timeline, {}, {}, music=Music(path))
    expected = render.render(timeline, {}, {}, music=Music(reference))
    middle = slice(2 * RATE, 3 * RATE)
    assert db(heard[middle]) == pytest.approx(db(expected[middle]), abs=0.5)
    assert db(heard[middle]) == pytest.approx(db(chord(1)[:, 0] * 32767) - 18, abs=0.5)  # the default level


def test_resampling_keeps_the_music_and_drops_what_the_session_rate_cannot_hold(tmp_path):
    t = np.arange(FILE_RATE * 3) / FILE_RATE
    low, high = np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 16000 * t)  # 16 kHz would fold to 6 kHz
    path = write_music(tmp_path / "two.wav", (0.4 * np.stack([low, high], 1)).astype(np.float32))
    out = render.render(timeline_of([], RATE * 3), {}, {}, music=Music(path, level_db=0)).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(out[RATE : 2 * RATE]))
    at = lambda hz: spectrum[hz - 20 : hz + 20].max()  # noqa: E731 - 1 Hz bins over one second
    assert at(6050) < at(1000) / 1000  # the alias of 16 kHz is 60 dB below the music


def test_export_carries_the_music_and_the_cues_where_they_were(tmp_path, flac):
    timeline = compiler.compile(shoulders(), clip_length, tone_length, RATE)
    clips = {e.text: voice(e.end - e.start, e.text) for e in timeline.events if e.kind == "speech"}
    tones = {e.name: voice(e.end - e.start, e.name) for e in timeline.events if e.kind == "tone"}
    plain = Session(shoulders(), timeline, clips, tones)
    scored = dataclasses.replace(plain, music=Music(flac))
    without = soundfile.read(export.export(plain, tmp_path / "plain.wav"), dtype="int16")[0].astype(np.int32)
    with_music = soundfile.read(export.export(scored, tmp_path / "music.wav"), dtype="int16")[0].astype(np.int32)
    expected = render.render(timeline, clips, tones, music=Music(flac)).astype(np.int32)
    assert np.array_equal(with_music, expected)
    quiet = [e for e in timeline.events if e.start > RATE and not without[e.start - RATE : e.start].any()]
    assert quiet and all(with_music[e.start - RATE : e.start].any() for e in quiet)  # music where there was silence


def peak_traced_bytes(path: str, hours: float) -> int:
    clips = {"Hold.": voice(RATE * 2, "Hold.")}
    length = round(hours * 3600 * RATE)
    events = [Event(k, k + RATE * 2, "speech", text="Hold.") for k in range(RATE * 30, length - RATE * 10, RATE * 60)]
    timeline = timeline_of(events, length)
    tracemalloc.start()
    try:
        total = sum(len(b) for b in render.render_blocks(timeline, clips, {}, music=Music(path)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == length
    return peak


def test_memory_stays_flat_over_a_two_hour_session_with_ten_minutes_of_music(tmp_path):
    # 10 minutes of music decoded would be 26 MB at 22050 Hz: longer than what is kept whole, so it streams
    path = tmp_path / "long.flac"
    with soundfile.SoundFile(path, "w", RATE, 1, "PCM_16") as out:
        for second in range(600):
            out.write(chord(1, rate=RATE, channels=1, seed=second))
    short, long = peak_traced_bytes(str(path), 0.25), peak_traced_bytes(str(path), 2)
    assert long < short + 200_000
    assert long < 3_000_000


def test_a_file_that_vanished_since_it_was_checked_is_a_music_error(tmp_path, spoken):
    path = write_music(tmp_path / "gone.wav", chord(2))
    timeline, clips = spoken
    (tmp_path / "gone.wav").unlink()
    with pytest.raises(MusicError, match="gone.wav: the music file does not exist"):
        render.render_blocks(timeline, clips, {}, music=Music(path))


@pytest.mark.parametrize(
    ("written", "expected"),
    [("-18 dB", -18.0), ("-6.5db", -6.5), (0.5, pytest.approx(-6.0206)), (1, 0.0), ("0 dB", 0.0)],
)
def test_levels_are_decibels_or_factors(written, expected):
    assert music.gain_db(written) == expected


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("+3 dB", "3 dB is out of range; use -60 dB to 0 dB"),
        ("-80 dB", "-80 dB is out of range"),
        (1.5, "1.5 is not a factor from 0 to 1"),
        (0, "0 is not a factor from 0 to 1"),
        ("loud", '"loud" is not a level'),
        (True, "must be a level"),
    ],
)
def test_bad_levels_say_what_to_write(written, message):
    with pytest.raises(ValueError, match=message):
        music.gain_db(written)


@pytest.mark.parametrize("rate", [8000, 16000, 32000, 44100, 48000, 96000])
def test_any_file_rate_plays_at_its_pitch_and_level_whatever_the_blocks(tmp_path, rate):
    t = np.arange(rate * 3) / rate
    path = write_music(tmp_path / "sine.wav", (0.5 * np.sin(2 * np.pi * 1000 * t))[:, None].astype(np.float32), rate)
    timeline = timeline_of([], RATE * 3)
    out = render.render(timeline, {}, {}, music=Music(path, level_db=0))
    middle = out[RATE : 2 * RATE].astype(np.float64) / 32767
    assert np.argmax(np.abs(np.fft.rfft(middle))) == 1000  # 1 Hz bins over one second
    # from a lower rate, linear interpolation dulls 1 kHz a little (-0.45 dB from 8 kHz)
    assert db(middle) == pytest.approx(db(0.5 * np.sin(2 * np.pi * 1000 * t[:rate])), abs=0.2 if rate >= RATE else 0.6)
    pieces = np.concatenate(list(render.render_blocks(timeline, {}, {}, music=Music(path, level_db=0), block=777)))
    assert np.array_equal(pieces, out)
