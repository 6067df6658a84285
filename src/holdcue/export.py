"""Export a timeline as an audio file (WAV, FLAC, Ogg Vorbis, MP3) with tags and chapters,
and its spoken cues as a WebVTT transcript.

The mix streams from the renderer into the encoder block by block, so memory stays flat
however long the session. Every file is written unnamed beside the target (holdcue.atomic) and
renamed over it only when complete: a failure, Ctrl-C or kill leaves no partial file, and an
existing file is untouched until the new one is whole. Only ordinary files are replaced; a
symbolic link is written through. See docs/export.md.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import stat
import wave
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from holdcue import atomic, phrases
from holdcue.errors import HoldcueError, OutputError
from holdcue.phrases import Phrases
from holdcue.render import render_blocks
from holdcue.text import clock

if TYPE_CHECKING:
    from holdcue.timeline import Session, Timeline

FORMATS = ("wav", "flac", "ogg", "mp3")
SUFFIXES = {".wav": "wav", ".flac": "flac", ".ogg": "ogg", ".oga": "ogg", ".mp3": "mp3"}
ARTIST = ALBUM = "holdcue"
ENGLISH = phrases.for_language(phrases.FALLBACK)
MP3_KBPS = 64  # constant bit rate: clear speech at 22050 Hz mono
MP3_QUALITY = 5  # LAME's algorithm quality: 2 best ... 7 fastest
BLOCK = 1 << 16  # samples rendered at a time: an export has no latency to keep, so fewer, larger blocks (3 s)
PROGRESS_STEPS = 200  # at most this many progress reports per file
# WAV keeps its sizes in 32 bits: the RIFF size (36 header bytes + 2 bytes a sample) must fit
WAV_MAX_SAMPLES = (0xFFFFFFFF - 36) // 2  # 16-bit mono samples: about 27 hours at 22050 Hz


@dataclass(frozen=True)
class Chapter:
    title: str
    start: int  # sample
    end: int  # sample, exclusive


@dataclass(frozen=True)
class _Tags:
    title: str
    summary: str
    chapters: tuple[Chapter, ...]
    rate: int
    length: int  # samples


def export(
    session: Session,
    path: str | os.PathLike,
    *,
    format: str | None = None,
    volume: float = 1.0,
    transcript: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the session, mixed (with its music under the cues, if it has any), to ``path``
    in ``format`` (default: from the suffix), tagged with its routine's title and summary,
    with one chapter per step and side; ``volume`` is the master volume (the routine's voice
    volume sets speech against the tones, as in render). ``transcript``: also write the
    spoken cues there as WebVTT.
    ``progress(done, total)`` is called with samples written as the export goes.
    Raises OutputError when the file cannot be written (or a volume is not a finite number
    of 0 or more); nothing partial is left, and nothing is touched before the checks pass."""
    timeline, clips, tones = session.timeline, session.clips, session.tones
    title, summary, speech_volume = session.routine.title, session.routine.summary, session.routine.voice.volume
    path = Path(path)
    fmt = format_of(path, format)
    for name, value in (("volume", volume), ("speech volume", speech_volume)):
        if not (math.isfinite(value) and value >= 0):
            raise OutputError(f"the {name} must be a number from 0 (silent) to 1 (full), not {value}")
    if fmt == "wav" and timeline.length > WAV_MAX_SAMPLES:
        raise OutputError(
            f"{path}: the session is too long for a WAV file (at most {WAV_MAX_SAMPLES // timeline.rate // 3600} "
            "hours at this rate, as WAV sizes are 32-bit); export it as FLAC, OGG or MP3, or make the session shorter"
        )
    blocks = render_blocks(
        timeline,
        clips,
        tones,
        block=BLOCK,
        volume=volume,
        speech_volume=speech_volume,
        tone_db=session.routine.cues.tone_level_db,
        music=session.music,
    )
    marks = chapters(timeline, phrases.for_language(session.routine.voice.language))
    tags = _Tags(title or timeline.title, summary, marks, timeline.rate, timeline.length)
    target = _destination(path)
    vtt_target = _destination(Path(transcript)) if transcript is not None else None
    if vtt_target is not None and _same_file(target, vtt_target):
        raise OutputError(
            f"the transcript {transcript} is the audio file {path}: give it a name of its own, "
            f"e.g. {path.with_suffix('.vtt')}"
        )
    vtt_name = str(transcript)  # for messages: the transcript as the caller named it
    with contextlib.ExitStack() as files:
        vtt = files.enter_context(_new_file(vtt_target, vtt_name)) if vtt_target is not None else None
        audio = files.enter_context(_new_file(target, path))
        if vtt is not None:
            with _naming(vtt_name):
                vtt.file.write(webvtt(timeline).encode("utf-8"))
        with _naming(path):
            _WRITERS[fmt](audio.file, _reporting(blocks, timeline.length, progress), tags)
        # both are whole: the transcript first, so a failure now leaves no new audio beside an old transcript
        if vtt is not None:
            with _naming(vtt_name):
                vtt.commit()
        with _naming(path):
            audio.commit()
    return path


def format_of(path: Path, format: str | None = None) -> str:
    """The format to write: ``format`` when given, else the one the file's suffix names."""
    if format is not None:
        if format.lower() not in FORMATS:
            raise OutputError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
        return format.lower()
    try:
        return SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise OutputError(
            f"cannot tell the format of {path} from its suffix; name it .wav, .flac, .ogg or .mp3, "
            f"or choose a format ({', '.join(FORMATS)})"
        ) from None


def chapters(timeline: Timeline, words: Phrases = ENGLISH) -> tuple[Chapter, ...]:
    """One chapter per run of segments of the same step and side: intro, each step (each
    side of it, each round of a two-sided step), outro; titled in the language of ``words``."""
    groups: list[list] = []
    for segment in timeline.segments:
        key = (segment.step, segment.side, segment.phase if segment.step < 0 else "")
        if groups and groups[-1][0] == key:
            groups[-1][1].append(segment)
        else:
            groups.append([key, [segment]])
    return tuple(Chapter(_chapter_title(group, words), group[0].start, group[-1].end) for _, group in groups)


def _chapter_title(group: list, words: Phrases) -> str:
    first = group[0]
    details = [words.label_side_short(first.side)] if first.side else []
    rounds = {s.round for s in group if s.phase == "hold"}
    if first.rounds and len(rounds) == 1:
        details.append(words.label_round_of(rounds.pop(), first.rounds))
    return f"{first.title} ({', '.join(details)})" if details else first.title


def write_transcript(timeline: Timeline, path: str | os.PathLike) -> Path:
    """Every spoken cue, at its time, as a WebVTT file (written atomically, as export writes)."""
    path = Path(path)
    with _new_file(_destination(path), path) as new, _naming(path):
        new.file.write(webvtt(timeline).encode("utf-8"))
        new.commit()
    return path


def webvtt(timeline: Timeline) -> str:
    """Every spoken cue, at its time, as WebVTT text."""
    lines = ["WEBVTT", ""]
    spoken = (e for e in timeline.events if e.kind == "speech")
    for number, event in enumerate(spoken, 1):
        text = " ".join(event.text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        start, end = _clock(event.start, timeline.rate), _clock(event.end, timeline.rate)
        lines += [str(number), f"{start} --> {end}", text, ""]
    return "\n".join(lines)


def _clock(sample: int, rate: int) -> str:
    """HH:MM:SS.mmm, as WebVTT and chapter marks write a time."""
    return clock(sample / rate, millis=True, hours=True)


# -- atomic files ----------------------------------------------------------------------


def _destination(path: Path) -> Path:
    """The file ``path`` names, through symbolic links (a link is kept and the file it names
    is replaced), checked to be an ordinary file or none yet, in a folder that exists."""
    real = Path(os.path.realpath(path))
    try:
        mode: int | None = real.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise OutputError(f"cannot write {path}: {_reason(error)}") from error
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputError(f"{path} is a folder; give a file name in it, e.g. {path / 'session.mp3'}")
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputError(
            f"{path} is {_kind(mode)}, not an ordinary file: holdcue only writes ordinary files; choose another name"
        )
    if not real.parent.is_dir():
        raise OutputError(f"cannot write {path}: the folder {real.parent} does not exist; create it first")
    return real


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "a named pipe",
        stat.S_ISCHR: "a device",
        stat.S_ISBLK: "a device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "a special file")


def _same_file(a: Path, b: Path) -> bool:
    """Whether two resolved paths are one file: the same name, or two names (hard links) of it."""
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


@contextlib.contextmanager
def _new_file(target: Path, named: str | os.PathLike) -> Iterator[atomic.NewFile]:
    """A new file for ``target``, removed unless committed, whatever ends the block.
    ``named``: the path as the caller gave it, for messages."""
    atomic.remove_stale_parts(target)
    with _naming(named):
        new = atomic.NewFile(target)
    try:
        yield new
    finally:
        new.discard()


@contextlib.contextmanager
def _naming(path: str | os.PathLike) -> Iterator[None]:
    """OSErrors in the block become OutputErrors about ``path``, saying what to do."""
    try:
        yield
    except OSError as error:
        raise OutputError(f"cannot write {path}: {_reason(error)}; nothing was written") from error


def _reason(error: OSError) -> str:
    if error.errno == errno.ENOSPC:
        return "the disk is full; free some space and try again"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied; choose a folder you can write to"
    return error.strerror or str(error)


def _reporting(blocks: Iterable, total: int, progress: Callable[[int, int], None] | None) -> Iterator:
    """The blocks, calling ``progress(done, total)`` now and then, and at the end."""
    done, due, step = 0, 0, max(1, total // PROGRESS_STEPS)
    for block in blocks:
        yield block
        done += len(block)
        if progress is not None and (done >= due or done == total):
            progress(done, total)
            due = done + step


# -- writers ---------------------------------------------------------------------------


def _write_wav(file: BinaryIO, blocks: Iterable, tags: _Tags) -> None:
    with wave.open(file, "wb") as out:  # leaves the file open: it was given one
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(tags.rate)
        out.setnframes(tags.length)
        for block in blocks:
            out.writeframesraw(block)


def _write_flac(file: BinaryIO, blocks: Iterable, tags: _Tags) -> None:
    from mutagen.flac import FLAC

    _write_soundfile(file, blocks, tags, "FLAC", "PCM_16")
    _vorbis_comments(FLAC, file, tags)


def _write_ogg(file: BinaryIO, blocks: Iterable, tags: _Tags) -> None:
    from mutagen.oggvorbis import OggVorbis

    _write_soundfile(file, blocks, tags, "OGG", "VORBIS")
    _vorbis_comments(OggVorbis, file, tags)
    _ogg_serial(file, zlib.crc32(f"{tags.title}\0{tags.length}".encode()))


def _ogg_serial(file: BinaryIO, serial: int) -> None:
    """Give every page of the Ogg stream ``serial`` as its stream's serial number, in place.
    libsndfile takes a random one, seeded by the clock, so the same session exported twice
    would differ in those 4 bytes of every page (and their CRCs); with a serial made from the
    session, an export is the same file byte for byte however and whenever it is made."""
    from mutagen.ogg import OggPage

    file.seek(0)
    while True:
        at = file.tell()
        try:
            page = OggPage(file)
        except EOFError:
            break
        end = file.tell()
        page.serial = serial
        file.seek(at)
        file.write(page.write())  # the same length: only the serial and the CRC change
        file.seek(end)


def _write_soundfile(file: BinaryIO, blocks: Iterable, tags: _Tags, format: str, subtype: str) -> None:
    import soundfile

    try:
        # libsndfile writes to the descriptor itself: given the file object, it would call back into
        # Python, where a failed write is printed by cffi and reaches us only as a short count
        file.flush()
        with soundfile.SoundFile(file.fileno(), "w", tags.rate, 1, subtype, format=format, closefd=False) as out:
            for block in blocks:
                out.write(block)
    except soundfile.LibsndfileError as error:
        # libsndfile does not say why a write failed; a full disk (under 1 MiB free) is the usual reason
        space = os.fstatvfs(file.fileno())
        full = space.f_bavail * space.f_frsize < 1 << 20
        raise OSError(errno.ENOSPC if full else errno.EIO, f"the {format} encoder failed ({error})") from error


def _vorbis_comments(reader, file: BinaryIO, tags: _Tags) -> None:
    """TITLE, ARTIST, ALBUM, COMMENT and CHAPTERnnn / CHAPTERnnnNAME (Vorbis chapters),
    read and saved with mutagen's ``reader`` (FLAC or OggVorbis) in the open file."""
    file.seek(0)
    audio = reader(file)
    if audio.tags is None:
        audio.add_tags()
    comments = {"TITLE": tags.title, "ARTIST": ARTIST, "ALBUM": ALBUM}
    if tags.summary:
        comments["COMMENT"] = tags.summary
    for number, chapter in enumerate(tags.chapters, 1):
        comments[f"CHAPTER{number:03d}"] = _clock(chapter.start, tags.rate)
        comments[f"CHAPTER{number:03d}NAME"] = chapter.title
    for key, value in comments.items():
        audio.tags[key] = [value]
    file.seek(0)
    audio.save(file)


def _write_mp3(file: BinaryIO, blocks: Iterable, tags: _Tags) -> None:
    """ID3v2.3 tag with chapters first, then a LAME "Info" frame (frame count, encoder
    delay and padding, so players show the exact duration), then the audio."""
    import lameenc

    _id3(tags).save(file, v1=0, v2_version=3, padding=lambda info: 0)
    encoder = lameenc.Encoder()
    encoder.set_channels(1)
    encoder.set_in_sample_rate(tags.rate)
    encoder.set_out_sample_rate(tags.rate)
    encoder.set_bit_rate(MP3_KBPS)
    encoder.set_quality(MP3_QUALITY)
    encoder.silence()
    file.seek(0, os.SEEK_END)
    stream = _Mp3Stream(file)
    for block in blocks:
        stream.write(encoder.encode(block))
    stream.write(encoder.flush())
    stream.finish(tags.length)


def _id3(tags: _Tags):
    from mutagen.id3 import CHAP, COMM, CTOC, TALB, TIT2, TLEN, TPE1, CTOCFlags

    id3 = _ordered_id3()
    id3.add(TIT2(encoding=3, text=[tags.title]))
    id3.add(TPE1(encoding=3, text=[ARTIST]))
    id3.add(TALB(encoding=3, text=[ALBUM]))
    id3.add(TLEN(encoding=3, text=[str(round(tags.length * 1000 / tags.rate))]))
    if tags.summary:
        id3.add(COMM(encoding=3, lang="eng", desc="", text=[tags.summary]))
    ids = [f"chp{n}" for n in range(len(tags.chapters))]
    id3.add(
        CTOC(
            element_id="toc",
            flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
            child_element_ids=ids,
            sub_frames=[TIT2(encoding=3, text=[tags.title])],
        )
    )
    for element, chapter in zip(ids, tags.chapters, strict=True):
        id3.add(
            CHAP(
                element_id=element,
                start_time=round(chapter.start * 1000 / tags.rate),
                end_time=round(chapter.end * 1000 / tags.rate),
                start_offset=0xFFFFFFFF,
                end_offset=0xFFFFFFFF,
                sub_frames=[TIT2(encoding=3, text=[chapter.title])],
            )
        )
    return id3


def _ordered_id3():
    """An empty tag: mutagen's ID3 writing its frames in the order they were added. mutagen sorts frames
    by size when it saves, which puts the CHAP frames out of time order; players that read
    the frames rather than the table of contents (ffprobe -show_chapters) then list the
    chapters out of order. tests/test_export.py reads the frames back in file order."""
    from mutagen.id3 import ID3
    from mutagen.id3._tags import save_frame

    class OrderedID3(ID3):
        def _write(self, config):
            return bytearray().join(save_frame(frame, config=config) for frame in self.values())

    return OrderedID3()


_KBPS = {  # bit rate index -> kbit/s, for MPEG-1 and MPEG-2/2.5 layer III
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
ENCODER_DELAY = 576  # samples LAME puts before the audio


class _Mp3Stream:
    """Writes LAME's frames after a placeholder for the Info frame, counting them; then
    fills in the Info frame (a silent first frame that describes the stream)."""

    def __init__(self, file):
        self.file = file
        self.info_at = file.tell()
        self.header = b""  # the first frame's header
        self.frames = 0
        self.bytes = 0
        self.carry = b""  # the start of a frame header split between two chunks
        self.skip = 0  # bytes of the current frame still to come

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self.header:
            self.header = data[:4]
            self.file.write(bytes(self._info_length()))  # placeholder
        self.file.write(data)
        self.bytes += len(data)
        buffer = self.carry + data if self.carry else data
        at = self.skip
        while at + 4 <= len(buffer):
            at += self._frame_length(buffer[at : at + 4])
            self.frames += 1
        self.carry, self.skip = (buffer[at:], 0) if at < len(buffer) else (b"", at - len(buffer))

    def finish(self, samples: int) -> None:
        if self.carry or self.skip:
            raise HoldcueError("the MP3 encoder ended in the middle of a frame")
        self.file.seek(self.info_at)
        self.file.write(self._info(samples))

    def _fields(self, header: bytes) -> tuple[int, int, int, int]:
        """(MPEG version bits, kbit/s, sample rate, padding) of a layer III frame header."""
        if header[0] != 0xFF or header[1] & 0xE6 != 0xE2:
            raise HoldcueError("the MP3 encoder wrote something that is not a layer III frame")
        version = (header[1] >> 3) & 3
        kbps = _KBPS[1 if version == 3 else 2][header[2] >> 4]
        rate = _RATES[version][(header[2] >> 2) & 3]
        return version, kbps, rate, (header[2] >> 1) & 1

    def _frame_length(self, header: bytes) -> int:
        version, kbps, rate, padding = self._fields(header)
        return (144_000 if version == 3 else 72_000) * kbps // rate + padding

    def _info_length(self) -> int:
        return self._frame_length(bytes([self.header[0], self.header[1], self.header[2] & ~2, self.header[3]]))

    def _info(self, samples: int) -> bytes:
        """The Info frame: Xing fields (frames, bytes, table of contents, quality) and
        the LAME extension (encoder delay and padding, music length, tag CRC)."""
        version, kbps, _, _ = self._fields(self.header)
        per_frame = 1152 if version == 3 else 576
        mono = (self.header[3] >> 6) == 3
        side_info = (17 if mono else 32) if version == 3 else (9 if mono else 17)
        length = self._info_length()
        padding = self.frames * per_frame - ENCODER_DELAY - samples
        if not 0 <= padding < 4096:
            raise HoldcueError(f"the MP3 encoder made {self.frames} frames for {samples} samples")
        frame = bytearray(length)
        frame[:4] = bytes([self.header[0], self.header[1], self.header[2] & ~2, self.header[3]])
        at = 4 + side_info
        xing = b"Info" + (15).to_bytes(4, "big") + self.frames.to_bytes(4, "big")
        xing += (length + self.bytes).to_bytes(4, "big") + bytes(i * 256 // 100 for i in range(100))
        xing += (100 - MP3_QUALITY).to_bytes(4, "big")
        lame = b"LAME3.100" + bytes([0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, min(kbps, 255)])
        lame += ((ENCODER_DELAY << 12) | padding).to_bytes(3, "big") + bytes(4)
        lame += (length + self.bytes).to_bytes(4, "big") + bytes(2)  # music length, music CRC
        frame[at : at + len(xing) + len(lame)] = xing + lame
        crc_at = at + len(xing) + len(lame)
        frame[crc_at : crc_at + 2] = _crc16(frame[:crc_at]).to_bytes(2, "big")
        return bytes(frame)


def _crc16(data: bytes | bytearray) -> int:
    """CRC-16 (polynomial 0x8005, reflected), as the LAME tag uses."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


_WRITERS = {"wav": _write_wav, "flac": _write_flac, "ogg": _write_ogg, "mp3": _write_mp3}
