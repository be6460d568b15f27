"""One TIGER/Line county file: fetched from the Census Bureau (or a local copy in the same
layout), checksummed, and read from its .dbf member alone.

Only the attribute table is needed (which face lies in which tract; which house numbers
lie on which side of which edge), so no geometry is parsed and no GDAL is needed. Every
error is one line naming the file and what to do about it.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
import shapefile

import patron_info_poller
from patron_info_poller.errors import TigerSourceError

if TYPE_CHECKING:
    from .tiger_build import BuildProgress

Kind = Literal["ADDRFEAT", "FACES"]

ADDRFEAT_FIELDS = (
    "TLID",
    "TFIDL",
    "TFIDR",
    "FULLNAME",
    "LFROMHN",
    "LTOHN",
    "RFROMHN",
    "RTOHN",
    "ZIPL",
    "ZIPR",
    "PARITYL",
    "PARITYR",
)
# FACES tract fields by vintage, most preferred first: current geography (what the Census
# geocoder's Current_Current vintage answers with), then the 2020 and 2010 censuses.
TRACT_FIELD_SUFFIXES = ("", "20", "10")
_TRACT_PARTS = ("STATEFP", "COUNTYFP", "TRACTCE")
_CHUNK_BYTES = 1 << 20
_PROGRESS_RECORDS = 5_000
_TIMEOUT = httpx.Timeout(120.0, connect=20.0)


@dataclass(frozen=True)
class CountyFile:
    name: str  # tl_2024_36061_faces.zip
    location: str  # the URL or path it came from
    data: bytes = field(repr=False)
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class FaceRow:
    tfid: int
    state: str
    county: str
    tract: str
    block: str


@dataclass(frozen=True, slots=True)
class AddressSide:
    """One side ("L" or "R") of an ADDRFEAT record; numbers as TIGER spells them."""

    tlid: int
    side: str
    full_name: str
    from_number: str
    to_number: str
    zip_code: str
    parity: str
    tfid: int | None


def file_name(year: int, county: str, kind: Kind) -> str:
    return f"tl_{year}_{county}_{kind.lower()}.zip"


def file_location(source: str, year: int, county: str, kind: Kind) -> str:
    """Where the Bureau keeps the file: {source}/TIGER{year}/{KIND}/tl_{year}_{county}_...zip"""
    name = file_name(year, county, kind)
    if is_url(source):
        return f"{source.rstrip('/')}/TIGER{year}/{kind}/{name}"
    return str(Path(source) / f"TIGER{year}" / kind / name)


def fetch_county_file(
    source: str,
    year: int,
    county: str,
    kind: Kind,
    progress: BuildProgress | None = None,
    client: httpx.Client | None = None,
) -> CountyFile:
    """The file's bytes, SHA-256 and size; TigerSourceError naming it if it cannot be had."""
    location = file_location(source, year, county, kind)
    chunks = _download(location, client, progress) if is_url(source) else _read(location, progress)
    digest = hashlib.sha256()
    buffer = bytearray()
    for chunk in chunks:
        digest.update(chunk)
        buffer += chunk
    return CountyFile(
        file_name(year, county, kind), location, bytes(buffer), digest.hexdigest(), len(buffer)
    )


def read_faces(
    file: CountyFile, progress: BuildProgress | None = None
) -> tuple[str, Iterator[FaceRow]]:
    """The tract-field suffix found ("", "20" or "10") and the file's faces."""
    reader = _dbf_reader(file)
    names = {f[0].upper(): f[0] for f in reader.fields[1:]}
    _require(file, names, ["TFID"])
    suffix = _tract_suffix(file, names)
    wanted = ["TFID", *(f"{part}{suffix}" for part in _TRACT_PARTS)]
    block_from_2020 = False
    if f"BLOCKCE{suffix}" in names:
        wanted.append(f"BLOCKCE{suffix}")
    elif suffix == "" and all(f"{part}20" in names for part in (*_TRACT_PARTS, "BLOCKCE")):
        # Current geography has no blocks (they are drawn once a decade); the 2020 block
        # is kept where the 2020 tract is the current tract, since blocks nest in tracts.
        wanted += [f"{part}20" for part in (*_TRACT_PARTS, "BLOCKCE")]
        block_from_2020 = True
    rows = _face_rows(file, reader, [names[w] for w in wanted], block_from_2020, progress)
    return suffix, rows


def read_address_sides(
    file: CountyFile, progress: BuildProgress | None = None
) -> Iterator[AddressSide]:
    """Both sides of every ADDRFEAT record; sides without house numbers are left out."""
    reader = _dbf_reader(file)
    names = {f[0].upper(): f[0] for f in reader.fields[1:]}
    _require(file, names, ADDRFEAT_FIELDS)
    return _address_sides(file, reader, [names[w] for w in ADDRFEAT_FIELDS], progress)


def _face_rows(
    file: CountyFile,
    reader: Any,
    fields: list[str],
    block_from_2020: bool,
    progress: BuildProgress | None,
) -> Iterator[FaceRow]:
    for values in _records(file, reader, fields, progress):
        tfid = _integer(values[0])
        state, county, tract = (_code(v, w) for v, w in zip(values[1:4], (2, 3, 6), strict=True))
        block = _code(values[4], 4) if len(values) > 4 else ""
        if block_from_2020:
            tract_2020 = tuple(_code(v, w) for v, w in zip(values[4:7], (2, 3, 6), strict=True))
            block = _code(values[7], 4) if tract_2020 == (state, county, tract) else ""
        if tfid is not None:
            yield FaceRow(tfid, state, county, tract, block)


def _address_sides(
    file: CountyFile, reader: Any, fields: list[str], progress: BuildProgress | None
) -> Iterator[AddressSide]:
    for values in _records(file, reader, fields, progress):
        tlid, tfidl, tfidr, full_name, lfrom, lto, rfrom, rto, zipl, zipr, parl, parr = values
        tlid = _integer(tlid)
        if tlid is None:
            continue
        name = _text(full_name)
        for side, low, high, zip_code, parity, tfid in (
            ("L", lfrom, lto, zipl, parl, tfidl),
            ("R", rfrom, rto, zipr, parr, tfidr),
        ):
            low, high = _text(low), _text(high)
            if low or high:
                yield AddressSide(
                    tlid,
                    side,
                    name,
                    low,
                    high,
                    _text(zip_code),
                    _text(parity).upper(),
                    _integer(tfid),
                )


def _records(
    file: CountyFile, reader: Any, fields: list[str], progress: BuildProgress | None
) -> Iterator[list[Any]]:
    """The values of `fields`, in that order, of every record."""
    if progress is not None:
        progress.begin(f"read {file.name}", len(reader))
    done = 0
    # pyshp yields the asked-for fields in the file's order, not in the order asked for.
    in_file = [f[0] for f in reader.fields[1:] if f[0] in fields]
    positions = [in_file.index(name) for name in fields]
    try:
        for record in reader.iterRecords(fields=fields):
            yield [record[position] for position in positions]
            done += 1
            if progress is not None and done % _PROGRESS_RECORDS == 0:
                progress.advance(_PROGRESS_RECORDS)
    except (struct.error, shapefile.ShapefileException, ValueError, EOFError) as exc:
        raise _corrupt(file, "its .dbf table is truncated or corrupt") from exc
    finally:
        if progress is not None:
            progress.advance(done % _PROGRESS_RECORDS)
            progress.end()


def _dbf_reader(file: CountyFile) -> Any:
    try:
        archive = zipfile.ZipFile(io.BytesIO(file.data))
        members = {info.filename.lower(): info.filename for info in archive.infolist()}
        dbf = [name for lower, name in members.items() if lower.endswith(".dbf")]
        if not dbf:
            raise TigerSourceError(
                f"{file.location}: the zip holds no .dbf table (it should hold "
                f"{file.name.removesuffix('.zip')}.dbf); download it again from the Census Bureau"
            )
        stem = dbf[0].rsplit(".", 1)[0]
        encoding = "utf-8"
        cpg = members.get(f"{stem.lower()}.cpg")
        if cpg is not None:
            encoding = _encoding(archive.read(cpg))
        table = archive.read(dbf[0])
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise _corrupt(file, "it is not a readable zip file (truncated or corrupt)") from exc
    try:
        return shapefile.Reader(dbf=io.BytesIO(table), encoding=encoding, encodingErrors="replace")
    except (struct.error, shapefile.ShapefileException, ValueError, EOFError) as exc:
        raise _corrupt(file, "its .dbf table is truncated or corrupt") from exc


def _tract_suffix(file: CountyFile, names: dict[str, str]) -> str:
    for suffix in TRACT_FIELD_SUFFIXES:
        if all(f"{part}{suffix}" in names for part in _TRACT_PARTS):
            return suffix
    looked_for = "; ".join(f"STATEFP{s}, COUNTYFP{s}, TRACTCE{s}" for s in TRACT_FIELD_SUFFIXES)
    raise TigerSourceError(
        f"{file.location}: no complete set of tract fields (looked for {looked_for}); "
        "is this a FACES file? Download it again from the Census Bureau"
    )


def _require(file: CountyFile, names: dict[str, str], required: Any) -> None:
    missing = [name for name in required if name not in names]
    if missing:
        raise TigerSourceError(
            f"{file.location}: missing fields {', '.join(missing)}; is this the right TIGER/Line "
            "file? Download it again from the Census Bureau"
        )


def _download(
    url: str, client: httpx.Client | None, progress: BuildProgress | None
) -> Iterator[bytes]:
    owned = client is None
    client = client or download_client()
    try:
        with client.stream("GET", url) as response:
            if response.status_code >= 400:
                hint = (
                    "check --year and --counties (the Bureau may not have published it yet)"
                    if response.status_code == 404
                    else "try again later, or download it into a local folder for --source"
                )
                raise TigerSourceError(
                    f"{url}: HTTP {response.status_code} {response.reason_phrase}; {hint}"
                )
            length = response.headers.get("Content-Length", "")
            with _reporting(progress, url, int(length) if length.isdigit() else None) as advance:
                for chunk in response.iter_bytes(_CHUNK_BYTES):
                    advance(len(chunk))
                    yield chunk
    except httpx.HTTPError as exc:
        raise TigerSourceError(
            f"{url}: download failed ({type(exc).__name__}); check the network and --source, "
            "then try again"
        ) from exc
    finally:
        if owned:
            client.close()


def download_client() -> httpx.Client:
    """One client for all of a build's downloads (connections are reused)."""
    return httpx.Client(
        timeout=_TIMEOUT,
        follow_redirects=True,
        headers={"User-Agent": f"patron-info-poller/{patron_info_poller.__version__}"},
    )


def _read(path: str, progress: BuildProgress | None) -> Iterator[bytes]:
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            with _reporting(progress, path, size) as advance:
                while chunk := handle.read(_CHUNK_BYTES):
                    advance(len(chunk))
                    yield chunk
    except FileNotFoundError as exc:
        raise TigerSourceError(
            f"{path}: file not found; check --year, --counties and --source (a local "
            "source needs the Bureau's layout: TIGER<year>/ADDRFEAT and TIGER<year>/FACES)"
        ) from exc
    except OSError as exc:
        raise TigerSourceError(f"{path}: cannot be read ({exc.strerror}); check --source") from exc


@contextmanager
def _reporting(
    progress: BuildProgress | None, location: str, total: int | None
) -> Iterator[Callable[[int], None]]:
    if progress is None:
        yield lambda amount: None
        return
    progress.begin(f"get {location.replace(os.sep, '/').rsplit('/', 1)[-1]}", total)
    try:
        yield progress.advance
    finally:
        progress.end()


def _corrupt(file: CountyFile, what: str) -> TigerSourceError:
    return TigerSourceError(f"{file.location}: {what}; delete any local copy and download it again")


def _encoding(cpg: bytes) -> str:
    """The .cpg member names the table's code page: "UTF-8", "ISO-8859-1" or "1252"."""
    name = cpg.decode("ascii", errors="replace").strip()
    if name.isdigit():
        name = f"cp{name}"
    try:
        return codecs.lookup(name).name if name else "utf-8"
    except LookupError:
        return "utf-8"


def is_url(source: str) -> bool:
    """An http(s) source is downloaded; anything else is a local folder."""
    return source.startswith(("http://", "https://"))


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _integer(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _code(value: Any, width: int) -> str:
    """A FIPS code as text: a numeric field loses leading zeros, which come back here."""
    if isinstance(value, int | float):
        return str(int(value)).zfill(width)
    return _text(value)
