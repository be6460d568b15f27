from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from patron_info_poller.cursor import Cursor
from patron_info_poller.errors import StateError
from patron_info_poller.state import PollerState
from patron_info_poller.streams import NEW


def test_old_poller_state_reads_as_inclusive_timestamps():
    state = PollerState.from_json(
        {
            "creation_dt": "2024-05-01 10:00:00-04",
            "update_dt": "2024-05-01T11:00:00-04:00",
            "deletion_date": "2024-04-30",
        }
    )
    eastern = timezone(timedelta(hours=-4))
    assert state.new == Cursor(datetime(2024, 5, 1, 10, tzinfo=eastern), None)
    assert state.updated == Cursor(datetime(2024, 5, 1, 11, tzinfo=eastern), None)
    assert state.deleted == Cursor(date(2024, 4, 30), None)


def test_state_round_trips_with_ids_and_offsets():
    state = PollerState(
        Cursor(datetime(2024, 1, 1, tzinfo=UTC), 481_036_000_001),
        Cursor(datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC), 2),
        Cursor(date(2024, 1, 3), 3),
    )
    document = state.to_json()
    assert document["creation_dt"] == "2024-01-01T00:00:00+00:00"
    assert document["deletion_date"] == "2024-01-03"
    assert PollerState.from_json(document) == state
    assert state.with_cursor(NEW, Cursor(date(2024, 1, 1))).new == Cursor(date(2024, 1, 1))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not a JSON object"),
        ({"creation_dt": "2024-01-01T00:00:00+00:00", "surprise": 1}, "unknown keys: surprise"),
        ({"creation_dt": "yesterday", "update_dt": "x", "deletion_date": "y"}, "creation_dt"),
        (
            {
                "creation_dt": "2024-01-01T00:00:00",
                "update_dt": "2024-01-01T00:00:00+00:00",
                "deletion_date": "2024-01-01",
            },
            "creation_dt",
        ),
        (
            {
                "creation_dt": "2024-01-01T00:00:00+00:00",
                "creation_id": "12",
                "update_dt": "2024-01-01T00:00:00+00:00",
                "deletion_date": "2024-01-01",
            },
            "creation_id is not an integer",
        ),
    ],
)
def test_corrupt_state_is_a_clear_error(document, message):
    with pytest.raises(StateError, match=message):
        PollerState.from_json(document)
