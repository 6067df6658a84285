"""holdcue validate and holdcue list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from holdcue import library
from holdcue.cli import cli
from holdcue.exitcodes import ExitCode
from speech_support import espeak_test

FIXTURES = Path(__file__).parent / "fixtures" / "routines"
VALID = FIXTURES / "valid" / "shoulders-and-chest.yaml"
INVALID = FIXTURES / "invalid" / "no-unit.yaml"
WARNED = FIXTURES / "valid" / "safety-warnings.yaml"


@pytest.fixture(autouse=True)
def user_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "config"))
    folder = tmp_path / "config" / "routines"
    folder.mkdir(parents=True)
    return folder


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_validate_a_valid_file():
    result = run("validate", str(VALID))
    assert result.exit_code == ExitCode.OK
    assert result.stdout == f"{VALID}: ok, 5 steps\n"
    assert result.stderr == ""


def test_validate_an_invalid_file_shows_every_problem_on_stderr():
    result = run("validate", str(INVALID))
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    expected = (FIXTURES / "invalid" / "no-unit.expected").read_text().splitlines()
    lines = result.stderr.splitlines()
    assert [line.replace(str(INVALID), INVALID.name) for line in lines[:-1]] == expected
    assert lines[-1] == "Error: errors in 1 of 1 file."
    assert result.stdout == ""


def routine_in(folder: Path, language: str) -> Path:
    path = folder / "spoken.yaml"
    path.write_text(f'title: Spoken\nvoice:\n  language: "{language}"\nsteps:\n  - rest: Breathe.\n    time: 5s\n')
    return path


@espeak_test
@pytest.mark.parametrize("language", ["de-DE", "de_AT", "de+f3", "gmw/de", "en_US"])
def test_validate_accepts_the_spellings_a_voice_speaks(tmp_path, language):
    path = routine_in(tmp_path, language)
    result = run("validate", str(path))
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout == f"{path}: ok, 1 steps\n" and result.stderr == ""


@espeak_test
@pytest.mark.parametrize("language", ["xx", "xx-DE", "q+f3"])
def test_validate_reports_a_language_no_voice_speaks_with_its_line_and_field(tmp_path, language):
    path = routine_in(tmp_path, language)
    result = run("validate", str(path))
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert (
        f'{path}:3:13: voice.language: "{language}": espeak-ng has no voice for this language; use an id or '
        'a language that `holdcue voices` lists, like "en", "en-us" or "de"'
    ) in result.stderr.splitlines()
    assert result.stdout == ""


def test_validate_shows_warnings_and_succeeds():
    result = run("validate", str(WARNED))
    assert result.exit_code == ExitCode.OK
    assert result.stdout == f"{WARNED}: ok, 6 steps, 6 warnings\n"
    warnings = result.stderr.splitlines()
    assert len(warnings) == 6 and all(line.startswith(f"{WARNED}:") and ": warning: " in line for line in warnings)


def test_validate_several_files(tmp_path):
    missing = tmp_path / "missing.yaml"
    result = run("validate", str(VALID), str(INVALID), str(missing), str(WARNED))
    assert result.exit_code == ExitCode.INVALID_ROUTINE
    assert result.stdout.splitlines() == [f"{VALID}: ok, 5 steps", f"{WARNED}: ok, 6 steps, 6 warnings"]
    assert f'{INVALID}:6:11: steps[0].time: "45" has no unit; write "45s"\n' in result.stderr
    assert f"no such file: {missing}\n" in result.stderr
    assert result.stderr.endswith("Error: errors in 2 of 4 files.\n")


def test_validate_resolves_includes_through_the_library(user_dir, tmp_path):
    (user_dir / "base.yaml").write_text("title: Base\nsteps:\n  - hold: Hold.\n    time: 20s\n")
    path = tmp_path / "top.yaml"
    path.write_text("title: Top\nsteps:\n  - include: base\n  - include: shoulders-and-chest\n")
    result = run("validate", str(path))
    assert result.exit_code == ExitCode.OK, result.stderr
    assert result.stdout == f"{path}: ok, {1 + len(library.load_routine('shoulders-and-chest').steps)} steps\n"


def test_validate_needs_a_file():
    assert run("validate").exit_code == ExitCode.USAGE


def write_user_routines(user_dir: Path) -> None:
    (user_dir / "my-calves.yaml").write_text(
        "title: My calves\nsummary: Mine.\ntools: [foam roller]\nsteps:\n  - roll: Roll.\n    time: 1m\n"
    )
    (user_dir / "broken.yaml").write_text("title: Broken\nsteps:\n  - hold: Hold.\n    time: 45\n")


def test_list_shows_builtin_and_user_routines_even_beside_a_broken_one(user_dir):
    write_user_routines(user_dir)
    result = run("list")
    assert result.exit_code == ExitCode.OK
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "title", "time", "from", "tools"]
    ids = [line.split()[0] for line in lines[1:]]
    assert ids == sorted(library.builtin_ids() + ["broken", "my-calves"])
    mine = next(line for line in lines if line.startswith("my-calves "))
    assert mine.split()[1:3] == ["My", "calves"] and mine.endswith("yours     foam roller")
    broken = next(line for line in lines if line.startswith("broken "))
    assert broken.split()[1:3] == ["(has", "errors)"]
    assert broken.endswith(f"yours     run: holdcue validate {user_dir / 'broken.yaml'}")
    shoulders = next(line for line in lines if line.startswith("shoulders-and-chest "))
    assert "Shoulders and chest" in shoulders and "built-in" in shoulders and shoulders.endswith("tennis ball, wall")


def test_list_json(user_dir):
    write_user_routines(user_dir)
    result = run("list", "--json")
    assert result.exit_code == ExitCode.OK
    listed = {item["id"]: item for item in json.loads(result.stdout)}
    assert set(listed) == set(library.builtin_ids()) | {"broken", "my-calves"}
    mine = listed["my-calves"]
    assert mine["title"] == "My calves" and mine["summary"] == "Mine." and mine["tools"] == ["foam roller"]
    assert (mine["builtin"], mine["source"], mine["steps"], mine["problems"]) == (
        False,
        str(user_dir / "my-calves.yaml"),
        1,
        [],
    )
    assert mine["duration"] > 60  # the one-minute roll, and what is said around it
    broken = listed["broken"]
    assert (broken["steps"], broken["duration"]) == (None, None)
    assert broken["problems"] == [f'{user_dir / "broken.yaml"}:4:11: steps[0].time: "45" has no unit; write "45s"']
    builtin = listed["shoulders-and-chest"]
    assert (
        builtin["builtin"] is True and builtin["source"] == "builtin:shoulders-and-chest" and builtin["problems"] == []
    )


def test_list_shows_a_routine_file_that_is_not_found_by_its_name(user_dir):
    (user_dir / "My_Quads.yaml").write_text("title: My quads\nsteps:\n  - hold: Hold.\n    time: 20s\n")
    result = run("list")
    assert result.exit_code == ExitCode.OK
    line = next(line for line in result.stdout.splitlines() if line.startswith("My_Quads "))
    assert "(not found by id)" in line and line.endswith("yours     rename it to my-quads.yaml")
    listed = {item["id"]: item for item in json.loads(run("list", "--json").stdout)}
    assert "rename it to my-quads.yaml" in listed["My_Quads"]["problems"][0]
    played = run("play", "My_Quads")
    assert played.exit_code != ExitCode.OK and "rename it to my-quads.yaml" in played.output
