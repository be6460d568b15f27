import hashlib
import socket
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from werkzeug.wrappers import Request, Response

from embedded_stack.http_service import LocalHttpService
from patron_info_poller import __version__
from patron_info_poller.errors import ConfigurationError, TigerSourceError
from patron_info_poller.geocoding.tiger_build import build_index
from patron_info_poller.geocoding.tiger_index import FORMAT_VERSION, TigerIndex

from .tiger_fixtures import (
    MANHATTAN,
    NYC_COUNTIES,
    NYC_EDGES,
    NYC_FACES,
    YEAR,
    Edge,
    Face,
    addrfeat_path,
    faces_path,
    write_addrfeat,
    write_faces,
    write_nyc,
)


def build(source: Path | str, output: Path, counties=(MANHATTAN,), **kwargs):
    return build_index(year=YEAR, counties=counties, output=output, source=str(source), **kwargs)


def one_county(root: Path, *, suffixes=("20",), blocks=None, current_tracts=None) -> Path:
    write_faces(
        root,
        MANHATTAN,
        NYC_FACES[MANHATTAN],
        suffixes=suffixes,
        blocks=blocks,
        current_tracts=current_tracts,
    )
    write_addrfeat(root, MANHATTAN, NYC_EDGES[MANHATTAN])
    return root


def rows(index: Path, query: str) -> list[tuple]:
    connection = sqlite3.connect(index)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


def test_meta_records_the_build(tmp_path):
    source = write_nyc(tmp_path / "tiger")
    output = tmp_path / "index.sqlite"
    before = datetime.now(UTC).replace(microsecond=0)

    meta = build(source, output, counties=NYC_COUNTIES)

    assert meta.year == YEAR
    assert meta.counties == NYC_COUNTIES
    assert meta.format_version == FORMAT_VERSION
    assert meta.poller_version == __version__
    assert before <= datetime.fromisoformat(meta.built_at) <= datetime.now(UTC)
    assert datetime.fromisoformat(meta.built_at).utcoffset().total_seconds() == 0
    expected_files = [
        path
        for county in NYC_COUNTIES
        for path in (faces_path(source, county), addrfeat_path(source, county))
    ]
    assert [s.name for s in meta.sources] == [path.name for path in expected_files]
    for source_file, path in zip(meta.sources, expected_files, strict=True):
        assert source_file.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert source_file.size == path.stat().st_size
    faces = sum(len(faces) for faces in NYC_FACES.values())
    # Every edge side with numbers is a range, less the one TIGER cannot number ("A1")
    # and the one whose face lies in a county not built.
    sides = sum(bool(e.left[0]) + bool(e.right[0]) for edges in NYC_EDGES.values() for e in edges)
    assert meta.row_counts == {
        "faces": faces,
        "street_names": 13,
        "address_ranges": sides - 2,
        "ranges_skipped_unparseable": 1,
        "ranges_without_face": 1,
    }
    assert meta.tract_fields == {path.name: "20" for path in expected_files[::2]}
    # The file says the same, and opening it checks it against its tables.
    assert TigerIndex.open(output).meta == meta
    assert rows(output, "SELECT COUNT(*) FROM address_ranges")[0][0] == sides - 2


def test_progress_reports_bytes_then_records(tmp_path):
    source = one_county(tmp_path / "tiger")
    calls = []

    class Recorder:
        def begin(self, label, total):
            calls.append(["begin", label, total, 0])

        def advance(self, amount):
            calls[-1][3] += amount

        def end(self):
            calls.append(["end"])

    build(source, tmp_path / "index.sqlite", progress=Recorder())

    begun = [call for call in calls if call[0] == "begin"]
    assert len(begun) == 4 and len(calls) == 8  # each step begun once and ended once
    faces_size = faces_path(source, MANHATTAN).stat().st_size
    assert begun[0][1:] == [f"get {faces_path(source, MANHATTAN).name}", faces_size, faces_size]
    faces = len(NYC_FACES[MANHATTAN])
    assert begun[1][2:] == [faces, faces]
    assert begun[3][2:] == [len(NYC_EDGES[MANHATTAN])] * 2


def test_tract_fields_without_a_suffix(tmp_path):
    meta = build(one_county(tmp_path / "tiger", suffixes=("",)), tmp_path / "index.sqlite")
    assert set(meta.tract_fields.values()) == {""}
    assert rows(tmp_path / "index.sqlite", "SELECT tract, block FROM faces WHERE tfid = 1002") == [
        ("011500", "2001")
    ]


def test_current_tract_fields_win_over_2020_ones(tmp_path):
    # As the Bureau ships it now: current geography has tracts but no blocks, the 2020
    # fields have both. The current tract is read; the 2020 block is kept where the
    # tract did not change, since blocks nest in tracts.
    source = one_county(
        tmp_path / "tiger", suffixes=("20", ""), blocks=("20",), current_tracts={1002: "011501"}
    )
    meta = build(source, tmp_path / "index.sqlite")
    assert set(meta.tract_fields.values()) == {""}
    found = dict(
        (tfid, (tract, block))
        for tfid, tract, block in rows(
            tmp_path / "index.sqlite",
            "SELECT tfid, tract, block FROM faces WHERE tfid IN (1001, 1002)",
        )
    )
    assert found == {1001: ("011300", "1001"), 1002: ("011501", "")}


def test_2010_tract_fields_are_read_when_nothing_newer_is_there(tmp_path):
    meta = build(one_county(tmp_path / "tiger", suffixes=("10",)), tmp_path / "index.sqlite")
    assert set(meta.tract_fields.values()) == {"10"}
    assert meta.row_counts["faces"] == len(NYC_FACES[MANHATTAN])


def test_faces_without_tract_fields_are_refused(tmp_path):
    source = one_county(tmp_path / "tiger", suffixes=("00",))
    with pytest.raises(TigerSourceError) as failure:
        build(source, tmp_path / "index.sqlite")
    message = str(failure.value)
    assert str(faces_path(source, MANHATTAN)) in message
    for name in ("STATEFP, COUNTYFP, TRACTCE", "STATEFP20, COUNTYFP20, TRACTCE20", "TRACTCE10"):
        assert name in message
    assert "\n" not in message
    assert not (tmp_path / "index.sqlite").exists()


def test_missing_file_is_named(tmp_path):
    source = one_county(tmp_path / "tiger")
    with pytest.raises(TigerSourceError) as failure:
        build(source, tmp_path / "index.sqlite", counties=(MANHATTAN, "36005"))
    message = str(failure.value)
    assert str(faces_path(source, "36005")) in message
    assert "file not found" in message and "--counties" in message
    assert "\n" not in message


def test_truncated_zip(tmp_path):
    source = one_county(tmp_path / "tiger")
    path = addrfeat_path(source, MANHATTAN)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(TigerSourceError, match="not a readable zip file") as failure:
        build(source, tmp_path / "index.sqlite")
    assert str(path) in str(failure.value)


def test_corrupt_member(tmp_path):
    source = one_county(tmp_path / "tiger")
    path = addrfeat_path(source, MANHATTAN)
    data = bytearray(path.read_bytes())
    data[60:70] = b"\xff" * 10  # inside the first member's compressed bytes
    path.write_bytes(bytes(data))
    with pytest.raises(TigerSourceError, match=r"truncated or corrupt") as failure:
        build(source, tmp_path / "index.sqlite")
    assert str(path) in str(failure.value)


def test_zip_without_its_table(tmp_path):
    source = one_county(tmp_path / "tiger")
    path = write_addrfeat(source, MANHATTAN, NYC_EDGES[MANHATTAN], with_dbf=False)
    with pytest.raises(TigerSourceError) as failure:
        build(source, tmp_path / "index.sqlite")
    assert str(path) in str(failure.value)
    assert f"no .dbf table (it should hold {path.stem}.dbf)" in str(failure.value)


def test_missing_fields_are_named(tmp_path):
    source = one_county(tmp_path / "tiger")
    path = write_addrfeat(
        source, MANHATTAN, NYC_EDGES[MANHATTAN], omit_fields=("TFIDR", "ZIPL", "OFFSETL")
    )
    with pytest.raises(TigerSourceError) as failure:
        build(source, tmp_path / "index.sqlite")
    message = str(failure.value)
    assert str(path) in message
    assert "missing fields TFIDR, ZIPL;" in message  # OFFSETL is not needed


def test_a_failed_build_leaves_no_file_and_keeps_the_old_index(tmp_path):
    source = one_county(tmp_path / "tiger")
    output = tmp_path / "index.sqlite"
    build(source, output)
    good = output.read_bytes()
    path = addrfeat_path(source, MANHATTAN)
    path.write_bytes(path.read_bytes()[:100])

    with pytest.raises(TigerSourceError):
        build(source, output)

    assert output.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.sqlite", "tiger"]
    TigerIndex.open(output)


def test_an_interrupted_build_leaves_no_file(tmp_path):
    source = one_county(tmp_path / "tiger")

    class Interrupting:
        def begin(self, label, total):
            if label.startswith("read tl_") and label.endswith("_addrfeat.zip"):
                raise KeyboardInterrupt

        def advance(self, amount): ...

        def end(self): ...

    with pytest.raises(KeyboardInterrupt):
        build(source, tmp_path / "index.sqlite", progress=Interrupting())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiger"]


@pytest.mark.parametrize("counties", [("3606",), ("36061", "NY061"), ("360610",), ("36 061",), ()])
def test_counties_must_be_5_digit_fips_codes(tmp_path, counties):
    with pytest.raises(ValueError, match="5-digit FIPS") as failure:
        build(tmp_path, tmp_path / "index.sqlite", counties=counties)
    assert "\n" not in str(failure.value)
    assert list(tmp_path.iterdir()) == []


def test_counties_given_twice_are_built_once(tmp_path):
    meta = build(one_county(tmp_path / "tiger"), tmp_path / "i.sqlite", counties=[MANHATTAN] * 2)
    assert meta.counties == (MANHATTAN,)
    assert len(meta.sources) == 2


def test_ranges_are_stored_low_to_high_with_their_parity(tmp_path):
    source = tmp_path / "tiger"
    write_faces(source, MANHATTAN, [Face(1, MANHATTAN, "000100"), Face(2, MANHATTAN, "000200")])
    write_addrfeat(
        source,
        MANHATTAN,
        [
            Edge(9, "Descending St", 1, 2, ("99", "1"), ("98", "2"), "10001", "10001", "O", "E"),
            Edge(10, "Blank Parity St", 1, 2, ("1", "99"), ("2", "99"), "10001", "bad"),
            Edge(11, "Queens St", 1, 2, ("37-01", "37-99"), ("", ""), "11354"),
        ],
    )
    build(source, tmp_path / "index.sqlite")
    found = rows(
        tmp_path / "index.sqlite",
        "SELECT tlid, side, low, high, parity, zip, queens_style FROM address_ranges "
        "ORDER BY tlid, side",
    )
    assert found == [
        (9, "L", 1, 99, "O", "10001", 0),
        (9, "R", 2, 98, "E", "10001", 0),
        (10, "L", 1, 99, "O", "10001", 0),  # a blank parity, both ends odd
        (10, "R", 2, 99, "B", "", 0),  # mixed ends: both; a ZIP that is none: blank
        (11, "L", 3701, 3799, "O", "11354", 1),
    ]


def test_fields_are_read_by_name_not_position(tmp_path):
    build(one_county(tmp_path / "a"), tmp_path / "a.sqlite")
    source = one_county(tmp_path / "b")
    write_addrfeat(source, MANHATTAN, NYC_EDGES[MANHATTAN], reversed_fields=True)
    build(source, tmp_path / "b.sqlite")
    query = "SELECT * FROM address_ranges ORDER BY tlid, side, street_id"
    assert rows(tmp_path / "a.sqlite", query) == rows(tmp_path / "b.sqlite", query)


# --- Opening the index -----------------------------------------------------------------


@pytest.fixture
def index_file(tmp_path):
    build(one_county(tmp_path / "tiger"), tmp_path / "index.sqlite")
    return tmp_path / "index.sqlite"


def _edit(path: Path, *statements: str) -> None:
    connection = sqlite3.connect(path)
    with connection:
        for statement in statements:
            connection.execute(statement)
    connection.close()


@pytest.mark.parametrize(
    ("statements", "says"),
    [
        (["DELETE FROM address_ranges WHERE rowid = 1"], "rows in address_ranges"),
        (["DELETE FROM faces WHERE tfid = 1001"], "rows in faces"),
        (["DROP TABLE meta"], "no meta table"),
        (["UPDATE meta SET value = '99' WHERE key = 'format_version'"], "format version 99"),
        (["UPDATE meta SET value = 'x' WHERE key = 'row_counts'"], "unreadable meta"),
        (["DROP TABLE street_names"], "no street_names table"),
    ],
)
def test_an_index_that_disagrees_with_its_meta_is_refused(index_file, statements, says):
    _edit(index_file, *statements)
    with pytest.raises(ConfigurationError) as failure:
        TigerIndex.open(index_file)
    message = str(failure.value)
    assert says in message
    assert str(index_file) in message and "tiger-index build" in message
    assert "\n" not in message


def test_a_file_that_is_no_index_is_refused(tmp_path):
    for path, content in (
        (tmp_path / "text.sqlite", b"not sqlite at all" * 100),
        (tmp_path / "empty", b""),
    ):
        path.write_bytes(content)
        with pytest.raises(ConfigurationError, match="tiger-index build") as failure:
            TigerIndex.open(path)
        assert str(path) in str(failure.value)
    with pytest.raises(ConfigurationError, match="does not exist"):
        TigerIndex.open(tmp_path / "nowhere.sqlite")


# --- Downloads over HTTP ---------------------------------------------------------------


class _TigerFiles:
    """Serves a folder in the Bureau's layout; some paths answer otherwise on purpose."""

    def __init__(self):
        self.root = Path()
        self.status: dict[str, int] = {}
        self.cut_short: set[str] = set()

    @Request.application
    def __call__(self, request):
        name = request.path.rsplit("/", 1)[-1]
        if name in self.status:
            return Response("no", status=self.status[name])
        path = self.root / request.path.lstrip("/")
        if not path.is_file():
            return Response("not found", status=404)
        data = path.read_bytes()
        if name in self.cut_short:
            return _CutShort(data)
        return Response(data, mimetype="application/zip")


class _CutShort:
    """A WSGI response that promises the whole file and drops the connection halfway."""

    def __init__(self, data: bytes):
        self.data = data

    def __call__(self, environ, start_response):
        start_response("200 OK", [("Content-Length", str(len(self.data)))])
        yield self.data[: len(self.data) // 2]
        raise ConnectionAbortedError("cut short on purpose")


@pytest.fixture(scope="module")
def tiger_server():
    app = _TigerFiles()
    with LocalHttpService(app) as service:
        yield app, service.base_url


@pytest.fixture
def served(tiger_server, tmp_path):
    app, url = tiger_server
    app.root = one_county(tmp_path / "tiger")
    app.status.clear()
    app.cut_short.clear()
    return app, url


def test_download_over_http_gives_the_same_index(served, tmp_path):
    app, url = served
    from_http = build(url + "/", tmp_path / "http.sqlite")
    from_folder = build(app.root, tmp_path / "folder.sqlite")
    assert from_http.sources == from_folder.sources
    assert from_http.row_counts == from_folder.row_counts


@pytest.mark.parametrize(
    ("status", "says"), [(404, "HTTP 404 NOT FOUND; check --year"), (503, "HTTP 503")]
)
def test_http_errors_name_the_url(served, tmp_path, status, says):
    app, url = served
    name = f"tl_{YEAR}_{MANHATTAN}_addrfeat.zip"
    app.status[name] = status
    with pytest.raises(TigerSourceError) as failure:
        build(url, tmp_path / "index.sqlite")
    message = str(failure.value)
    assert message.startswith(f"{url}/TIGER{YEAR}/ADDRFEAT/{name}: ")
    assert says.upper() in message.upper()
    assert not (tmp_path / "index.sqlite").exists()


def test_a_download_cut_short_fails(served, tmp_path):
    app, url = served
    app.cut_short.add(f"tl_{YEAR}_{MANHATTAN}_faces.zip")
    with pytest.raises(TigerSourceError, match="download failed") as failure:
        build(url, tmp_path / "index.sqlite")
    assert f"TIGER{YEAR}/FACES/tl_{YEAR}_{MANHATTAN}_faces.zip" in str(failure.value)


def test_a_server_that_is_not_there(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TigerSourceError, match=r"download failed \(ConnectError\)") as failure:
        build(f"http://127.0.0.1:{port}", tmp_path / "index.sqlite")
    assert f"http://127.0.0.1:{port}/TIGER{YEAR}/FACES/" in str(failure.value)
