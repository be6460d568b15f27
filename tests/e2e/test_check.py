"""`patron-info-poller check` in its own process, on the embedded stack: every row passes
on a healthy stack, and breaking one dependency fails exactly its row (exit 1)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql

from embedded_stack.postgres import SIERRA_READER, free_port
from embedded_stack.stack import S3_BUCKET, S3_RESOURCE
from embedded_stack.synthetic_sierra import SyntheticSierra
from patron_info_poller import health_checks
from patron_info_poller.health_checks import CHECK_NAMES, CheckContext, attempt
from patron_info_poller.records import PATRON_INFO_FIELDS
from tests.e2e.test_cli import assert_no_leaks, plaintext_patron_data, write_encrypted_config

ROOT = Path(__file__).resolve().parents[2]


def run_check(environment: dict[str, str], config_dir: Path, *args: str):
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.pop("ENVIRONMENT", None)
    env.update(environment)
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "check", "--config-dir", str(config_dir), *args],
        cwd=config_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def bucket_keys(stack) -> list[str]:
    listing = stack._clients["s3"].list_objects_v2(Bucket=S3_BUCKET)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def state_bytes(stack) -> bytes:
    return stack._clients["s3"].get_object(Bucket=S3_BUCKET, Key=S3_RESOURCE)["Body"].read()


def test_healthy_stack_passes_every_check_and_leaks_nothing(poller, sierra, stack, tmp_path):
    # Patrons that could leak, and a real state (sealed ids) for the s3 check to parse.
    now = datetime.now(UTC)
    SyntheticSierra(seed=11).create_patrons(
        sierra, 30, start=now - timedelta(days=5), end=now - timedelta(days=1)
    )
    poller.run()
    state_before = state_bytes(stack)
    write_encrypted_config(stack, tmp_path, "checktest", LOG_LEVEL="debug")

    result = run_check({"ENVIRONMENT": "checktest"}, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert '"level": "INFO"' in result.stderr  # logs were on, and are scanned below
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [[name, "ok"] for name in CHECK_NAMES]
    # Plain text is aligned: every reason starts in the same column.
    assert len({len(re.match(r"(\S+\s+){3}", line)[0]) for line in lines}) == 1
    reasons = dict(line.split(None, 3)[::3] for line in lines)
    assert reasons["kms"].startswith("8 encrypted variables decrypt")
    assert reasons["s3"] == "state parses; scratch object written and deleted"
    assert reasons["kinesis"] == f"ACTIVE, {stack.kinesis_shards} open shards"
    assert reasons["geocoder"].startswith("census: answered 1/1")
    assert reasons["bcrypt"].startswith(f"cost {stack.bcrypt_cost};")
    # Nothing sent, the state untouched, the scratch object gone.
    assert stack.new_kinesis_records() == []
    assert state_bytes(stack) == state_before
    assert bucket_keys(stack) == [S3_RESOURCE]
    secrets = plaintext_patron_data(sierra) | {
        stack.salt,
        stack.sierra_password,
        stack.warehouse_password,
    }
    assert_no_leaks(result.stdout + result.stderr, secrets, tmp_path)


def wrong_stream_arn(stack) -> dict[str, str]:
    return {"KINESIS_STREAM_ARN": stack.kinesis_stream_arn.rsplit("/", 1)[0] + "/NoSuchStream"}


def sierra_down(stack) -> dict[str, str]:
    return {"SIERRA_DB_PORT": str(free_port())}


def no_warehouse_table(stack) -> dict[str, str]:
    return {"REDSHIFT_TABLE": "no_such_patron_info"}


def schema_gone(stack) -> dict[str, str]:
    return {"PATRON_INFO_SCHEMA_URL": f"http://127.0.0.1:{free_port()}/schema"}


def geocoder_500(stack) -> dict[str, str]:
    stack.geocoder_app.faults.fail_next = 100
    stack.geocoder_app.faults.fail_status = 500
    return {}


def state_not_json(stack) -> dict[str, str]:
    stack._clients["s3"].put_object(Bucket=S3_BUCKET, Key=S3_RESOURCE, Body=b"not json")
    return {}


BREAKAGES = [
    (wrong_stream_arn, "kinesis", "no such stream (ResourceNotFoundException)"),
    (sierra_down, "sierra", "cannot connect: connection refused"),
    (no_warehouse_table, "warehouse", "no such table or view"),
    (schema_gone, "schema", "could not fetch the PatronInfo schema"),
    (geocoder_500, "geocoder", "census: census geocoder stayed down"),
    (state_not_json, "s3", "is not JSON; scratch object written and deleted"),
]


@pytest.mark.parametrize(
    ("breakage", "failing", "reason"),
    [pytest.param(*case, id=case[0].__name__) for case in BREAKAGES],
)
def test_one_broken_dependency_fails_exactly_its_row(
    poller, stack, tmp_path, breakage, failing, reason
):
    environment = stack.poller_environment(**breakage(stack))

    result = run_check(environment, tmp_path, "--json")

    assert result.returncode == 1, result.stdout + result.stderr[-2000:]
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == list(CHECK_NAMES)
    assert [row["name"] for row in rows if not row["ok"]] == [failing], rows
    failed = next(row for row in rows if row["name"] == failing)
    assert reason in failed["reason"]
    assert all(row["seconds"] < 15 for row in rows), rows
    assert_no_leaks(
        result.stdout + result.stderr,
        {stack.salt, stack.sierra_password, stack.warehouse_password},
    )
    assert stack.new_kinesis_records() == []


def test_an_encrypted_variable_that_does_not_decrypt_fails_the_kms_row(poller, stack, tmp_path):
    # The environment overrides it, so the configuration loads; the file's copy is bad.
    write_encrypted_config(stack, tmp_path, "checktest")
    document = yaml.safe_load((tmp_path / "checktest.yaml").read_text())
    document["ENCRYPTED_VARIABLES"]["SIERRA_DB_HOST"] = "bm90IGEgY2lwaGVydGV4dA=="
    (tmp_path / "checktest.yaml").write_text(yaml.safe_dump(document))

    result = run_check(
        {"ENVIRONMENT": "checktest", "SIERRA_DB_HOST": stack.postgres.host}, tmp_path, "--json"
    )

    assert result.returncode == 1, result.stdout + result.stderr[-2000:]
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert [name for name, row in rows.items() if not row["ok"]] == ["kms"]
    assert rows["kms"]["reason"].startswith("1 of 8 encrypted variables do not decrypt: ")
    assert "SIERRA_DB_HOST (InvalidCiphertextException)" in rows["kms"]["reason"]


def test_a_configuration_that_does_not_load_exits_2(stack, tmp_path):
    result = run_check(stack.poller_environment(KINESIS_BATCH_SIZE="900"), tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().startswith("patron-info-poller: Invalid configuration: ")
    assert "KINESIS_BATCH_SIZE" in result.stderr and "\n" not in result.stderr.strip()


# In-process: the reasons of rarer failures, each without a subprocess.


def test_the_warehouse_row_names_the_missing_columns(poller, stack):
    with psycopg.connect(stack.warehouse_admin_conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE narrow_patron_info (patron_id varchar(64), geoid varchar(16))")
    try:
        ctx = CheckContext(poller.config(REDSHIFT_TABLE="narrow_patron_info"))
        result = attempt("warehouse", health_checks.check_warehouse, ctx)
    finally:
        with psycopg.connect(stack.warehouse_admin_conninfo, autocommit=True) as conn:
            conn.execute("DROP TABLE narrow_patron_info")
    missing = [name for name in PATRON_INFO_FIELDS if name not in ("patron_id", "geoid")]
    assert (result.ok, result.reason) == (
        False,
        f"table narrow_patron_info lacks columns: {', '.join(missing)}",
    )


def test_the_sierra_row_names_each_view_it_cannot_read(poller, stack, sierra):
    reader = sql.Identifier(SIERRA_READER)
    sierra.execute(sql.SQL("REVOKE SELECT ON sierra_view.patron_view FROM {}").format(reader))
    try:
        result = attempt("sierra", health_checks.check_sierra, CheckContext(poller.config()))
    finally:
        sierra.execute(sql.SQL("GRANT SELECT ON sierra_view.patron_view TO {}").format(reader))
    assert (result.ok, result.reason) == (
        False,
        "connected; cannot read sierra_view.patron_view: permission denied "
        "(InsufficientPrivilege, SQLSTATE 42501)",
    )
