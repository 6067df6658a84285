"""The cache of decoded music (music/cache.py): a second render reads the music back instead of
decoding it, sample for sample the same; a changed file, a damaged or foreign entry is a
miss and is written anew; a render cut short keeps what it decoded from the start and
leaves no temporary file; the folder stays within its size."""

from __future__ import annotations

import os

import numpy as np
import pytest

from holdcue import music, render
from holdcue.routine import Music
from holdcue.timeline import SAMPLE_RATE, Event
from test_music import chord, timeline_of, voice, write_music

RATE = SAMPLE_RATE


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The test's own cache folder; the music's entries are in cache / "music"."""
    monkeypatch.setenv("HOLDCUE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "music"


@pytest.fixture
def timeline():
    events = [Event(RATE * (3 + 6 * k), RATE * (5 + 6 * k), "speech", text="Cue.") for k in range(3)]
    return timeline_of(events, RATE * 20)


CLIPS = {"Cue.": voice(RATE * 2, "Cue.")}


def entries(folder) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


def uncached(monkeypatch, timeline, path, **kwargs) -> np.ndarray:
    """The render with no cache at all: its folder cannot be made (a file stands in the way)."""
    with monkeypatch.context() as patch:
        blocker = music.default_cache_dir().parent.parent / "not-a-folder"
        blocker.write_bytes(b"")
        patch.setenv("HOLDCUE_CACHE_DIR", str(blocker))
        out = render.render(timeline, CLIPS, {}, music=Music(path, **kwargs))
    blocker.unlink()
    return out


def no_decoding(monkeypatch):
    """From here on, decoding the file fails the test: the music must come from the cache."""

    def refuse(*args):
        raise AssertionError("the music was decoded again")

    monkeypatch.setattr(music.source, "_Resampled", refuse)


def test_a_second_render_reads_the_cache_and_sounds_the_same(tmp_path, cache, timeline, monkeypatch):
    path = write_music(tmp_path / "bed.mp3", chord(12))
    reference = uncached(monkeypatch, timeline, path)
    assert entries(cache) == []
    first = render.render(timeline, CLIPS, {}, music=Music(path))
    assert len(entries(cache)) == 1 and entries(cache)[0].endswith(".f32")
    no_decoding(monkeypatch)
    second = render.render(timeline, CLIPS, {}, music=Music(path))
    assert np.array_equal(first, reference)
    assert np.array_equal(second, reference)
    # a window from later, in small blocks, is the same music too
    later = render.render_blocks(timeline, CLIPS, {}, start=RATE * 8, block=1000, music=Music(path))
    window = np.concatenate(list(later))
    settled = round(music.RESUME_FADE * RATE)
    assert np.array_equal(window[settled:], reference[RATE * 8 + settled :])


def test_a_changed_file_is_decoded_again(tmp_path, cache, timeline, monkeypatch):
    path = write_music(tmp_path / "bed.flac", chord(12, seed=1))
    before = render.render(timeline, CLIPS, {}, music=Music(path))
    write_music(tmp_path / "bed.flac", chord(12, seed=2) * 0.5)  # same name, other music
    after = render.render(timeline, CLIPS, {}, music=Music(path))
    assert np.array_equal(after, uncached(monkeypatch, timeline, path))
    assert not np.array_equal(after, before)
    assert len(entries(cache)) == 2  # one per version of the file; the old one ages out


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:100] + bytes([data[100] ^ 0x40]) + data[101:],  # a sample flipped: its chunk's CRC fails
        lambda data: data[: len(data) // 2],  # cut short
        lambda data: b"nonsense" + data[8:],  # not an entry
        lambda data: b"",
    ],
    ids=["flipped", "truncated", "foreign", "empty"],
)
def test_a_damaged_entry_is_a_miss_and_is_written_anew(tmp_path, cache, timeline, monkeypatch, damage):
    path = write_music(tmp_path / "bed.wav", chord(12))
    reference = render.render(timeline, CLIPS, {}, music=Music(path))
    [name] = entries(cache)
    entry = cache / name
    entry.write_bytes(damage(entry.read_bytes()))
    assert np.array_equal(render.render(timeline, CLIPS, {}, music=Music(path)), reference)  # decoded again
    if not (cache / name).exists():  # a bad chunk is found as it is read: the entry goes, the next render writes it
        assert np.array_equal(render.render(timeline, CLIPS, {}, music=Music(path)), reference)
    no_decoding(monkeypatch)
    assert np.array_equal(render.render(timeline, CLIPS, {}, music=Music(path)), reference)
    assert entries(cache) == [name]


def test_streamed_music_keeps_what_a_render_got_to_and_a_longer_render_the_rest(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(music.bed, "KEEP_SECONDS", 5)  # a 30 s file is then read as it plays, not kept whole
    path = write_music(tmp_path / "long.ogg", chord(30))
    short, long = timeline_of([], RATE * 12), timeline_of([], RATE * 50)
    render.render(short, {}, {}, music=Music(path))
    [name] = entries(cache)
    held = int.from_bytes((cache / name).read_bytes()[16:24], "little")  # after magic, rate and chunk size
    assert held == RATE * 12  # a prefix: as far as the short session went
    whole = render.render(long, {}, {}, music=Music(path))  # reads the prefix, decodes the rest, keeps it all
    assert np.array_equal(whole, uncached(monkeypatch, long, path))
    no_decoding(monkeypatch)
    assert np.array_equal(render.render(long, {}, {}, music=Music(path)), whole)
    assert entries(cache) == [name]


def test_a_render_cut_short_leaves_no_temporary_file(tmp_path, cache, timeline, monkeypatch):
    monkeypatch.setattr(music.bed, "KEEP_SECONDS", 5)
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)  # the named .part fallback: the one that could be left
    path = write_music(tmp_path / "bed.flac", chord(30))
    unplayed = render.render_blocks(timeline, CLIPS, {}, music=Music(path), block=4096)
    del unplayed  # made and dropped, never played: it wrote nothing
    assert entries(cache) == []
    blocks = render.render_blocks(timeline, CLIPS, {}, music=Music(path), block=4096)
    next(blocks), next(blocks)
    assert any(name.endswith(".part") for name in entries(cache))  # being written
    blocks.close()  # the consumer stops (Ctrl-C, quit): what was decoded from the start is kept
    [name] = entries(cache)
    assert name.endswith(".f32")

    def broken(self, sync=True):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(music.cache.atomic.NewFile, "commit", broken)
    heard = render.render(timeline, CLIPS, {}, music=Music(path))  # a longer entry cannot be put in place
    assert entries(cache) == [name]  # it is dropped, the music played all the same
    assert np.array_equal(heard, uncached(monkeypatch, timeline, path))


def test_the_folder_keeps_to_its_size_dropping_the_least_recently_used(tmp_path, cache, timeline, monkeypatch):
    paths = [write_music(tmp_path / f"bed{k}.wav", chord(12, seed=k)) for k in range(3)]
    render.render(timeline, CLIPS, {}, music=Music(paths[0]))
    one = (cache / entries(cache)[0]).stat().st_size
    monkeypatch.setattr(music.cache, "CACHE_MAX_BYTES", 2 * one + 1000)  # room for two entries
    render.render(timeline, CLIPS, {}, music=Music(paths[1]))
    os.utime(cache / entries(cache)[0], (1, 1))  # long unused, whichever it is
    oldest = min(entries(cache), key=lambda name: (cache / name).stat().st_mtime)
    render.render(timeline, CLIPS, {}, music=Music(paths[2]))
    assert len(entries(cache)) == 2 and oldest not in entries(cache)


def test_prepare_fills_the_cache_so_the_render_decodes_nothing(tmp_path, cache, timeline, monkeypatch):
    monkeypatch.setattr(music.bed, "KEEP_SECONDS", 5)
    looped = write_music(tmp_path / "loop.mp3", chord(4))  # kept whole
    streamed = write_music(tmp_path / "long.ogg", chord(30))  # read as it plays: prepared as far as the session goes
    references = [uncached(monkeypatch, timeline, path) for path in (looped, streamed)]
    for path in (looped, streamed):
        music.prepare(Music(path), RATE, timeline.length)
    assert len(entries(cache)) == 2
    no_decoding(monkeypatch)
    for path, reference in zip((looped, streamed), references, strict=True):
        assert np.array_equal(render.render(timeline, CLIPS, {}, music=Music(path)), reference)
        music.prepare(Music(path), RATE, timeline.length)  # held already: nothing decoded


def test_an_entry_keeps_at_most_its_share_and_the_rest_is_decoded(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(music.bed, "KEEP_SECONDS", 5)
    monkeypatch.setattr(music.cache, "CACHE_ENTRY_MAX_SAMPLES", RATE * 10)
    path = write_music(tmp_path / "long.flac", chord(30))
    long = timeline_of([], RATE * 25)
    first = render.render(long, {}, {}, music=Music(path))
    [name] = entries(cache)
    assert int.from_bytes((cache / name).read_bytes()[16:24], "little") == RATE * 10
    assert np.array_equal(render.render(long, {}, {}, music=Music(path)), first)  # the first 10 s read back
    assert np.array_equal(first, uncached(monkeypatch, long, path))


# -- decoded ahead in chunks, side by side ---------------------------------------------------


def parts_of(monkeypatch, cores: int, seconds: int = 1) -> None:
    monkeypatch.setattr(music.source, "_cores", lambda: cores)
    monkeypatch.setattr(music.source, "PART_SECONDS", seconds)


def decoder_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name.startswith("holdcue-music")]


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".flac", ".wav"])
def test_parts_decoded_side_by_side_join_without_a_seam(tmp_path, cache, timeline, monkeypatch, suffix):
    """Each part has a reader of its own that seeks to where it starts: every format's
    samples are the same as one reader's, at the parts' joins too."""
    path = write_music(tmp_path / f"loop{suffix}", chord(7))  # looped and kept whole
    parts_of(monkeypatch, 1)
    whole = uncached(monkeypatch, timeline, path)
    parts_of(monkeypatch, 3)
    assert np.array_equal(uncached(monkeypatch, timeline, path), whole)
    assert np.array_equal(render.render(timeline, CLIPS, {}, music=Music(path)), whole)  # and what the cache got
    no_decoding(monkeypatch)
    assert np.array_equal(render.render(timeline, CLIPS, {}, music=Music(path)), whole)
    assert not decoder_threads()


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".flac", ".wav"])
def test_music_read_as_it_plays_is_decoded_ahead_side_by_side_without_a_seam(tmp_path, cache, timeline, suffix):
    """Music that is not kept (played once, or too long to keep) is decoded ahead of the
    render in chunks, by several readers at once: the same samples as one reader's."""
    path = write_music(tmp_path / f"once{suffix}", chord(25))
    with pytest.MonkeyPatch.context() as patch:
        parts_of(patch, 1, seconds=100)
        whole = uncached(patch, timeline, path, loop=False)
    with pytest.MonkeyPatch.context() as patch:
        parts_of(patch, 3)
        assert np.array_equal(uncached(patch, timeline, path, loop=False), whole)
    assert not decoder_threads()


def test_the_first_block_waits_for_the_first_step_of_the_music_not_the_whole_file(tmp_path, cache, monkeypatch):
    """In live play the first block is made in the audio callback: it must not wait for the
    whole file to be decoded. The parts after the first are held back until the first block
    is out."""
    import threading

    parts_of(monkeypatch, 2)
    monkeypatch.setattr(music.source, "READ_STEP", RATE)
    path = write_music(tmp_path / "loop.flac", chord(6))
    long = timeline_of([], RATE * 30)
    reference = uncached(monkeypatch, long, path)
    held = threading.Event()
    samples = music._Resampled.samples

    def slow_after_the_start(self, begin, end):
        if begin >= 2 * RATE:
            assert held.wait(10), "the first block never came"
        return samples(self, begin, end)

    monkeypatch.setattr(music._Resampled, "samples", slow_after_the_start)
    blocks = render.render_blocks(long, CLIPS, {}, music=Music(path), block=RATE // 2)
    first = next(blocks)  # only the first second of the music is needed
    held.set()
    assert np.array_equal(np.concatenate([first, *blocks]), reference)
    assert not decoder_threads()


@pytest.mark.parametrize("loop", [True, False])
def test_a_chunk_that_fails_is_a_music_error_where_its_samples_are_needed(tmp_path, cache, timeline, monkeypatch, loop):
    parts_of(monkeypatch, 2)
    path = write_music(tmp_path / "loop.ogg", chord(7 if loop else 25))
    samples = music._Resampled.samples

    def broken_late(self, begin, end):
        if begin > 4 * RATE:
            raise music.MusicError(self.path, "cannot read the music file (damaged)")
        return samples(self, begin, end)

    monkeypatch.setattr(music._Resampled, "samples", broken_late)
    with pytest.raises(music.MusicError, match="damaged"):
        render.render(timeline, CLIPS, {}, music=Music(path, loop=loop))
    assert not decoder_threads()
    if loop:  # kept whole or not at all: nothing half-decoded was kept
        assert entries(cache) == []
    else:  # read as it plays: what was decoded from the start, before the damage, is kept
        [name] = entries(cache)
        assert int.from_bytes((cache / name).read_bytes()[16:24], "little") <= 4 * RATE + music.READ_STEP


@pytest.mark.parametrize("loop", [True, False])
def test_a_render_closed_while_the_chunks_decode_stops_them(tmp_path, cache, monkeypatch, loop):
    parts_of(monkeypatch, 3)
    monkeypatch.setattr(music.source, "READ_STEP", RATE // 4)
    path = write_music(tmp_path / "loop.wav", chord(9 if loop else 40))
    music_ = Music(path, loop=loop)
    blocks = render.render_blocks(timeline_of([], RATE * 30), CLIPS, {}, music=music_, block=RATE // 4)
    next(blocks)
    blocks.close()  # the generator's finally closes the Bed
    assert not decoder_threads()
