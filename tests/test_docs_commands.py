"""Every command shown in README.md and docs/*.md runs as written, and every routine shown
there is accepted without a warning.

Each line of a fenced `sh`/`shell` block is run by bash as written (so `~`, quotes and
`# comments` mean what they mean to a reader), with `holdcue` and `python3` being this
interpreter and this tree, run in a folder with a `.venv/bin/python` that is this
interpreter, as in a checkout set up by scripts/setup. The files the commands name are made from the docs' own
examples (my-routine.yaml is the first routine in docs/routines.md). HOME, the config
folder and the speech cache (one for the whole module) are temporary.

`holdcue play` commands really play, through the private PulseAudio null sink of
tests/audio_stack.py: the first line a non-terminal shows must be where the command says
it starts (the introduction, step N, or the step whose title has the words), and Ctrl-C
must then end it with code 130, as README's table says. The setup scripts of the
Quickstart are tested in tests/test_setup.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import holdcue
from audio_stack import NullSink, missing
from speech_support import HAVE_ESPEAK, HAVE_PIPER

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = 'holdcue() { exec "$HOLDCUE_PYTHON" -m holdcue "$@"; }\n'
# The tree under test, whatever folder a command runs in.
SRC = Path(holdcue.__file__).resolve().parent.parent
# Lines of the docs' shell blocks that this module does not run, and where they are tested.
ON_A_PI = "needs a Raspberry Pi's sound card, PipeWire or systemd user session: checked on a Pi, not here"
ELSEWHERE = {
    "scripts/holdcue play shoulders-and-chest": "tests/test_setup.py",
    "scripts/test": "tests/test_setup.py (setup); it runs this very suite",
    "python -m pytest tests/test_phrases.py tests/test_compiler_languages.py": "part of this very suite",
    "wpctl status": ON_A_PI,
    "wpctl set-default ID": ON_A_PI,
    "pactl info": ON_A_PI,
    "wpctl set-volume @DEFAULT_AUDIO_SINK@ 0.8": ON_A_PI,
    "speaker-test -c 2 -t wav -l 1": ON_A_PI,
    "loginctl show-user $USER -p Linger": ON_A_PI,
    "journalctl --user -u holdcue -b": ON_A_PI,
    "journalctl --user -u holdcue -f": ON_A_PI,
    "systemctl --user status mpris-proxy.service": ON_A_PI,
    "playerctl -l": "tests/test_mpris_e2e.py (on a private session bus)",
    "playerctl --player holdcue status": "tests/test_mpris_e2e.py",
    "playerctl --player holdcue play-pause": "tests/test_mpris_e2e.py",
    "playerctl --player holdcue metadata": "tests/test_mpris_e2e.py",
    "aplay -l": ON_A_PI,
    "speaker-test -D plughw:CARD=Headphones -c 2 -t wav -l 1": ON_A_PI,
    "alsamixer": ON_A_PI,
    "bluetoothctl info AA:BB:CC:DD:EE:FF": ON_A_PI,
}
# Requests to a service on the LAN: tests/test_web_api.py makes the same ones to a real server.
ELSEWHERE_PREFIXES = {"curl ": "tests/test_web_api.py"}
LACKING_AUDIO = missing()

pytestmark = [
    pytest.mark.speech,
    pytest.mark.skipif(not HAVE_ESPEAK and os.environ.get("CI") != "true", reason="espeak-ng is not installed"),
]


def blocks(path: Path, languages: tuple[str, ...]) -> list[str]:
    """The fenced code blocks of a Markdown file in these languages."""
    return re.findall(r"^```(?:" + "|".join(languages) + r")\n(.*?)^```", path.read_text(), re.M | re.S)


def without_comment(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line).strip()


def shown_commands() -> dict[str, str]:
    """Each command line shown once (by its text without the comment), with where it is shown."""
    found: dict[str, str] = {}
    for path in DOCS:
        for block in blocks(path, ("sh", "shell")):
            for line in block.replace("\\\n", " ").splitlines():  # a line ending in \ goes on
                if line.strip() and not line.lstrip().startswith("#"):
                    found.setdefault(" ".join(line.split()), path.relative_to(ROOT).as_posix())
    unique: dict[str, str] = {}
    for line, where in found.items():
        if without_comment(line) not in {without_comment(u) for u in unique}:
            unique[line] = where
    return unique


def covered_elsewhere(line: str) -> bool:
    command = without_comment(line)
    return command in ELSEWHERE or command.startswith(tuple(ELSEWHERE_PREFIXES))


COMMANDS = shown_commands()
RUN = {line: where for line, where in COMMANDS.items() if not covered_elsewhere(line)}


def routines_shown() -> list[tuple[str, str]]:
    """(where, text) of every YAML block of the docs that is a whole routine."""
    return [
        (path.relative_to(ROOT).as_posix(), block)
        for path in DOCS
        for block in blocks(path, ("yaml",))
        if re.search(r"^title:", block, re.M) and re.search(r"^steps:", block, re.M)
    ]


def test_the_docs_show_commands_and_every_one_is_run_here_or_elsewhere():
    assert len(RUN) >= 15
    for line in COMMANDS:
        first = without_comment(line).split()[0]
        assert first in ("holdcue", ".venv/bin/python", "pybabel") or covered_elsewhere(line), f"what runs {line!r}?"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, str]:
    """A folder to run the commands in, with the files they name, and their environment."""
    root = tmp_path_factory.mktemp("docs")
    work, home = root / "work", root / "home"
    (work / ".venv" / "bin").mkdir(parents=True)
    (work / ".venv" / "bin" / "python").symlink_to(sys.executable)
    home.mkdir()
    # docs/routines.md's first example, right before "Check a file with holdcue validate my-routine.yaml".
    (work / "my-routine.yaml").write_text(next(text for where, text in routines_shown() if where == "docs/routines.md"))
    return {
        **os.environ,
        "HOME": str(home),
        "HOLDCUE_CONFIG_DIR": str(root / "config"),
        "HOLDCUE_CACHE_DIR": str(root / "cache"),
        "HOLDCUE_PYTHON": sys.executable,
        "PWD": str(work),
        "PYTHONPATH": os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }


@pytest.fixture(scope="module")
def audio(tmp_path_factory, workspace):
    """The workspace's environment with ALSA's default device playing into a null sink."""
    if LACKING_AUDIO:
        if os.environ.get("CI") == "true":
            pytest.fail(f"playing needs {', '.join(LACKING_AUDIO)} (CI=true: it may not be skipped)")
        pytest.skip(f"playing needs {', '.join(LACKING_AUDIO)}")
    with NullSink(tmp_path_factory.mktemp("pulse")) as stack:
        # The null sink's HOME holds the .asoundrc that points ALSA at it.
        mine = ("HOLDCUE_CONFIG_DIR", "HOLDCUE_CACHE_DIR", "HOLDCUE_PYTHON", "PWD", "PYTHONPATH")
        yield {**stack.env, **{key: workspace[key] for key in mine}}


def plays(line: str) -> bool:
    """Whether the command plays sound: play, resume, today without --show, tones without
    --list, compose with --play."""
    words = without_comment(line).split()
    return (
        words[1] in ("play", "resume")
        or (words[1] == "compose" and "--play" in words)
        or (words[1] == "today" and "--show" not in words)
        or (words[1] == "tones" and "--list" not in words)
    )


def serves(line: str) -> bool:
    return without_comment(line).split()[:2] == ["holdcue", "serve"]


def named_files(line: str) -> list[str]:
    """The routine files a command reads (not those it writes with -o)."""
    words = without_comment(line).split()
    written = {words[n + 1] for n, word in enumerate(words[:-1]) if word == "-o"}
    return [word for word in words if word.endswith((".yaml", ".yml")) and word not in written]


def make_named_files(line: str, env: dict[str, str]) -> None:
    """Make the files a command reads that another command shown writes (holdcue compose
    ... -o calves.yaml before holdcue play calves.yaml), when they are not there yet."""
    for name in named_files(line):
        if Path(env["PWD"], name).exists():
            continue
        maker = next(other for other in RUN if f"-o {name}" in without_comment(other))
        done = subprocess.run(
            ["bash", "-c", SHELL + maker], cwd=env["PWD"], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{RUN[maker]}: {maker!r} failed:\n{done.stderr}"


@pytest.mark.parametrize("line", [line for line in RUN if line.startswith("pybabel")], ids=without_comment)
def test_catalogue_command(line, tmp_path):
    """docs/languages.md's catalogue commands, in a copy of the package's phrases and catalogues."""
    package = tmp_path / "src" / "holdcue"
    package.mkdir(parents=True)
    shutil.copy(SRC / "holdcue" / "phrases.py", package)
    shutil.copytree(SRC / "holdcue" / "locale", package / "locale")
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    done = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{RUN[line]}: {line!r} failed:\n{done.stderr}"


@pytest.mark.parametrize(
    "line",
    [line for line in RUN if not plays(line) and not serves(line) and not line.startswith("pybabel")],
    ids=without_comment,
)
def test_command(line, workspace):
    if "--engine piper" in line and not HAVE_PIPER:  # the optional engine: speech_support.piper_test
        if os.environ.get("CI") == "true":
            pytest.fail(f"{line!r} needs Piper and its test voice (CI=true: scripts/setup --test installs both)")
        pytest.skip("Piper or its test voice is not installed (scripts/setup --test installs both)")
    make_named_files(line, workspace)
    for name in named_files(line):
        assert Path(workspace["PWD"], name).exists(), f"{RUN[line]}: {line!r} names {name}, which no example makes"
    done = subprocess.run(
        ["bash", "-c", SHELL + line], cwd=workspace["PWD"], env=workspace, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{RUN[line]}: {line!r} failed:\n{done.stderr}"
    assert "warning" not in done.stderr, f"{RUN[line]}: {line!r} warns:\n{done.stderr}"
    words = without_comment(line).split()
    for option in ("-o", "--transcript"):
        if option in words:
            written = Path(os.path.expanduser(words[words.index(option) + 1].replace("~", workspace["HOME"], 1)))
            written = written if written.is_absolute() else Path(workspace["PWD"], written)
            assert written.is_file() or any(written.iterdir()), f"{line!r} wrote nothing to {written}"
    if "--json" in words:
        data = json.loads(done.stdout)
        assert data["events"] if words[1] == "show" else data and all("exact" in item for item in data)
    if words[0] == ".venv/bin/python":
        assert Path(done.stdout.strip()).is_file()


@pytest.mark.parametrize("line", [line for line in RUN if serves(line)], ids=without_comment)
def test_serve_command(line, workspace, tmp_path):
    """The service starts, answers on its port, and stops cleanly on SIGTERM (as systemd stops it)."""
    env = {**workspace, "HOLDCUE_CONFIG_DIR": str(tmp_path / "config"), "HOLDCUE_DATA_DIR": str(tmp_path / "data")}
    process = subprocess.Popen(
        ["bash", "-c", SHELL + without_comment(line) + " --no-prepare"],
        cwd=env["PWD"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        said = process.stdout.readline()
        port = int(re.search(r":(\d+)/", said)[1])
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=10)
            answer = 200
        except urllib.error.HTTPError as error:
            answer = error.code
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert said.startswith("holdcue is listening on "), said
    assert answer == (401 if "--host" in line else 200)  # reachable from the LAN: a token is needed
    assert code == 0


def where_it_starts(line: str) -> str:
    """What the first line of a play command's plain output must show."""
    words = without_comment(line).split()
    if words[1] == "resume":
        return "Resuming "
    if words[1] == "today":
        return "Today"  # "Today: <title>..." or, on a rest day, "Today is a rest day."
    if words[1] == "tones":
        return "The tones"
    if "--start-at" not in words:
        return "Introduction"
    step = words[words.index("--start-at") + 1]
    return f"Step {step} of " if step.isdigit() else step


def interrupted(line: str, env: dict[str, str]) -> int:
    """Run a playing command, let it play a second, then Ctrl-C: its exit code."""
    process = subprocess.Popen(["bash", "-c", SHELL + line], cwd=env["PWD"], env=env, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        process.stdout.readline()
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        return process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.audio
@pytest.mark.parametrize("line", [line for line in RUN if plays(line)], ids=without_comment)
def test_play_command(line, audio, tmp_path):
    audio = {**audio, "HOLDCUE_DATA_DIR": str(tmp_path / "data")}
    if without_comment(line).split()[1] == "resume":  # something to resume: a session stopped early
        assert interrupted("holdcue play tennis-ball-release", audio) == 130
    make_named_files(line, audio)
    process = subprocess.Popen(
        ["bash", "-c", SHELL + line],
        cwd=audio["PWD"],
        env=audio,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        expected = 130  # README: Ctrl-C
        time.sleep(1.0)  # playing, not refused by the device
        if process.poll() is not None and first.startswith("Today is a rest day."):
            code, expected = process.returncode, 0  # today plays nothing on a rest day: it says so
        else:
            assert process.poll() is None, f"{RUN[line]}: {line!r} ended: {first}{process.stderr.read()}"
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    errors = process.stderr.read()
    assert where_it_starts(line).casefold() in first.casefold(), f"{RUN[line]}: {line!r} started at {first!r}"
    assert "warning" not in errors
    assert code == expected, errors


@pytest.mark.parametrize("where,text", routines_shown(), ids=lambda v: v if v.endswith(".md") else None)
def test_routine_example(where, text, tmp_path, workspace):
    (tmp_path / "example.yaml").write_text(text)
    # The tone example expects a sounds folder next to the file: holdcue's own tones serve.
    (tmp_path / "sounds").mkdir()
    for name in ("bowl", "chime"):
        shutil.copy(ROOT / "audio_cues" / "start.wav", tmp_path / "sounds" / f"{name}.wav")
    done = subprocess.run(
        [sys.executable, "-m", "holdcue", "validate", "example.yaml"],
        cwd=tmp_path,
        env=workspace,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{where}:\n{text}\n{done.stderr}"
    assert "warning" not in done.stdout + done.stderr, f"{where}:\n{text}\n{done.stdout}{done.stderr}"
