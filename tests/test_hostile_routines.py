"""Routine files written to hurt: deep include chains, include and size bombs, absurd times
and texts, tone files whose headers lie, FIFOs where files should be. Each is refused fast,
in little memory, with a message naming the file, line and column: never a traceback, a
hang or a crash."""

from __future__ import annotations

import contextlib
import os
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from holdcue import loader
from holdcue.cli import cli
from holdcue.errors import RoutineError, RoutineNotFound
from holdcue.exitcodes import ExitCode

FAST = 5.0  # seconds: each refusal takes well under one; the margin is for a Raspberry Pi (3-4x slower)
SMALL = 20_000_000  # bytes of peak memory allowed while refusing


def resolver(files: dict[str, str]):
    """A library of routine texts by id, as library.find_id gives them."""

    def resolve(rid: str) -> tuple[str, str, Path | None]:
        if rid not in files:
            raise RoutineNotFound(f'no routine called "{rid}"')
        return files[rid], f"{rid}.yaml", None

    return resolve


def refused(text: str, source: str = "hostile.yaml", *, traced: bool = True, **kw) -> list[str]:
    """The problems of a routine that must be refused, checked to be fast, then (traced
    memory slows Python down several times) small."""
    started = time.perf_counter()
    with pytest.raises(RoutineError) as error:
        loader.load(text, source, **kw)
    assert time.perf_counter() - started < FAST
    if not traced:
        return [str(problem) for problem in error.value.problems]
    tracemalloc.start()
    try:
        with pytest.raises(RoutineError):
            loader.load(text, source, **kw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < SMALL
    return [str(problem) for problem in error.value.problems]


def one_step(time_: str = "20s") -> str:
    return f"  - hold: Hold.\n    time: {time_}\n"


# -- includes --------------------------------------------------------------------------------


def chain(length: int) -> dict[str, str]:
    """r0 includes r1 includes r2 ... the last holds a step."""
    files = {f"r{n}": f"title: R{n}\nsteps:\n  - include: r{n + 1}\n" for n in range(length - 1)}
    files[f"r{length - 1}"] = f"title: Last\nsteps:\n{one_step()}"
    return files


def test_a_chain_of_250_includes_is_refused_at_depth_8_not_a_recursion_error():
    files = chain(250)
    problems = refused(files["r0"], "r0.yaml", resolve=resolver(files))
    assert problems[0] == 'r0.yaml:3:14: steps[0].include: the included routine "r1" has errors'
    assert problems[-1] == (
        "r7.yaml:3:14: steps[0].include: includes nested more than 8 deep "
        "(r0 -> r1 -> r2 -> r3 -> r4 -> r5 -> r6 -> r7 -> r8); include the routines you need directly"
    )
    assert len(problems) == 8  # r9 to r249 are never read


def test_a_chain_of_8_routines_is_fine():
    files = chain(8)
    loaded = loader.load(files["r0"], "r0.yaml", resolve=resolver(files))
    assert len(loaded.steps) == 1


def test_a_chain_of_250_includes_through_the_library_and_the_cli(tmp_path, monkeypatch):
    folder = tmp_path / "conf" / "routines"
    folder.mkdir(parents=True)
    for rid, text in chain(250).items():
        (folder / f"{rid}.yaml").write_text(text)
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "conf"))
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["validate", str(folder / "r0.yaml")])
    assert time.perf_counter() - started < FAST
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert "includes nested more than 8 deep" in result.stderr and "Traceback" not in result.output
    assert "RecursionError" not in result.output


def test_an_include_cycle_is_named():
    files = {"a": "title: A\nsteps:\n  - include: b\n", "b": "title: B\nsteps:\n  - include: a\n"}
    problems = refused(files["a"], "a.yaml", resolve=resolver(files))
    assert "b.yaml:3:14: steps[0].include: include cycle: a -> b -> a; remove one of these includes" in problems


@contextlib.contextmanager
def parses(monkeypatch):
    """The source of every file the loader parses, in order."""
    parsed: list[str] = []
    real = loader.compose

    def counting(checker, text, *args):
        parsed.append(checker.source)
        return real(checker, text, *args)

    monkeypatch.setattr(loader, "compose", counting)
    yield parsed


def test_an_include_bomb_five_files_each_including_the_next_ten_times(monkeypatch):
    """10**4 copies of the leaf if expanded; each file is parsed once, and the session
    stops at 500 steps."""
    files = {f"b{n}": f"title: B{n}\nsteps:\n" + f"  - include: b{n + 1}\n" * 10 for n in range(4)}
    files["b4"] = f"title: Leaf\nsteps:\n{one_step()}"
    with parses(monkeypatch) as parsed:
        problems = refused(files["b0"], "b0.yaml", resolve=resolver(files))
    assert sorted(parsed) == sorted(
        ["b0.yaml", "b1.yaml", "b2.yaml", "b3.yaml", "b4.yaml"] * 2
    )  # refused() loads twice
    assert problems[0] == 'b0.yaml:3:14: steps[0].include: the included routine "b1" has errors'
    assert any('including "b2" makes the session over 500 steps long' in p for p in problems), problems


def test_an_include_fan_of_the_same_routine_is_read_once(monkeypatch):
    files = {"leaf": f"title: Leaf\nsteps:\n{one_step()}"}
    with parses(monkeypatch) as parsed:
        loaded = loader.load("title: Fan\nsteps:\n" + "  - include: leaf\n" * 20, "fan.yaml", resolve=resolver(files))
    assert len(loaded.steps) == 20 and parsed == ["fan.yaml", "leaf.yaml"]


# -- size ------------------------------------------------------------------------------------


def test_a_1_mb_file_of_40000_one_second_steps_is_refused_fast():
    text = "title: T\nsteps:\n" + "  - {hold: x, time: 1s}\n" * 40_000
    assert 900_000 < len(text.encode()) < loader.MAX_FILE_BYTES
    problems = refused(text, "steps.yaml", traced=False)  # traced, its 5000 lines parsed would take 10 s
    assert len(problems) == 1 and problems[0].startswith("steps.yaml:")
    assert "holds more than 25000 values" in problems[0] or "has 40000 steps" in problems[0]


def test_501_steps_are_refused_with_the_count():
    problems = refused("title: T\nsteps:\n" + one_step("2s") * 501)
    assert problems == ["hostile.yaml:3:3: steps: has 501 steps; a session has 500 at most: split it into routines"]


def test_a_75_hour_routine_is_refused():
    problems = refused("title: T\nsteps:\n" + one_step("10m") * 450)  # 450 x 10 minutes: 75 hours
    assert any("add up to 4500m; a session may last 180m at most; split it into routines" in p for p in problems)


@pytest.mark.parametrize("every", ["1ms", "0.001s", "9s", "9999ms"])
def test_reminders_more_often_than_every_10_seconds_are_refused(every):
    for cue in ("time_left", "breathe"):
        problems = refused(f"title: T\ncues: {{{cue}: {every}}}\nsteps:\n{one_step()}")
        assert len(problems) == 1 and problems[0].startswith(f"hostile.yaml:2:{8 + len(cue) + 2}: cues.{cue}: ")
        assert "is too often; give a reminder every 10s at the most, or false for none" in problems[0]


def test_a_5000_word_text_is_refused():
    words = " ".join(["relax"] * 5000)
    problems = refused(f"title: T\nsteps:\n  - hold: {words}\n    time: 20s\n")
    assert len(problems) == 1 and problems[0].startswith("hostile.yaml:3:11: steps[0].hold: ")
    assert "500" in problems[0]


def test_a_200_character_title_and_21_cues_are_refused():
    says = "".join(f"      - {{at: {n + 1}s, text: Breathe.}}\n" for n in range(21))
    problems = refused(f"title: {'T' * 200}\nsteps:\n  - hold: H.\n    time: 30s\n    say:\n{says}")
    assert any(p.startswith("hostile.yaml:1:8: title: ") and "120" in p for p in problems), problems
    assert any("steps[0].say: has 21 cues; a step has 20 at most" in p for p in problems), problems


# -- tone files ------------------------------------------------------------------------------


def wav_header(
    *, code=1, channels=1, rate=22050, bits=16, align=None, data_size=None, frames=100, fmt_size=16, order="fd"
) -> bytes:
    """A RIFF/WAVE file whose header says what is given, whatever the truth."""
    align = channels * bits // 8 if align is None else align
    sound = b"\x00\x01" * frames
    fmt = struct.pack("<HHIIHH", code, channels, rate, min(rate * align, 0xFFFFFFFF), align, bits)[:fmt_size]
    fmt_chunk = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    data_chunk = b"data" + struct.pack("<I", len(sound) if data_size is None else data_size) + sound
    body = b"WAVE" + (fmt_chunk + data_chunk if order == "fd" else data_chunk + fmt_chunk)
    return b"RIFF" + struct.pack("<I", len(body)) + body


TONE_CASES = {
    "lies about its data": (wav_header(data_size=4_000_000_000), "says it holds 4000000000 bytes of sound"),
    "0 frames": (wav_header(frames=0), "has no sound in it"),
    "4-billion rate": (wav_header(rate=4_000_000_000), "has a sample rate of 4000000000 Hz"),
    "0 channels": (wav_header(channels=0, align=2), "has 0 channels"),
    "65535 channels": (wav_header(channels=65535, align=2), "has 65535 channels"),
    "3-bit samples": (wav_header(bits=3, align=1), "has 3-bit samples"),
    "short format chunk": (wav_header(fmt_size=10), "its format chunk is too short"),
    "data before format": (wav_header(order="df"), "has its sound before its format"),
    "float code 99": (wav_header(code=99), "format 99"),
    "no chunks": (b"RIFF\x04\x00\x00\x00WAVE", "has no sound data"),
    "not RIFF": (b"OggS" + b"\x00" * 60, "is not a WAV file"),
    "empty": (b"", "is not a WAV file"),
    "chunk size 0xFFFFFFFF": (b"RIFF\xff\xff\xff\xffWAVEjunk\xff\xff\xff\xff", "has no sound data"),
}


def tone_routine(tmp_path: Path, tone: str) -> Path:
    path = tmp_path / "toned.yaml"
    path.write_text(f"title: T\ncues:\n  tones:\n    start: {tone}\nsteps:\n{one_step()}")
    return path


@pytest.mark.parametrize("case", sorted(TONE_CASES))
def test_a_tone_whose_header_lies_is_refused_by_validate_with_line_and_column(case, tmp_path):
    data, message = TONE_CASES[case]
    (tmp_path / "t.wav").write_bytes(data)
    path = tone_routine(tmp_path, "t.wav")
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert time.perf_counter() - started < FAST
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert f'{path}:4:12: cues.tones.start: "t.wav" ' in result.stderr and message in result.stderr, result.stderr


def test_a_2_gb_sparse_tone_is_refused_without_reading_it(tmp_path):
    tone = tmp_path / "huge.wav"
    with open(tone, "wb") as out:
        out.write(wav_header())
        out.truncate(2 * 1024**3)  # sparse: no disk used
    path = tone_routine(tmp_path, "huge.wav")
    tracemalloc.start()
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["validate", str(path)])
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < FAST and peak < SMALL
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert f'{path}:4:12: cues.tones.start: "huge.wav" is 2147 MB; a tone of at most 1 s is far smaller' in (
        result.stderr
    )


def test_a_tone_that_is_a_fifo_or_a_folder_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo.wav")
    (tmp_path / "dir.wav").mkdir()
    for name in ("fifo.wav", "dir.wav", "/dev/zero"):
        path = tone_routine(tmp_path, name)
        result = subprocess.run(
            [sys.executable, "-m", "holdcue", "validate", str(path)], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == ExitCode.INVALID_ROUTINE
        assert f'{path}:4:12: cues.tones.start: "{name}" is not a regular file; give a .wav file' in result.stderr


def test_a_tone_of_a_user_that_does_not_exist(tmp_path):
    path = tone_routine(tmp_path, "~nosuchuser-holdcue/start.wav")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert (
        f'{path}:4:12: cues.tones.start: there is no user "nosuchuser-holdcue" for "~nosuchuser-holdcue"; '
        "write the full path"
    ) in result.stderr


# -- the routine file itself -----------------------------------------------------------------


@pytest.mark.parametrize("command", [["validate"], ["show"], ["play"], ["export", "-o", "x.wav"]])
def test_a_routine_file_that_is_a_fifo_is_refused_without_blocking(command, tmp_path):
    fifo = tmp_path / "routine.yaml"
    os.mkfifo(fifo)
    result = subprocess.run(
        [sys.executable, "-m", "holdcue", command[0], str(fifo), *command[1:]],
        capture_output=True,
        text=True,
        timeout=30,  # a FIFO read would wait for a writer forever
        cwd=tmp_path,
    )
    assert result.returncode == ExitCode.INVALID_ROUTINE, result.stderr
    assert f"{fifo}: is not a regular file (a folder, FIFO or device); give a routine file" in result.stderr
    assert not (tmp_path / "x.wav").exists()


def test_a_routine_that_is_a_device_is_refused():
    result = CliRunner().invoke(cli, ["validate", "/dev/zero", "/dev/null"])
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    for device in ("/dev/zero", "/dev/null"):
        assert f"{device}: is not a regular file (a folder, FIFO or device); give a routine file" in result.stderr
