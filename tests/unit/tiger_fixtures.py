"""Small TIGER/Line county zips, in the Census Bureau's layout, for the build and matcher
tests: `{root}/TIGER{year}/ADDRFEAT/tl_{year}_{county}_addrfeat.zip` and `.../FACES/...`.

Only the .dbf tables matter to the index (no geometry is read), so the zips hold a .dbf
written with pyshp's Writer, plus the .cpg and .prj members real files carry.

`write_nyc(root)` writes a tiny NYC whose streets hold one trap each; NYC_TRACTS names
the tract every test address should land in.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import shapefile

YEAR = 2024

# The Bureau's ADDRFEAT fields, in its order: (name, type, size).
ADDRFEAT_FIELDS = (
    ("TLID", "N", 10),
    ("TFIDL", "N", 10),
    ("TFIDR", "N", 10),
    ("ARIDL", "C", 22),
    ("ARIDR", "C", 22),
    ("LINEARID", "C", 22),
    ("FULLNAME", "C", 100),
    ("LFROMHN", "C", 12),
    ("LTOHN", "C", 12),
    ("RFROMHN", "C", 12),
    ("RTOHN", "C", 12),
    ("ZIPL", "C", 5),
    ("ZIPR", "C", 5),
    ("EDGE_MTFCC", "C", 5),
    ("ROAD_MTFCC", "C", 5),
    ("PARITYL", "C", 1),
    ("PARITYR", "C", 1),
    ("PLUS4L", "C", 4),
    ("PLUS4R", "C", 4),
    ("LFROMTYP", "C", 1),
    ("LTOTYP", "C", 1),
    ("RFROMTYP", "C", 1),
    ("RTOTYP", "C", 1),
    ("OFFSETL", "C", 1),
    ("OFFSETR", "C", 1),
)


@dataclass(frozen=True)
class Edge:
    """One ADDRFEAT row: an edge's two sides under one name. Numbers as TIGER writes
    them (strings; "" for a side without addresses)."""

    tlid: int
    name: str
    tfid_left: int
    tfid_right: int
    left: tuple[str, str] = ("", "")
    right: tuple[str, str] = ("", "")
    zip_left: str = ""
    zip_right: str = ""
    parity_left: str = ""
    parity_right: str = ""

    def record(self) -> dict[str, object]:
        return {
            "TLID": self.tlid,
            "TFIDL": self.tfid_left,
            "TFIDR": self.tfid_right,
            "ARIDL": f"400{self.tlid:010d}1",
            "ARIDR": f"400{self.tlid:010d}2",
            "LINEARID": f"1101{self.tlid:08d}",
            "FULLNAME": self.name,
            "LFROMHN": self.left[0],
            "LTOHN": self.left[1],
            "RFROMHN": self.right[0],
            "RTOHN": self.right[1],
            "ZIPL": self.zip_left,
            "ZIPR": self.zip_right,
            "EDGE_MTFCC": "S1400",
            "ROAD_MTFCC": "S1400",
            "PARITYL": self.parity_left,
            "PARITYR": self.parity_right,
            "OFFSETL": "N",
            "OFFSETR": "N",
        }


@dataclass(frozen=True)
class Face:
    tfid: int
    county: str  # 5-digit FIPS
    tract: str
    block: str = "1000"


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def dbf_bytes(
    fields: Sequence[tuple[str, str, int]], records: Iterable[dict[str, object]]
) -> bytes:
    buffer = io.BytesIO()
    writer = shapefile.Writer(dbf=buffer, shapeType=shapefile.NULL)
    for name, kind, size in fields:
        writer.field(name, kind, size, 0)
    for record in records:
        writer.record(
            **{name: record.get(name, "" if kind == "C" else None) for name, kind, _ in fields}
        )
    writer.close()
    return buffer.getvalue()


def county_zip(stem: str, dbf: bytes, *, with_dbf: bool = True) -> bytes:
    members = {f"{stem}.cpg": b"UTF-8", f"{stem}.prj": b'GEOGCS["GCS_North_American_1983"]'}
    if with_dbf:
        members[f"{stem}.dbf"] = dbf
    return zip_bytes(members)


def addrfeat_path(root: Path, county: str, year: int = YEAR) -> Path:
    return root / f"TIGER{year}" / "ADDRFEAT" / f"tl_{year}_{county}_addrfeat.zip"


def faces_path(root: Path, county: str, year: int = YEAR) -> Path:
    return root / f"TIGER{year}" / "FACES" / f"tl_{year}_{county}_faces.zip"


def write_addrfeat(
    root: Path,
    county: str,
    edges: Iterable[Edge],
    *,
    year: int = YEAR,
    omit_fields: Sequence[str] = (),
    with_dbf: bool = True,
    reversed_fields: bool = False,
) -> Path:
    fields = [f for f in ADDRFEAT_FIELDS if f[0] not in omit_fields]
    if reversed_fields:  # the Bureau's order is not a promise
        fields.reverse()
    dbf = dbf_bytes(fields, (edge.record() for edge in edges))
    path = addrfeat_path(root, county, year)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(county_zip(path.stem, dbf, with_dbf=with_dbf))
    return path


def write_faces(
    root: Path,
    county: str,
    faces: Iterable[Face],
    *,
    year: int = YEAR,
    suffixes: Sequence[str] = ("20",),
    blocks: Sequence[str] | None = None,
    current_tracts: dict[int, str] | None = None,
) -> Path:
    """FACES with the geocode fields of each suffix in `suffixes` ("20", "" or "10");
    `blocks` lists the suffixes that have a BLOCKCE field (default: all of them).
    `current_tracts` overrides the unsuffixed tract of some faces (a tract redrawn since
    the census)."""
    blocks = suffixes if blocks is None else blocks
    fields: list[tuple[str, str, int]] = [("TFID", "N", 10)]
    for suffix in suffixes:
        fields += [
            (f"STATEFP{suffix}", "C", 2),
            (f"COUNTYFP{suffix}", "C", 3),
            (f"TRACTCE{suffix}", "C", 6),
        ]
        if suffix in blocks:
            fields.append((f"BLOCKCE{suffix}", "C", 4))
    fields += [("LWFLAG", "C", 1), ("ATOTAL", "N", 14)]
    records = []
    for face in faces:
        record: dict[str, object] = {"TFID": face.tfid, "LWFLAG": "L", "ATOTAL": 1000}
        for suffix in suffixes:
            tract = face.tract
            if suffix == "" and current_tracts and face.tfid in current_tracts:
                tract = current_tracts[face.tfid]
            record |= {
                f"STATEFP{suffix}": face.county[:2],
                f"COUNTYFP{suffix}": face.county[2:],
                f"TRACTCE{suffix}": tract,
                f"BLOCKCE{suffix}": face.block,
            }
        records.append(record)
    path = faces_path(root, county, year)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(county_zip(path.stem, dbf_bytes(fields, records)))
    return path


# --- A tiny NYC, one trap per street -------------------------------------------------

MANHATTAN, BRONX, BROOKLYN, QUEENS = "36061", "36005", "36047", "36081"
NYC_COUNTIES = (MANHATTAN, BROOKLYN, QUEENS)

NYC_FACES = {
    MANHATTAN: [
        Face(1001, MANHATTAN, "011300", "1001"),  # W 42nd St odd side (tract boundary)
        Face(1002, MANHATTAN, "011500", "2001"),  # W 42nd St even side
        Face(1003, MANHATTAN, "011900", "1003"),  # W 42nd St, a descending edge
        Face(1004, MANHATTAN, "011900", "1004"),
        Face(1005, MANHATTAN, "019100", "1005"),  # Broadway
        Face(1006, MANHATTAN, "019100", "1006"),
        Face(1007, MANHATTAN, "026900", "1007"),  # St Nicholas Ave
        Face(1008, MANHATTAN, "026900", "1008"),
        Face(1009, MANHATTAN, "021800", "1009"),  # Lenox Ave / Malcolm X Blvd
        Face(1010, MANHATTAN, "021800", "1010"),
        Face(1011, MANHATTAN, "026100", "1011"),  # Fort Washington Ave
        Face(1012, MANHATTAN, "026100", "1012"),
        Face(1013, MANHATTAN, "004100", "1013"),  # Canal St, two overlapping edges
        Face(1014, MANHATTAN, "004500", "1014"),
        Face(1015, MANHATTAN, "001300", "1015"),  # Washington St
        Face(1016, MANHATTAN, "001300", "1016"),
        Face(1017, MANHATTAN, "015100", "1017"),  # 5th Ave
    ],
    BROOKLYN: [
        Face(2001, BROOKLYN, "038900", "2001"),  # Broadway
        Face(2002, BROOKLYN, "038900", "2002"),
        Face(2003, BROOKLYN, "022000", "2003"),  # Fort Hamilton Pkwy
        Face(2004, BROOKLYN, "022000", "2004"),
    ],
    QUEENS: [
        Face(3001, QUEENS, "085300", "3001"),  # Main St, hyphenated range
        Face(3002, QUEENS, "085300", "3002"),
        Face(3003, QUEENS, "085500", "3003"),  # Main St, the same range unhyphenated
        Face(3004, QUEENS, "085500", "3004"),
        Face(3005, QUEENS, "006100", "3005"),  # Broadway
        Face(3006, QUEENS, "006100", "3006"),
        Face(3007, QUEENS, "011500", "3007"),  # Steinway St, parity left blank
    ],
}

NYC_EDGES = {
    MANHATTAN: [
        # A tract boundary: odd numbers on the left in one tract, even on the right in
        # another.
        Edge(5001, "W 42nd St", 1001, 1002, ("501", "599"), ("500", "598"),
             "10036", "10036", "O", "E"),
        # Digitised from the high numbers: the ranges descend.
        Edge(5002, "W 42nd St", 1003, 1004, ("698", "600"), ("699", "601"),
             "10036", "10036", "E", "O"),
        Edge(5003, "Broadway", 1005, 1006, ("2601", "2699"), ("2600", "2698"),
             "10025", "10025", "O", "E"),
        Edge(5004, "St Nicholas Ave", 1007, 1008, ("1001", "1099"), ("1000", "1098"),
             "10033", "10033", "O", "E"),
        # One edge under two names, and one of them repeated: neither is a Tie.
        Edge(5005, "Lenox Ave", 1009, 1010, ("101", "199"), ("100", "198"),
             "10026", "10026", "O", "E"),
        Edge(5005, "Malcolm X Blvd", 1009, 1010, ("101", "199"), ("100", "198"),
             "10026", "10026", "O", "E"),
        Edge(5005, "Malcolm X Blvd", 1009, 1010, ("101", "199"), ("100", "198"),
             "10026", "10026", "O", "E"),
        Edge(5006, "Fort Washington Ave", 1011, 1012, ("101", "199"), ("100", "198"),
             "10032", "10032", "O", "E"),
        # Overlapping ranges in one ZIP, in two tracts: 51..99 odd is a Tie.
        Edge(5007, "Canal St", 1013, 0, ("1", "99"), ("", ""), "10013", "", "O", ""),
        Edge(5008, "Canal St", 1014, 0, ("51", "149"), ("", ""), "10013", "", "O", ""),
        Edge(5009, "Washington St", 1015, 1016, ("1", "99"), ("2", "98"),
             "10006", "10006", "O", "E"),
        Edge(5010, "5th Ave", 1017, 1017, ("401", "499"), ("400", "498"),
             "10022", "10022", "O", "E"),
        # A side whose face is in a county not built, and a side TIGER cannot number.
        Edge(5011, "Boundary Ave", 1017, 99_999, ("1", "99"), ("2", "98"),
             "10022", "10022", "O", "E"),
        Edge(5012, "Odd Pl", 1017, 1017, ("A1", "A9"), ("", ""), "10022", "", "O", ""),
    ],
    BROOKLYN: [
        Edge(6001, "Broadway", 2001, 2002, ("801", "899"), ("800", "898"),
             "11206", "11206", "O", "E"),
        Edge(6002, "Fort Hamilton Pkwy", 2003, 2004, ("4001", "4099"), ("4000", "4098"),
             "11219", "11219", "O", "E"),
    ],
    QUEENS: [
        # Queens numbers hyphenated on one edge, not on the next.
        Edge(7001, "Main St", 3001, 3002, ("37-01", "37-99"), ("37-00", "37-98"),
             "11354", "11354", "O", "E"),
        Edge(7002, "Main St", 3003, 3004, ("3801", "3899"), ("3800", "3898"),
             "11354", "11354", "O", "E"),
        Edge(7003, "Broadway", 3005, 3006, ("3001", "3099"), ("3000", "3098"),
             "11106", "11106", "O", "E"),
        Edge(7004, "Steinway St", 3007, 3007, ("2501", "2599"), ("", ""), "11103", "", "", ""),
    ],
}  # fmt: skip


def write_nyc(root: Path, *, year: int = YEAR, faces_suffixes: Sequence[str] = ("20",)) -> Path:
    """The tiny NYC under `root` in the Bureau's layout; returns `root`."""
    for county in NYC_COUNTIES:
        write_faces(root, county, NYC_FACES[county], year=year, suffixes=faces_suffixes)
        write_addrfeat(root, county, NYC_EDGES[county], year=year)
    return root
