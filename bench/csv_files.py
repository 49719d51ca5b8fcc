# ruff: noqa: E402
"""Big CSV files for the CSV connector's bench, written row by row (flat memory).

    python bench/csv_files.py OUT.csv [--rows 1000000] [--chinese] [--encoding gb18030]
        [--delimiter ';'] [--no-ids]

:func:`write_stakeholders` writes a stakeholders file the shipped CSV mapping
reads (English or Chinese headers, any encoding and delimiter, a quoted
multi-line note every ``multiline_every`` rows, one unmapped column that a
push must keep). :func:`edit_copy` writes a copy with a share of rows
changed, removed and added, for the incremental figures: it reports the
exact ids so the bench can check the pull yields exactly those.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/csv.py would shadow the standard library's csv module: keep this folder off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Edits", "edit_copy", "row", "write_stakeholders"]

ENGLISH = [
    "Record Id", "Full Name", "Mobile", "Email", "Account Name", "Title",
    "Stakeholder Type", "Power", "Interest", "Tags", "Description", "Favourite Colour",
]  # fmt: skip
CHINESE = [
    "编号",
    "姓名",
    "手机",
    "邮箱",
    "公司",
    "职位",
    "类型",
    "权力",
    "关注度",
    "标签",
    "备注",
    "颜色",
]
SURNAMES = "王李张刘陈杨黄赵周吴"
COMPANIES = ["华为技术有限公司", "腾讯科技", "Siemens AG", "Acme Analytics Ltd", "招商银行"]
TYPES = ["customer", "partner", "supplier", "end_user"]
LEVELS = ["high", "medium", "low"]
COLOURS = ["red", "green", "blue"]


def row(i: int, *, multiline_every: int = 0, version: int = 0) -> list[str]:
    """Row ``i`` (``version`` > 0 gives a changed title), cells in :data:`ENGLISH` order."""
    name = f"{SURNAMES[i % 10]}{i}" if i % 3 else f"Person {i}"
    note = f"备注 {i}"
    if multiline_every and i % multiline_every == 0:
        note = f'第一行 {i}\r\nsecond line, with a comma and "quotes"'
    return [
        f"S{i:07d}",
        name,
        f"+86138{i % 100_000_000:08d}",
        f"p{i}@example.cn",
        COMPANIES[i % len(COMPANIES)],
        f"Engineer v{version}" if version else ("工程师" if i % 2 else "Buyer"),
        TYPES[i % len(TYPES)],
        LEVELS[i % 3],
        LEVELS[(i // 3) % 3],
        "vip;决策者" if i % 5 == 0 else "",
        note,
        COLOURS[i % 3],
    ]


def _rows(count: int, multiline_every: int) -> Iterator[list[str]]:
    for i in range(count):
        yield row(i, multiline_every=multiline_every)


def write_stakeholders(
    path: Path,
    rows: int,
    *,
    encoding: str = "utf-8-sig",
    delimiter: str = ",",
    chinese: bool = False,
    ids: bool = True,
    multiline_every: int = 100,
) -> Path:
    """Write ``rows`` stakeholders to ``path``; returns ``path``."""
    header = CHINESE if chinese else ENGLISH
    start = 0 if ids else 1
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header[start:])
        for cells in _rows(rows, multiline_every):
            writer.writerow(cells[start:])
    return path


@dataclass
class Edits:
    """What :func:`edit_copy` changed, by external id (``Record Id``)."""

    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)


def edit_copy(
    source: Path,
    target: Path,
    *,
    every: int = 100,
    added: int = 100,
    encoding: str = "utf-8-sig",
    delimiter: str = ",",
) -> Edits:
    """Copy an English-header file with ids, changing one row in ``every``, removing the next
    one, and appending ``added`` rows; streams, so it works on any size."""
    edits = Edits()
    last = -1
    with (
        source.open(encoding=encoding, newline="") as src,
        target.open("w", encoding=encoding, newline="") as out,
    ):
        reader, writer = csv.reader(src, delimiter=delimiter), csv.writer(out, delimiter=delimiter)
        writer.writerow(next(reader))
        for cells in reader:
            i = int(cells[0][1:])
            last = max(last, i)
            if i % every == 1:
                edits.removed.append(cells[0])
                continue
            if i % every == 0:
                cells[5] = f"Engineer v{i}"
                edits.changed.append(cells[0])
            writer.writerow(cells)
        for i in range(last + 1, last + 1 + added):
            cells = row(i)
            writer.writerow(cells)
            edits.added.append(cells[0])
    return edits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chinese", action="store_true", help="Chinese headers")
    parser.add_argument("--encoding", default="utf-8-sig")
    parser.add_argument("--delimiter", default=",")
    parser.add_argument("--no-ids", action="store_true", help="leave out the Record Id column")
    args = parser.parse_args()
    path = write_stakeholders(
        args.out,
        args.rows,
        encoding=args.encoding,
        delimiter=args.delimiter,
        chinese=args.chinese,
        ids=not args.no_ids,
    )
    print(f"{path}: {args.rows} rows, {path.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
