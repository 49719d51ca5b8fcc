"""A file or side file the system refuses to write: one line naming it, the old file kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from csv_support import connector, pull, push, records, write_file

from crmbridge.connector import WriteOp, WriteRequest
from crmbridge.errors import PermanentError

PEOPLE = "Record Id,Full Name,Email\r\n1,Anna,anna@example.com\r\n"


def _create(key: str, name: str) -> WriteRequest:
    return WriteRequest(key, WriteOp.CREATE, {"Full Name": name})


def _update(ext: str, name: str) -> WriteRequest:
    return WriteRequest("u", WriteOp.UPDATE, {"Full Name": name}, ext)


def _refuses_files(folder: Path) -> bool:
    """Whether ``folder`` is a folder where even this process may not create a file."""
    if not folder.is_dir():
        return False
    try:
        (folder / ".crmbridge-probe").touch()
    except OSError:
        return True
    (folder / ".crmbridge-probe").unlink()
    return False


@pytest.mark.skipif(not _refuses_files(Path("/sys/kernel")), reason="needs a read-only /sys")
def test_writing_into_a_folder_that_refuses_files_names_it() -> None:
    with pytest.raises(PermanentError) as failed:
        push(connector(Path("/sys/kernel")), "stakeholders", _create("k1", "Dora"))
    assert failed.value.message == (
        "/sys/kernel/stakeholders.csv: cannot rewrite the file: cannot create a file in "
        "/sys/kernel (Permission denied); the folder must be writable"
    )


def test_a_rewrite_whose_temporary_file_is_refused_leaves_the_file_as_it_was(
    tmp_path: Path,
) -> None:
    # the longest name a file may have: the temporary file beside it cannot be named
    name = "p" * (os.pathconf(tmp_path, "PC_NAME_MAX") - 4) + ".csv"
    path = write_file(tmp_path / name, PEOPLE)
    remote = connector(tmp_path, files={"stakeholders": name})
    with pytest.raises(PermanentError) as failed:
        push(remote, "stakeholders", _update("1", "Anne"))
    assert failed.value.message == (
        f"{path}: cannot rewrite the file: cannot create a file in {tmp_path} (File name too long)"
    )
    assert path.read_bytes().decode() == PEOPLE
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".crmbridge") == [name]
    assert records(pull(remote, "stakeholders"))["1"]["Full Name"] == "Anna"


def test_a_file_where_the_side_files_go_is_named(tmp_path: Path) -> None:
    write_file(tmp_path / "stakeholders.csv", PEOPLE)
    write_file(tmp_path / ".crmbridge", "mine")
    with pytest.raises(PermanentError) as failed:
        pull(connector(tmp_path), "stakeholders")
    side = tmp_path / ".crmbridge" / "files-stakeholders.snapshot"
    assert failed.value.message == (
        f"{side}: cannot keep the change snapshot: {tmp_path / '.crmbridge'} is a file; "
        "crmbridge keeps its side files in a folder of that name, so move the file away"
    )
