"""Finding routines: paths and ids, user routines beside built-in ones, includes across files."""

from __future__ import annotations

from pathlib import Path

import pytest

from holdcue import library
from holdcue.errors import RoutineError, RoutineNotFound

STEP = "  - hold: Hold.\n    time: 20s\n"


@pytest.fixture
def user_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "config"))
    folder = tmp_path / "config" / "routines"
    folder.mkdir(parents=True)
    return folder


def write(folder: Path, rid: str, title: str, steps: str = STEP) -> Path:
    path = folder / f"{rid}.yaml"
    path.write_text(f"title: {title}\nsteps:\n{steps}", encoding="utf-8")
    return path


def test_the_user_folder_follows_the_environment(user_dir):
    assert library.user_routine_dir() == user_dir


def test_the_user_folder_defaults_to_the_platform_config_folder(monkeypatch):
    import platformdirs

    monkeypatch.delenv("HOLDCUE_CONFIG_DIR", raising=False)
    assert library.user_routine_dir() == Path(platformdirs.user_config_dir("holdcue")) / "routines"


def test_builtin_ids_are_the_shipped_files():
    ids = library.builtin_ids()
    assert "shoulders-and-chest" in ids and "neck-and-upper-trapezius" in ids
    assert ids == sorted(p.stem for p in library.BUILTIN_DIR.glob("*.yaml"))


def test_an_id_finds_a_builtin(user_dir):
    text, source, base_dir = library.find("shoulders-and-chest")
    assert source == "builtin:shoulders-and-chest" and base_dir == library.BUILTIN_DIR
    assert text == (library.BUILTIN_DIR / "shoulders-and-chest.yaml").read_text(encoding="utf-8")
    loaded = library.load_routine("shoulders-and-chest")
    assert (loaded.id, loaded.source) == ("shoulders-and-chest", "builtin:shoulders-and-chest")


def test_a_path_is_read_as_a_file(user_dir, tmp_path, monkeypatch):
    path = write(tmp_path, "mine", "Mine")
    assert library.find(str(path)) == (path.read_text(), str(path), tmp_path)
    monkeypatch.chdir(tmp_path)
    assert library.load_routine("mine.yaml").title == "Mine"
    # An existing file without the .yaml suffix is a path too.
    (tmp_path / "plain").write_text("title: Plain\nsteps:\n" + STEP)
    assert library.load_routine("plain").title == "Plain"


def test_a_missing_path_is_not_found(user_dir, tmp_path):
    with pytest.raises(RoutineNotFound, match="no such file"):
        library.find(str(tmp_path / "gone.yaml"))


def test_a_user_routine_is_found_by_id_and_replaces_a_builtin(user_dir):
    write(user_dir, "my-neck", "My neck")
    mine = write(user_dir, "shoulders-and-chest", "My shoulders")
    assert library.load_routine("my-neck").title == "My neck"
    loaded = library.load_routine("shoulders-and-chest")
    assert (loaded.title, loaded.source, loaded.id) == ("My shoulders", str(mine), "shoulders-and-chest")
    assert library.load_routine("builtin:shoulders-and-chest").title == "Shoulders and chest"


def test_an_unknown_id_suggests_known_ones(user_dir):
    write(user_dir, "morning-calves", "Calves")
    with pytest.raises(RoutineNotFound) as error:
        library.find("shoulders-and-chets")
    assert str(error.value) == (
        'no routine called "shoulders-and-chets"; did you mean "shoulders-and-chest"?'
        ' Run "holdcue list" to see every routine.'
    )
    with pytest.raises(RoutineNotFound, match='did you mean "morning-calves"'):
        library.find("morning-calfs")
    with pytest.raises(RoutineNotFound, match=r'^no routine called "zzzz-qqqq"\. Run "holdcue list"'):
        library.find("zzzz-qqqq")


def test_ids_never_reach_outside_the_routine_folders(user_dir):
    write(user_dir.parent, "secret", "Secret")
    with pytest.raises(RoutineNotFound):
        library.find_id("../secret")


def test_an_include_across_user_routines(user_dir):
    write(user_dir, "base", "Base", STEP)
    write(user_dir, "warm", "Warm", "  - warm-up: Warm up.\n    time: 10s\n  - include: base\n")
    write(user_dir, "session", "Session", "  - include: warm\n    title: Start\n  - include: shoulders-and-chest\n")
    loaded = library.load_routine("session")
    groups = [step.group for step in loaded.steps]
    assert groups[:2] == ["Start", "Start"]
    assert set(groups[2:]) == {"Shoulders and chest"}
    assert len(loaded.steps) == 2 + len(library.load_routine("shoulders-and-chest").steps)


def test_an_include_cycle_across_files_names_the_chain(user_dir):
    write(user_dir, "one", "One", "  - include: two\n")
    write(user_dir, "two", "Two", STEP + "  - include: three\n")
    write(user_dir, "three", "Three", "  - include: one\n")
    with pytest.raises(RoutineError) as error:
        library.load_routine("one")
    lines = [str(p).replace(str(user_dir) + "/", "") for p in error.value.problems]
    assert lines == [
        'one.yaml:3:14: steps[0].include: the included routine "two" has errors',
        'two.yaml:5:14: steps[1].include: the included routine "three" has errors',
        "three.yaml:3:14: steps[0].include: include cycle: one -> two -> three -> one; remove one of these includes",
    ]


def test_an_included_user_routine_with_errors_is_reported_in_its_own_file(user_dir, tmp_path):
    write(user_dir, "broken", "Broken", "  - hold: Hold.\n    time: 45\n")
    path = write(tmp_path, "top", "Top", "  - include: broken\n")
    with pytest.raises(RoutineError) as error:
        library.load_routine(str(path))
    assert [str(p) for p in error.value.problems] == [
        f'{path}:3:14: steps[0].include: the included routine "broken" has errors',
        f'{user_dir / "broken.yaml"}:4:11: steps[0].time: "45" has no unit; write "45s"',
    ]


def test_entries_list_every_routine_even_beside_a_broken_one(user_dir):
    write(user_dir, "broken", "Broken", "  - hold: Hold.\n    time: 45\n")
    write(user_dir, "mine", "Mine")
    write(user_dir, "neck-and-upper-trapezius", "My neck")
    (user_dir / "notes.txt").write_text("not a routine")
    entries = {entry.id: entry for entry in library.entries()}
    assert list(entries) == sorted(entries)
    assert set(entries) == set(library.builtin_ids()) | {"broken", "mine"}

    broken = entries["broken"]
    assert (broken.routine, broken.builtin) == (None, False)
    assert [p.message for p in broken.problems] == ['"45" has no unit; write "45s"']

    mine = entries["mine"]
    assert (mine.builtin, mine.problems, mine.source) == (False, (), str(user_dir / "mine.yaml"))
    assert mine.routine.title == "Mine"

    assert (entries["neck-and-upper-trapezius"].routine.title, entries["neck-and-upper-trapezius"].builtin) == (
        "My neck",
        False,
    )
    shoulders = entries["shoulders-and-chest"]
    assert (shoulders.builtin, shoulders.source, shoulders.problems) == (True, "builtin:shoulders-and-chest", ())
    assert shoulders.routine.title == "Shoulders and chest"


def test_entries_without_a_user_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path / "nothing-here"))
    assert [entry.id for entry in library.entries()] == library.builtin_ids()


def test_a_file_whose_name_is_not_an_id_is_listed_with_the_name_to_give_it(user_dir):
    write(user_dir, "mine", "Mine")
    (user_dir / "My_Quads.yaml").write_text(f"title: My quads\nsteps:\n{STEP}")
    (user_dir / "hips.yml").write_text(f"title: Hips\nsteps:\n{STEP}")
    entries = {entry.id: entry for entry in library.entries()}
    assert list(entries) == sorted(entries)
    quads = entries["My_Quads"]
    assert (quads.routine, quads.builtin, quads.rename) == (None, False, "my-quads.yaml")
    assert quads.source == str(user_dir / "My_Quads.yaml")
    assert [p.message for p in quads.problems] == [
        'the file name "My_Quads.yaml" is not an id, so holdcue does not find this routine; '
        "rename it to my-quads.yaml (lowercase letters, digits and dashes)"
    ]
    assert entries["hips"].rename == "hips.yaml" and "does not end in .yaml" in entries["hips"].problems[0].message
    assert entries["mine"].rename == "" and entries["mine"].routine is not None
    # asked for by either name, it is not found, and the message says why
    for ref in ("My_Quads", "my-quads"):
        with pytest.raises(RoutineNotFound, match='"My_Quads.yaml" is not an id.*rename it to my-quads.yaml'):
            library.load_routine(ref)
    (user_dir / "My_Quads.yaml").rename(user_dir / "my-quads.yaml")
    assert library.load_routine("my-quads").title == "My quads"
    assert "My_Quads" not in {entry.id for entry in library.entries()}
