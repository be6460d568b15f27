"""Precise Sierra rows for tests that need exact timestamps and addresses."""

from __future__ import annotations

from datetime import date, datetime

import psycopg

NYC_ADDRESS = ("350 W 42nd St", "New York", "NY", "10036")
NYC_GEOID = "36061011300"  # W 42ND ST 350 in the gazetteer
# Patron record ids as Sierra has them (12 digits), so that a leak scan looking for an id
# never finds it by chance in a timestamp or a count.
PATRON_ID_BASE = 481_036_340_000


def insert_patron(
    conn: psycopg.Connection,
    record_id: int,
    *,
    created: datetime,
    updated: datetime | None = None,
    deleted: date | None = None,
    address: tuple[str | None, ...] | None = NYC_ADDRESS,
    ptype_code: int | None = 10,
    pcode3: int | None = 1,
    library: str | None = "sasb",
    activity: datetime | None = None,
) -> None:
    conn.execute(
        "INSERT INTO sierra_view.record_metadata (id, record_type_code, record_num,"
        " creation_date_gmt, deletion_date_gmt, record_last_updated_gmt)"
        " VALUES (%s, 'p', %s, %s, %s, %s)",
        (record_id, record_id % 10_000_000, created, deleted, updated or created),
    )
    conn.execute(
        "INSERT INTO sierra_view.patron_view (id, record_num, ptype_code, pcode3,"
        " home_library_code, activity_gmt) VALUES (%s, %s, %s, %s, %s, %s)",
        (record_id, record_id % 10_000_000, ptype_code, pcode3, library, activity or created),
    )
    if address is not None:
        add_address(conn, record_id, address, display_order=0, type_id=1)


def add_address(conn, record_id, address, *, display_order, type_id):
    conn.execute(
        "INSERT INTO sierra_view.patron_record_address (id, patron_record_id,"
        " patron_record_address_type_id, display_order, addr1, city, region, postal_code)"
        " VALUES ((SELECT coalesce(max(id), 0) + 1 FROM sierra_view.patron_record_address),"
        " %s, %s, %s, %s, %s, %s, %s)",
        (record_id, type_id, display_order, *address),
    )


def touch(conn, record_ids, at: datetime) -> None:
    conn.execute(
        "UPDATE sierra_view.record_metadata SET record_last_updated_gmt = %s WHERE id = ANY(%s)",
        (at, list(record_ids)),
    )


def delete(conn, record_ids, on: date) -> None:
    conn.execute(
        "UPDATE sierra_view.record_metadata SET deletion_date_gmt = %s WHERE id = ANY(%s)",
        (on, list(record_ids)),
    )
