"""Builds the offline geocoder's index from TIGER/Line county files (see tiger_index.py
for the format).

Per county: FACES gives each face (one side of an edge, within one census block) its
tract; ADDRFEAT gives each side of each edge its house-number range, ZIP and face, once
per street name (alternate names repeat the range). The index keeps the ranges by
normalised street name, so lookups and the build spell names the same way.

The index is written to a temporary file beside the output and renamed at the end: a
failed build leaves nothing behind and never touches an existing index.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import patron_info_poller

from .house_numbers import is_queens_style, parse_house_number
from .street_names import street_key
from .tiger_files import (
    AddressSide,
    CountyFile,
    download_client,
    fetch_county_file,
    is_url,
    read_address_sides,
    read_faces,
)
from .tiger_index import COUNTED_TABLES, FORMAT_VERSION, SCHEMA, IndexMeta, SourceFile

logger = logging.getLogger(__name__)

_COUNTY_FIPS = re.compile(r"\d{5}")
_ZIP = re.compile(r"\d{5}")
_INSERT_BATCH = 10_000


class BuildProgress(Protocol):
    """Downloads advance in bytes, reading a file in records."""

    def begin(self, label: str, total: int | None) -> None: ...

    def advance(self, amount: int) -> None: ...

    def end(self) -> None: ...


def build_index(
    *,
    year: int,
    counties: Sequence[str],
    output: Path,
    source: str,
    progress: BuildProgress | None = None,
) -> IndexMeta:
    """Builds the index of `counties` (5-digit FIPS codes) from TIGER/Line `year` files at
    `source` (a URL or a local folder in the Bureau's layout) into `output`.

    Raises ValueError for bad arguments, TigerSourceError for a file that cannot be had or
    read, OSError for an output that cannot be written."""
    counties = _checked_counties(counties)
    if not 2000 <= year <= 2100:
        raise ValueError(f"year {year} is not a TIGER/Line release year (e.g. 2024)")
    output = Path(output)
    handle, partial_name = tempfile.mkstemp(
        prefix=f".{output.name}.", suffix=".partial", dir=output.parent
    )
    os.close(handle)
    partial = Path(partial_name)
    try:
        meta = _build(year, counties, partial, source, progress)
        partial.chmod(0o644)  # public data; mkstemp made it private to its owner
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return meta


def _checked_counties(counties: Sequence[str]) -> tuple[str, ...]:
    if isinstance(counties, str):
        raise ValueError("counties must be a list of 5-digit FIPS codes, not one string")
    bad = [county for county in counties if not _COUNTY_FIPS.fullmatch(str(county))]
    if bad:
        raise ValueError(
            f"counties must be 5-digit FIPS codes (state + county, e.g. 36061); "
            f"not {', '.join(repr(str(county)) for county in bad[:5])}"
        )
    if not counties:
        raise ValueError("no counties given: name at least one 5-digit FIPS code, e.g. 36061")
    return tuple(dict.fromkeys(counties))  # in the order given, each once


def _build(
    year: int,
    counties: tuple[str, ...],
    path: Path,
    source: str,
    progress: BuildProgress | None,
) -> IndexMeta:
    sources: list[SourceFile] = []
    tract_fields: dict[str, str] = {}
    skipped: Counter[str] = Counter()
    connection = sqlite3.connect(path)
    try:
        # A crash mid-build leaves a partial file that is deleted anyway: no journal needed.
        connection.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        connection.executescript(SCHEMA)
        streets: dict[str, int] = {}
        with download_client() if is_url(source) else contextlib.nullcontext() as client:
            for county in counties:
                faces = fetch_county_file(source, year, county, "FACES", progress, client)
                sources.append(SourceFile(faces.name, faces.sha256, faces.size))
                tract_fields[faces.name] = _insert_faces(connection, faces, progress)
                ranges = fetch_county_file(source, year, county, "ADDRFEAT", progress, client)
                sources.append(SourceFile(ranges.name, ranges.sha256, ranges.size))
                skipped += _insert_ranges(connection, county, ranges, streets, progress)
        # A side whose face lies in a county not built has no tract to give.
        skipped["ranges_without_face"] = connection.execute(
            "DELETE FROM address_ranges WHERE tfid NOT IN (SELECT tfid FROM faces)"
        ).rowcount
        connection.execute(
            "DELETE FROM street_names WHERE id NOT IN (SELECT street_id FROM address_ranges)"
        )
        connection.execute("CREATE INDEX address_ranges_street ON address_ranges (street_id)")
        row_counts = {
            table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in COUNTED_TABLES
        }
        row_counts["ranges_skipped_unparseable"] = skipped["ranges_skipped_unparseable"]
        row_counts["ranges_without_face"] = skipped["ranges_without_face"]
        meta = IndexMeta(
            year=year,
            counties=counties,
            sources=tuple(sources),
            row_counts=row_counts,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            format_version=FORMAT_VERSION,
            poller_version=patron_info_poller.__version__,
            tract_fields=tract_fields,
        )
        connection.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.to_rows())
        connection.commit()
    finally:
        connection.close()
    logger.info(
        "TIGER index written",
        extra={"counties": len(counties), **{name: n for name, n in meta.row_counts.items()}},
    )
    return meta


def _insert_faces(
    connection: sqlite3.Connection, file: CountyFile, progress: BuildProgress | None
) -> str:
    suffix, rows = read_faces(file, progress)
    connection.executemany(
        "INSERT OR IGNORE INTO faces (tfid, state, county, tract, block) VALUES (?, ?, ?, ?, ?)",
        (
            (row.tfid, row.state, row.county, row.tract, row.block)
            for row in rows
            if _is_tract(row.state, row.county, row.tract)
        ),
    )
    return suffix


def _is_tract(state: str, county: str, tract: str) -> bool:
    return (
        len(state) == 2
        and len(county) == 3
        and len(tract) == 6
        and (state + county + tract).isdigit()
    )


def _insert_ranges(
    connection: sqlite3.Connection,
    county: str,
    file: CountyFile,
    streets: dict[str, int],
    progress: BuildProgress | None,
) -> Counter[str]:
    skipped: Counter[str] = Counter()
    batch: list[tuple[object, ...]] = []
    for side in read_address_sides(file, progress):
        row = _range_row(side, county, streets, connection)
        if row is None:
            skipped["ranges_skipped_unparseable"] += 1
            continue
        batch.append(row)
        if len(batch) >= _INSERT_BATCH:
            _insert_range_rows(connection, batch)
            batch.clear()
    _insert_range_rows(connection, batch)
    return skipped


def _range_row(
    side: AddressSide, county: str, streets: dict[str, int], connection: sqlite3.Connection
) -> tuple[object, ...] | None:
    """The row for one side of an edge, or None if it cannot be matched against."""
    first = parse_house_number(side.from_number or side.to_number)
    last = parse_house_number(side.to_number or side.from_number)
    key = street_key(side.full_name)
    if first is None or last is None or not key or side.tfid is None:
        return None
    low, high = min(first, last), max(first, last)  # edges digitised "backwards" descend
    parity = side.parity if side.parity in ("O", "E", "B") else _parity_of(low, high)
    street_id = streets.get(key)
    if street_id is None:
        street_id = connection.execute(
            "INSERT INTO street_names (name_key) VALUES (?)", (key,)
        ).lastrowid
        streets[key] = street_id  # type: ignore[assignment]
    zip_code = side.zip_code if _ZIP.fullmatch(side.zip_code) else ""
    queens = is_queens_style(side.from_number) or is_queens_style(side.to_number)
    return (
        street_id,
        county,
        side.tlid,
        side.side,
        low,
        high,
        parity,
        zip_code,
        side.tfid,
        side.full_name,
        int(queens),
    )


def _parity_of(low: int, high: int) -> str:
    """A blank PARITY: both ends odd or both even say which; mixed ends allow both."""
    if low % 2 == high % 2:
        return "O" if low % 2 else "E"
    return "B"


def _insert_range_rows(connection: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    connection.executemany(
        "INSERT INTO address_ranges (street_id, county, tlid, side, low, high, parity, zip,"
        " tfid, full_name, queens_style) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
