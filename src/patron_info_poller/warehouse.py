"""Looks up what the warehouse (Redshift) already knows about patrons, by obfuscated id
or address hash. Only obfuscated values ever go into these queries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .errors import SourceUnavailableError

WAREHOUSE_COLUMNS = (
    "patron_id",
    "address_hash",
    "postal_code",
    "geoid",
    "creation_date_et",
    "deletion_date_et",
    "circ_active_date_et",
    "ptype_code",
    "pcode3",
    "patron_home_library_code",
    "initial_patron_home_library_code",
)
# Redshift caps statement size; chunks keep each IN list well inside it.
_LOOKUP_CHUNK = 1000


@dataclass(frozen=True)
class WarehouseSettings:
    host: str
    port: int
    dbname: str
    user: str
    password: str = field(repr=False)
    sslmode: str
    table: str
    connect_timeout: int = 30


class Warehouse:
    def __init__(self, settings: WarehouseSettings):
        self._settings = settings
        self._conn: psycopg.Connection[dict[str, Any]] | None = None
        self._table = sql.Identifier(*settings.table.split("."))

    def by_address_hash(self, hashes: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {row["address_hash"]: row for row in self._lookup("address_hash", hashes)}

    def by_patron_id(self, patron_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {row["patron_id"]: row for row in self._lookup("patron_id", patron_ids)}

    def _lookup(self, column: str, keys: Iterable[str]) -> list[dict[str, Any]]:
        wanted = sorted(set(keys))
        rows: list[dict[str, Any]] = []
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            chunk = wanted[start : start + _LOOKUP_CHUNK]
            query = sql.SQL("SELECT {columns} FROM {table} WHERE {column} IN ({keys})").format(
                columns=sql.SQL(", ").join(map(sql.Identifier, WAREHOUSE_COLUMNS)),
                table=self._table,
                column=sql.Identifier(column),
                keys=sql.SQL(", ").join(sql.Placeholder() * len(chunk)),
            )
            try:
                with self._connection().cursor() as cur:
                    rows.extend(_normalise(row) for row in cur.execute(query, chunk))
            except psycopg.Error as exc:
                self.close()
                raise SourceUnavailableError(
                    f"warehouse lookup by {column} failed for {len(chunk)} keys "
                    f"({type(exc).__name__}, SQLSTATE {exc.sqlstate or 'none'})"
                ) from exc
        return rows

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        if self._conn is None or self._conn.closed:
            s = self._settings
            # Redshift reports its encoding as UNICODE, which psycopg cannot name, and does
            # not support every server-side binding: fix the encoding and bind client-side.
            self._conn = psycopg.connect(
                host=s.host,
                port=s.port,
                dbname=s.dbname,
                user=s.user,
                password=s.password,
                sslmode=s.sslmode,
                connect_timeout=s.connect_timeout,
                client_encoding="utf8",
                application_name="patron-info-poller",
                cursor_factory=psycopg.ClientCursor,
                row_factory=dict_row,
                autocommit=True,
            )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def _normalise(row: dict[str, Any]) -> dict[str, Any]:
    # The warehouse may type ET dates as DATE or VARCHAR; records carry strings.
    return {
        key: value.isoformat() if isinstance(value, date) else value for key, value in row.items()
    }
