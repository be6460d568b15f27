"""Reads patron changes from Sierra's read-only `sierra_view` schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from psycopg import sql

from ..cursor import Cursor, RunBounds
from ..geocoding.address import Address
from ..streams import StreamSpec
from .connection import DatabaseSettings, ReconnectingDatabase


@dataclass(frozen=True, slots=True)
class PatronRow:
    """One patron change as read from Sierra. Plaintext: keep out of logs (repr hides it)."""

    record_id: int = field(repr=False)
    cursor_value: datetime | date = field(repr=False)
    creation_date_gmt: datetime | None = field(repr=False)
    deletion_date_gmt: date | None = field(repr=False)
    activity_gmt: datetime | None = field(repr=False)
    ptype_code: int | None = field(repr=False)
    pcode3: int | None = field(repr=False)
    home_library_code: str | None = field(repr=False)
    address: Address = field(repr=False)


# One address per patron: the lowest display_order, then the lowest address type id.
# Timestamps Python cannot hold ('infinity', BC, past year 9999: hand-edited records)
# read as NULL, or one such row would stop every run at its batch.
BATCH_QUERY = """
SELECT rm.id, rm.{column} AS cursor_value,
       CASE WHEN rm.creation_date_gmt BETWEEN '0001-01-02' AND '9999-12-30'
           THEN rm.creation_date_gmt END AS creation_date_gmt,
       rm.deletion_date_gmt,
       CASE WHEN pv.activity_gmt BETWEEN '0001-01-02' AND '9999-12-30'
           THEN pv.activity_gmt END AS activity_gmt,
       pv.ptype_code, pv.pcode3, pv.home_library_code,
       addr.addr1, addr.city, addr.region, addr.postal_code
FROM sierra_view.record_metadata rm
LEFT JOIN sierra_view.patron_view pv ON pv.id = rm.id
LEFT JOIN LATERAL (
    SELECT pra.addr1, pra.city, pra.region, pra.postal_code
    FROM sierra_view.patron_record_address pra
    WHERE pra.patron_record_id = rm.id
    ORDER BY pra.display_order, pra.patron_record_address_type_id
    LIMIT 1
) addr ON TRUE
WHERE rm.record_type_code = 'p'
  AND rm.deletion_date_gmt IS {deleted}
  AND (rm.{column}, rm.id) > (%(after_value)s, %(after_id)s)
  AND rm.{column} < %(upper)s{id_range}
ORDER BY rm.{column}, rm.id
LIMIT %(limit)s
"""


class SierraSource:
    """Reads patron changes with short read-only transactions.

    With `id_range` (lo, hi), only records with lo <= id < hi: a backfill chunk.
    """

    def __init__(self, settings: DatabaseSettings, id_range: tuple[int, int] | None = None):
        self._db = ReconnectingDatabase(settings)
        self._id_filter = sql.SQL(
            "\n  AND rm.id >= %(id_lo)s AND rm.id < %(id_hi)s" if id_range else ""
        )
        self._id_params = dict(zip(("id_lo", "id_hi"), id_range, strict=True)) if id_range else {}

    def frozen_now(self) -> datetime:
        row = self._db.read(lambda cur: cur.execute("SELECT now() AS now").fetchone())
        assert row is not None
        return row["now"]

    def fetch_batch(
        self, stream: StreamSpec, after: Cursor, bounds: RunBounds, limit: int
    ) -> list[PatronRow]:
        query = sql.SQL(BATCH_QUERY).format(
            column=sql.Identifier(stream.cursor_column),
            deleted=sql.SQL("NOT NULL" if stream.takes_deleted else "NULL"),
            id_range=self._id_filter,
        )
        after_value, after_id = after.sql_lower_bound()
        upper = bounds.deletion_date_upper if stream.cursor_is_date else bounds.timestamp_upper
        params = {
            "after_value": after_value,
            "after_id": after_id,
            "upper": upper,
            "limit": limit,
            **self._id_params,
        }
        rows = self._db.read(lambda cur: cur.execute(query, params).fetchall())
        return [_patron_row(row) for row in rows]

    def close(self) -> None:
        self._db.close()


def _patron_row(row: dict[str, Any]) -> PatronRow:
    return PatronRow(
        record_id=row["id"],
        cursor_value=row["cursor_value"],
        creation_date_gmt=row["creation_date_gmt"],
        deletion_date_gmt=row["deletion_date_gmt"],
        activity_gmt=row["activity_gmt"],
        ptype_code=row["ptype_code"],
        pcode3=row["pcode3"],
        home_library_code=row["home_library_code"],
        address=Address.from_row(row["addr1"], row["city"], row["region"], row["postal_code"]),
    )
