import io
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from importlib import resources

import fastavro
import pgserver
import psycopg
import pytest
from psycopg import sql

from embedded_stack.synthetic_sierra import SyntheticSierra
from embedded_stack.warehouse_loader import decode_records, load_records, shipped_schema

pytestmark = pytest.mark.e2e

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 7, 1, tzinfo=UTC)


def read_sql(name: str) -> str:
    return (resources.files("embedded_stack") / "sql" / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pgserver.PostgresServer]:
    srv = pgserver.get_server(tmp_path_factory.mktemp("pg"))
    yield srv
    srv.cleanup()


@pytest.fixture
def database(server: pgserver.PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database per test, with Sierra's tables."""
    name = request.node.name.lower()[:60]
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    uri = server.get_uri(name)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(read_sql("sierra.sql"))
    yield uri
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def count(conn: psycopg.Connection, query: str, *params: object) -> int:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def test_create_update_and_delete_patrons(database: str):
    sierra = SyntheticSierra(seed=11)
    with psycopg.connect(database) as conn:
        ids = sierra.create_patrons(conn, 5000, start=START, end=END)
        others = sierra.create_other_records(conn, 30, start=START, end=END)
        more = sierra.create_patrons(conn, 100, start=END, end=END + timedelta(days=1))

        assert len(set(ids + more)) == 5100
        assert len(others) == 30
        assert count(conn, "SELECT count(*) FROM sierra_view.record_metadata") == 5130
        assert count(conn, "SELECT count(*) FROM sierra_view.patron_view") == 5100
        assert (
            count(
                conn,
                "SELECT count(*) FROM sierra_view.record_metadata WHERE record_type_code = 'p'",
            )
            == 5100
        )
        # Later patrons continue Sierra's numbering.
        assert (
            count(
                conn,
                "SELECT min(record_num) FROM sierra_view.record_metadata WHERE id = ANY(%s)",
                more,
            )
            == 1_005_000
        )
        largest_group = count(
            conn,
            "SELECT max(n) FROM (SELECT count(*) AS n FROM sierra_view.record_metadata"
            " GROUP BY creation_date_gmt) groups",
        )
        assert largest_group == 300

        # One address per patron: lowest display_order, then lowest type id.
        kept = conn.execute(
            "SELECT DISTINCT ON (patron_record_id) patron_record_id, id"
            " FROM sierra_view.patron_record_address"
            " ORDER BY patron_record_id, display_order, patron_record_address_type_id"
        ).fetchall()
        with_address = count(
            conn, "SELECT count(DISTINCT patron_record_id) FROM sierra_view.patron_record_address"
        )
        assert len(kept) == with_address
        assert 0.9 * 5100 < with_address < 5100
        assert (
            count(
                conn,
                "SELECT count(*) FROM sierra_view.patron_record_address a"
                " WHERE a.id <> (SELECT min(b.id) FROM sierra_view.patron_record_address b"
                "                WHERE b.patron_record_id = a.patron_record_id)"
                " AND a.id = ANY(%s)",
                [address_id for _, address_id in kept],
            )
            > 0
        ), "sometimes the kept address is not the patron's first address row"

        mass_update = datetime(2024, 8, 1, 12, tzinfo=UTC)
        sierra.update_patrons(conn, ids[:1000], mass_update)
        spread = ids[1000:1500]
        sierra.update_patrons(
            conn,
            spread,
            lambda i: mass_update + timedelta(minutes=i + 1),
            change_address_fraction=1,
        )
        updated = conn.execute(
            "SELECT count(*), min(num_revisions), max(num_revisions),"
            "       count(*) FILTER (WHERE previous_last_updated_gmt = creation_date_gmt)"
            " FROM sierra_view.record_metadata WHERE record_last_updated_gmt >= %s",
            (mass_update,),
        ).fetchone()
        assert updated == (1500, 2, 2, 1500)
        assert (
            count(
                conn,
                "SELECT count(*) FROM sierra_view.record_metadata"
                " WHERE record_last_updated_gmt = %s",
                mass_update,
            )
            == 1000
        )
        assert (
            count(
                conn,
                "SELECT count(DISTINCT patron_record_id) FROM sierra_view.patron_record_address"
                " WHERE patron_record_id = ANY(%s)",
                spread,
            )
            == 500
        ), "every readdressed patron has an address"

        deleted_on = date(2024, 9, 2)
        sierra.delete_patrons(conn, ids[1200:1400], deleted_on)
        deleted = conn.execute(
            "SELECT count(*), min(record_last_updated_gmt), max(record_last_updated_gmt),"
            "       min(num_revisions)"
            " FROM sierra_view.record_metadata WHERE deletion_date_gmt = %s",
            (deleted_on,),
        ).fetchone()
        assert deleted is not None
        assert deleted[0] == 200
        assert datetime(2024, 9, 2, tzinfo=UTC) <= deleted[1] <= deleted[2]
        assert deleted[2] < datetime(2024, 9, 3, tzinfo=UTC)
        assert deleted[3] == 3
        remaining = count(
            conn, "SELECT count(*) FROM sierra_view.patron_view WHERE id = ANY(%s)", ids[1200:1400]
        )
        assert 50 < remaining < 150, "about half the deleted patrons' rows are purged"


def test_fifty_thousand_patrons_insert_quickly(database: str):
    with psycopg.connect(database) as conn:
        began = time.perf_counter()
        ids = SyntheticSierra(seed=5).create_patrons(conn, 50_000, start=START, end=END)
        elapsed = time.perf_counter() - began
        print(f"inserted 50,000 synthetic patrons in {elapsed:.1f} s")
        assert len(ids) == 50_000
        assert count(conn, "SELECT count(*) FROM sierra_view.patron_view") == 50_000
        assert elapsed < 30


def record(patron_id: str, **fields: object) -> dict[str, object]:
    return {"patron_id": patron_id, **fields}


def encode(schema: dict, records: list[dict[str, object]]) -> list[bytes]:
    parsed = fastavro.parse_schema(schema)
    encoded = []
    for item in records:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, item)
        encoded.append(buffer.getvalue())
    return encoded


def test_warehouse_loader_upserts_by_patron_id(database: str):
    table = "patron_info.patron_info"
    schema = shipped_schema()
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA patron_info")
        conn.execute(
            sql.SQL(read_sql("warehouse.sql")).format(
                table=sql.Identifier("patron_info", "patron_info"),
                index=sql.Identifier("patron_info_address_hash"),
            )
        )
        first = [
            record(
                "a" * 64,
                address_hash="h1",
                postal_code="10036",
                geoid="36061011300",
                creation_date_et="2024-03-01",
                deletion_date_et="",
                circ_active_date_et=None,
                ptype_code=10,
                pcode3=None,
                patron_home_library_code="hp",
                initial_patron_home_library_code="hp",
            ),
            record("b" * 64, creation_date_et="2024-03-02", ptype_code=3),
        ]
        assert decode_records(encode(schema, first), schema)[1]["ptype_code"] == 3
        assert load_records(conn, table, encode(schema, first), schema) == 2

        second = [
            record("b" * 64, creation_date_et="2024-03-02", deletion_date_et="2024-05-05"),
            record("c" * 64, circ_active_date_et="2024-04-04"),
        ]
        assert load_records(conn, table, encode(schema, second), schema) == 2

        rows = conn.execute(
            "SELECT patron_id, geoid, creation_date_et, deletion_date_et, circ_active_date_et,"
            "       ptype_code FROM patron_info.patron_info ORDER BY patron_id"
        ).fetchall()
    assert rows == [
        ("a" * 64, "36061011300", date(2024, 3, 1), None, None, 10),
        ("b" * 64, None, date(2024, 3, 2), date(2024, 5, 5), None, None),
        ("c" * 64, None, None, None, date(2024, 4, 4), None),
    ]


def test_a_kinesis_record_is_one_datum():
    schema = shipped_schema()
    (one,) = encode(schema, [record("a" * 64)])
    with pytest.raises(ValueError, match="more than one Avro datum"):
        decode_records([one + one], schema)
