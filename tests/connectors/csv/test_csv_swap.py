"""The file compare-and-swap: a save landing at any step is kept, never replaced unseen."""

from __future__ import annotations

from pathlib import Path

import pytest
from csv_support import exchanges_names

from connectors.csv.swap import replace_if_unchanged


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    if not exchanges_names(tmp_path):
        pytest.skip("no atomic rename exchange on this file system")
    path, temp = tmp_path / "people.csv", tmp_path / ".people.csv.tmp"
    path.write_text("read")
    temp.write_text("ours")
    return path, temp


def test_an_unchanged_file_is_replaced_and_nothing_is_left_behind(
    files: tuple[Path, Path],
) -> None:
    path, temp = files
    assert replace_if_unchanged(temp, path, lambda name: name.read_text() == "read")
    assert path.read_text() == "ours"
    assert not temp.exists()


def test_a_save_after_the_check_is_swapped_back(files: tuple[Path, Path]) -> None:
    path, temp = files
    calls: list[Path] = []

    def check_then_save(name: Path) -> bool:
        verdict = name.read_text() == "read"
        if not calls:
            path.write_text("theirs")  # lands right after the check
        calls.append(name)
        return verdict

    assert not replace_if_unchanged(temp, path, check_then_save)
    assert path.read_text() == "theirs"
    assert temp.read_text() == "ours"  # left for the caller to remove


def test_a_file_removed_after_the_check_counts_as_changed(files: tuple[Path, Path]) -> None:
    path, temp = files

    def check_then_remove(name: Path) -> bool:
        verdict = name.read_text() == "read"
        path.unlink()
        return verdict

    assert not replace_if_unchanged(temp, path, check_then_remove)
    assert not path.exists()
    assert temp.read_text() == "ours"


def test_our_file_removed_during_the_check_puts_the_displaced_save_back(
    files: tuple[Path, Path],
) -> None:
    path, temp = files
    seen: list[str] = []

    def check(name: Path) -> bool:
        seen.append(name.name)
        if len(seen) == 1:
            path.write_text("theirs")  # a save after the first check ...
            return True
        path.unlink()  # ... and, while the displaced file is checked, ours is removed
        return name.read_text() == "read"

    assert not replace_if_unchanged(temp, path, check)
    assert path.read_text() == "theirs"
