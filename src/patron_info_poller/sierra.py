"""Reads patron changes from Sierra's read-only `sierra_view` schema."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from .address import Address
from .cursor import Cursor, RunBounds
from .errors import SourceUnavailableError
from .streams import StreamSpec

logger = logging.getLogger(__name__)


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
_BATCH_QUERY = """
SELECT rm.id, rm.{column} AS cursor_value, rm.creation_date_gmt, rm.deletion_date_gmt,
       pv.activity_gmt, pv.ptype_code, pv.pcode3, pv.home_library_code,
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
  AND rm.{column} < %(upper)s
ORDER BY rm.{column}, rm.id
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class SierraConnectionSettings:
    host: str
    port: int
    dbname: str
    user: str
    password: str = field(repr=False)
    connect_timeout: int = 30
    max_attempts: int = 4
    backoff_seconds: float = 1.0


class SierraSource:
    """Reads with short read-only transactions; a dropped connection is reopened and the
    (idempotent) query run again, a bounded number of times."""

    def __init__(self, settings: SierraConnectionSettings):
        self._settings = settings
        self._conn: psycopg.Connection[dict[str, Any]] | None = None

    def frozen_now(self) -> datetime:
        row = self._run(lambda cur: cur.execute("SELECT now() AS now").fetchone())
        return row["now"]

    def fetch_batch(
        self, stream: StreamSpec, after: Cursor, bounds: RunBounds, limit: int
    ) -> list[PatronRow]:
        query = sql.SQL(_BATCH_QUERY).format(
            column=sql.Identifier(stream.cursor_column),
            deleted=sql.SQL("NOT NULL" if stream.takes_deleted else "NULL"),
        )
        after_value, after_id = after.sql_lower_bound()
        upper = bounds.deletion_date_upper if stream.cursor_is_date else bounds.timestamp_upper
        params = {"after_value": after_value, "after_id": after_id, "upper": upper, "limit": limit}
        rows = self._run(lambda cur: cur.execute(query, params).fetchall())
        return [_patron_row(row) for row in rows]

    def _run(self, work: Any) -> Any:
        retrying = Retrying(
            retry=retry_if_exception_type(psycopg.OperationalError),
            stop=stop_after_attempt(self._settings.max_attempts),
            wait=wait_exponential(multiplier=self._settings.backoff_seconds, max=30),
            before_sleep=self._reset_after_failure,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    conn = self._connection()
                    with conn.transaction(), conn.cursor() as cur:
                        return work(cur)
        except psycopg.Error as exc:
            raise SourceUnavailableError(
                f"Sierra query failed after {self._settings.max_attempts} tries "
                f"({type(exc).__name__}, SQLSTATE {exc.sqlstate or 'none'})"
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        if self._conn is None or self._conn.closed:
            s = self._settings
            self._conn = psycopg.connect(
                host=s.host,
                port=s.port,
                dbname=s.dbname,
                user=s.user,
                password=s.password,
                connect_timeout=s.connect_timeout,
                application_name="patron-info-poller",
                row_factory=dict_row,
                autocommit=True,
            )
            self._conn.read_only = True
        return self._conn

    def _reset_after_failure(self, retry_state: Any) -> None:
        logger.warning(
            "Sierra connection failed; reconnecting",
            extra={"attempt": retry_state.attempt_number},
        )
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


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
