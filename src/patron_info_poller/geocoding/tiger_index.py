"""The offline geocoder's index: one SQLite file, checked against its own meta on opening
and loaded into dicts, so a lookup never touches SQLite.

The file holds only public TIGER/Line data: faces with their tracts, and address ranges
by normalised street name. `tiger_build.py` writes it; this module owns its format.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Self

from patron_info_poller.errors import ConfigurationError

FORMAT_VERSION = 1
# Tables whose row counts the meta records and opening checks.
COUNTED_TABLES = ("faces", "street_names", "address_ranges")

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);  -- JSON values
CREATE TABLE faces (
    tfid INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    county TEXT NOT NULL,
    tract TEXT NOT NULL,
    block TEXT NOT NULL
);
CREATE TABLE street_names (id INTEGER PRIMARY KEY, name_key TEXT NOT NULL UNIQUE);
CREATE TABLE address_ranges (
    street_id INTEGER NOT NULL REFERENCES street_names (id),
    county TEXT NOT NULL,           -- 5-digit FIPS of the ADDRFEAT file
    tlid INTEGER NOT NULL,
    side TEXT NOT NULL,             -- 'L' or 'R'
    low INTEGER NOT NULL,
    high INTEGER NOT NULL,
    parity TEXT NOT NULL,           -- 'O', 'E' or 'B'
    zip TEXT NOT NULL,
    tfid INTEGER NOT NULL,
    full_name TEXT NOT NULL,        -- TIGER's spelling, for the matched address
    queens_style INTEGER NOT NULL   -- 1 when TIGER hyphenates the range ("37-00")
);
"""

_REBUILD = "rebuild it with `patron-info-poller tiger-index build ...`"


@dataclass(frozen=True, slots=True)
class SourceFile:
    name: str  # e.g. tl_2024_36061_faces.zip
    sha256: str
    size: int


@dataclass(frozen=True)
class IndexMeta:
    year: int
    counties: tuple[str, ...]
    sources: tuple[SourceFile, ...]
    row_counts: Mapping[str, int]
    built_at: str  # UTC, ISO 8601
    format_version: int = FORMAT_VERSION
    poller_version: str = ""
    # Per FACES file, the tract fields read: "" (current), "20" or "10".
    tract_fields: Mapping[str, str] = field(default_factory=dict)

    def to_rows(self) -> list[tuple[str, str]]:
        values: dict[str, Any] = {
            "format_version": self.format_version,
            "year": self.year,
            "counties": list(self.counties),
            "sources": [{"name": s.name, "sha256": s.sha256, "size": s.size} for s in self.sources],
            "row_counts": dict(self.row_counts),
            "built_at": self.built_at,
            "poller_version": self.poller_version,
            "tract_fields": dict(self.tract_fields),
        }
        return [(key, json.dumps(value, sort_keys=True)) for key, value in values.items()]

    @classmethod
    def from_rows(cls, rows: Mapping[str, str]) -> IndexMeta:
        """Raises KeyError, TypeError or ValueError on a meta table that makes no sense."""
        values = {key: json.loads(value) for key, value in rows.items()}
        return cls(
            year=int(values["year"]),
            counties=tuple(str(county) for county in values["counties"]),
            sources=tuple(
                SourceFile(str(s["name"]), str(s["sha256"]), int(s["size"]))
                for s in values["sources"]
            ),
            row_counts={str(name): int(count) for name, count in values["row_counts"].items()},
            built_at=str(values["built_at"]),
            format_version=int(values["format_version"]),
            poller_version=str(values.get("poller_version", "")),
            tract_fields={str(k): str(v) for k, v in values.get("tract_fields", {}).items()},
        )


# Tuples, not dataclasses: an index holds hundreds of thousands, built at every start.
class Face(NamedTuple):
    state: str
    county: str
    tract: str
    block: str


class AddressRange(NamedTuple):
    """One side of one TIGER edge: house numbers low..high, lying in `face`."""

    low: int
    high: int
    parity: str  # 'O', 'E' or 'B'
    zip_code: str
    county: str  # 5-digit FIPS
    face: Face
    tlid: int
    side: str
    full_name: str
    queens_style: bool


@dataclass(frozen=True)
class StreetRanges:
    """All ranges of one street-name key, sorted by their low end for bisecting."""

    lows: list[int]
    ranges: list[AddressRange]
    longest: int  # the widest high - low, which bounds how far back a range can start
    counties: frozenset[str]

    def holding(self, number: int) -> list[AddressRange]:
        """The ranges holding `number` on a side of its parity."""
        lows, ranges = self.lows, self.ranges
        parity = "O" if number % 2 else "E"
        found = []
        position = bisect.bisect_right(lows, number) - 1
        floor = number - self.longest
        while position >= 0 and lows[position] >= floor:
            candidate = ranges[position]
            if number <= candidate.high and candidate.parity in (parity, "B"):
                found.append(candidate)
            position -= 1
        return found


class TigerIndex:
    def __init__(
        self,
        meta: IndexMeta,
        streets: dict[str, StreetRanges],
        zip_prefixes: frozenset[str],
        path: Path | None = None,
    ):
        self.meta = meta
        self.streets = streets
        self.states = frozenset(county[:2] for county in meta.counties)
        # The 3-digit ZIP prefixes of the indexed area: a ZIP outside them is elsewhere.
        self.zip_prefixes = zip_prefixes
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Self:
        """Checks the file against its meta and loads it; ConfigurationError if unusable."""
        path = Path(path)
        if not path.is_file():
            raise ConfigurationError(f"TIGER index {path} does not exist; {_REBUILD}")
        try:
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"TIGER index {path} cannot be opened; {_REBUILD}") from exc
        try:
            meta = _checked_meta(connection, path)
            streets, zip_prefixes = _load(connection)
        except sqlite3.Error as exc:
            raise ConfigurationError(
                f"TIGER index {path} is not a readable index ({type(exc).__name__}); {_REBUILD}"
            ) from exc
        finally:
            connection.close()
        return cls(meta, streets, zip_prefixes, path)

    def close(self) -> None:
        """Nothing to release: the file was closed once loaded. Here for symmetry."""


def _checked_meta(connection: sqlite3.Connection, path: Path) -> IndexMeta:
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    if "meta" not in tables:
        raise ConfigurationError(f"TIGER index {path} has no meta table; {_REBUILD}")
    try:
        meta = IndexMeta.from_rows(dict(connection.execute("SELECT key, value FROM meta")))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigurationError(
            f"TIGER index {path} has an unreadable meta table; {_REBUILD}"
        ) from exc
    if meta.format_version != FORMAT_VERSION:
        raise ConfigurationError(
            f"TIGER index {path} has format version {meta.format_version}, this poller reads "
            f"version {FORMAT_VERSION}; {_REBUILD}"
        )
    for table in COUNTED_TABLES:
        if table not in tables:
            raise ConfigurationError(f"TIGER index {path} has no {table} table; {_REBUILD}")
        (count,) = connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        if count != meta.row_counts.get(table):
            raise ConfigurationError(
                f"TIGER index {path} has {count} rows in {table}, its meta says "
                f"{meta.row_counts.get(table)}: the file is incomplete or was changed; {_REBUILD}"
            )
    return meta


def _load(connection: sqlite3.Connection) -> tuple[dict[str, StreetRanges], frozenset[str]]:
    # Names and ZIPs repeat on every edge, and a block's faces are equal as Face values:
    # one object each keeps the index small.
    shared: dict[str, str] = {}
    shared_faces: dict[Face, Face] = {}
    faces = {}
    for tfid, *geocodes in connection.execute(
        "SELECT tfid, state, county, tract, block FROM faces"
    ):
        face = Face(*geocodes)
        faces[tfid] = shared_faces.setdefault(face, face)
    keys = dict(connection.execute("SELECT id, name_key FROM street_names"))
    by_street: dict[int, list[AddressRange]] = {}
    # Sorted by SQLite, so each street's ranges arrive in bisecting order.
    rows = connection.execute(
        "SELECT street_id, low, high, parity, zip, county, tfid, tlid, side, full_name,"
        " queens_style FROM address_ranges ORDER BY street_id, low, high, tlid, side"
    )
    for street_id, low, high, parity, zip_code, county, tfid, tlid, side, name, queens in rows:
        face = faces.get(tfid)
        if face is None:
            continue  # the build keeps none of these; a hand-edited file might
        ranges = by_street.get(street_id)
        if ranges is None:
            ranges = by_street[street_id] = []
        ranges.append(
            AddressRange(
                low,
                high,
                parity,
                shared.setdefault(zip_code, zip_code),
                shared.setdefault(county, county),
                face,
                tlid,
                side,
                shared.setdefault(name, name),
                queens == 1,
            )
        )
    streets = {
        keys[street_id]: StreetRanges(
            lows=[r.low for r in ranges],
            ranges=ranges,
            longest=max(r.high - r.low for r in ranges),
            counties=frozenset(r.county for r in ranges),
        )
        for street_id, ranges in by_street.items()
    }
    zip_prefixes = frozenset(
        zip_code[:3]
        for (zip_code,) in connection.execute("SELECT DISTINCT zip FROM address_ranges")
        if zip_code
    )
    return streets, zip_prefixes
