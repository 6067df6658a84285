"""Generated hostile input, of the kinds that found real faults: YAML tags on any value and
key, huge and tiny numbers and times, include graphs (chains, fans, cycles, bombs), tone
files with made-up headers, control characters in every text. Whatever comes in, loading
returns a Routine or raises RoutineError (never another exception), every problem has a
file and a line and column where there is a node, loading is quick and small, and what
loads compiles quickly. The settings keep this file well under a minute."""

from __future__ import annotations

import re
import struct
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler_helpers import clip_length, tone_length
from holdcue import compiler, loader, routine, tones
from holdcue.errors import RoutineError, RoutineNotFound
from holdcue.text import printable

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = 5.0  # seconds for one load or compile, memory traced; each takes milliseconds to a few tenths
SMALL = 30_000_000  # bytes of peak memory for one load
# Problems about a whole file have no line: it is empty, too large, or has too many problems to list
WHOLE_FILE = ("the file is empty", "the file is over 1 MB", "and ")
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def check(text: str, source: str = "fuzz.yaml", resolve=None, base_dir: Path | None = None):
    """Load ``text`` under the properties; the Routine, or None when it was refused."""
    started = time.perf_counter()
    tracemalloc.start()
    try:
        loaded = loader.load(text, source, resolve=resolve, base_dir=base_dir)
    except RoutineError as error:
        assert time.perf_counter() - started < QUICK
        assert tracemalloc.get_traced_memory()[1] < SMALL
        assert any(p.severity == "error" for p in error.problems)
        for problem in error.problems:
            assert problem.file and problem.message
            assert problem.line > 0 or problem.message.startswith(WHOLE_FILE), problem
            assert not RAW.search(str(problem)), str(problem)
        return None
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < QUICK
    assert 0 < len(loaded.steps) <= loader.MAX_STEPS
    assert all(0 < step.time_ms <= routine.MAX_HOLD_MS for step in loaded.steps)
    started = time.perf_counter()
    timeline = compiler.compile(loaded, clip_length, tone_length)
    assert time.perf_counter() - started < QUICK
    assert timeline.duration < 4 * 3600  # holds and rests are 3 h at most; speech and gaps add to it
    return loaded


# -- YAML tags on any scalar and key ----------------------------------------------------------

TAGS = [
    "!!str",
    "!!int",
    "!!float",
    "!!bool",
    "!!null",
    "!!binary",
    "!!timestamp",
    "!!set",
    "!!omap",
    "!!pairs",
    "!!seq",
    "!!map",
    "!!merge",
    "!!value",
    "!!python/object/apply:os.system",
    "!!python/name:os.system",
    "!custom",
    "!<tag:example.com,2000:x>",
    "!",
]
TAGGABLE = [
    ("title", "Shoulders"),
    ("summary", "Loosen up."),
    ("tools", "[ball, wall]"),
    ("voice", "{language: en, rate: 160, volume: 0.9}"),
    ("cues", "{prep: 5s, countdown: 3, halfway: true, time_left: 30s, switch: 5s}"),
]
STEP = [("hold", "Hold it."), ("time", "30s"), ("sides", "both"), ("repeat", "2"), ("rest", "5s")]


@st.composite
def tagged_routines(draw):
    """The routine written out with a tag (or none) before keys and values, at random."""

    def tag() -> str:
        return draw(st.sampled_from(["", "", ""] + [t + " " for t in TAGS]))

    lines = [f"{tag()}{key}: {tag()}{value}" for key, value in TAGGABLE]
    step = ", ".join(f"{tag()}{key}: {tag()}{value}" for key, value in STEP)
    lines.append(f"{tag()}steps: {tag()}[{tag()}{{{step}}}, {{hold: Rest., time: {tag()}10s}}]")
    return "\n".join(lines) + "\n"


@FUZZ
@given(tagged_routines())
def test_tags_on_any_value_and_key(text):
    check(text)


# -- huge and tiny values ---------------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["1e309", "-1e309", ".inf", "-.inf", ".nan", "0", "-0", "0.0000001", "1e-300", "0x7fffffff"]),
    st.sampled_from(["9" * 400, "1_000_000", "0b101", "0o777", "+5", "2e3", "4294967296"]),
)
DURATIONS = st.one_of(
    st.builds(
        lambda n, unit: f"{n}{unit}",
        st.one_of(st.integers(0, 10**20), st.floats(0, 1e20, allow_nan=False).map(lambda f: f"{f:.10f}")),
        st.sampled_from(["ms", "s", "m", "min", "h", "", " s", "d", "µs"]),
    ),
    st.sampled_from(["1m 1m 1m", "0s", "0.0001s", "1e3s", "999999999999999999999h", "-1s", "nan s", "inf s"]),
    NUMBERS,
)


@st.composite
def extreme_routines(draw):
    def duration() -> str:
        return draw(DURATIONS)

    def number() -> str:
        return draw(NUMBERS)

    steps = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["hold", "count", "rest"]))
        if kind == "count":
            steps.append(f"  - {{warm-up: Roll., count: {number()}, each: {duration()}}}")
        else:
            extra = draw(st.sampled_from(["", f", repeat: {number()}, rest: {duration()}", ", sides: both"]))
            steps.append(f"  - {{{kind}: Do it., time: {duration()}{extra}}}")
    cues = f"{{prep: {duration()}, countdown: {number()}, time_left: {duration()}, breathe: {duration()}}}"
    voice = f"{{rate: {number()}, volume: {number()}}}"
    return f"title: T\ncues: {cues}\nvoice: {voice}\nsteps:\n" + "\n".join(steps) + "\n"


@FUZZ
@given(extreme_routines())
def test_huge_and_tiny_numbers_and_times(text):
    check(text)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 40), st.sampled_from(["1s", "10m", "9m 59s", "1000ms"]), st.integers(1, 12))
def test_many_long_repeated_steps_are_bounded(count, time_, repeat):
    step = f"  - {{hold: H., time: {time_}, sides: both, repeat: {repeat}, rest: 10m}}\n"
    check("title: T\nsteps:\n" + step * count)


# -- include graphs ---------------------------------------------------------------------------


@st.composite
def libraries(draw):
    """Up to 12 routines, each with steps and includes of any others (itself too): chains,
    fans, cycles, and bombs where each includes the next many times."""
    size = draw(st.integers(1, 12))
    files = {}
    for n in range(size):
        lines = []
        for _ in range(draw(st.integers(0, 12))):
            if draw(st.booleans()):
                target = draw(st.one_of(st.integers(0, size - 1).map(lambda k: f"r{k}"), st.just("missing")))
                lines.append(f"  - include: {target}")
            else:
                lines.append(f"  - hold: Hold {n}.\n    time: {draw(st.sampled_from(['20s', '10m', '1s']))}")
        files[f"r{n}"] = f"title: R{n}\nsteps:\n" + ("\n".join(lines) if lines else "  []") + "\n"
    return files


def bomb(levels: int, width: int) -> dict[str, str]:
    files = {f"r{n}": f"title: R{n}\nsteps:\n" + f"  - include: r{n + 1}\n" * width for n in range(levels)}
    files[f"r{levels}"] = "title: Leaf\nsteps:\n  - hold: H.\n    time: 1s\n"
    return files


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(libraries() | st.builds(bomb, st.integers(1, 12), st.integers(1, 30)))
def test_include_graphs(files):
    parsed: Counter[str] = Counter()

    def resolve(rid: str):
        if rid not in files:
            raise RoutineNotFound(f'no routine called "{rid}"')
        return files[rid], f"{rid}.yaml", None

    real = loader.compose

    def counting(checker, text, *args):
        parsed[checker.source] += 1
        return real(checker, text, *args)

    loader.compose = counting
    try:
        check(files["r0"], "r0.yaml", resolve=resolve)
    finally:
        loader.compose = real
    assert max(parsed.values()) == 1  # each file parsed once, however often it is included


# -- tone files -------------------------------------------------------------------------------

U16, U32 = st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
INTERESTING = st.sampled_from([0, 1, 2, 8, 16, 24, 32, 44100, 0x7FFFFFFF, 0xFFFFFFFF, 4_000_000_000])


@st.composite
def wav_files(draw) -> bytes:
    """A RIFF/WAVE file with any header: fmt fields, chunk sizes and order at random, the
    sound possibly cut short. Honest headers come up too."""
    code = draw(st.sampled_from([1, 3, 0xFFFE, 0, 2, 85]) | U16)
    channels = draw(st.sampled_from([1, 2, 0, 8, 9, 65535]) | U16)
    rate = draw(st.sampled_from([8000, 22050, 44100, 192000, 7999, 192001]) | INTERESTING | U32)
    bits = draw(st.sampled_from([8, 16, 24, 32, 64, 0, 3, 65535]) | U16)
    align = draw(st.sampled_from([channels * bits // 8 & 0xFFFF, 0, 1]) | U16)
    frames = draw(st.integers(0, 3000))
    sound = bytes(draw(st.integers(0, 255)) for _ in range(2)) * frames
    fmt = struct.pack("<HHIIHH", code, channels, rate, draw(U32), align, bits)
    fmt = fmt[: draw(st.sampled_from([16, 16, 14, 0, 18]))] + draw(st.binary(max_size=4))
    fmt_size = draw(st.sampled_from([len(fmt), len(fmt)]) | U32)
    data_size = draw(st.sampled_from([len(sound), len(sound), 0]) | INTERESTING | U32)
    chunks = [b"fmt " + struct.pack("<I", fmt_size) + fmt, b"data" + struct.pack("<I", data_size) + sound]
    if draw(st.booleans()):
        chunks.insert(
            draw(st.integers(0, 2)), b"LIST" + struct.pack("<I", draw(INTERESTING)) + draw(st.binary(max_size=16))
        )
    if draw(st.integers(0, 5)) == 0:
        chunks.reverse()
    body = b"WAVE" + b"".join(chunks)
    whole = b"RIFF" + struct.pack("<I", draw(st.sampled_from([len(body)]) | U32)) + body
    return whole[: draw(st.integers(0, len(whole)))] if draw(st.integers(0, 4)) == 0 else whole


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wav_files())
def test_tone_headers(data):
    with tempfile.TemporaryDirectory() as folder:
        tone = Path(folder) / "t.wav"
        tone.write_bytes(data)
        started = time.perf_counter()
        try:
            info = tones.wav_info(tone)
        except ValueError as error:
            assert str(error)
            info = None
        else:
            assert 1 <= info.channels <= 8 and 8000 <= info.rate <= 192_000 and info.frames > 0
            assert info.frames * info.channels * info.bits // 8 <= len(data)  # it has what it says
        assert time.perf_counter() - started < QUICK
        text = "title: T\ncues:\n  tones:\n    start: t.wav\nsteps:\n  - hold: H.\n    time: 20s\n"
        loaded = check(text, str(Path(folder) / "toned.yaml"), base_dir=Path(folder))
        if info is None:
            assert loaded is None
        if loaded is None and info is not None:
            assert info.seconds > 1  # the only reason to refuse a tone that reads: it is too long


def test_tone_headers_that_lie_in_each_field_get_their_own_message():
    seen = set()
    for code, channels, rate, bits, align, frames, size in [
        (1, 1, 22050, 16, 2, 10, 4_000_000_000),
        (1, 1, 22050, 16, 2, 0, 0),
        (1, 0, 22050, 16, 2, 10, None),
        (1, 65535, 22050, 16, 2, 10, None),
        (1, 1, 4_000_000_000, 16, 2, 10, None),
        (1, 1, 22050, 3, 1, 10, None),
        (99, 1, 22050, 16, 2, 10, None),
    ]:
        sound = b"\x00\x01" * frames
        fmt = struct.pack("<HHIIHH", code, channels, rate, 0, align, bits)
        body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
        body += b"data" + struct.pack("<I", len(sound) if size is None else size) + sound
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "t.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
            with pytest.raises(ValueError) as error:
                tones.wav_info(Path(folder) / "t.wav")
        seen.add(str(error.value))
    assert len(seen) == 7


# -- control characters in every text ---------------------------------------------------------

CONTROL = st.sampled_from(
    ["\x1b[2J", "\x1b]52;c;SGVsbG8=\x07", "\x9b6n", "\x85", "\x7f", "\u202e", "\u2066", "\u200f", "\u061c", "\r", "\b"]
)
TEXT = st.lists(CONTROL | st.text(alphabet="abc {}:", max_size=4), min_size=1, max_size=5).map("".join)


def quoted(text: str) -> str:
    """``text`` as a YAML double-quoted scalar (escapes for what YAML cannot hold raw)."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif RAW.match(char) or not char.isprintable():
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


@st.composite
def control_routines(draw):
    def text() -> str:
        return quoted(draw(TEXT))

    return (
        f"title: {text()}\nsummary: {text()}\nareas: [{text()}]\ntools: [{text()}, {text()}]\n"
        f"safety: [{text()}]\nside_words: {{left: {text()}, right: {text()}}}\n"
        f"{text()}: 1\n"  # a key of control characters
        f"steps:\n  - hold: {text()}\n    title: {text()}\n    time: 20s\n    sides: both\n"
        f"    target: {text()}\n    say: [{{at: half, text: {text()}}}]\n"
        f"  - include: {text()}\n"
    )


@FUZZ
@given(control_routines())
def test_control_characters_in_every_text(text):
    """Refused (the key is unknown) with every problem inert; without the key it loads, and
    every text it shows or says is inert once printable() has it."""
    check(text, "ctl\x1b[2J.yaml")
    without_key = "\n".join(line for line in text.split("\n") if not line.endswith(": 1") or line.startswith(" "))
    without_include = without_key.split("  - include:")[0]
    loaded = check(without_include)
    if loaded is not None:
        timeline = compiler.compile(loaded, clip_length, tone_length)
        for event in timeline.events:
            assert not RAW.search(printable(event.text or "")) and not RAW.search(printable(event.step))
