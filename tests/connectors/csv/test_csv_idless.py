"""Files without an id column: an edited row is an edit of its hub record, never a delete."""

from __future__ import annotations

import asyncio
from pathlib import Path

from csv_support import connector, write_file

from crmbridge.mapping.validate import load_connector_mapping
from crmbridge.store import Store, open_store
from crmbridge.sync.job import SyncJob
from crmbridge.sync.runner import RunReport, run_job

HEADER = "Full Name,Email\r\n"
ROWS = [f"Person {i},p{i}@example.com\r\n" for i in range(1, 11)]


def _pull(store: Store, folder: Path) -> RunReport:
    compiled = load_connector_mapping("src", "csv", None, phone_region="CN")
    mappers = {"stakeholders": compiled.entity("stakeholders")}
    job = SyncJob("import", "src", ("stakeholders",), direction="pull", deletes="propagate")
    report = asyncio.run(run_job(store, job, connector(folder, name="src"), mappers))
    assert report.status == "succeeded", report.error
    return report


def _people(store: Store) -> dict[str, tuple[str, str]]:
    return {
        r.data["email"]: (r.id, r.data["full_name"]) for r in store.iter_records("stakeholders")
    }


def test_an_edited_row_without_an_id_updates_its_record(tmp_path: Path, hub: Store) -> None:
    path = tmp_path / "stakeholders.csv"
    write_file(path, HEADER + "".join(ROWS))
    _pull(hub, tmp_path)
    before = _people(hub)
    write_file(
        path, HEADER + "".join(ROWS[:2]) + "Person Three,p3@example.com\r\n" + "".join(ROWS[3:])
    )
    edited = _pull(hub, tmp_path)
    counts = edited.by_entity["stakeholders"]
    assert (counts["pulled"], counts["updated"], counts["deleted"]) == (1, 1, 0)
    assert counts["conflicts"] == 0
    after = _people(hub)
    assert after["p3@example.com"] == (before["p3@example.com"][0], "Person Three")
    assert len(after) == 10
    assert hub.list_open_inbox("import") == []
    # and the next edit of the same row is an edit again
    write_file(
        path,
        HEADER + "".join(ROWS[:2]) + "Person 3 (III),p3@example.com\r\n" + "".join(ROWS[3:]),
    )
    again = _pull(hub, tmp_path)
    assert again.by_entity["stakeholders"].get("deleted", 0) == 0
    assert _people(hub)["p3@example.com"] == (before["p3@example.com"][0], "Person 3 (III)")


def test_a_removed_row_without_an_id_is_still_a_delete(tmp_path: Path, hub: Store) -> None:
    path = tmp_path / "stakeholders.csv"
    write_file(path, HEADER + "".join(ROWS))
    _pull(hub, tmp_path)
    write_file(path, HEADER + "".join(ROWS[:9]))
    removed = _pull(hub, tmp_path)
    assert removed.by_entity["stakeholders"]["deleted"] == 1
    assert "p10@example.com" not in _people(hub)


def test_a_row_with_its_own_id_removed_while_another_shares_its_email_is_deleted(
    tmp_path: Path,
) -> None:
    # ids of their own: Alice's row removed and Bob's added in one go are two people
    path = tmp_path / "stakeholders.csv"
    others = "".join(f"S{i},Person {i},p{i}@example.com\r\n" for i in range(3, 12))
    write_file(path, "Record Id," + HEADER + "S1,Alice Wang,info@acme.cn\r\n" + others)
    store = open_store(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        _pull(store, tmp_path)
        alice = _people(store)["info@acme.cn"]
        write_file(path, "Record Id," + HEADER + "S2,Bob Li,info@acme.cn\r\n" + others)
        report = _pull(store, tmp_path)
        assert report.by_entity["stakeholders"]["deleted"] == 1
        assert alice[0] not in {rid for rid, _ in _people(store).values()}
        (item,) = store.list_open_inbox("import")
        assert (item.kind, item.external_id) == ("ambiguous_match", "S2")
    finally:
        store.close()
