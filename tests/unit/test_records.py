from datetime import UTC, date, datetime

import pytest

from patron_info_poller.databases.sierra import PatronRow
from patron_info_poller.errors import SkippedRow
from patron_info_poller.geocoding.address import Address
from patron_info_poller.records import (
    active_record,
    address_hash_input,
    deleted_record,
    et_date,
    home_library_code,
    postal_code,
)


def patron(**changes):
    values = {
        "record_id": 481036000123,
        "cursor_value": datetime(2024, 7, 1, 12, tzinfo=UTC),
        "creation_date_gmt": datetime(2024, 7, 1, 3, 30, tzinfo=UTC),
        "deletion_date_gmt": None,
        "activity_gmt": datetime(2024, 7, 2, 3, 30, tzinfo=UTC),
        "ptype_code": 10,
        "pcode3": 2,
        "home_library_code": " sasb ",
        "address": Address.from_row(" 350 W 42nd St ", "New York", "NY", " 10036-1234 "),
    }
    values.update(changes)
    return PatronRow(**values)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (datetime(2024, 7, 1, 3, 30, tzinfo=UTC), "2024-06-30"),  # EDT, UTC-4
        (datetime(2024, 7, 1, 4, 0, tzinfo=UTC), "2024-07-01"),
        (datetime(2024, 1, 15, 4, 59, tzinfo=UTC), "2024-01-14"),  # EST, UTC-5
        (datetime(2024, 1, 15, 5, 0, tzinfo=UTC), "2024-01-15"),
        # DST starts 2024-03-10 07:00 UTC; ends 2024-11-03 06:00 UTC.
        (datetime(2024, 3, 10, 4, 59, tzinfo=UTC), "2024-03-09"),
        (datetime(2024, 3, 10, 5, 0, tzinfo=UTC), "2024-03-10"),
        (datetime(2024, 11, 3, 3, 59, tzinfo=UTC), "2024-11-02"),
        (datetime(2024, 11, 3, 4, 0, tzinfo=UTC), "2024-11-03"),
        (datetime(2024, 11, 4, 4, 59, tzinfo=UTC), "2024-11-03"),
        (None, None),
    ],
)
def test_et_date_across_dst(instant, expected):
    assert et_date(instant) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" 10036-1234 ", "10036"), ("", None), (None, None), ("   ", None), ("100", "100")],
)
def test_postal_code(raw, expected):
    assert postal_code(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" sasb ", "sasb"), ("none", None), ("NONE ", None), ("", None), (None, None), ("mu", "mu")],
)
def test_home_library_code(raw, expected):
    assert home_library_code(raw) == expected


def test_address_hash_input_trims_fields_and_maps_null_to_empty():
    row = patron(address=Address.from_row(" 1 Main St ", None, " NY", None))
    assert address_hash_input(row) == "481036000123_1 Main St__NY_"


def test_new_patron_record():
    record = active_record(patron(), "PID", "AHASH", "36061011300")
    assert record == {
        "patron_id": "PID",
        "address_hash": "AHASH",
        "postal_code": "10036",
        "geoid": "36061011300",
        "creation_date_et": "2024-06-30",
        "deletion_date_et": None,
        "circ_active_date_et": "2024-07-01",
        "ptype_code": 10,
        "pcode3": 2,
        "patron_home_library_code": "sasb",
        "initial_patron_home_library_code": "sasb",
    }


def test_updated_patron_with_known_address_keeps_warehouse_geoid_even_null():
    by_hash = {"geoid": None, "initial_patron_home_library_code": "mu"}
    record = active_record(patron(), "PID", "AHASH", "36061011300", by_hash, None)
    assert record["geoid"] is None
    assert record["initial_patron_home_library_code"] == "mu"


def test_updated_patron_with_new_address_keeps_initial_library_by_patron_id():
    by_id = {"geoid": "36005000100", "initial_patron_home_library_code": "bc"}
    record = active_record(patron(), "PID", "AHASH", "36047000200", None, by_id)
    assert record["geoid"] == "36047000200"
    assert record["initial_patron_home_library_code"] == "bc"


def test_updated_patron_unknown_to_warehouse_uses_current_library():
    record = active_record(patron(home_library_code="none"), "PID", "AHASH", None, None, None)
    assert record["patron_home_library_code"] is None
    assert record["initial_patron_home_library_code"] is None


def test_out_of_range_codes_are_a_counted_skip():
    with pytest.raises(SkippedRow, match="ptype_code outside the Avro int range"):
        active_record(patron(ptype_code=2**31), "PID", "AHASH", None)


def test_deleted_patron_known_to_warehouse():
    known = {
        "patron_id": "PID",
        "address_hash": "AHASH",
        "postal_code": "10036",
        "geoid": "36061011300",
        "creation_date_et": "2019-01-01",
        "deletion_date_et": None,
        "circ_active_date_et": "2023-05-05",
        "ptype_code": 10,
        "pcode3": 2,
        "patron_home_library_code": "sasb",
        "initial_patron_home_library_code": "mu",
    }
    row = patron(deletion_date_gmt=date(2024, 8, 1))
    assert deleted_record(row, "PID", known) == {**known, "deletion_date_et": "2024-08-01"}


def test_deleted_patron_unknown_to_warehouse_still_yields_a_record():
    row = patron(deletion_date_gmt=date(2024, 8, 1))
    record = deleted_record(row, "PID", None)
    assert record["patron_id"] == "PID"
    assert record["creation_date_et"] == "2024-06-30"
    assert record["deletion_date_et"] == "2024-08-01"
    assert all(
        record[k] is None
        for k in record
        if k not in ("patron_id", "creation_date_et", "deletion_date_et")
    )
