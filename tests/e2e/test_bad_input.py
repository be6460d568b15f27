"""Years of hand-typed Sierra data: every row yields a valid record or a counted skip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patron_info_poller.obfuscation import obfuscate

T0 = datetime(2024, 6, 1, 12, tzinfo=UTC)
INJECTION = "'); DROP TABLE sierra_view.patron_view; --"

# (addr1, city, region, postal_code, ptype_code, pcode3, home_library_code)
CORPUS: dict[str, tuple] = {
    "null everywhere": (None, None, None, None, None, None, None),
    "ten thousand characters": (
        "350 W 42nd St " + "x" * 10_000,
        "New York",
        "NY",
        "10036",
        10,
        1,
        "sasb",
    ),
    "control characters": (
        "350 W 42nd\tSt\r\n\x07Apt 4",
        "New\nYork",
        "N\x0bY",
        "10036",
        10,
        1,
        "sasb",
    ),
    "quotes and commas": (
        '350 "W" 42nd St, Apt 4, Rear',
        'New "York", NY',
        "NY",
        "10036",
        10,
        1,
        "mu",
    ),
    "formula injection": ("=cmd|' /C calc'!A0", "+SUM(1,2)", "@NY", "-10036", 10, 1, "hp"),
    "non-US": ("10 Downing St", "London", "", "SW1A 2AA", 10, 1, "sasb"),
    "military": ("PSC 1234, Box 5678", "APO", "AE", "09012", 10, 1, "sasb"),
    "malformed postal codes": ("350 W 42nd St", "New York", "NY", "ABCDE-12", 10, 1, "sasb"),
    "ptype out of Avro int range": ("350 W 42nd St", "New York", "NY", "10036", 2**31, 1, "sasb"),
    "pcode3 out of Avro int range": (
        "350 W 42nd St",
        "New York",
        "NY",
        "10036",
        10,
        -(2**31) - 1,
        "sasb",
    ),
    "long home library code": ("350 W 42nd St", "New York", "NY", "10036", 10, 1, "averylongcode"),
    "sql injection": (INJECTION, INJECTION, INJECTION, INJECTION, 10, 1, INJECTION),
}
SKIPPED = {"ptype out of Avro int range", "pcode3 out of Avro int range"}


@pytest.fixture
def permissive_sierra(sierra):
    """Columns wide enough for what the tests insert (Sierra's own types are narrower)."""
    sierra.execute(
        "ALTER TABLE sierra_view.patron_view ALTER COLUMN ptype_code TYPE bigint,"
        " ALTER COLUMN pcode3 TYPE bigint, ALTER COLUMN home_library_code TYPE text"
    )
    sierra.execute(
        "ALTER TABLE sierra_view.patron_record_address ALTER COLUMN addr1 TYPE text,"
        " ALTER COLUMN city TYPE text, ALTER COLUMN region TYPE text,"
        " ALTER COLUMN postal_code TYPE text"
    )
    return sierra


def insert(sierra, record_id, values, *, created=T0, activity=T0, updated=None):
    addr1, city, region, postal, ptype, pcode3, library = values
    sierra.execute(
        "INSERT INTO sierra_view.record_metadata (id, record_type_code, record_num,"
        " creation_date_gmt, record_last_updated_gmt) VALUES (%s, 'p', %s, %s, %s)",
        (record_id, record_id, created, updated or created),
    )
    sierra.execute(
        "INSERT INTO sierra_view.patron_view (id, record_num, ptype_code, pcode3,"
        " home_library_code, activity_gmt) VALUES (%s, %s, %s, %s, %s, %s)",
        (record_id, record_id, ptype, pcode3, library, activity),
    )
    sierra.execute(
        "INSERT INTO sierra_view.patron_record_address (id, patron_record_id,"
        " patron_record_address_type_id, addr1, city, region, postal_code)"
        " VALUES (%s, %s, 1, %s, %s, %s, %s)",
        (record_id, record_id, addr1, city, region, postal),
    )


def test_fixed_corpus_yields_records_or_counted_skips(poller, permissive_sierra, stack):
    sierra = permissive_sierra
    ids = {name: 1000 + n for n, name in enumerate(CORPUS)}
    for name, values in CORPUS.items():
        insert(sierra, ids[name], values)
    insert(sierra, 2001, CORPUS["non-US"], created=datetime(1900, 1, 1, tzinfo=UTC), updated=T0)
    insert(sierra, 2002, CORPUS["non-US"], activity=datetime(1, 1, 1, 2, tzinfo=UTC))
    sierra.execute("UPDATE sierra_view.patron_view SET activity_gmt = 'infinity' WHERE id = 2002")
    insert(sierra, 2003, CORPUS["non-US"], created=datetime.now(UTC) + timedelta(days=365 * 100))
    insert(sierra, 2004, CORPUS["non-US"])
    sierra.execute(
        "UPDATE sierra_view.patron_view SET activity_gmt = '12000-06-01 00:00+00' WHERE id = 2004"
    )
    sierra.execute(  # a record with nothing but an update time
        "INSERT INTO sierra_view.record_metadata (id, record_type_code, record_num,"
        " record_last_updated_gmt) VALUES (3001, 'p', 3001, %s)",
        (T0,),
    )
    counts_before = sierra.execute("SELECT count(*) FROM sierra_view.patron_view").fetchone()

    run = poller.run()

    salt = stack.salt.encode()
    sent = {r["patron_id"] for r in run.records}
    for name, record_id in ids.items():
        assert (obfuscate(str(record_id), salt) in sent) is (name not in SKIPPED), name
    assert obfuscate("2001", salt) in sent and obfuscate("2002", salt) in sent
    assert obfuscate("3001", salt) in sent
    assert obfuscate("2003", salt) not in sent  # in the future: the next runs' business
    new = run.by_stream("new")
    assert sum(new.skipped.values()) == len(SKIPPED)
    assert set(new.skipped) == {
        "ptype_code outside the Avro int range",
        "pcode3 outside the Avro int range",
    }
    by_id = {r["patron_id"]: r for r in run.records}
    assert by_id[obfuscate("2001", salt)]["creation_date_et"] == "1899-12-31"
    assert by_id[obfuscate("2002", salt)]["circ_active_date_et"] is None
    assert by_id[obfuscate("2004", salt)]["circ_active_date_et"] is None  # past year 9999
    assert by_id[obfuscate(str(ids["malformed postal codes"]), salt)]["postal_code"] == "ABCDE"
    assert by_id[obfuscate(str(ids["null everywhere"]), salt)]["geoid"] is None
    assert (
        sierra.execute("SELECT count(*) FROM sierra_view.patron_view").fetchone() == counts_before
    )
    assert poller.run().records == []  # skipped rows moved the cursor too


sierra_text = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=120),
    st.sampled_from(["=1+1", "+", "@", "-", ",", '"', "\n", "none", " ", INJECTION]),
)


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(
        st.tuples(sierra_text, sierra_text, sierra_text, sierra_text, sierra_text),
        min_size=1,
        max_size=15,
    )
)
def test_generated_text_in_every_column_never_breaks_a_run(stack, permissive_sierra, poller, rows):
    stack.reset()
    for n, (addr1, city, region, postal, library) in enumerate(rows):
        insert(permissive_sierra, 5000 + n, (addr1, city, region, postal, 10, 1, library))
    run = poller.run()
    new = run.by_stream("new")
    assert len(run.records) + sum(new.skipped.values()) == len(rows)
