"""The checker of the fault drill: compares the sandbox, the CSV file and the hub record by record.

The drill (``bench/drill.py``) keeps a :class:`Ledger` of every stakeholder it
knows (seeded or created) and every edit a side acknowledged; at the end it
loads each side into :class:`Seen` rows and calls :func:`check`. Every
stakeholder is keyed by its email, which the drill never edits.

Definitions (issue 9):

- **lost**: a known stakeholder is on no side, or for some field no side holds
  an acceptable value. Acceptable is the last acknowledged edit of that field
  on either side (each side's last edit; ``newest`` may pick either), or the
  seeded value when the field was never edited.
- **duplicated**: one stakeholder appears more than once on one side.
- **diverged**: the sides present disagree on a field, or the stakeholder is
  missing on a side, and no open inbox item names its hub record.

A row on a side that belongs to no known stakeholder is counted in
``strangers``; a hub record carrying the hostile marker in ``hostile``. Both
make :attr:`Verdict.ok` false as well.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["FIELDS", "HOSTILE_MARK", "SIDES", "Edit", "Ledger", "Seen", "Verdict", "check"]

#: the fields compared on every side (email is the key)
FIELDS = ("full_name", "title", "department")
SIDES = ("zoho", "csv", "hub")
#: hostile inputs (webhooks, broken CSV rows) carry this in their emails and names
HOSTILE_MARK = "hostile"


@dataclass(frozen=True, slots=True)
class Edit:
    """One acknowledged edit: ``side`` answered that ``field`` of ``email`` is now ``value``."""

    email: str
    side: str
    field: str
    value: str
    #: when the side acknowledged it (wall clock, for the reader of a failure)
    at: str = ""


@dataclass(slots=True)
class Ledger:
    """What the drill did: the seeded stakeholders and every acknowledged create and edit."""

    #: email -> field -> value as seeded or created
    initial: dict[str, dict[str, str]] = field(default_factory=dict)
    edits: list[Edit] = field(default_factory=list)

    def add(self, email: str, values: Mapping[str, str]) -> None:
        """A stakeholder a side acknowledged creating (or that was seeded)."""
        self.initial[email.lower()] = dict(values)

    def edit(self, email: str, side: str, field_name: str, value: str, at: str = "") -> None:
        """An edit a side acknowledged (``at``: when, for the reader of a failure)."""
        self.edits.append(Edit(email.lower(), side, field_name, value, at))

    def history(self, email: str, field_name: str) -> str:
        """Every acknowledged edit of one field, oldest first, for a failure message."""
        return ", ".join(
            f"{e.side} {e.value} at {e.at}" if e.at else f"{e.side} {e.value}"
            for e in self.edits
            if e.email == email and e.field == field_name
        )

    def acceptable(self, email: str, field_name: str) -> set[str]:
        """The values ``field_name`` of ``email`` may end with: each side's last edit, else the seed."""
        last: dict[str, str] = {}
        for edit in self.edits:
            if edit.email == email and edit.field == field_name:
                last[edit.side] = edit.value
        if last:
            return set(last.values())
        return {self.initial[email].get(field_name, "")}


@dataclass(frozen=True, slots=True)
class Seen:
    """One record as a side holds it; ``ref`` is its id there (external id or hub id)."""

    side: str
    ref: str
    email: str
    values: Mapping[str, str]
    hub_id: str | None = None


@dataclass(slots=True)
class Verdict:
    """The outcome of :func:`check`: the figures of the summary line and why each was counted."""

    records: int = 0
    lost: int = 0
    duplicated: int = 0
    diverged: int = 0
    open_inbox: int = 0
    strangers: int = 0
    hostile: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing lost, duplicated, diverged, unknown or hostile."""
        return not (self.lost or self.duplicated or self.diverged or self.strangers or self.hostile)

    def summary(self) -> str:
        """The one summary line of the drill."""
        return (
            f"records {self.records}, lost {self.lost}, duplicated {self.duplicated}, "
            f"diverged {self.diverged}, open inbox {self.open_inbox}"
        )


def _clean(value: object) -> str:
    return "" if value is None else str(value).strip()


def check(
    ledger: Ledger,
    seen: Iterable[Seen],
    open_inbox: Sequence[tuple[str | None, str | None]] = (),
    *,
    problem_limit: int = 20,
) -> Verdict:
    """Compare every known stakeholder across the sides.

    ``open_inbox`` holds the (hub record id, external id) of each open inbox
    item; an item naming a stakeholder's hub record or one of its external ids
    explains a divergence of that stakeholder (never a loss or a duplicate).
    """
    verdict = Verdict(records=len(ledger.initial), open_inbox=len(open_inbox))
    by_side: dict[str, dict[str, list[Seen]]] = {side: defaultdict(list) for side in SIDES}
    for row in seen:
        email = row.email.lower()
        if HOSTILE_MARK in email or HOSTILE_MARK in " ".join(row.values.values()).lower():
            if row.side == "hub":
                verdict.hostile += 1
                verdict.problems.append(f"hostile input reached the hub: {row.email} ({row.ref})")
            continue  # the CSV file keeps the broken rows the drill dropped in it
        if email not in ledger.initial:
            verdict.strangers += 1
            verdict.problems.append(f"{row.side} holds an unknown record {row.ref}: {row.email!r}")
            continue
        by_side[row.side][email].append(row)
    explained_ids = {ref for pair in open_inbox for ref in pair if ref}

    for email in sorted(ledger.initial):
        rows = {side: by_side[side].get(email, []) for side in SIDES}
        if any(len(r) > 1 for r in rows.values()):
            verdict.duplicated += 1
            twice = [f"{s} x{len(r)}" for s, r in rows.items() if len(r) > 1]
            verdict.problems.append(f"duplicated {email}: {', '.join(twice)}")
        present = {side: r[0] for side, r in rows.items() if r}
        if not present:
            verdict.lost += 1
            verdict.problems.append(f"lost {email}: on no side")
            continue
        lost_fields = []
        differing = []
        for name in FIELDS:
            values = {side: _clean(row.values.get(name)) for side, row in present.items()}
            if not set(values.values()) & ledger.acceptable(email, name):
                lost_fields.append(f"{name} {values} (acknowledged: {ledger.history(email, name)})")
            if len(set(values.values())) > 1:
                differing.append(f"{name} {values}")
        if lost_fields:
            verdict.lost += 1
            verdict.problems.append(f"lost {email}: " + "; ".join(lost_fields))
        missing = [side for side in SIDES if side not in present]
        if missing or differing:
            refs = {row.ref for r in rows.values() for row in r}
            refs |= {row.hub_id for r in rows.values() for row in r if row.hub_id}
            if refs & explained_ids:
                continue
            verdict.diverged += 1
            what = ([f"missing on {', '.join(missing)}"] if missing else []) + differing
            verdict.problems.append(f"diverged {email}: " + "; ".join(what))
    del verdict.problems[problem_limit:]
    return verdict
