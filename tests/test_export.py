"""Exported files read back with real decoders and tag readers; failures leave nothing."""

import dataclasses
import errno
import os
import re
import stat
import wave
import zlib

import mutagen
import numpy as np
import pytest
import soundfile
from mutagen.flac import FLAC
from mutagen.id3 import ID3
from mutagen.mp3 import MP3
from mutagen.oggvorbis import OggVorbis

from compiler_helpers import clip_length, shoulders, tone_length
from holdcue import compiler, export, render
from holdcue.errors import OutputError
from holdcue.timeline import SAMPLE_RATE, Session

RATE = SAMPLE_RATE


def burst(n: int, key: str, amplitude: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    wobble = 0.6 + 0.4 * np.sin(np.arange(n) * 2 * np.pi * 5 / RATE)
    return np.rint(rng.standard_normal(n) * wobble * amplitude / 3 * 32767).clip(-32767, 32767).astype(np.int16)


@pytest.fixture(scope="module")
def session():
    timeline = compiler.compile(shoulders(), clip_length, tone_length, RATE)
    clips = {e.text: burst(e.end - e.start, e.text) for e in timeline.events if e.kind == "speech"}
    tones = {e.name: burst(e.end - e.start, e.name, 0.6) for e in timeline.events if e.kind == "tone"}
    return Session(dataclasses.replace(shoulders(), summary="Loosen the shoulders & chest."), timeline, clips, tones)


@pytest.fixture(scope="module")
def mixed(session):
    return render.render(session.timeline, session.clips, session.tones)


@pytest.fixture(scope="module")
def exported(session, tmp_path_factory):
    folder = tmp_path_factory.mktemp("exported")
    return {fmt: export.export(session, folder / f"session.{fmt}") for fmt in export.FORMATS}


def ms(sample: int) -> int:
    return round(sample * 1000 / RATE)


def expected_chapters(timeline):
    """(start ms, end ms, step, side) of each run of segments of one step and side."""
    runs = []
    for s in timeline.segments:
        key = (s.step, s.side, s.phase if s.step < 0 else "")
        if runs and tuple(runs[-1][2:]) == key:
            runs[-1][1] = s.end
        else:
            runs.append([s.start, s.end, *key])
    return [(ms(a), ms(b), step, side) for a, b, step, side, _ in runs]


def test_every_format_reads_back_whole(session, mixed, exported):
    timeline = session.timeline
    for fmt, path in exported.items():
        data, rate = soundfile.read(path, dtype="int16")
        assert rate == RATE and data.ndim == 1, fmt
        assert len(data) == timeline.length, fmt
        if fmt in ("wav", "flac"):
            assert np.array_equal(data, mixed), fmt  # lossless
        else:
            # lossy, but the same sound at the same time: MP3's encoder delay is undone
            a, b = data.astype(float), mixed.astype(float)
            assert a @ b / np.sqrt((a @ a) * (b @ b)) > 0.9, fmt
        if fmt != "wav":
            assert mutagen.File(path).info.length == pytest.approx(timeline.duration, abs=0.001), fmt


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_an_export_is_the_same_file_byte_for_byte_every_time(session, exported, tmp_path, fmt):
    """Nothing of the moment goes in: exports made at different times (and in different
    processes: tests/test_cli_export.py) are the same bytes. libsndfile gives an Ogg stream
    a random serial number; export gives it one made from the session instead."""
    again = export.export(session, tmp_path / f"again.{fmt}")
    assert again.read_bytes() == exported[fmt].read_bytes()
    if fmt == "ogg":
        data = again.read_bytes()
        pages = [m.start() for m in re.finditer(b"OggS", data)]
        assert len(pages) > 10 and len({data[at + 14 : at + 18] for at in pages}) == 1


def test_wav_is_plain_16_bit_mono(exported, session):
    with wave.open(str(exported["wav"])) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (
            1,
            2,
            RATE,
            session.timeline.length,
        )


def test_mp3_has_id3v23_tags_and_an_info_frame(exported, session):
    timeline = session.timeline
    mp3 = MP3(exported["mp3"])
    assert mp3.tags.version == (2, 3, 0)
    assert (mp3.info.sample_rate, mp3.info.channels, mp3.info.bitrate) == (RATE, 1, export.MP3_KBPS * 1000)
    assert mp3.info.encoder_info.startswith("LAME")  # read from the Info frame
    assert mp3.info.length == pytest.approx(timeline.duration, abs=1 / RATE)
    tags = mp3.tags
    assert tags["TIT2"].text == [timeline.title]
    assert tags["TPE1"].text == ["holdcue"] and tags["TALB"].text == ["holdcue"]
    assert tags.getall("COMM")[0].text == ["Loosen the shoulders & chest."]
    assert tags["TLEN"].text == [str(ms(timeline.length))]


def test_mp3_chapters_follow_the_steps_and_sides(exported, session):
    timeline = session.timeline
    routine = shoulders()
    tags = ID3(exported["mp3"])
    (toc,) = tags.getall("CTOC")
    assert toc.flags & 1 and toc.flags & 2  # ordered, top level
    chaps = {c.element_id: c for c in tags.getall("CHAP")}
    ordered = [chaps[i] for i in toc.child_element_ids]
    assert len(ordered) == len(chaps)
    want = expected_chapters(timeline)
    assert [(c.start_time, c.end_time) for c in ordered] == [(a, b) for a, b, _, _ in want]
    assert ordered[0].start_time == 0 and ordered[-1].end_time == ms(timeline.length)
    titles = [c.sub_frames["TIT2"].text[0] for c in ordered]
    assert titles[0] == "Introduction" and titles[-1] == "Session complete"
    for title, (_, _, step, side) in zip(titles, want, strict=True):
        if step >= 0:
            assert title.startswith(compiler.step_title(routine.steps[step]))
            assert (f"({side}" in title) == bool(side)
    # the two-sided, two-round stretch: one chapter per side per round
    assert titles.count("Bring your arm across your body (right, round 2 of 2)") == 1
    # every hold's start tone lies inside a chapter of its own step
    for event in timeline.events:
        if event.name == "start":
            segment = timeline.segments[event.segment]
            chapter = next(c for c in ordered if c.start_time <= ms(event.start) < c.end_time)
            assert chapter.sub_frames["TIT2"].text[0].startswith(segment.title)


def id3_frames(path) -> list[tuple[str, bytes]]:
    """(frame id, body) of an ID3v2.3 tag's frames in the order they are stored in the file."""
    data = path.read_bytes()
    assert data[:4] == b"ID3\x03"
    size = int.from_bytes(data[6:10], "big")
    end = 10 + ((size >> 24 & 0x7F) << 21 | (size >> 16 & 0x7F) << 14 | (size >> 8 & 0x7F) << 7 | size & 0x7F)
    frames, at = [], 10
    while at + 10 <= end and data[at] != 0:
        length = int.from_bytes(data[at + 4 : at + 8], "big")
        frames.append((data[at : at + 4].decode(), data[at + 10 : at + 10 + length]))
        at += 10 + length
    return frames


def test_mp3_chapter_frames_are_stored_in_time_order(exported):
    frames = id3_frames(exported["mp3"])
    chapters = [body for frame, body in frames if frame == "CHAP"]
    tags = ID3(exported["mp3"])
    (toc,) = tags.getall("CTOC")
    ids = [body.split(b"\0", 1)[0].decode() for body in chapters]
    assert ids == list(toc.child_element_ids)  # the table of contents' order is the frames' order
    starts = [int.from_bytes(body[len(i) + 1 : len(i) + 5], "big") for i, body in zip(ids, chapters, strict=True)]
    assert len(starts) > 5 and starts == sorted(starts) and len(set(starts)) == len(starts)
    assert [f for f, _ in frames].index("CTOC") < [f for f, _ in frames].index("CHAP")


@pytest.mark.parametrize("fmt, reader", [("flac", FLAC), ("ogg", OggVorbis)])
def test_flac_and_ogg_carry_vorbis_comments_and_chapters(exported, session, fmt, reader):
    timeline = session.timeline
    tags = reader(exported[fmt]).tags
    assert tags["TITLE"] == [timeline.title]
    assert tags["ARTIST"] == ["holdcue"] and tags["ALBUM"] == ["holdcue"]
    assert tags["COMMENT"] == ["Loosen the shoulders & chest."]
    want = expected_chapters(timeline)
    for number, (start, _, _, _) in enumerate(want, 1):
        stamp = tags[f"CHAPTER{number:03d}"][0]
        h, m, s = re.fullmatch(r"(\d\d):(\d\d):(\d\d\.\d\d\d)", stamp).groups()
        assert round((int(h) * 3600 + int(m) * 60 + float(s)) * 1000) == start
        assert tags[f"CHAPTER{number:03d}NAME"][0]
    assert f"CHAPTER{len(want) + 1:03d}" not in tags


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    """A small WebVTT reader: header, then cues of [id] / start --> end / text lines."""
    blocks = text.replace("\r\n", "\n").strip().split("\n\n")
    assert blocks[0].startswith("WEBVTT")
    cues = []
    for block in blocks[1:]:
        lines = block.split("\n")
        timing = next(i for i, line in enumerate(lines) if "-->" in line)
        start, end = (
            sum(float(part) * 60**k for k, part in enumerate(reversed(stamp.strip().split(":"))))
            for stamp in lines[timing].split("-->")
        )
        words = "\n".join(lines[timing + 1 :]).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        cues.append((start, end, words))
    return cues


def test_transcript_has_every_spoken_cue_at_its_time(session, tmp_path):
    timeline = session.timeline
    path = export.write_transcript(timeline, tmp_path / "session.vtt")
    cues = parse_vtt(path.read_text(encoding="utf-8"))
    spoken = [e for e in timeline.events if e.kind == "speech"]
    assert len(cues) == len(spoken)
    for (start, end, words), event in zip(cues, spoken, strict=True):
        assert words == event.text
        assert abs(start - event.start / RATE) <= 0.0005 and abs(end - event.end / RATE) <= 0.0005


def test_transcript_escapes_markup_and_passes_hours(tmp_path):
    from holdcue.timeline import Event, Segment, Timeline

    late = 3 * 3600 * RATE + 61 * RATE + RATE // 4
    timeline = Timeline(
        "T",
        RATE,
        late + RATE,
        (Event(late, late + RATE // 2, "speech", text="Knees <up> & --> down"),),
        (Segment("T", "intro", 0, late + RATE),),
    )
    text = export.write_transcript(timeline, tmp_path / "t.vtt").read_text()
    assert "03:01:01.250 --> 03:01:01.750" in text
    assert "Knees &lt;up&gt; &amp; --&gt; down" in text
    assert parse_vtt(text)[0][2] == "Knees <up> & --> down"


def test_export_writes_transcript_and_reports_progress(session, tmp_path):
    calls = []
    export.export(
        session, tmp_path / "s.wav", transcript=tmp_path / "s.vtt", progress=lambda d, t: calls.append((d, t))
    )
    assert (tmp_path / "s.vtt").read_text().startswith("WEBVTT")
    total = session.timeline.length
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert 10 < len(calls) <= export.PROGRESS_STEPS + 2


def test_format_comes_from_suffix_or_is_given(session, tmp_path):
    path = export.export(session, tmp_path / "session.audio", format="flac")
    assert soundfile.info(path).format == "FLAC"
    assert soundfile.info(export.export(session, tmp_path / "x.MP3")).format == "MP3"
    with pytest.raises(OutputError, match="unknown format 'aac'"):
        export.export(session, tmp_path / "x.aac", format="aac")
    with pytest.raises(OutputError, match="cannot tell the format"):
        export.export(session, tmp_path / "x.aac")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session.audio", "x.MP3"]


def test_missing_folder_or_a_folder_as_target_is_an_output_error(session, tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        export.export(session, tmp_path / "nowhere" / "x.wav")
    with pytest.raises(OutputError, match="is a folder"):
        export.export(session, tmp_path, format="wav")


def test_unwritable_folder_is_an_output_error(session, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(export.atomic.NewFile, "_open", refuse)
    with pytest.raises(OutputError, match="permission denied; choose a folder you can write to"):
        export.export(session, tmp_path / "x.wav")


def test_new_file_has_ordinary_permissions(session, tmp_path):
    path = export.export(session, tmp_path / "x.wav")
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


class Midway(Exception):
    pass


def failing_after(calls: int, error: BaseException):
    count = {"n": 0}

    def fail(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            raise error

    return fail


@pytest.mark.parametrize("fmt", export.FORMATS)
@pytest.mark.parametrize("error", [Midway("renderer broke"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_failure_midway_leaves_old_file_untouched_and_nothing_else(session, tmp_path, fmt, error):
    target = tmp_path / f"session.{fmt}"
    target.write_bytes(b"the old export")
    # progress runs between the renderer's blocks: raising there stops the mix midway
    with pytest.raises(type(error)):
        export.export(session, target, progress=failing_after(5, error))
    assert target.read_bytes() == b"the old export"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_transcript_that_cannot_be_written_leaves_no_audio_either(session, tmp_path):
    target = tmp_path / "session.mp3"
    target.write_bytes(b"the old export")
    with pytest.raises(OutputError, match="does not exist"):
        export.export(session, target, transcript=tmp_path / "missing" / "session.vtt")
    assert target.read_bytes() == b"the old export"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_failed_export_keeps_the_old_transcript(session, tmp_path):
    target, vtt = tmp_path / "session.wav", tmp_path / "session.vtt"
    vtt.write_text("WEBVTT\n\nthe old transcript\n")
    with pytest.raises(Midway):
        export.export(session, target, transcript=vtt, progress=failing_after(5, Midway("renderer broke")))
    assert vtt.read_text() == "WEBVTT\n\nthe old transcript\n"
    assert [p.name for p in tmp_path.iterdir()] == [vtt.name]


@pytest.mark.parametrize(
    "fmt, where",
    [
        ("wav", (wave.Wave_write, "writeframesraw")),
        ("flac", (soundfile.SoundFile, "write")),
        ("ogg", (soundfile.SoundFile, "write")),
        ("mp3", (export._Mp3Stream, "write")),
    ],
)
def test_full_disk_in_the_encoder_leaves_nothing(session, tmp_path, monkeypatch, fmt, where):
    owner, name = where
    real = getattr(owner, name)
    fail = failing_after(3, OSError(errno.ENOSPC, "No space left on device"))

    def write(self, *args):
        fail()
        return real(self, *args)

    monkeypatch.setattr(owner, name, write)
    target = tmp_path / f"session.{fmt}"
    with pytest.raises(OutputError, match="the disk is full"):
        export.export(session, target)
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(OutputError):
        export.export(session, target)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == [target.name]


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_really_full_disk_is_reported_and_leaves_nothing(session, tiny_disk, fmt):
    with pytest.raises(OutputError, match="the disk is full"):
        export.export(session, tiny_disk / f"session.{fmt}")
    assert list(tiny_disk.iterdir()) == []


def test_success_replaces_an_existing_file(session, tmp_path, mixed):
    target = tmp_path / "session.wav"
    target.write_bytes(b"old")
    export.export(session, target)
    assert np.array_equal(soundfile.read(target, dtype="int16")[0], mixed)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_volume_scales_the_export(session, tmp_path, mixed):
    path = export.export(session, tmp_path / "quiet.wav", volume=0.5)
    quiet = soundfile.read(path, dtype="int16")[0].astype(float)
    assert np.abs(quiet - mixed / 2).max() <= 1.0


def test_export_checks_sounds_before_touching_the_disk(session, tmp_path):
    with pytest.raises(Exception, match="no speech clip"):
        export.export(dataclasses.replace(session, clips={}), tmp_path / "x.mp3")
    assert not os.listdir(tmp_path)
