"""Formula neutralisation is reversed exactly, whatever the value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmbridge.cells import TRIGGERS, neutralise, restore

TRICKY = st.text(alphabet=st.sampled_from("'=+-@\t\rab 1"), max_size=8)


@given(st.one_of(st.text(), TRICKY))
def test_restore_undoes_neutralise(value: str) -> None:
    assert restore(neutralise(value)) == value


@given(st.one_of(st.text(), TRICKY))
def test_a_written_cell_never_starts_with_a_trigger(value: str) -> None:
    cell = neutralise(value)
    assert not cell or cell[0] not in TRIGGERS


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+8613800138000", "'+8613800138000"),
        ("'quoted", "'quoted"),
        ("'=x", "''=x"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_cells_as_written(value: str, cell: str) -> None:
    assert neutralise(value) == cell
    assert restore(cell) == value
