"""The local TIGER/Line download site (the WSGI app, driven without a server)."""

from __future__ import annotations

import io
import zipfile

import pytest
from werkzeug.test import Client

from embedded_stack.tiger_county_files import write_county_files
from embedded_stack.tiger_downloads import TigerDownloadsApp

FACES = "/geo/tiger/TIGER2024/FACES/tl_2024_36061_faces.zip"
ADDRFEAT = "/geo/tiger/TIGER2024/ADDRFEAT/tl_2024_36061_addrfeat.zip"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiger")
    write_county_files(directory)
    return directory


@pytest.fixture
def app(files):
    return TigerDownloadsApp(files)


@pytest.fixture
def client(app):
    return Client(app)


def on_disk(files, path: str) -> bytes:
    return files.joinpath(*path.removeprefix("/geo/tiger/").split("/")).read_bytes()


def test_serves_the_files_in_the_bureaus_layout(client, files):
    response = client.get(FACES)
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.get_data() == on_disk(files, FACES)
    assert int(response.headers["Content-Length"]) == len(on_disk(files, FACES))
    assert "Last-Modified" in response.headers
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        assert archive.testzip() is None


def test_a_named_file_can_be_made_missing(app, client):
    app.faults.missing.add("tl_2024_36061_faces.zip")
    assert client.get(FACES).status_code == 404
    assert client.get(ADDRFEAT).status_code == 200
    app.faults.missing = {"TIGER2024/ADDRFEAT/tl_2024_36061_addrfeat.zip"}  # or by its path
    assert client.get(ADDRFEAT).status_code == 404
    assert client.get(FACES).status_code == 200


def test_the_next_download_is_cut_to_half_and_still_looks_complete(app, client, files):
    whole = on_disk(files, ADDRFEAT)
    app.faults.truncate_next = 1
    assert client.head(ADDRFEAT).headers["Content-Length"] == str(len(whole))  # not used up
    cut = client.get(ADDRFEAT)
    assert cut.status_code == 200
    assert cut.get_data() == whole[: len(whole) // 2]
    assert cut.headers["Content-Length"] == str(len(whole) // 2)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(cut.get_data()))
    assert client.get(ADDRFEAT).get_data() == whole  # only the next one
    assert app.faults.truncate_next == 0


def test_failing_downloads_then_a_good_one(app, client):
    app.faults.fail_next = 2
    assert [client.get(FACES).status_code for _ in range(3)] == [503, 503, 200]


def test_nothing_outside_the_tiger_tree_is_served(client):
    assert client.get("/geo/tiger/TIGER2024/FACES/tl_2024_36999_faces.zip").status_code == 404
    assert client.get("/geo/tiger/../tiger/TIGER2024/FACES").status_code == 404
    assert client.get("/geo/tiger/TIGER2024/%2E%2E/%2E%2E/secret").status_code == 404
    assert client.get("/geo/other/TIGER2024/FACES/tl_2024_36061_faces.zip").status_code == 404
    assert client.post(FACES).status_code == 405


def test_a_directory_answers_with_an_index_of_its_files(client):
    assert client.get("/geo/tiger/TIGER2024/FACES").status_code == 301
    page = client.get("/geo/tiger/TIGER2024/FACES/").get_data(as_text=True)
    assert "Index of /geo/tiger/TIGER2024/FACES" in page
    for county in ("36005", "36047", "36061", "36081", "36085"):
        assert f'href="tl_2024_{county}_faces.zip"' in page
    assert 'href="ADDRFEAT/"' in client.get("/geo/tiger/TIGER2024/").get_data(as_text=True)


def test_requests_are_logged_and_reset_forgets_them_and_the_faults(app, client):
    app.faults.missing.add("tl_2024_36061_faces.zip")
    app.faults.truncate_next = 3
    client.get(FACES)
    client.get(ADDRFEAT)
    assert app.requested_paths == [FACES, ADDRFEAT]
    assert [(r.status, r.bytes_sent > 0) for r in app.received] == [(404, True), (200, True)]
    app.reset()
    assert app.received == [] and app.requested_paths == []
    assert not app.faults.missing and app.faults.truncate_next == 0
    assert client.get(FACES).status_code == 200
