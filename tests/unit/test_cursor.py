from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron_info_poller.cursor import Cursor, CursorWindow, RunBounds

T0 = datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("cursor", "value", "record_id", "admitted"),
    [
        (Cursor(T0, 10), T0, 10, False),  # the last row read is not read again
        (Cursor(T0, 10), T0, 11, True),  # same timestamp, later id
        (Cursor(T0, 10), T0, 9, False),
        (Cursor(T0, 10), T1, 1, True),  # later timestamp, any id
        (Cursor(T0), T0, 1, True),  # old poller's state: inclusive
        (Cursor(T0), T0 - timedelta(microseconds=1), 99, False),
        (Cursor(date(2024, 1, 2), 5), date(2024, 1, 2), 6, True),
        (Cursor(date(2024, 1, 2), 5), date(2024, 1, 1), 6, False),
    ],
)
def test_cursor_admits(cursor, value, record_id, admitted):
    assert cursor.admits(value, record_id) is admitted


def test_idless_cursor_sql_bound_is_inclusive():
    assert Cursor(T0).sql_lower_bound() == (T0, -1)
    assert Cursor(T0, 7).sql_lower_bound() == (T0, 7)


def keyset_pages(rows, cursor, limit):
    """Simulates the Sierra query over `rows`: keyset order, strictly after the cursor."""
    pages = []
    while True:
        page = sorted(r for r in rows if cursor.admits(*r))[:limit]
        if not page:
            return pages
        pages.append(page)
        cursor = Cursor(*page[-1])


def test_fifty_thousand_patrons_on_one_timestamp_page_without_stall_or_repeat():
    rows = [(T0, record_id) for record_id in range(1, 50_001)]
    pages = keyset_pages(rows, Cursor(T0 - timedelta(days=1)), 1000)
    assert len(pages) == 50
    assert [r for page in pages for r in page] == rows


@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(1, 40)), unique_by=lambda r: r[1], max_size=60
    ),
    st.integers(1, 7),
)
def test_keyset_paging_reads_every_row_once(raw_rows, limit):
    rows = [(T0 + timedelta(seconds=offset), record_id) for offset, record_id in raw_rows]
    pages = keyset_pages(rows, Cursor(T0), limit)
    assert [r for page in pages for r in page] == sorted(rows)


def test_window_contains_only_rows_read_by_the_run():
    window = CursorWindow(Cursor(T0, 5), Cursor(T1, 3))
    assert not window.contains(T0, 5)
    assert window.contains(T0, 6)
    assert window.contains(T1, 3)
    assert not window.contains(T1, 4)
    assert not window.contains(None, 4)
    assert not CursorWindow(Cursor(T0), Cursor(T0)).contains(T0, 1)


def test_run_bounds_use_sierra_clock_minus_lag_and_only_finished_days():
    sierra_now = datetime(2024, 3, 10, 0, 0, 30, tzinfo=UTC)
    bounds = RunBounds.from_sierra_clock(sierra_now, timedelta(seconds=60))
    assert bounds.timestamp_upper == datetime(2024, 3, 9, 23, 59, 30, tzinfo=UTC)
    assert bounds.deletion_date_upper == date(2024, 3, 9)
