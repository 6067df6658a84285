"""scripts/setup on a bare machine, without a bare machine: the script runs for real, in a
copy of the checkout, with a PATH on which dpkg-query, apt-get, sudo, id and python3 are
stand-ins that answer as a fresh Raspberry Pi OS Lite or minimal Debian would (nothing
installed, no Python headers, an installer whose build of simpleaudio fails) and record how
they were called. The other programs on that PATH are the real ones the script uses, and
nothing else: a program missing there is missing for the script. HOME is a temporary folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASE = ["espeak-ng", "libespeak-ng1", "libasound2-dev", "libportaudio2", "alsa-utils", "gcc"]
DEBIAN_PY = ["python3.11-dev", "python3.11-venv"]
TEST_EXTRA = [
    *("pulseaudio", "pulseaudio-utils", "libasound2-plugins", "chromium", "systemd"),
    *("mosquitto", "openssl", "nginx-light", "dbus-daemon", "playerctl", "bluez"),
    *("nodejs", "npm"),  # without an npm on the PATH: axe-core for the page tests
]
# The real programs scripts/setup and the stand-ins run; sudo, apt-get, dpkg-query, id and
# python3 are not among them.
TOOLS = [
    "bash",
    "env",
    "dirname",
    "grep",
    "mkdir",
    "ln",
    "readlink",
    "touch",
    "tail",
    "cat",
    "chmod",
    "cp",
    "seq",
    "cksum",
    "rm",
    "sed",
]

STUBS = {
    "id": """
[ "$1" = -u ] && echo "$STUB_UID"
""",
    "dpkg-query": """
if [ "$1" = -S ]; then
    if [ "$STUB_DEBIAN" = 1 ]; then echo "python3.11-minimal: $2"; exit 0; fi
    echo "dpkg-query: no path found matching pattern $2" >&2; exit 1
fi
pkg="${@: -1}"
if grep -qx -- "$pkg" "$STUB_STATE/installed"; then printf 'install ok installed'; exit 0; fi
echo "dpkg-query: no packages found matching $pkg" >&2; exit 1
""",
    "apt-get": """
echo "DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-} $*" >> "$STUB_STATE/apt-get.log"
if [ "${STUB_APT_RC:-0}" != 0 ]; then echo "E: Unable to locate package" >&2; exit "$STUB_APT_RC"; fi
if [ "$1" = install ]; then
    for a in "$@"; do
        case $a in
            install | -*) ;;
            python3) echo "$a" >> "$STUB_STATE/installed"; cp "$STUB_STATE/python3" "$STUB_BIN/python3" ;;
            npm) echo "$a" >> "$STUB_STATE/installed"; cp "$STUB_STATE/npm" "$STUB_BIN/npm" ;;
            *) echo "$a" >> "$STUB_STATE/installed" ;;
        esac
    done
fi
""",
    "sudo": """
echo "$*" >> "$STUB_STATE/sudo.log"
exec "$@"
""",
}

# npm (on the PATH once apt-get has installed it): npm ci puts what the lock names into
# node_modules beside it.
NPM = """
echo "$*" >> "$STUB_STATE/npm.log"
[ "$1" = ci ] && [ "$2" = --prefix ] && mkdir -p "$3/node_modules/axe-core"
"""

# The interpreter: answers setup's one question about itself, and makes a venv whose python
# is the stand-in below.
PYTHON = """
case "$1" in
    -c) printf '%s\\n' "$STUB_PY_VERSION" "$STUB_PY_PREFIX" "$STUB_PY_EXE" "$STUB_PY_INCLUDE" ;;
    -m) [ "$2" = venv ] || exit 9
        echo "venv $3" >> "$STUB_STATE/python.log"
        mkdir -p "$3/bin"; cp "$STUB_STATE/venv-python" "$3/bin/python"; chmod +x "$3/bin/python" ;;
    *) exit 9 ;;
esac
"""

# pip in the venv: installs uv (the stand-in below) into the folder --target names.
VENV_PYTHON = """
case "$*" in
    "-m pip --version") echo "pip 23.0.1" ;;
    "-m pip install"*)
        echo "$*" >> "$STUB_STATE/pip.log"
        while [ "$1" != --target ]; do shift; done; target=$2
        mkdir -p "$target/bin"; cp "$STUB_STATE/uv" "$target/bin/uv"; chmod +x "$target/bin/uv" ;;
    *) exit 9 ;;
esac
"""

# uv: syncs the venv (and installs the command holdcue) or fails as building simpleaudio
# fails without Python.h, compiler log and all.
UV = """
echo "$*" >> "$STUB_STATE/uv.log"
echo "PYPI=${PYPI:-}" >> "$STUB_STATE/uv-env.log"
if [ "$STUB_INSTALL" = ok ]; then
    bin="$UV_PROJECT_ENVIRONMENT/bin"
    printf '#!/bin/bash\\necho "holdcue $*"\\n' > "$bin/holdcue"; chmod +x "$bin/holdcue"; exit 0
fi
echo "   Building simpleaudio-patched==1.0.5"
for i in $(seq 1 30); do echo "  gcc -Wsign-compare -DNDEBUG -g -fwrapv -O2 -Wall -fPIC -c c_src/file$i.c"; done
echo "  c_src/simpleaudio.c:7:10: fatal error: Python.h: No such file or directory"
echo "      7 | #include <Python.h>"
echo "  compilation terminated."
echo "  error: command '/usr/bin/gcc' failed with exit code 1"
for i in $(seq 1 30); do echo "  note: line $i of the build's explanation"; done
echo "  x Failed to build simpleaudio-patched==1.0.5"
exit 1
"""

SYNC = "sync --locked --no-python-downloads --python {venv}/bin/python"
PIP_UV = (
    "-m pip install --disable-pip-version-check --no-deps --require-hashes --upgrade --target {venv}/uv"
    " -r scripts/uv-requirements.txt"
)


@dataclass
class Machine:
    """A copy of the checkout and a made-up machine around it."""

    checkout: Path
    home: Path
    bin: Path
    tools: Path
    state: Path
    env: dict[str, str]

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.checkout / "scripts" / "setup"), *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=30,
        )

    def calls(self, program: str) -> list[str]:
        log = self.state / f"{program}.log"
        return log.read_text().splitlines() if log.exists() else []

    def install(self, *packages: str) -> None:
        with open(self.state / "installed", "a") as f:
            f.writelines(f"{p}\n" for p in packages)

    def remove(self, program: str) -> None:
        (self.bin / program).unlink()


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/bash\n" + body.lstrip("\n"))
    path.chmod(0o755)


@pytest.fixture
def machine(tmp_path) -> Machine:
    """A fresh Raspberry Pi OS Lite: a user who is not root, with sudo; Debian's python3.11
    without its headers; none of holdcue's system packages."""
    checkout = tmp_path / "holdcue"
    (checkout / "scripts").mkdir(parents=True)
    for name in ("setup", "holdcue", "uv-requirements.txt"):
        shutil.copy2(ROOT / "scripts" / name, checkout / "scripts" / name)
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy2(ROOT / name, checkout / name)
    (checkout / "tests" / "web").mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(ROOT / "tests" / "web" / name, checkout / "tests" / "web" / name)
    home, stubs, tools, state = (tmp_path / d for d in ("home", "bin", "tools", "state"))
    for d in (home, stubs, tools, state):
        d.mkdir()
    (tmp_path / "include" / "python3.11").mkdir(parents=True)  # no Python.h in it
    for tool in TOOLS:
        (tools / tool).symlink_to(shutil.which(tool))
    for name, body in STUBS.items():
        _script(stubs / name, body)
    _script(state / "python3", PYTHON)
    _script(state / "venv-python", VENV_PYTHON)
    _script(state / "uv", UV)
    _script(state / "npm", NPM)
    shutil.copy2(state / "python3", stubs / "python3")
    (state / "installed").write_text("")
    env = {
        "PATH": f"{stubs}:{tools}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "STUB_BIN": str(stubs),
        "STUB_STATE": str(state),
        "STUB_UID": "1000",
        "STUB_DEBIAN": "1",
        "STUB_PY_VERSION": "3.11",
        "STUB_PY_PREFIX": "/usr",
        "STUB_PY_EXE": "/usr/bin/python3.11",
        "STUB_PY_INCLUDE": str(tmp_path / "include" / "python3.11"),
        "STUB_INSTALL": "ok",
    }
    return Machine(checkout, home, stubs, tools, state, env)


def installed_through_apt(m: Machine) -> list[str]:
    """The packages of the apt-get install call (and that update came first)."""
    calls = m.calls("apt-get")
    assert calls[0] == "DEBIAN_FRONTEND=noninteractive update -qq"
    assert calls[1].startswith("DEBIAN_FRONTEND=noninteractive install -y -qq --no-install-recommends ")
    assert len(calls) == 2
    return calls[1].split()[5:]


def test_a_bare_pi_gets_the_python_headers_the_venv_and_the_command(machine):
    done = machine.run()
    assert done.returncode == 0, done.stderr
    assert installed_through_apt(machine) == BASE + DEBIAN_PY
    assert machine.calls("sudo") == [
        "env DEBIAN_FRONTEND=noninteractive apt-get update -qq",
        "env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        + " ".join(BASE + DEBIAN_PY),
    ]
    assert machine.calls("python") == ["venv .venv"]
    venv = machine.checkout / ".venv"
    assert machine.calls("pip") == [PIP_UV.format(venv=venv)]  # uv, by hash, beside the packages
    assert machine.calls("uv") == [SYNC.format(venv=venv)]  # exactly uv.lock: nothing newer
    link = machine.home / ".local" / "bin" / "holdcue"
    venv_holdcue = machine.checkout / ".venv" / "bin" / "holdcue"
    assert link.is_symlink() and Path(os.readlink(link)) == venv_holdcue
    ran = subprocess.run([str(link), "list"], capture_output=True, text=True, env=machine.env)
    assert ran.stdout == "holdcue list\n"
    assert f"linked {link} -> {venv_holdcue}" in done.stderr
    # ~/.local/bin is not on this shell's PATH: the output says what to do now and later.
    assert "is not on your PATH in this shell yet" in done.stderr
    assert 'export PATH="$HOME/.local/bin:$PATH"' in done.stderr


def test_a_second_run_does_nothing(machine):
    assert machine.run().returncode == 0
    again = machine.run()
    assert again.returncode == 0, again.stderr
    assert again.stderr == ""
    assert len(machine.calls("apt-get")) == 2 and len(machine.calls("uv")) == 1


def test_a_changed_lock_is_installed_again(machine):
    assert machine.run().returncode == 0
    lock = machine.checkout / "uv.lock"
    lock.write_text(lock.read_text() + "\n")
    again = machine.run()
    assert again.returncode == 0, again.stderr
    assert "from uv.lock" in again.stderr
    assert len(machine.calls("uv")) == 2 and len(machine.calls("apt-get")) == 2


def test_a_run_that_sets_up_says_what_machine_it_is_on(machine):
    done = machine.run()
    assert done.returncode == 0
    # the venv's holdcue (the stand-in echoes its arguments) says it, each line marked as setup's
    assert "holdcue setup: holdcue service check\n" in done.stderr


def test_the_button_under_python_3_13_is_compiled_with_swig_and_its_own_c_library(machine):
    done = machine.run("--pi", STUB_PY_VERSION="3.13", STUB_PY_EXE="/usr/bin/python3.13")
    assert done.returncode == 0, done.stderr
    assert "swig" in installed_through_apt(machine)
    # lgpio's source builds its C library into the module (Debian has no liblgpio-dev)
    assert machine.calls("uv-env")[-1] == "PYPI=1"
    assert machine.calls("uv")[-1].endswith(" --extra pi")


def test_the_button_under_python_3_11_comes_as_a_wheel_without_swig(machine):
    assert machine.run("--pi").returncode == 0
    assert "swig" not in installed_through_apt(machine)
    # the same checkout moved to Python 3.13: swig now, with 3.13's headers
    assert machine.run(STUB_PY_VERSION="3.13", STUB_PY_EXE="/usr/bin/python3.13").returncode == 0
    assert machine.calls("apt-get")[-1].split()[5:] == ["python3.13-dev", "python3.13-venv", "swig"]


def test_extras_asked_for_by_name_stay(machine):
    assert machine.run("--pi").returncode == 0
    assert machine.calls("uv")[-1].endswith(" --python {}/bin/python --extra pi".format(machine.checkout / ".venv"))
    assert machine.run("--test", HOLDCUE_NO_LINK="1").returncode == 0
    assert machine.calls("uv")[-1].endswith(" --extra test --extra piper --group test-voice --extra pi")
    assert machine.run("--piper").returncode == 0
    assert machine.calls("uv")[-1].endswith("/bin/python --extra pi --extra piper")
    again = machine.run()
    assert again.returncode == 0 and again.stderr == ""  # nothing to do: the same extras
    assert len(machine.calls("uv")) == 3


def test_without_root_and_without_sudo_it_prints_the_apt_get_line_to_run_as_root(machine):
    machine.remove("sudo")
    done = machine.run()
    assert done.returncode == 3
    assert "command not found" not in done.stderr
    line = "    apt-get update && apt-get install -y --no-install-recommends " + " ".join(BASE + DEBIAN_PY)
    assert line in done.stderr.splitlines()
    assert "sudo is not installed" in done.stderr
    assert machine.calls("apt-get") == [] and machine.calls("uv") == []


def test_as_root_it_needs_no_sudo(machine):
    machine.remove("sudo")
    done = machine.run(STUB_UID="0")
    assert done.returncode == 0, done.stderr
    assert installed_through_apt(machine) == BASE + DEBIAN_PY


def test_test_setup_adds_pulseaudio(machine):
    done = machine.run("--test", HOLDCUE_NO_LINK="1")
    assert done.returncode == 0, done.stderr
    assert installed_through_apt(machine) == BASE + TEST_EXTRA + DEBIAN_PY
    # the tests' own extras: Piper (GPL, never in the runtime install above) and a voice for it
    assert machine.calls("uv") == [
        SYNC.format(venv=machine.checkout / ".venv") + " --extra test --extra piper --group test-voice"
    ]
    assert (
        (machine.checkout / ".venv" / ".holdcue-installed")
        .read_text()
        .endswith(" --extra test --extra piper --group test-voice\n")
    )
    # the page tests' axe-core, from the lock (npm ci), once: a second run leaves it
    assert machine.calls("npm") == ["ci --prefix tests/web --ignore-scripts --no-audit --no-fund"]
    assert machine.run("--test", HOLDCUE_NO_LINK="1").returncode == 0
    assert machine.calls("npm") == ["ci --prefix tests/web --ignore-scripts --no-audit --no-fund"]


def test_an_npm_already_there_is_used_not_installed_again(machine):
    """NodeSource's nodejs brings its own npm; Debian's npm package would conflict with it."""
    shutil.copy2(machine.state / "npm", machine.bin / "npm")
    done = machine.run("--test", HOLDCUE_NO_LINK="1")
    assert done.returncode == 0, done.stderr
    assert installed_through_apt(machine) == BASE + TEST_EXTRA[:-2] + DEBIAN_PY
    assert machine.calls("npm") == ["ci --prefix tests/web --ignore-scripts --no-audit --no-fund"]


def test_a_failed_build_ends_in_one_sentence_naming_the_package_and_the_log(machine):
    # apt-get "installs" python3.11-dev, yet the build finds no Python.h.
    failed = machine.run(STUB_INSTALL="python-h")
    assert failed.returncode == 6
    assert installed_through_apt(machine) == BASE + DEBIAN_PY
    assert failed.stderr.splitlines()[-1] == (
        "holdcue setup: installing holdcue into .venv failed because Python's C headers (Python.h) are missing: "
        "install python3.11-dev (sudo apt-get install python3.11-dev) or, for an interpreter not from Debian, "
        "its development files, then run scripts/setup again; "
        f"the installer's log is {machine.checkout}/.venv/install.log."
    )
    assert "fatal error" not in failed.stderr  # the compiler's log is in the file, not on the screen
    assert len(failed.stderr.splitlines()) == 4  # installing packages, creating .venv, installing holdcue, why not
    log = machine.checkout / ".venv" / "install.log"
    assert "c_src/simpleaudio.c:7:10: fatal error: Python.h: No such file or directory" in log.read_text()
    assert not (machine.checkout / ".venv" / ".holdcue-installed").exists()
    assert not (machine.home / ".local").exists()


def test_a_minimal_debian_without_python3_gets_debians_python3(machine):
    machine.remove("python3")
    done = machine.run()
    assert done.returncode == 0, done.stderr
    assert installed_through_apt(machine) == BASE + ["python3", "python3-dev", "python3-venv"]
    assert machine.calls("python") == ["venv .venv"]


def test_an_interpreter_not_from_debian_without_headers_is_named_and_nothing_is_built(machine):
    machine.install(*BASE)
    done = machine.run(STUB_DEBIAN="0", STUB_PY_PREFIX="/home/pi/.pyenv/versions/3.11.9")
    assert done.returncode == 5
    assert machine.calls("apt-get") == []  # apt has no headers for it
    assert "has no C headers (no Python.h in " in done.stderr
    assert "use Debian's python3 (PYTHON=/usr/bin/python3 scripts/setup)" in done.stderr
    assert machine.calls("python") == [] and machine.calls("uv") == []


def test_an_interpreter_not_from_debian_with_headers_is_used(machine, tmp_path):
    machine.install(*BASE)
    (tmp_path / "include" / "python3.11" / "Python.h").write_text("")
    done = machine.run(STUB_DEBIAN="0", STUB_PY_PREFIX="/home/pi/.pyenv/versions/3.11.9")
    assert done.returncode == 0, done.stderr
    assert machine.calls("apt-get") == [] and len(machine.calls("uv")) == 1


def test_a_python_older_than_3_11_is_refused(machine):
    done = machine.run(STUB_PY_VERSION="3.9")
    assert done.returncode == 5
    assert "holdcue needs 3.11 or newer" in done.stderr
    assert machine.calls("uv") == []


def test_an_unknown_interpreter_is_refused(machine):
    done = machine.run(PYTHON="python3.99")
    assert done.returncode == 5
    assert "PYTHON=python3.99: no such Python interpreter." in done.stderr


def test_apt_get_failing_says_what_to_run_as_root(machine):
    done = machine.run(STUB_APT_RC="100")
    assert done.returncode == 4
    assert "apt-get failed" in done.stderr
    assert "    apt-get update && apt-get install -y --no-install-recommends " + " ".join(BASE + DEBIAN_PY) in (
        done.stderr.splitlines()
    )


def test_a_foreign_holdcue_in_local_bin_is_left_alone(machine):
    foreign = machine.home / ".local" / "bin" / "holdcue"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("#!/bin/sh\necho mine\n")
    done = machine.run()
    assert done.returncode == 0, done.stderr
    assert foreign.read_text() == "#!/bin/sh\necho mine\n" and not foreign.is_symlink()
    assert f"{foreign} already exists and is not a link to {machine.checkout}/.venv/bin/holdcue: left as it is" in (
        done.stderr
    )


def test_a_link_to_a_venv_that_is_gone_is_replaced(machine):
    link = machine.home / ".local" / "bin" / "holdcue"
    link.parent.mkdir(parents=True)
    link.symlink_to("/nowhere/.venv/bin/holdcue")
    assert machine.run().returncode == 0
    assert Path(os.readlink(link)) == machine.checkout / ".venv" / "bin" / "holdcue"


def test_with_local_bin_on_the_path_the_command_is_ready(machine):
    local_bin = machine.home / ".local" / "bin"
    done = machine.run(PATH=f"{machine.env['PATH']}:{local_bin}")
    assert done.returncode == 0, done.stderr
    assert "the command holdcue is ready: holdcue list" in done.stderr
    assert "not on your PATH" not in done.stderr


def test_no_link_when_asked(machine):
    done = machine.run(HOLDCUE_NO_LINK="1")
    assert done.returncode == 0, done.stderr
    assert not (machine.home / ".local").exists()
    assert "linked" not in done.stderr


def test_an_unknown_argument_is_refused(machine):
    done = machine.run("--tset")
    assert done.returncode == 2
    assert "usage: scripts/setup [--test] [--pi] [--piper]" in done.stderr


def test_scripts_holdcue_sets_up_on_first_use_then_runs_the_command(machine):
    first = subprocess.run(
        [str(machine.checkout / "scripts" / "holdcue"), "list"], env=machine.env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout == "holdcue list\n"
    assert len(machine.calls("uv")) == 1
    assert (machine.home / ".local" / "bin" / "holdcue").is_symlink()


def test_scripts_holdcue_passes_on_why_setup_failed(machine):
    machine.remove("sudo")
    done = subprocess.run(
        [str(machine.checkout / "scripts" / "holdcue"), "list"], env=machine.env, capture_output=True, text=True
    )
    assert done.returncode == 3
    assert done.stdout == ""


def test_the_readme_lists_the_exit_codes_the_script_documents():
    header = (ROOT / "scripts" / "setup").read_text().split("set -euo pipefail")[0]
    in_script = [int(code) for code in re.findall(r"^#\s+(\d+)\s", header, re.M)]
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("`scripts/setup` says what went wrong") : readme.index("## Commands")]
    in_readme = [int(code) for code in re.findall(r"^\| (\d+) \|", table, re.M)]
    assert in_script == in_readme == [0, 2, 3, 4, 5, 6]
