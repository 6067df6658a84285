"""The shape of the code: modules import each other one way, lower layers never reach up,
and only the command line knows about click, exit codes and the terminal."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "holdcue"


def module_name(path: Path) -> str:
    """A module's name below the package: "compiler", "core.controller"; a package's
    __init__ is the package ("core")."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
# The command line: the package cli/ ("cli") and each of its modules ("cli.common", ...).
COMMAND_LINE = {name for name in MODULES if name == "cli" or name.startswith("cli.")}
# What only the layers above the pipeline may use: the session layer orchestrates the
# pipeline (it imports the compiler), the core drives sessions, the command line adds the
# user's wording.
TOP = COMMAND_LINE | {"__main__", "exitcodes"}
# The web layer drives the core only; compose measures what it makes with the compiler.
ORCHESTRATION = {"session", "batch", "compose", "core", "core.catalog", "core.controller"}


def holdcue_module(dotted: str) -> str | None:
    """The module of holdcue that an import names ("holdcue.core.Core" -> "core")."""
    parts = dotted.split(".")[1:]
    while parts:
        if ".".join(parts) in MODULES:
            return ".".join(parts)
        parts = parts[:-1]
    return None


def imports_of(path: Path) -> set[str]:
    """The holdcue modules (and click) a module imports anywhere: at the top, inside
    functions, or for type checking only."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "click":
                found.add("click")
            elif name.startswith("holdcue.") and (module := holdcue_module(name)) is not None:
                found.add(module)
    return found


GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def test_the_graph_was_read():
    assert {"cli", "compiler", "loader", "library", "session", "speech", "render", "play", "export"} <= GRAPH.keys()
    assert "compiler" in GRAPH["session"] and "loader" in GRAPH["library"]
    assert {"compiler", "library", "routine_yaml"} <= GRAPH["compose"] and "compose" in GRAPH["cli.routines"]
    assert {"core", "core.controller", "terminal"} <= GRAPH.keys() and "core.controller" in GRAPH["core"]
    assert {"web", "web.auth", "web.routes", "web.server", "web.page"} <= GRAPH.keys()
    assert "web.server" in GRAPH["web"] and "web.auth" in GRAPH["web.server"]
    assert {"button", "homeassistant"} <= GRAPH.keys() and "core" in GRAPH["homeassistant"]
    assert {"speech.engine", "speech.espeak", "speech.piper", "speech.cache", "speech.workers"} <= GRAPH.keys()
    assert "speech.synthesis" in GRAPH["speech"] and "speech.engine" in GRAPH["speech.espeak"]


def test_inside_music_imports_run_one_way():
    """music/: source.py (reading a file) at the bottom, schema.py and cache.py on it, bed.py
    on both; none of them imports the package, whose __init__ only re-exports them."""
    files = {name for name in GRAPH if name.startswith("music.")}
    inside = {name: {used for used in GRAPH[name] if used == "music" or used.startswith("music.")} for name in files}
    assert inside == {
        "music.source": set(),
        "music.schema": {"music.source"},
        "music.cache": {"music.source"},
        "music.bed": {"music.cache", "music.source"},
    }
    assert GRAPH["music"] >= files


def test_inside_speech_imports_run_one_way():
    """speech/: engine.py (what an engine and a clip are) at the bottom, each engine and the
    cache on it, choosing an engine on the engines, synthesis.py at the top; none of them
    imports the package, whose __init__ only re-exports them. Piper's driver is imported only
    where a voice names it (choosing) or its models are listed (holdcue voices)."""
    files = {name for name in GRAPH if name.startswith("speech.")}
    inside = {name: {used for used in GRAPH[name] if used == "speech" or used.startswith("speech.")} for name in files}
    assert inside == {
        "speech.engine": set(),
        "speech.espeak": {"speech.engine"},
        "speech.piper": {"speech.engine"},
        "speech.cache": {"speech.engine"},
        "speech.choice": {"speech.engine", "speech.espeak", "speech.piper"},
        "speech.stored": {"speech.cache"},
        "speech.workers": {"speech.cache", "speech.engine"},
        "speech.synthesis": {"speech.cache", "speech.choice", "speech.engine", "speech.stored", "speech.workers"},
    }
    assert GRAPH["speech"] <= files
    assert {name for name, used in GRAPH.items() if "speech.piper" in used} == {"speech.choice", "cli.routines"}


def test_only_the_core_makes_a_player():
    """One driver of the player: the core. Every front end (terminal, web, button) reaches
    the player through the core's commands."""
    makers = set()
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if called == "Player":
                    makers.add(name)
    assert makers == {"core.controller"}


@pytest.mark.parametrize("front_end", ["button", "homeassistant"])
def test_a_control_drives_the_core_and_nothing_below_it(front_end):
    """The button and Home Assistant reach sessions, sound and the journal through the core's
    commands only: they read config.yaml's settings and the core's errors, nothing else."""
    assert GRAPH[front_end] <= {"core", "config", "errors"}, GRAPH[front_end]


def test_no_module_imports_another_in_a_circle():
    graph = {module: used - {"click"} for module, used in GRAPH.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"modules import each other in a circle: {' -> '.join(error.args[1])}")


def test_a_cycle_would_be_found():
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter({"a": {"b"}, "b": {"a"}}).static_order())


@pytest.mark.parametrize("module", sorted(set(GRAPH) - TOP))
def test_the_core_never_imports_the_command_line(module):
    assert not GRAPH[module] & (TOP | {"click"}), f"{module} imports {GRAPH[module] & (TOP | {'click'})}"


@pytest.mark.parametrize("module", sorted(set(GRAPH) - TOP - ORCHESTRATION - {"compiler"}))
def test_below_the_session_layer_nothing_imports_the_compiler_or_the_session(module):
    assert not GRAPH[module] & {"compiler", "session"}, f"{module} imports {GRAPH[module] & {'compiler', 'session'}}"


def test_the_loader_does_not_reach_up_to_the_library():
    assert "library" not in GRAPH["loader"] and "library" not in GRAPH["routine"]


def test_the_command_line_is_the_cli_package_and_its_modules():
    assert {"cli", "cli.common"} <= COMMAND_LINE <= TOP


@pytest.mark.parametrize("module", sorted(set(GRAPH) - TOP))  # __main__ is the command's entry, before click
def test_the_core_never_prints(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    calls = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
    ]
    assert not calls, f"{module}.py calls print() on lines {calls}"
