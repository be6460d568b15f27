from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron_info_poller.cursor import Cursor
from patron_info_poller.errors import StateError
from patron_info_poller.state.sealed_ids import IdSealer
from patron_info_poller.state.store import PollerState
from patron_info_poller.streams import NEW, UPDATED

SEALER = IdSealer("$2b$07$abcdefghijklmnopqrstuu")


def test_old_poller_state_reads_as_inclusive_timestamps():
    state = PollerState.from_json(
        {
            "creation_dt": "2024-05-01 10:00:00-04",
            "update_dt": "2024-05-01T11:00:00-04:00",
            "deletion_date": "2024-04-30",
        },
        SEALER,
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
    document = state.to_json(SEALER)
    assert document["creation_dt"] == "2024-01-01T00:00:00+00:00"
    assert document["deletion_date"] == "2024-01-03"
    assert PollerState.from_json(document, SEALER) == state
    assert state.with_cursor(NEW, Cursor(date(2024, 1, 1))).new == Cursor(date(2024, 1, 1))


def test_ids_rest_sealed_and_only_open_with_the_same_salt_and_field():
    state = PollerState(
        Cursor(datetime(2024, 1, 1, tzinfo=UTC), 481_036_000_001),
        Cursor(datetime(2024, 1, 2, tzinfo=UTC), None),
        Cursor(date(2024, 1, 3), 7),
    ).with_caught_up(UPDATED, datetime(2024, 1, 4, tzinfo=UTC))
    document = state.to_json(SEALER)
    assert "481036000001" not in str(document)
    assert document["creation_id"].startswith("v1.") and document["update_id"] is None
    assert PollerState.from_json(document, SEALER) == state
    with pytest.raises(StateError, match="creation_id does not open"):
        PollerState.from_json(document, IdSealer("$2b$07$zyxwvutsrqponmlkjihgfe"))
    swapped = {**document, "deletion_id": document["creation_id"]}
    with pytest.raises(StateError, match="deletion_id does not open"):
        PollerState.from_json(swapped, SEALER)


def test_state_of_the_previous_version_with_plaintext_ids_is_read():
    document = {
        "creation_dt": "2024-01-01T00:00:00+00:00",
        "creation_id": 12,
        "update_dt": "2024-01-01T00:00:00+00:00",
        "update_id": None,
        "deletion_date": "2024-01-01",
        "deletion_id": 3,
    }
    state = PollerState.from_json(document, SEALER)
    assert (state.new.last_id, state.updated.last_id, state.deleted.last_id) == (12, None, 3)
    assert state.caught_up_as_of == {}


def test_describe_never_shows_an_id():
    state = PollerState(
        Cursor(datetime(2024, 1, 1, tzinfo=UTC), 481_036_000_001),
        Cursor(datetime(2024, 1, 2, tzinfo=UTC)),
        Cursor(date(2024, 1, 3)),
    ).with_caught_up(NEW, datetime(2024, 1, 5, tzinfo=UTC))
    described = state.describe()
    assert "481036000001" not in str(described)
    assert described["new"] == {
        "cursor": "2024-01-01T00:00:00+00:00",
        "id_set": True,
        "caught_up_as_of": "2024-01-05T00:00:00+00:00",
    }
    assert described["updated"]["id_set"] is False


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
            "creation_id is neither a sealed id nor an integer",
        ),
        (
            {
                "creation_dt": "2024-01-01T00:00:00+00:00",
                "update_dt": "2024-01-01T00:00:00+00:00",
                "deletion_date": "2024-01-01",
                "caught_up_as_of": {"new": "2024-01-01T00:00:00"},
            },
            "caught_up_as_of.new",
        ),
    ],
)
def test_corrupt_state_is_a_clear_error(document, message):
    with pytest.raises(StateError, match=message):
        PollerState.from_json(document, SEALER)


@given(
    record_id=st.integers(min_value=0, max_value=2**63 - 1),
    context=st.sampled_from(["creation_id", "update_id", "deletion_id", "chunk 7 lo"]),
)
def test_a_sealed_id_opens_to_itself_and_never_shows_it(record_id, context):
    token = SEALER.seal(record_id, context)
    assert SEALER.open(token, context) == record_id
    assert str(record_id) not in token or len(str(record_id)) < 4
    with pytest.raises(ValueError):
        SEALER.open(token, context + "x")
