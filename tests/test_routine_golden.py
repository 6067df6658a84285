"""Golden files: each routine in fixtures/routines/valid loads to the Routine in its .json,
each one in fixtures/routines/invalid is refused with exactly the messages in its .expected.

Includes are looked up beside the fixture first, then in the built-in library. After a
deliberate change, HOLDCUE_REGEN=1 rewrites the expectations; check them by hand.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from holdcue import library, loader, routine
from holdcue.errors import RoutineError

FIXTURES = Path(__file__).parent / "fixtures" / "routines"
VALID = sorted((FIXTURES / "valid").glob("*.yaml"))
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))
REGEN = os.environ.get("HOLDCUE_REGEN") == "1"


@pytest.fixture(autouse=True)
def no_user_routines(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path))


def resolver(folder: Path):
    """Includes: a fixture in the same folder, else the library."""

    def resolve(rid: str):
        path = folder / f"{rid}.yaml"
        if path.is_file():
            return path.read_text(encoding="utf-8"), str(path), folder
        return library.find_id(rid)

    return resolve


def portable(loaded: routine.Routine, folder: Path) -> dict:
    """The Routine as a dict, with paths relative to the fixture folder."""
    data = dataclasses.asdict(loaded)
    data["source"] = os.path.relpath(loaded.source, folder)
    data["cues"]["tones"] = [[name, os.path.relpath(path, folder)] for name, path in loaded.cues.tones]
    for warning in data["warnings"]:
        warning["file"] = Path(warning["file"]).name
    return json.loads(json.dumps(data))


def messages(error: RoutineError) -> str:
    return "".join(f"{dataclasses.replace(p, file=Path(p.file).name)}\n" for p in error.problems)


def check(expected_file: Path, actual: str) -> None:
    if REGEN:
        expected_file.write_text(actual, encoding="utf-8")
    assert expected_file.exists(), f"no {expected_file.name}; run with HOLDCUE_REGEN=1, then check it by hand"
    assert actual == expected_file.read_text(encoding="utf-8")


def test_there_are_enough_golden_files():
    assert len(VALID) >= 5
    assert len(INVALID) >= 15
    assert (FIXTURES / "valid" / "shoulders-and-chest.yaml") in VALID


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid(path: Path):
    loaded = loader.load_file(path, resolve=resolver(path.parent))
    actual = json.dumps(portable(loaded, path.parent), indent=2, ensure_ascii=False) + "\n"
    check(path.with_suffix(".json"), actual)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid(path: Path):
    with pytest.raises(RoutineError) as refused:
        loader.load_file(path, resolve=resolver(path.parent))
    assert any(p.severity == "error" for p in refused.value.problems)
    check(path.with_suffix(".expected"), messages(refused.value))
