"""The warehouse's ingest for the demo and the tests: decodes the PatronInfo records the
poller put on Kinesis and upserts them into the warehouse table by patron_id, the newest
record for a patron replacing the row."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

import fastavro
import psycopg
from psycopg import sql

# Redshift's DATE columns take 'YYYY-MM-DD'; an empty string there means no date.
DATE_COLUMNS = frozenset({"creation_date_et", "deletion_date_et", "circ_active_date_et"})


def shipped_schema() -> dict[str, Any]:
    """The PatronInfo Avro schema packaged with the poller."""
    text = (resources.files("patron_info_poller") / "schemas" / "PatronInfo.avsc").read_text(
        encoding="utf-8"
    )
    return json.loads(text)


def decode_records(encoded_records: Iterable[bytes], schema: dict[str, Any]) -> list[dict]:
    """Each Kinesis record must be exactly one schemaless Avro datum of `schema`."""
    parsed = fastavro.parse_schema(schema)
    decoded = []
    for position, data in enumerate(encoded_records):
        buffer = io.BytesIO(data)
        decoded.append(fastavro.schemaless_reader(buffer, parsed))
        if buffer.tell() != len(data):
            raise ValueError(f"Kinesis record {position} holds more than one Avro datum")
    return decoded


def load_records(
    conn_admin: psycopg.Connection,
    table: str,
    encoded_records: Iterable[bytes],
    schema: dict[str, Any],
) -> int:
    """Upserts the records into `table` (`table` or `schema.table`) in one transaction;
    returns how many records were loaded."""
    columns = [f["name"] for f in schema["fields"]]
    rows = []
    for position, record in enumerate(decode_records(encoded_records, schema)):
        if not record.get("patron_id"):
            raise ValueError(f"Kinesis record {position} has no patron_id")
        rows.append([_column_value(name, record.get(name)) for name in columns])
    updates = [name for name in columns if name != "patron_id"]
    statement = sql.SQL(
        "INSERT INTO {table} ({columns}) VALUES ({values})"
        " ON CONFLICT (patron_id) DO UPDATE SET {updates}"
    ).format(
        table=sql.Identifier(*table.split(".")),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        updates=sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name)) for name in updates
        ),
    )
    with conn_admin.transaction(), conn_admin.cursor() as cur:
        cur.executemany(statement, rows)
    return len(rows)


def _column_value(name: str, value: Any) -> Any:
    if name in DATE_COLUMNS and value == "":
        return None
    return value
