"""Reading a music file (music/source.py): the checks on its header, a reader that seeks
after reading, and the decoder that runs a few chunks ahead of the render. How the music
sounds through a render is in test_music.py, what the cache keeps in test_music_cache.py."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from holdcue import music
from holdcue.timeline import SAMPLE_RATE
from test_music import FILE_RATE, chord, write_music
from test_music_cache import decoder_threads, parts_of

RATE = SAMPLE_RATE


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"RIFF not really a sound"), "is not a sound file holdcue can read"),
        (lambda p: p.mkdir(), "is not a regular file"),
        (lambda p: None, "does not exist"),
        (lambda p: soundfile.write(p, chord(0.5), FILE_RATE), "lasts 0.50s; music must last at least 1s"),
        (lambda p: soundfile.write(p, np.zeros((FILE_RATE * 2, 9), np.float32), FILE_RATE), "has 9 channels"),
    ],
)
def test_music_info_says_what_is_wrong(tmp_path, make, message):
    path = tmp_path / "music.wav"
    make(path)
    with pytest.raises(ValueError, match=message):
        music.music_info(path)


def test_a_fifo_is_refused_without_waiting(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.wav")
    with pytest.raises(ValueError, match="is not a regular file"):
        music.music_info(tmp_path / "pipe.wav")


def test_a_reader_that_seeks_after_reading_gives_what_a_fresh_one_does(tmp_path):
    """libsndfile's Vorbis seek can land off after a read; a reader opens the file again."""
    path = write_music(tmp_path / "seek.ogg", chord(12))
    info = music.music_info(path)
    fresh = music._Resampled(path, info, RATE)
    reference = fresh.samples(0, fresh.length)
    for first in (22066, 30000, 50000):
        for target in (60000, 66142, 90000):
            reader = music._Resampled(path, info, RATE)
            reader.samples(0, first)
            assert np.array_equal(reader.samples(target, target + 4000), reference[target : target + 4000])
            reader.close()


def test_music_read_as_it_plays_is_decoded_at_most_a_few_chunks_ahead(tmp_path, monkeypatch):
    """Memory stays flat: the decoder runs AHEAD chunks past the one being read, no more,
    and lets go of the chunks read past."""
    import time

    parts_of(monkeypatch, 2)
    path = write_music(tmp_path / "long.flac", chord(12))
    info = music.music_info(path)
    span = music.resampled_length(info, RATE)
    one = music._Resampled(path, info, RATE)
    reference = one.samples(0, span)
    one.close()
    decoder = music._Decoder(path, info, RATE, RATE // 2, span)
    try:
        parts = [decoder.samples(RATE // 2, RATE)]
        time.sleep(0.5)  # time to run ahead as far as it may
        assert decoder.claimed == 1 + music.AHEAD
        for at in range(RATE, span, RATE // 3):
            assert decoder.continues(at) and not decoder.continues(at + 1)
            parts.append(decoder.samples(at, min(at + RATE // 3, span)))
            assert len(decoder.chunks) <= 1 + music.AHEAD
            assert decoder.claimed <= decoder.reading + 1 + music.AHEAD
        assert decoder.samples(span, span).size == 0 and not decoder.continues(span)
    finally:
        decoder.close()
    assert np.array_equal(np.concatenate(parts), reference[RATE // 2 :])
    assert not decoder_threads()
