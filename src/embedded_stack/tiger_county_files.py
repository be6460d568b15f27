"""TIGER/Line county files for the gazetteer's streets, shaped like the Census Bureau's.

`write_county_files(directory)` writes, for each NYC county, the two zips an offline
geocoder needs, in the Bureau's layout (`TIGER2024/ADDRFEAT/tl_2024_36061_addrfeat.zip`,
`TIGER2024/FACES/tl_2024_36061_faces.zip`), each a real shapefile (.shp, .shx, .dbf,
.prj, .cpg) written with pyshp:

- ADDRFEAT: one polyline row per address range of an edge and name; a side's house
  numbers are strings, odd on one side and even on the other (PARITYL/PARITYR);
- FACES: one polygon per side of an edge (TFIDL/TFIDR), carrying the state, county,
  tract, block group and block the gazetteer gives that side's house numbers.

Every tract comes from `GazetteerStreet.tract_and_block`, as the local Census geocoder's
does, so the two agree by construction. The traps of real files are in the data: edges
digitised from the high numbers to the low (descending ranges, even numbers on the left),
Queens ranges written "35-01".."35-99" on some edges and "3501".."3599" on others, a
TLID and its ranges repeated under each alternate name, tract-boundary streets whose two
faces lie in different tracts, and one name (Broadway) in three counties.

The bytes are the same on every run for the same arguments (no clock is read).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from pathlib import Path

import shapefile

from .gazetteer import (
    COUNTY_FIPS,
    FACE_DEPTH,
    NY_STATE_FIPS,
    STREETS,
    Edge,
    GazetteerStreet,
    all_edges,
)

# As the Bureau ships it: NAD83, geographic coordinates.
NAD83_PRJ = (
    'GEOGCS["GCS_North_American_1983",DATUM["D_North_American_1983",'
    'SPHEROID["GRS_1980",6378137,298.257222101]],PRIMEM["Greenwich",0],'
    'UNIT["Degree",0.017453292519943295]]'
)
NYC_COUNTIES = tuple(NY_STATE_FIPS + county for county in COUNTY_FIPS)

# (name, type, size, decimals), in the Bureau's order.
ADDRFEAT_FIELDS: tuple[tuple[str, str, int, int], ...] = (
    ("TLID", "N", 10, 0),
    ("TFIDL", "N", 10, 0),
    ("TFIDR", "N", 10, 0),
    ("ARIDL", "C", 22, 0),
    ("ARIDR", "C", 22, 0),
    ("LINEARID", "C", 22, 0),
    ("FULLNAME", "C", 100, 0),
    ("LFROMHN", "C", 12, 0),
    ("LTOHN", "C", 12, 0),
    ("RFROMHN", "C", 12, 0),
    ("RTOHN", "C", 12, 0),
    ("ZIPL", "C", 5, 0),
    ("ZIPR", "C", 5, 0),
    ("EDGE_MTFCC", "C", 5, 0),
    ("ROAD_MTFCC", "C", 5, 0),
    ("PARITYL", "C", 1, 0),
    ("PARITYR", "C", 1, 0),
    ("PLUS4L", "C", 4, 0),
    ("PLUS4R", "C", 4, 0),
    ("LFROMTYP", "C", 1, 0),
    ("LTOTYP", "C", 1, 0),
    ("RFROMTYP", "C", 1, 0),
    ("RTOTYP", "C", 1, 0),
    ("OFFSETL", "C", 1, 0),
    ("OFFSETR", "C", 1, 0),
)


def faces_fields(suffix: str = "20") -> tuple[tuple[str, str, int, int], ...]:
    """FACES fields: the geocodes carry the census's year as a suffix ("20" since the
    2020 census; older vintages "10", or none)."""
    return (
        ("TFID", "N", 10, 0),
        (f"STATEFP{suffix}", "C", 2, 0),
        (f"COUNTYFP{suffix}", "C", 3, 0),
        (f"TRACTCE{suffix}", "C", 6, 0),
        (f"BLKGRPCE{suffix}", "C", 1, 0),
        (f"BLOCKCE{suffix}", "C", 4, 0),
        ("SUFFIX1CE", "C", 1, 0),
        (f"ZCTA5CE{suffix}", "C", 5, 0),
        ("LWFLAG", "C", 1, 0),
        ("OFFSET", "C", 1, 0),
        ("ATOTAL", "N", 14, 0),
    )


def county_file_paths(directory: Path, year: int = 2024) -> list[Path]:
    """Where `write_county_files` puts the zips: ADDRFEAT then FACES of each county."""
    root = Path(directory) / f"TIGER{year}"
    return [
        root / layer / f"tl_{year}_{county}_{layer.lower()}.zip"
        for county in NYC_COUNTIES
        for layer in ("ADDRFEAT", "FACES")
    ]


def write_county_files(
    directory: Path, year: int = 2024, *, faces_field_suffix: str = "20"
) -> list[Path]:
    """Writes the ADDRFEAT and FACES zips of the five NYC counties under `directory`, in
    the Bureau's layout; returns their paths (ADDRFEAT then FACES, county by county)."""
    paths = county_file_paths(directory, year)
    edges_by_county: dict[str, list[Edge]] = {county: [] for county in COUNTY_FIPS}
    for edge in all_edges():
        edges_by_county[edge.street.county_fips].append(edge)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    for county, edges in edges_by_county.items():
        stem = f"tl_{year}_{NY_STATE_FIPS}{county}"
        addrfeat = _shapefile(
            year,
            shapefile.POLYLINE,
            ADDRFEAT_FIELDS,
            ((edge_line(edge), record) for edge in edges for record in addrfeat_records(edge)),
        )
        faces = _shapefile(
            year,
            shapefile.POLYGON,
            faces_fields(faces_field_suffix),
            (face for edge in edges for face in _faces(edge)),
        )
        _write_zip(
            Path(directory) / f"TIGER{year}" / "ADDRFEAT", f"{stem}_addrfeat", addrfeat, year
        )
        _write_zip(Path(directory) / f"TIGER{year}" / "FACES", f"{stem}_faces", faces, year)
    return paths


def house_number_text(number: int, *, hyphenated: bool) -> str:
    """A house number as ADDRFEAT stores it: Queens numbers hyphenated ("35-01") on some
    edges, plain ("3501") on others."""
    if hyphenated and number >= 100:
        return f"{number // 100}-{number % 100:02d}"
    return str(number)


def is_hyphenated(edge: Edge) -> bool:
    """Queens ranges are hyphenated, except on every third edge of a street."""
    return edge.street.borough == "Queens" and edge.index % 3 != 2


def addrfeat_records(edge: Edge) -> list[list[object]]:
    """The edge's ADDRFEAT rows: one per name of its street, same TLID and ranges."""
    street = edge.street
    hyphenated = is_hyphenated(edge)
    left_parity = edge.left_parity()
    sides = []
    for parity in (left_parity, 1 - left_parity):
        first, last = edge.numbers(parity)
        if edge.reversed:  # digitised from the high numbers: the ranges descend
            first, last = last, first
        sides.append(
            (
                house_number_text(first, hyphenated=hyphenated),
                house_number_text(last, hyphenated=hyphenated),
                "O" if parity else "E",
            )
        )
    (lfrom, lto, parity_left), (rfrom, rto, parity_right) = sides
    mtfcc = _mtfcc(street)
    rows = []
    for name in street.tiger_names:
        rows.append(
            [
                edge.tlid,
                edge.left_face,
                edge.right_face,
                f"400{edge.tlid:010d}1",  # an address range id per side, shared by names
                f"400{edge.tlid:010d}2",
                _LINEAR_IDS[street.county_fips, name],
                name,
                lfrom,
                lto,
                rfrom,
                rto,
                street.zip_code,
                street.zip_code,
                mtfcc,
                mtfcc,
                parity_left,
                parity_right,
                "",
                "",
                "",
                "",
                "",
                "",
                "N",
                "N",
            ]
        )
    return rows


def edge_line(edge: Edge) -> list[list[tuple[float, float]]]:
    """The edge as digitised, start to end, with a shape point in the middle."""
    (x0, y0), (x1, y1) = edge.start, edge.end
    middle = (round((x0 + x1) / 2, 6), round((y0 + y1) / 2, 6))
    return [[edge.start, middle, edge.end]]


def face_ring(edge: Edge, parity: int) -> list[tuple[float, float]]:
    """A face beside the edge, clockwise as shapefiles want outer rings: odd numbers
    north of the street, even ones south."""
    (west, latitude), (east, _) = edge.west, edge.east
    far = round(latitude + (FACE_DEPTH if parity else -FACE_DEPTH), 6)
    south, north = min(latitude, far), max(latitude, far)
    return [(west, south), (west, north), (east, north), (east, south), (west, south)]


def _faces(edge: Edge) -> Iterable[tuple[list[list[tuple[float, float]]], list[object]]]:
    street = edge.street
    left_parity = edge.left_parity()
    for face_id, parity in ((edge.left_face, left_parity), (edge.right_face, 1 - left_parity)):
        number = edge.numbers(parity)[0]
        tract, block = street.tract_and_block(number)
        area = round((edge.east[0] - edge.west[0]) * 84_300 * FACE_DEPTH * 111_000)
        record = [
            face_id,
            NY_STATE_FIPS,
            street.county_fips,
            tract,
            block[0],
            block,
            "",
            street.zip_code,
            "L",
            "N",
            area,
        ]
        yield [face_ring(edge, parity)], record


def _mtfcc(street: GazetteerStreet) -> str:
    """S1200 (secondary road) for avenues, boulevards and parkways, S1400 otherwise."""
    last = street.name.split()[-1]
    if last in ("AVE", "BLVD", "PKWY", "CONCOURSE") or street.name == "BROADWAY":
        return "S1200"
    return "S1400"


def _linear_ids() -> dict[tuple[str, str], str]:
    """A LINEARID per name in a county: a street's edges share it, and so do the three
    Broadways' nowhere (each county's is its own)."""
    keys = sorted({(s.county_fips, name) for s in STREETS for name in s.tiger_names})
    return {key: f"110{number + 1:09d}" for number, key in enumerate(keys)}


_LINEAR_IDS = _linear_ids()


def _shapefile(
    year: int,
    shape_type: int,
    fields: Iterable[tuple[str, str, int, int]],
    features: Iterable[tuple[list[list[tuple[float, float]]], list[object]]],
) -> dict[str, bytes]:
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    with shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shape_type) as writer:
        for name, field_type, size, decimal in fields:
            writer.field(name, field_type, size, decimal)
        for parts, record in features:
            if shape_type == shapefile.POLYGON:
                writer.poly(parts)
            else:
                writer.line(parts)
            writer.record(*record)
    dbf_bytes = bytearray(dbf.getvalue())
    # The header's "last update": January 1st of the vintage, not today.
    dbf_bytes[1:4] = bytes((year - 1900, 1, 1))
    return {".shp": shp.getvalue(), ".shx": shx.getvalue(), ".dbf": bytes(dbf_bytes)}


def _write_zip(directory: Path, stem: str, files: dict[str, bytes], year: int) -> None:
    members = {**files, ".prj": NAD83_PRJ.encode(), ".cpg": b"UTF-8"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for extension in (".cpg", ".dbf", ".prj", ".shp", ".shx"):
            info = zipfile.ZipInfo(stem + extension, date_time=(year, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, members[extension])
    (directory / f"{stem}.zip").write_bytes(buffer.getvalue())
