"""Looks up what the warehouse (Redshift) already knows about patrons, by obfuscated id
or address hash. Only obfuscated values ever go into these queries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import psycopg
from psycopg import sql

from ..records import PATRON_INFO_FIELDS
from .connection import DatabaseSettings, ReconnectingDatabase

# Redshift caps statement size; chunks keep each IN list well inside it.
_LOOKUP_CHUNK = 1000


def warehouse_connection_options() -> dict[str, Any]:
    # Redshift reports its encoding as UNICODE, which psycopg cannot name, and does not
    # support every server-side binding: fix the encoding and bind parameters client-side.
    return {"client_encoding": "utf8", "cursor_factory": psycopg.ClientCursor}


class Warehouse:
    def __init__(self, settings: DatabaseSettings, table: str):
        self._db = ReconnectingDatabase(settings)
        self._table = sql.Identifier(*table.split("."))

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
                columns=sql.SQL(", ").join(map(sql.Identifier, PATRON_INFO_FIELDS)),
                table=self._table,
                column=sql.Identifier(column),
                keys=sql.SQL(", ").join(sql.Placeholder() * len(chunk)),
            )
            found = self._db.read(lambda cur, q=query, c=chunk: cur.execute(q, c).fetchall())
            rows.extend(_normalise(row) for row in found)
        return rows

    def close(self) -> None:
        self._db.close()


def _normalise(row: dict[str, Any]) -> dict[str, Any]:
    # The warehouse may type ET dates as DATE or VARCHAR; records carry strings.
    return {
        key: value.isoformat() if isinstance(value, date) else value for key, value in row.items()
    }
