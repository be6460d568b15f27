"""The embedded stack itself: real servers, reachable and locked down like production."""

from __future__ import annotations

import base64
import io
import json
import socket
import zipfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from botocore.exceptions import ParamValidationError

from embedded_stack.stack import S3_BUCKET, S3_RESOURCE, EmbeddedStack
from patron_info_poller.config import load_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    with EmbeddedStack(tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture
def env(stack: EmbeddedStack) -> dict[str, str]:
    return stack.poller_environment()


@pytest.fixture
def kinesis(stack: EmbeddedStack) -> Iterator[Any]:
    client = stack.moto.client("kinesis")
    yield client
    client.close()


def reader_conninfo(env: dict[str, str], prefix: str, **changes: str) -> str:
    params = {
        "host": env[f"{prefix}_DB_HOST"],
        "port": env[f"{prefix}_DB_PORT"],
        "dbname": env[f"{prefix}_DB_NAME"],
        "user": env[f"{prefix}_DB_USER"],
        "password": env[f"{prefix}_DB_PASSWORD"],
    }
    return psycopg.conninfo.make_conninfo(**{**params, **changes})


def seed_patron(stack: EmbeddedStack, patron_id: int) -> None:
    with psycopg.connect(stack.sierra_admin_conninfo) as conn:
        conn.execute(
            "INSERT INTO sierra_view.patron_view (id, record_num) VALUES (%s, %s)",
            (patron_id, patron_id % 10_000_000),
        )


def refuses_connections(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return True
    return False


def test_environment_is_a_valid_poller_configuration(env: dict[str, str], tmp_path: Path) -> None:
    config = load_config(None, env, tmp_path)

    assert config.kinesis_stream_arn.endswith(":stream/PatronInfo")
    assert config.redshift_table == "patron_info"


def test_sierra_reader_may_select_but_not_write(stack: EmbeddedStack, env: dict[str, str]) -> None:
    stack.reset()
    seed_patron(stack, 1_000_001)

    with psycopg.connect(reader_conninfo(env, "SIERRA"), autocommit=True) as conn:
        assert conn.execute("SELECT id FROM sierra_view.patron_view").fetchall() == [(1_000_001,)]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO sierra_view.patron_view (id, record_num) VALUES (2, 2)")
        # Even a read-write transaction lacks the privilege.
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("SET TRANSACTION READ WRITE")
            conn.execute("DELETE FROM sierra_view.patron_view")


def test_warehouse_reader_may_select_but_not_write(env: dict[str, str]) -> None:
    with psycopg.connect(reader_conninfo(env, "REDSHIFT"), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM patron_info").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("SET TRANSACTION READ WRITE")
            conn.execute("INSERT INTO patron_info (patron_id) VALUES ('x')")


@pytest.mark.parametrize(
    "changes",
    [
        {"password": "not-the-password"},
        {"user": "postgres", "password": ""},
        {"dbname": "dev"},  # sierra_reader may only connect to iii
    ],
    ids=["wrong password", "superuser over tcp", "other database"],
)
def test_tcp_connections_are_refused_without_the_right_credentials(
    env: dict[str, str], changes: dict[str, str]
) -> None:
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(reader_conninfo(env, "SIERRA", connect_timeout="5", **changes))


def test_kms_ciphertext_decrypts_with_boto3(stack: EmbeddedStack) -> None:
    ciphertext = stack.kms_encrypt("sierra password")

    kms = stack.moto.client("kms")
    try:
        plaintext = kms.decrypt(CiphertextBlob=base64.b64decode(ciphertext))["Plaintext"]
    finally:
        kms.close()
    assert plaintext == b"sierra password"


def test_kinesis_reader_returns_each_record_once(
    stack: EmbeddedStack, env: dict[str, str], kinesis: Any
) -> None:
    stack.new_kinesis_records()
    sent = [f"record {n}".encode() for n in range(40)]

    kinesis.put_records(
        StreamARN=env["KINESIS_STREAM_ARN"],
        Records=[{"Data": data, "PartitionKey": str(n)} for n, data in enumerate(sent)],
    )

    assert sorted(stack.new_kinesis_records()) == sorted(sent)
    assert stack.new_kinesis_records() == []
    shards = kinesis.list_shards(StreamARN=env["KINESIS_STREAM_ARN"])["Shards"]
    assert len(shards) == 2


def test_schema_endpoint_serves_the_shipped_schema(env: dict[str, str]) -> None:
    shipped = (resources.files("patron_info_poller") / "schemas" / "PatronInfo.avsc").read_text()

    response = httpx.get(env["PATRON_INFO_SCHEMA_URL"])

    assert response.status_code == 200
    assert json.loads(response.json()["data"]["schema"]) == json.loads(shipped)
    elsewhere = env["PATRON_INFO_SCHEMA_URL"].replace("PatronInfo", "Other")
    assert httpx.get(elsewhere).status_code == 404


def test_geocoder_answers_at_the_configured_url(env: dict[str, str]) -> None:
    response = httpx.post(
        env["GEOCODER_API_BASE_URL"],
        data={"benchmark": env["GEOCODER_API_BENCHMARK"], "vintage": env["GEOCODER_API_VINTAGE"]},
        files={"addressFile": ("addresses.csv", b"7,1 Nowhere Lane,New York,NY,10001\n")},
    )

    assert response.status_code == 200
    assert response.text.startswith('"7",')


def test_tiger_county_files_are_served_as_the_bureau_serves_them(stack: EmbeddedStack) -> None:
    assert (stack.tiger_year, stack.tiger_counties) == (
        2024,
        ("36005", "36047", "36061", "36081", "36085"),
    )
    assert stack.tiger_source_url.startswith("http://127.0.0.1:")
    assert stack.tiger_source_url.endswith("/geo/tiger")
    for county in stack.tiger_counties:
        for layer in ("ADDRFEAT", "FACES"):
            name = f"tl_2024_{county}_{layer.lower()}.zip"
            assert (stack.tiger_files_dir / "TIGER2024" / layer / name).is_file()
    path = "TIGER2024/FACES/tl_2024_36081_faces.zip"
    url = f"{stack.tiger_source_url}/{path}"
    whole = (stack.tiger_files_dir / path).read_bytes()

    with httpx.Client() as client:
        assert client.get(url).content == whole
        stack.tiger_app.faults.missing.add("tl_2024_36081_faces.zip")
        assert client.get(url).status_code == 404
        stack.tiger_app.faults.missing.clear()
        stack.tiger_app.faults.truncate_next = 1
        cut = client.get(url)
        assert (cut.status_code, cut.content) == (200, whole[: len(whole) // 2])
        with pytest.raises(zipfile.BadZipFile):
            zipfile.ZipFile(io.BytesIO(cut.content))
        assert client.get(url).content == whole
    assert stack.tiger_app.requested_paths == [f"/geo/tiger/{path}"] * 4

    stack.tiger_app.faults.fail_next = 5
    stack.reset()
    assert stack.tiger_app.received == []
    assert httpx.get(url).status_code == 200


def test_reset_empties_sources_state_and_stream(
    stack: EmbeddedStack, env: dict[str, str], kinesis: Any
) -> None:
    seed_patron(stack, 1_000_002)
    with psycopg.connect(stack.warehouse_admin_conninfo) as conn:
        conn.execute("INSERT INTO patron_info (patron_id) VALUES ('obfuscated')")
    s3 = stack.moto.client("s3")
    s3.put_object(Bucket=S3_BUCKET, Key=S3_RESOURCE, Body=b"{}")
    kinesis.put_record(StreamARN=env["KINESIS_STREAM_ARN"], Data=b"unread", PartitionKey="k")

    stack.reset()

    with psycopg.connect(stack.sierra_admin_conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM sierra_view.patron_view").fetchone() == (0,)
    with psycopg.connect(stack.warehouse_admin_conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM patron_info").fetchone() == (0,)
    assert s3.list_objects_v2(Bucket=S3_BUCKET)["KeyCount"] == 0
    s3.close()
    assert stack.new_kinesis_records() == []


def test_restart_keeps_data_and_port(stack: EmbeddedStack, env: dict[str, str]) -> None:
    stack.reset()
    seed_patron(stack, 1_000_003)
    session = psycopg.connect(reader_conninfo(env, "SIERRA"), autocommit=True)

    stack.postgres.restart()

    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    session.close()
    with psycopg.connect(reader_conninfo(env, "SIERRA")) as conn:
        assert conn.execute("SELECT id FROM sierra_view.patron_view").fetchall() == [(1_000_003,)]


def test_terminate_backends_drops_sessions(stack: EmbeddedStack, env: dict[str, str]) -> None:
    with psycopg.connect(reader_conninfo(env, "SIERRA"), autocommit=True) as session:
        assert stack.postgres.terminate_backends("iii") == 1
        with pytest.raises(psycopg.OperationalError):
            session.execute("SELECT 1")


def test_failed_start_stops_what_it_started(tmp_path: Path) -> None:
    broken = EmbeddedStack(tmp_path, kinesis_shards=0)

    with pytest.raises(ParamValidationError, match="ShardCount"):
        broken.start()

    assert refuses_connections(broken.postgres.host, broken.postgres.port)
    moto = httpx.URL(broken.moto.url)
    assert refuses_connections(moto.host, moto.port or 80)
    broken.stop()
