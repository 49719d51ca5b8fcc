"""The run and its mapping worker share each page so that neither waits for the other."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from crmbridge.sync.balance import MAX_SHARE, Balance


def _page(balance: Balance, *, waited: float = 0.0, idle: float = 0.0) -> None:
    """One page of 1,000 records, the worker's part taking it 1 ms a record."""
    sent = 1000 - balance.kept(1000)
    balance.observe(waited=waited, idle=idle, busy=sent * 0.001, sent=sent, count=1000)


def test_a_run_waiting_for_its_worker_maps_more_of_each_page_itself() -> None:
    balance = Balance()
    assert balance.kept(1000) == 0  # at first the worker maps every record it is sent
    for _ in range(5):
        _page(balance, waited=0.1)
    taken = balance.kept(1000)
    assert 0 < taken <= 500
    # once the run no longer waits, it keeps what it took
    _page(balance)
    assert balance.kept(1000) == taken


def test_a_worker_waiting_for_the_run_gets_its_records_back() -> None:
    balance = Balance(share=0.3)
    for _ in range(40):
        _page(balance, idle=0.2)
    assert balance.kept(1000) == 0


def test_a_page_the_worker_reports_no_work_for_changes_nothing() -> None:
    balance = Balance(share=0.2)
    balance.observe(waited=1.0, idle=0.0, busy=0.0, sent=0, count=1000)
    assert balance.share == 0.2


@given(
    st.lists(
        st.tuples(
            st.floats(0, 10),
            st.floats(0, 10),
            st.floats(1e-6, 10),
            st.integers(0, 5000),
            st.integers(1, 5000),
        ),
        max_size=50,
    ),
    st.integers(0, 100_000),
)
def test_the_run_never_maps_more_than_half_a_page(
    pages: list[tuple[float, float, float, int, int]], size: int
) -> None:
    balance = Balance()
    for waited, idle, busy, sent, count in pages:
        balance.observe(waited=waited, idle=idle, busy=busy, sent=sent, count=count)
        assert 0.0 <= balance.share <= MAX_SHARE
        assert 0 <= balance.kept(size) <= size // 2
