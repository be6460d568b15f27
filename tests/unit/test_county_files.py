"""The TIGER/Line county files the embedded stack writes, read back with pyshp."""

from __future__ import annotations

import time
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest
import shapefile

from embedded_stack.gazetteer import STREETS, all_edges
from embedded_stack.tiger_county_files import (
    ADDRFEAT_FIELDS,
    NAD83_PRJ,
    NYC_COUNTIES,
    faces_fields,
    write_county_files,
)
from tests.unit.local_census import geocode

ADDRFEAT_NAMES = [
    "TLID", "TFIDL", "TFIDR", "ARIDL", "ARIDR", "LINEARID", "FULLNAME", "LFROMHN", "LTOHN",
    "RFROMHN", "RTOHN", "ZIPL", "ZIPR", "EDGE_MTFCC", "ROAD_MTFCC", "PARITYL", "PARITYR",
    "PLUS4L", "PLUS4R", "LFROMTYP", "LTOTYP", "RFROMTYP", "RTOTYP", "OFFSETL", "OFFSETR",
]  # fmt: skip
NUMERIC = {"TLID", "TFIDL", "TFIDR"}


@pytest.fixture(scope="module")
def tiger_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("tiger")
    write_county_files(directory)
    return directory


def addrfeat_path(directory: Path, county: str, year: int = 2024) -> Path:
    return directory / f"TIGER{year}" / "ADDRFEAT" / f"tl_{year}_{county}_addrfeat.zip"


def faces_path(directory: Path, county: str, year: int = 2024) -> Path:
    return directory / f"TIGER{year}" / "FACES" / f"tl_{year}_{county}_faces.zip"


def read(path: Path) -> tuple[list[dict], list[shapefile.Shape]]:
    """The records (as dicts) and the shapes of a zipped shapefile."""
    with shapefile.Reader(str(path)) as reader:
        return [record.as_dict() for record in reader.iterRecords()], list(reader.shapes())


@pytest.fixture(scope="module")
def addrfeat(tiger_dir) -> dict[str, list[dict]]:
    return {county: read(addrfeat_path(tiger_dir, county))[0] for county in NYC_COUNTIES}


@pytest.fixture(scope="module")
def faces(tiger_dir) -> dict[int, dict]:
    by_id = {}
    for county in NYC_COUNTIES:
        for record in read(faces_path(tiger_dir, county))[0]:
            by_id[record["TFID"]] = record
    return by_id


def number(text: str) -> int:
    return int(text.replace("-", ""))


def test_files_are_where_the_bureau_puts_them(tmp_path):
    paths = write_county_files(tmp_path, 2023)
    expected = [
        tmp_path / "TIGER2023" / layer / f"tl_2023_{county}_{layer.lower()}.zip"
        for county in ("36005", "36047", "36061", "36081", "36085")
        for layer in ("ADDRFEAT", "FACES")
    ]
    assert paths == expected
    for path in paths:
        stem = path.name.removesuffix(".zip")
        with zipfile.ZipFile(path) as archive:
            assert archive.testzip() is None
            names = set(archive.namelist())
            assert {f"{stem}{ext}" for ext in (".shp", ".shx", ".dbf", ".prj")} <= names
            prj = archive.read(f"{stem}.prj").decode()
        assert prj == NAD83_PRJ
        assert prj.startswith('GEOGCS["GCS_North_American_1983"')


def test_addrfeat_has_the_real_fields_and_types(tiger_dir):
    reader = shapefile.Reader(str(addrfeat_path(tiger_dir, "36061")))
    fields = reader.fields[1:]
    assert [field.name for field in fields] == ADDRFEAT_NAMES
    for field in fields:
        assert field.field_type == ("N" if field.name in NUMERIC else "C"), field.name
    assert {field.name: field.size for field in fields}["FULLNAME"] == 100
    assert reader.shapeType == shapefile.POLYLINE
    assert [name for name, *_ in ADDRFEAT_FIELDS] == ADDRFEAT_NAMES
    reader.close()


@pytest.mark.parametrize("suffix", ["20", ""])
def test_faces_geocode_fields_carry_the_chosen_suffix(tmp_path, suffix):
    write_county_files(tmp_path, faces_field_suffix=suffix)
    reader = shapefile.Reader(str(faces_path(tmp_path, "36061")))
    fields = {field.name: field.field_type for field in reader.fields[1:]}
    geocodes = [f"{name}{suffix}" for name in ("STATEFP", "COUNTYFP", "TRACTCE", "BLKGRPCE")]
    assert list(fields)[:6] == ["TFID", *geocodes, f"BLOCKCE{suffix}"]
    assert fields["TFID"] == "N"
    assert all(fields[name] == "C" for name in geocodes)
    other = "20" if suffix == "" else ""
    assert f"TRACTCE{other}" not in fields
    assert [name for name, *_ in faces_fields(suffix)] == list(fields)
    assert reader.shapeType == shapefile.POLYGON
    record = reader.record(0).as_dict()
    assert record[f"STATEFP{suffix}"] == "36" and record[f"COUNTYFP{suffix}"] == "061"
    reader.close()


def test_record_counts_follow_the_gazetteer(tiger_dir):
    edges_by_county = defaultdict(list)
    for edge in all_edges():
        edges_by_county["36" + edge.street.county_fips].append(edge)
    for county in NYC_COUNTIES:
        records, shapes = read(addrfeat_path(tiger_dir, county))
        expected = sum(len(edge.street.names) for edge in edges_by_county[county])
        assert len(records) == len(shapes) == expected
        face_records, face_shapes = read(faces_path(tiger_dir, county))
        assert len(face_records) == len(face_shapes) == 2 * len(edges_by_county[county])


def test_shapes_are_valid_lines_and_clockwise_closed_rings(tiger_dir):
    for county in NYC_COUNTIES:
        for shape in read(addrfeat_path(tiger_dir, county))[1]:
            assert shape.shapeType == shapefile.POLYLINE
            assert list(shape.parts) == [0] and len(shape.points) >= 2
            assert all(-74.3 < x < -73.7 and 40.4 < y < 41.0 for x, y in shape.points)
        for shape in read(faces_path(tiger_dir, county))[1]:
            assert shape.shapeType == shapefile.POLYGON
            ring = shape.points
            assert ring[0] == ring[-1] and len(ring) >= 4
            assert shapefile.is_cw(ring)
            assert shapefile.signed_area(ring) < 0


def test_each_face_touches_its_edge_on_the_side_it_is_named(tiger_dir):
    """TFIDL is the face left of the edge as digitised: above a line drawn eastward."""
    records, shapes = read(addrfeat_path(tiger_dir, "36061"))
    face_records, face_shapes = read(faces_path(tiger_dir, "36061"))
    rings = {
        record["TFID"]: shape.points
        for record, shape in zip(face_records, face_shapes, strict=True)
    }
    for record, shape in zip(records, shapes, strict=True):
        (x0, y), (x1, _) = shape.points[0], shape.points[-1]
        left_ys = {py for _, py in rings[record["TFIDL"]]}
        right_ys = {py for _, py in rings[record["TFIDR"]]}
        eastward = x1 > x0
        assert (max(left_ys) > y) is eastward
        assert (min(right_ys) < y) is eastward


def test_some_edges_are_digitised_backwards_with_descending_ranges(addrfeat):
    descending = [
        r
        for records in addrfeat.values()
        for r in records
        if number(r["LFROMHN"]) > number(r["LTOHN"])
    ]
    assert len(descending) > 10
    for record in descending:
        assert number(record["RFROMHN"]) > number(record["RTOHN"])
        assert (record["PARITYL"], record["PARITYR"]) == ("E", "O")
        assert number(record["LFROMHN"]) % 2 == 0
    ascending = [r for r in addrfeat["36061"] if number(r["LFROMHN"]) < number(r["LTOHN"])]
    assert all((r["PARITYL"], r["PARITYR"]) == ("O", "E") for r in ascending)


def test_queens_ranges_are_hyphenated_on_some_edges_and_plain_on_others(addrfeat):
    main = [r for r in addrfeat["36081"] if r["FULLNAME"] == "Main St"]
    hyphenated = [r for r in main if "-" in r["LFROMHN"]]
    plain = [r for r in main if "-" not in r["LFROMHN"]]
    assert hyphenated and plain
    first = next(r for r in main if number(r["LFROMHN"]) == 3501)
    assert (first["LFROMHN"], first["LTOHN"], first["RFROMHN"], first["RTOHN"]) == (
        "35-01",
        "35-99",
        "35-00",
        "35-98",
    )
    assert any(r["LFROMHN"].isdigit() and int(r["LFROMHN"]) > 3600 for r in main)
    for records in addrfeat.values():
        for r in records:
            for field in ("LFROMHN", "LTOHN", "RFROMHN", "RTOHN"):
                assert ("-" in r[field]) is ("-" in r["LFROMHN"])
    assert not any("-" in r["LFROMHN"] for r in addrfeat["36061"])


def test_alternate_names_repeat_the_tlid_and_its_ranges(addrfeat):
    by_tlid = defaultdict(list)
    for r in addrfeat["36061"]:
        by_tlid[r["TLID"]].append(r)
    repeated = {tlid: rows for tlid, rows in by_tlid.items() if len(rows) > 1}
    names = {frozenset(r["FULLNAME"] for r in rows) for rows in repeated.values()}
    assert names == {
        frozenset({"Lenox Ave", "Malcolm X Blvd"}),
        frozenset({"6th Ave", "Avenue of the Americas"}),
        frozenset({"Frederick Douglass Blvd", "8th Ave"}),
    }
    ranges = ("TFIDL", "TFIDR", "ARIDL", "ARIDR", "LFROMHN", "LTOHN", "RFROMHN", "RTOHN", "ZIPL")
    for rows in repeated.values():
        assert len({tuple(r[f] for f in ranges) for r in rows}) == 1
        assert len({r["LINEARID"] for r in rows}) == len(rows)


def test_boundary_streets_have_their_faces_in_two_tracts(addrfeat, faces):
    for county, street_name in [
        ("36061", "Frederick Douglass Blvd"),
        ("36005", "Jerome Ave"),
        ("36047", "Coney Island Ave"),
        ("36081", "Northern Blvd"),
        ("36085", "Forest Ave"),
    ]:
        rows = [r for r in addrfeat[county] if r["FULLNAME"] == street_name]
        assert len(rows) >= 5
        for r in rows:
            left, right = faces[r["TFIDL"]], faces[r["TFIDR"]]
            assert left["TRACTCE20"] != right["TRACTCE20"], (street_name, r["TLID"])
    # On an ordinary street both sides share the tract.
    for r in addrfeat["36061"]:
        if r["FULLNAME"] == "W 42nd St":
            assert faces[r["TFIDL"]]["TRACTCE20"] == faces[r["TFIDR"]]["TRACTCE20"]


def test_broadway_is_in_three_counties(addrfeat):
    counties = {
        county for county, rows in addrfeat.items() for r in rows if r["FULLNAME"] == "Broadway"
    }
    assert counties == {"36061", "36047", "36081"}


def test_fort_and_saint_are_spelled_as_tiger_spells_them(addrfeat):
    names = {r["FULLNAME"] for r in addrfeat["36061"]}
    assert {"Fort Washington Ave", "St Nicholas Ave", "W 42nd St"} <= names
    zips = {r["ZIPL"] for r in addrfeat["36061"] if r["FULLNAME"] == "Fort Washington Ave"}
    assert zips == {"10032", "10033"}


def address_ranges(addrfeat):
    """(FULLNAME, ZIP) -> (low, high, odd?, TLID, side, TFID) of each side of each row."""
    ranges = defaultdict(list)
    for records in addrfeat.values():
        for r in records:
            for side in ("L", "R"):
                low, high = sorted((number(r[f"{side}FROMHN"]), number(r[f"{side}TOHN"])))
                odd = r[f"PARITY{side}"] == "O"
                ranges[r["FULLNAME"], r[f"ZIP{side}"]].append(
                    (low, high, odd, r["TLID"], side, r[f"TFID{side}"])
                )
    return ranges


def find_faces(ranges, faces, fullname, zip_code, house_number):
    """What an offline geocoder does: the ranges holding the number, then their faces."""
    odd = house_number % 2 == 1
    return [
        (tlid, side, faces[face_id])
        for low, high, odd_side, tlid, side, face_id in ranges[fullname, zip_code]
        if low <= house_number <= high and odd_side is odd
    ]


def test_every_address_lies_in_the_tract_the_gazetteer_and_census_give(addrfeat, faces):
    by_name = address_ranges(addrfeat)
    asked, expected = [], []
    for street in STREETS:
        for house_number in range(street.low, street.high + 1):
            tract, block = street.tract_and_block(house_number)
            for fullname in street.tiger_names:
                found = find_faces(by_name, faces, fullname, street.zip_code, house_number)
                ((tlid, side, face),) = found
                assert face["COUNTYFP20"] == street.county_fips
                assert (face["TRACTCE20"], face["BLOCKCE20"]) == (tract, block)
                assert face["BLKGRPCE20"] == block[0]
            if house_number % 5 == 0:
                asked.append((f"{house_number} {street.name}", street.city, "NY", street.zip_code))
                expected.append((street.geoid(house_number), block, str(tlid), side))
    # The local Census geocoder answers with the same tract, TIGER line and side.
    answers = geocode(*asked)
    assert [(a.geoid, a.block, a.tiger_line_id, a.side) for a in answers] == expected


def test_same_bytes_every_run_and_fast(tmp_path):
    started = time.perf_counter()
    first = write_county_files(tmp_path / "a")
    elapsed = time.perf_counter() - started
    second = write_county_files(tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert elapsed < 1.0
    unsuffixed = write_county_files(tmp_path / "c", faces_field_suffix="")
    changed = [
        p.name for p, q in zip(first, unsuffixed, strict=True) if p.read_bytes() != q.read_bytes()
    ]
    assert changed == [p.name for p in first if "faces" in p.name]
